/** `report.*` and `regions.*`: the audit report (HTML/PDF/CSV/JSON) and the drawn defect regions as masks + COCO. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KENSA_VERSION } from '../../../shared/version';
import { exportReport } from '../../report/index';
import type { NamespaceHandlers, WorkstationContext } from '../context';

const stamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');

export function reportHandlers(ctx: WorkstationContext): NamespaceHandlers<'report'> {
  return {
    'report.export': async ({ format, from, to }) => {
      const p = ctx.need();
      const out = path.join(p.dir, 'exports', `audit-report-${stamp()}.${format}`);
      const r = await exportReport(p, out, {
        kensaVersion: KENSA_VERSION,
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(ctx.printPdf ? { printPdf: ctx.printPdf } : {}),
      });
      const data = r.bytes <= 50 * 1024 * 1024 ? (await readFile(r.file)).toString('base64') : null;
      return { file: r.file, format: r.format, bytes: r.bytes, parts: r.parts, auditOk: r.auditOk, dataBase64: data };
    },
  };
}

export function regionHandlers(ctx: WorkstationContext): NamespaceHandlers<'regions'> {
  return {
    'regions.export': async () => {
      const p = ctx.need();
      const dir = path.join(p.dir, 'exports', `regions-${stamp()}`);
      const r = await p.exportRegions(dir);
      return { dir, masks: r.masks.length, annotations: r.annotations };
    },
  };
}
