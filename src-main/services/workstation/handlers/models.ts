/** `models.*`: compare versions on the reviewed parts, the learning step's preview and acceptance, proposals, rollback. */
import { compareVersions } from '../../compare';
import { acceptVersion, learnPreview, propose } from '../../learning';
import type { NamespaceHandlers, WorkstationContext } from '../context';

export function modelHandlers(ctx: WorkstationContext): NamespaceHandlers<'models'> {
  return {
    'models.compare': async () => compareVersions(ctx.need()),
    'models.learnPreview': async ({ version }) => learnPreview(ctx.need(), version),
    'models.accept': async ({ version, reason }) => {
      ctx.jobs.assertIdle('wait for it before changing the active version');
      acceptVersion(ctx.need(), version, ctx.authorize('activate'), reason);
      await ctx.ensureColourScale();
      ctx.emitState();
      return ctx.state();
    },
    'models.propose': async () => propose(ctx.need()),
    'models.rollback': async ({ version, reason }) => {
      ctx.jobs.assertIdle('wait for it before rolling back');
      ctx.need().rollback(version, ctx.authorize('activate'), reason);
      await ctx.ensureColourScale();
      ctx.emitState();
      return ctx.state();
    },
  };
}
