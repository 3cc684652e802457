/** `storage.*`: what the project keeps on disk, the retention policy for passed parts' maps, applying it. */
import { applyRetention, storageUsage } from '../../storage';
import type { NamespaceHandlers, WorkstationContext } from '../context';

export function storageHandlers(ctx: WorkstationContext): NamespaceHandlers<'storage'> {
  return {
    'storage.usage': async () => storageUsage(ctx.need()),
    'storage.configure': async ({ retention }) => {
      ctx.need().updateSettings({ retention }, ctx.authorize('settings'));
      return storageUsage(ctx.need());
    },
    'storage.apply': async () => {
      const r = await applyRetention(ctx.need());
      return { ...r, usage: await storageUsage(ctx.need()) };
    },
  };
}
