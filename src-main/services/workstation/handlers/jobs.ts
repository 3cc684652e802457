/** `jobs.*`: the long-running work (fit, score, refit, learn, compare) and cancel. */
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { scoreReviewed } from '../../compare';
import { learn, learnPreview } from '../../learning';

export function jobHandlers(ctx: WorkstationContext): NamespaceHandlers<'jobs'> {
  const { jobs } = ctx;
  return {
    'jobs.fit': async ({ backbone, coresetRatio, detector }) => {
      const p = ctx.need();
      const actor = p.settings().requireSignIn ? ctx.authorize('fit') : ctx.actor();
      return jobs.start('fit', async (handlers, setCancel) => {
        const m = await p.fit(
          jobs.cancellableEngine(setCancel),
          { ...(backbone ? { backbone } : {}), ...(detector ? { detector } : {}), ...(coresetRatio ? { config: { coreset: { ratio: coresetRatio } } } : {}) },
          actor,
          handlers,
        );
        ctx.lastEp = m.ep;
        await ctx.colourScaleOf(m.version);
        const fact = Object.values(m.facts).slice(0, 1).map((f) => `, ${f.label.toLowerCase()} ${f.value}${f.unit ? ` ${f.unit}` : ''}`).join('');
        return { summary: `model v${m.version}: ${m.detector}${fact}, fitted in ${(m.fitSeconds ?? 0).toFixed(1)} s on ${m.ep}` };
      });
    },
    'jobs.score': async () => {
      const p = ctx.need();
      return jobs.start('score', async (handlers, setCancel) => {
        const r = await p.score(jobs.cancellableEngine(setCancel), {}, handlers);
        const failed = r.failed.length > 0 ? `; ${r.failed.length} could not be scored (${r.failed[0]!.message})` : '';
        return { summary: `scored ${r.scored} parts with v${r.version} (${r.skipped} already scored)${failed}` };
      });
    },
    'jobs.refit': async () => {
      const p = ctx.need();
      const actor = ctx.authorize('refit');
      return jobs.start('refit', async (handlers, setCancel) => {
        const r = await p.refit(jobs.cancellableEngine(setCancel), actor, handlers);
        await ctx.colourScaleOf(r.model.version);
        return {
          summary: `model v${r.model.version}: ${r.model.addedImageIds.length} false alarms added to the bank; ${r.dropped.length} of ${r.flaggedBefore} flagged parts dropped below the threshold`,
          dropped: r.dropped.length,
        };
      });
    },
    'jobs.compare': async () => {
      const p = ctx.need();
      return jobs.start('compare', async (handlers, setCancel) => {
        const runs = await scoreReviewed(p, jobs.cancellableEngine(setCancel), handlers);
        const scored = runs.reduce((a, r) => a + r.scored, 0);
        return { summary: runs.length === 0 ? 'every version has scored the reviewed parts' : `scored ${scored} reviewed parts with ${runs.map((r) => `v${r.version}`).join(', ')}` };
      });
    },
    'jobs.learn': async () => {
      const p = ctx.need();
      const actor = ctx.authorize('learn');
      return jobs.start('learn', async (handlers, setCancel) => {
        const m = await learn(p, jobs.cancellableEngine(setCancel), actor, handlers);
        await ctx.colourScaleOf(m.version);
        const pv = await learnPreview(p, m.version);
        return {
          summary: `learning step v${m.version} ready to review: ${pv.dropped.length} flagged parts would drop below the threshold, ${pv.raised.length} would rise over it (not active until accepted)`,
          version: m.version,
        };
      });
    },
    'jobs.cancel': async ({ jobId }) => {
      jobs.cancel(jobId);
      return null;
    },
  };
}
