/**
 * The report as data files: JSON (the whole model, keys sorted: what a report signature
 * covers) and CSV (one row per reviewed part, RFC 4180).
 */
import type { ReportModel } from './model';

/** The model as JSON with every object's keys sorted (code-unit order), 2-space indent, final newline. */
export function reportJson(model: ReportModel): string {
  const sortKeys = (_key: string, v: unknown): unknown =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v;
  return `${JSON.stringify(model, sortKeys, 2)}\n`;
}

export const CSV_COLUMNS = [
  'image_id',
  'path',
  'sha256',
  'verdict',
  'defect_type',
  'reviewer',
  'reviewed_at',
  'verdict_id',
  'verdict_action',
  'model_version_at_review',
  'score_at_review',
  'threshold_at_review',
  'flagged_at_review',
  'model_version_in_force',
  'score',
  'threshold_in_force',
  'outcome',
  'comment',
] as const;

/** RFC 4180 field: quoted (quotes doubled) when it holds a comma, a quote, CR or LF. */
export function csvField(v: string | number | boolean | null): string {
  if (v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One row per reviewed part (the order of the report), CRLF line ends, header row first. */
export function reportCsv(model: ReportModel): string {
  const t = model.metrics?.threshold ?? null;
  const rows = model.parts.map((p) =>
    [
      p.imageId,
      p.path,
      p.sha256,
      p.verdict,
      p.defectType,
      p.reviewer,
      p.reviewedAt,
      p.verdictId,
      p.action,
      p.modelVersion,
      p.scoreAtReview,
      p.thresholdAtReview,
      p.flaggedAtReview,
      p.score === null ? null : model.modelInForce,
      p.score,
      p.score === null ? null : t,
      p.outcome,
      p.comment,
    ]
      .map(csvField)
      .join(','),
  );
  return [CSV_COLUMNS.join(','), ...rows].map((r) => `${r}\r\n`).join('');
}
