/** `review.*`: the queue a page at a time, one part with its verdict history, verdicts and undo. */
import { getDetector } from '../../../engine/detectors/registry';
import { KensaError } from '../../../shared/errors';
import { confirmVerdict, getImage, verdictHistory, type Verdict } from '../../../store/index';
import type { NamespaceHandlers, WorkstationContext } from '../context';
import { queueEntry } from '../dto';
import type { QueueEntry } from '../../../shared/api';

function entryFor(ctx: WorkstationContext, imageId: number): QueueEntry {
  const q = ctx.need().queueItem(imageId);
  if (!q) throw new KensaError('NOT_FOUND', `no part to inspect with id ${imageId}`);
  return queueEntry(q);
}

/** The project setting `autoRefitAfter`: start a refit once enough good verdicts are pending. */
function maybeAutoRefit(ctx: WorkstationContext): void {
  const p = ctx.need();
  const n = p.settings().autoRefitAfter;
  if (n === null || ctx.jobs.running || p.pendingRefit().length < n) return;
  const active = p.activeModel();
  if (!active || !getDetector(active.detector).canRefit) return; // the Fit screen says why refit is unavailable
  // A refit that cannot start now is started by hand later; the verdict itself stands.
  ctx.handler('jobs.refit')({}).catch(() => undefined);
}

export function reviewHandlers(ctx: WorkstationContext): NamespaceHandlers<'review'> {
  return {
    'review.queue': async ({ filter, after, limit }) => {
      const page = ctx.need().queuePage({ ...(filter ? { filter } : {}), ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
      return { items: page.items.map(queueEntry), next: page.next, counts: page.counts };
    },
    'review.part': async ({ imageId }) => {
      const p = ctx.need();
      const img = getImage(p.db, imageId);
      if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
      const model = p.activeModel();
      return {
        entry: entryFor(ctx, imageId),
        format: img.format,
        bytes: img.bytes,
        sha256: img.sha256,
        modelVersion: model?.version ?? null,
        threshold: p.threshold()?.value ?? null,
        history: verdictHistory(p.db, imageId).map((v: Verdict) => ({
          id: v.id,
          action: v.action,
          verdict: v.verdict,
          defectType: v.defectType,
          comment: v.comment,
          reviewer: v.reviewer,
          createdAt: v.createdAt,
          modelVersion: v.modelVersion,
          threshold: v.threshold,
          scoreShown: v.scoreShown,
          regions: (v.regions as never) ?? null,
        })),
      };
    },
    'review.verdict': async (a) => {
      const p = ctx.need();
      p.verdict(
        {
          imageId: a.imageId,
          verdict: a.verdict,
          ...(a.defectType ? { defectType: a.defectType } : {}),
          ...(a.comment ? { comment: a.comment } : {}),
          ...(a.regions ? { regions: a.regions } : {}),
        },
        ctx.authorize('verdict'),
      );
      ctx.lineKick();
      maybeAutoRefit(ctx);
      ctx.emitState();
      return entryFor(ctx, a.imageId);
    },
    'review.confirm': async ({ imageId }) => {
      const p = ctx.need();
      confirmVerdict(p.db, imageId, ctx.authorize('confirm'));
      maybeAutoRefit(ctx);
      ctx.emitState();
      return entryFor(ctx, imageId);
    },
    'review.undo': async ({ imageId }) => {
      ctx.need().undo(imageId, ctx.authorize('verdict'));
      ctx.lineKick();
      ctx.emitState();
      return entryFor(ctx, imageId);
    },
  };
}
