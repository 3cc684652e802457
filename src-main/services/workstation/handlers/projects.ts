/** `projects.*`: create, open, the sample project, state, close, project settings. */
import path from 'node:path';
import { KensaError } from '../../../shared/errors';
import { countActiveAccounts } from '../../../store/index';
import { writeDemoImages } from '../../demo';
import { isProjectDir } from '../../stations/shared-project';
import type { NamespaceHandlers, WorkstationContext } from '../context';

export function projectHandlers(ctx: WorkstationContext): NamespaceHandlers<'projects'> {
  return {
    'projects.create': async ({ dir, name, store }) => {
      if (isProjectDir(path.resolve(dir))) throw new KensaError('CONFLICT', `${path.resolve(dir)} already holds a Kensa project: open it instead`);
      return ctx.openProject(dir, name, store);
    },
    'projects.open': async ({ dir }) => ctx.openProject(dir),
    'projects.createDemo': async ({ dir }) => {
      const target = path.resolve(dir ?? path.join(ctx.configDir, 'sample-project'));
      if (isProjectDir(target)) return ctx.openProject(target);
      await ctx.openProject(target, 'Sample: machined washers');
      const layout = await writeDemoImages(target);
      await ctx.need().importImages([layout.trainDir], 'train', ctx.actor());
      await ctx.need().importImages([layout.inspectDir], 'inspect', ctx.actor());
      ctx.emitState();
      return ctx.state();
    },
    'projects.state': async () => (ctx.project ? ctx.state() : null),
    'projects.close': async () => {
      ctx.jobs.assertIdle('cancel it first');
      await ctx.stopLine();
      ctx.closeProject();
      ctx.emitState();
      return null;
    },
    'projects.updateSettings': async ({ autoRefitAfter, requireSignIn, fourEyes }) => {
      const p = ctx.need();
      const security = requireSignIn !== undefined || fourEyes !== undefined;
      // Sign-in and four eyes are an administrator's to change once the project has accounts.
      const actor = security ? ctx.authorize('settings', true) : ctx.authorize('settings');
      if (requireSignIn === true && countActiveAccounts(p.db, 'administrator') === 0) {
        throw new KensaError('CONFLICT', 'create an administrator account before asking for sign-in (or nobody could change it back)');
      }
      if (requireSignIn === true && !ctx.signedIn) throw new KensaError('FORBIDDEN', 'sign in as an administrator first: the project would lock you out');
      p.updateSettings({ ...(autoRefitAfter !== undefined ? { autoRefitAfter } : {}), ...(requireSignIn !== undefined ? { requireSignIn } : {}), ...(fourEyes !== undefined ? { fourEyes } : {}) }, actor);
      ctx.emitState();
      return ctx.state();
    },
  };
}
