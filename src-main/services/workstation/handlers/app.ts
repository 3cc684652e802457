/** `app.*`: the About box, the reviewer name, the folder dialog, backbone download, "Show in folder". */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { downloadBackbone, loadManifest, resolveBackbonePath } from '../../../engine/backbone/backbone';
import { listDetectors } from '../../../engine/detectors/registry';
import type { AppInfo } from '../../../shared/api';
import { KensaError } from '../../../shared/errors';
import { KENSA_VERSION } from '../../../shared/version';
import type { NamespaceHandlers, WorkstationContext } from '../context';

export async function appInfo(ctx: WorkstationContext): Promise<AppInfo> {
  const backbones: AppInfo['backbones'] = [];
  for (const b of loadManifest().backbones) {
    try {
      const r = await resolveBackbonePath(b.id);
      backbones.push({ id: b.id, file: r.file });
    } catch {
      // not on this machine
    }
  }
  const active = ctx.project?.activeModel();
  return {
    version: KENSA_VERSION,
    reviewer: ctx.settings.reviewer,
    ep: active?.ep ?? ctx.lastEp,
    recent: ctx.settings.recent,
    shell: ctx.shell,
    nativeBinding: ctx.sqliteLabel,
    backbones,
    detectors: listDetectors().map((d) => ({ id: d.id, title: d.title, summary: d.summary, trains: d.trains, canRefit: d.canRefit })),
  };
}

/** True when `target` lies inside `dir` (and is not `dir` itself). */
function inside(dir: string, target: string): boolean {
  const rel = path.relative(dir, target);
  return !(rel === '' || rel.startsWith('..') || path.isAbsolute(rel));
}

export function appHandlers(ctx: WorkstationContext): NamespaceHandlers<'app'> {
  return {
    'app.info': async () => appInfo(ctx),
    'app.setReviewer': async ({ name }) => {
      ctx.settings.reviewer = name;
      await ctx.saveSettings();
      return appInfo(ctx);
    },
    'app.pickFolder': async ({ title }) => {
      if (!ctx.pickFolder) throw new KensaError('NOT_FOUND', 'no folder dialog in the browser: type the folder path');
      return { path: await ctx.pickFolder(title ?? 'Choose a folder') };
    },
    'app.downloadBackbone': async ({ id }) => {
      const manifest = loadManifest();
      const chosen = id ?? manifest.default.find((d) => manifest.backbones.some((b) => b.id === d && b.url)) ?? manifest.backbones.find((b) => b.url)?.id;
      if (!chosen) throw new KensaError('BACKBONE_NOT_FOUND', 'no backbone in the manifest can be downloaded: place an .onnx file in the models folder');
      await downloadBackbone(chosen);
      return appInfo(ctx);
    },
    'app.showInFolder': async ({ path: target }) => {
      const p = ctx.need();
      const abs = path.resolve(p.dir, target);
      const outside = new KensaError('INVALID_ARGUMENT', `only files inside the open project's folder can be shown (${p.dir})`, { file: abs });
      if (!inside(p.dir, abs)) throw outside;
      // Symlinks must not lead out of the project either.
      let real: string;
      try {
        real = await realpath(abs);
      } catch {
        throw new KensaError('NOT_FOUND', `${abs} does not exist`, { file: abs });
      }
      if (!inside(await realpath(p.dir), real)) throw outside;
      if (!ctx.showInFolder) return { shown: false, path: abs, message: `the browser cannot open a file manager: the file is at ${abs}` };
      ctx.showInFolder(abs);
      return { shown: true, path: abs, message: null };
    },
  };
}
