/** The entry point: builds the report and writes it in the format its file name asks for. */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../engine/model-file';
import { KensaError } from '../../shared/errors';
import type { ProjectService } from '../project-service';
import { buildReport } from './build';
import { reportCsv, reportJson } from './csv-json';
import { reportHtml } from './html';
import type { ReportOptions } from './model';
import { writeReportPdf } from './pdf';

export type ReportFormat = 'pdf' | 'html' | 'csv' | 'json';

export function reportFormatOf(file: string): ReportFormat {
  const ext = path.extname(file).toLowerCase().slice(1);
  if (ext === 'pdf' || ext === 'html' || ext === 'csv' || ext === 'json') return ext;
  if (ext === 'htm') return 'html';
  throw new KensaError('INVALID_ARGUMENT', `cannot tell the report format from "${path.basename(file)}": use a .pdf, .html, .csv or .json file name`, { file });
}

export interface ExportResult {
  file: string;
  format: ReportFormat;
  bytes: number;
  parts: number;
  thumbnails: number;
  /** Audit chain verified. */
  auditOk: boolean;
}

/** Builds the report and writes it to `outFile` (format from the extension; written atomically). */
export async function exportReport(svc: ProjectService, outFile: string, opts: ReportOptions): Promise<ExportResult> {
  const file = path.resolve(outFile);
  const format = reportFormatOf(file);
  const model = await buildReport(svc, opts);
  await mkdir(path.dirname(file), { recursive: true });
  let bytes: number;
  if (format === 'pdf' && opts.printPdf) {
    const pdf = await opts.printPdf(reportHtml(model));
    await writeFileAtomic(file, pdf);
    bytes = pdf.length;
  } else if (format === 'pdf') {
    await writeReportPdf(reportHtml(model), file);
    bytes = (await readFile(file)).length;
  } else {
    const text = format === 'html' ? reportHtml(model) : format === 'csv' ? reportCsv(model) : reportJson(model);
    const buf = Buffer.from(text, 'utf8');
    await writeFileAtomic(file, buf);
    bytes = buf.length;
  }
  return { file, format, bytes, parts: model.parts.length, thumbnails: model.thumbnails.items.length, auditOk: model.audit.ok };
}
