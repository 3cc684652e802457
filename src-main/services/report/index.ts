/**
 * The audit report a quality auditor signs: what the line decided in a period, under which
 * model and threshold, on which parts, with the electronic signatures of the records it rests
 * on and proof that the record was not edited afterwards.
 *
 *   buildReport(svc, opts)  → ReportModel (plain data; the single source of every format)   ./build.ts, ./model.ts
 *   reportHtml(model, o)    → self-contained HTML (inline CSS, images as data URLs, A4 print  ./html.ts, ./report.css.ts
 *                             layout with page header/footer, the Signatures section and a
 *                             sign-off block; the data embedded for `kensa report verify`)
 *   reportCsv(model)        → one row per reviewed part (RFC 4180)                             ./csv-json.ts
 *   reportJson(model)       → the model as JSON, keys sorted                                   ./csv-json.ts
 *   writeReportPdf(html, f) → PDF through headless Chromium's print-to-PDF                     ./pdf.ts
 *   exportReport(svc, f, o) → picks the format from the extension, writes atomically          ./export.ts
 *
 * Signing a report and checking a signed one: ../report-signing.ts.
 */
export { buildReport, periodBound } from './build';
export { CSV_COLUMNS, csvField, reportCsv, reportJson } from './csv-json';
export { exportReport, reportFormatOf, type ExportResult, type ReportFormat } from './export';
export { reportHtml, type ReportHtmlOptions } from './html';
export {
  DEFAULT_THUMBNAILS,
  DISPOSITIONS,
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
  type Disposition,
  type Outcome,
  type ReportAudit,
  type ReportDisposition,
  type ReportMetrics,
  type ReportModel,
  type ReportModelVersion,
  type ReportOptions,
  type ReportPart,
  type ReportPopulation,
  type ReportSignature,
  type ReportThreshold,
  type ReportThumbnail,
} from './model';
export { findChromium, NO_CHROMIUM_MESSAGE, writeReportPdf } from './pdf';
