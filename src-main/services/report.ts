/**
 * The audit report a quality auditor signs: what the line decided in a period, under which
 * model and threshold, on which parts, and proof that the record was not edited afterwards.
 *
 *   buildReport(svc, opts)  → ReportModel (plain data; the single source of every format)
 *   reportHtml(model)       → self-contained HTML (inline CSS, images as data URLs, A4 print
 *                             layout with page header/footer and a signature block). The PDF is
 *                             this HTML printed by Chromium (here: headless `chromium`; in the
 *                             desktop app: webContents.printToPDF on the same HTML).
 *   reportCsv(model)        → one row per reviewed part (RFC 4180)
 *   reportJson(model)       → the model as JSON, keys sorted
 *   writeReportPdf(html, f) → PDF through headless Chromium's print-to-PDF
 *   exportReport(svc, f, o) → picks the format from the extension, writes atomically
 *
 * AT SCALE (100,000 parts on a line): every REVIEWED part is listed (table, CSV, JSON); the
 * parts without a verdict in the period are summarised, never listed: counts and score
 * distribution per disposition (`population`) and the histogram. Thumbnails are drawn for at
 * most `maxThumbnails` flagged or missed reviewed parts. Verdicts, scores and images are read
 * in a few queries (verdictsAsOf, scoreColumns), not one per part.
 *
 * REPRODUCIBLE: the same project state and options give byte-identical HTML, CSV and JSON.
 * Nothing reads the clock (`generatedAt` is an input), everything is sorted by stored keys, no
 * random ids; thumbnails are encoded by the same libvips from the same pixels. (A PDF is not
 * byte-identical: Chromium stamps its own creation date into it.)
 *
 * What "the period" means, so a report for a closed period reads the same whenever it is
 * generated: `to` fixes the moment the report looks from (end of that day, UTC, for a date).
 * A part is in the report when its verdict AS OF that moment (the latest verdict row before
 * it: a set, or an undo that restored one) is good/defect and was given at or after `from`.
 * The model is the one active at that moment (from the audit trail: fit / refit / rollback
 * events), the threshold the one in force for that model at that moment. The figures use
 * each part's score under that model; the per-part table also shows what the reviewer saw
 * (score, model version and threshold at the time of the verdict). The audit chain is
 * verified as it stands now, and both its current head and the last event of the period are
 * printed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { fitWithin, renderHeatmap, type ColourScale } from '../engine/imaging/heatmap';
import { loadImage } from '../engine/imaging/load';
import { readMapPng } from '../engine/imaging/mapfile';
import { decodeModelFile, writeFileAtomic } from '../engine/model-file';
import { KensaError, isKensaError } from '../shared/errors';
import {
  auditHead,
  getActiveModel,
  getImage,
  getModel,
  getScore,
  listAudit,
  queueCounts,
  requireProject,
  scoreColumns,
  thresholdHistory,
  verdictsAsOf,
  type ImageRecord,
  type ModelRecord,
  type Threshold,
} from '../store/index';
import { mapScaleMax, type ProjectService } from './project-service';
import { quantileSorted, tuningStats, type Confusion, type DefectTypeRecall, type Histogram, type ReviewLoad, type ZeroMissResult } from './threshold';

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

export const REPORT_FORMAT = 'kensa-audit-report';
/** 2: `population` (every scored part by disposition) added. */
export const REPORT_FORMAT_VERSION = 2;
/** Thumbnails (flagged and missed parts) at most, by default. */
export const DEFAULT_THUMBNAILS = 60;
const THUMB_SIDE = 200;
const THUMB_QUALITY = 72;

export type Outcome = 'TP' | 'FN' | 'FP' | 'TN';

export interface ReportOptions {
  /** ISO date (YYYY-MM-DD, from the start of that day, UTC) or timestamp: verdicts given at or after it. */
  from?: string;
  /** ISO date (to the END of that day, UTC) or timestamp (inclusive): the moment the report looks from. */
  to?: string;
  /** The Kensa version that makes the report (printed on every page). */
  kensaVersion: string;
  /** When the report was made (printed; an input so the output is reproducible). Default: now. */
  generatedAt?: string;
  /** Thumbnails of flagged and missed parts at most (default 60; 0 = none). */
  maxThumbnails?: number;
  /** PDF printer for the HTML (Electron's printToPDF in the app); default: headless Chromium. */
  printPdf?: (html: string) => Promise<Uint8Array>;
}

export interface ReportThreshold {
  id: number;
  modelVersion: number | null;
  value: number;
  margin: number | null;
  marginKind: 'absolute' | 'spread' | null;
  /** Upper threshold of a pass / review / reject band. */
  reviewUpper: number | null;
  setBy: string;
  reason: string;
  createdAt: string;
}

export interface ReportModelVersion {
  version: number;
  kind: 'fit' | 'refit' | 'learn';
  parentVersion: number | null;
  status: 'building' | 'ready' | 'failed';
  backboneId: string;
  backboneSha256: string;
  modelFile: string | null;
  modelSha256: string | null;
  /** The model file on disk now against the checksum recorded when it was made. */
  fileCheck: 'ok' | 'missing' | 'mismatch' | 'no-file';
  detector: string;
  /** The detector's facts, one line ("Memory bank 12345 patches"). */
  facts: string;
  createdAt: string;
  createdBy: string;
  /** The version the report's figures use (active at the end of the period). */
  inForce: boolean;
  /** Verdicts in the report given while this version was active. */
  verdicts: number;
}

export interface ReportMetrics {
  modelVersion: number;
  threshold: number;
  /** Reviewed parts in the period that have a score under `modelVersion` (the figures are over these). */
  parts: number;
  /** Reviewed parts in the period without a score under `modelVersion` (left out of the figures). */
  unscored: number;
  defects: number;
  goods: number;
  confusion: Confusion;
  recall: number | null;
  precision: number | null;
  /** Share of good parts passed at the threshold in force (PG0 when no defect is missed); null without good parts. */
  pg0: number | null;
  falseAlarmRate: number | null;
  auroc: number | null;
  /** Over every part scored by `modelVersion` (reviewed in the period or not). */
  reviewLoad: ReviewLoad;
  byDefectType: DefectTypeRecall[];
  /** The zero-miss threshold on these parts, with the margin of the threshold in force. */
  zeroMiss: ZeroMissResult;
  histogram: Histogram;
}

/** How the parts scored by the model in force ended up: reviewed in the period (by outcome) or not. */
export type Disposition = 'defect-flagged' | 'defect-missed' | 'good-flagged' | 'good-passed' | 'unreviewed-flagged' | 'unreviewed-passed';

export interface ReportDisposition {
  disposition: Disposition;
  parts: number;
  /** parts / every scored part; null when nothing is scored. */
  share: number | null;
  /** Score distribution of these parts (type-7 quantiles); null when there are none. */
  scores: { min: number; p05: number; median: number; p95: number; max: number } | null;
}

/**
 * Every part scored by the model in force, counted by disposition with its score
 * distribution: the report lists each REVIEWED part, and summarises the rest here (a line
 * may hold 100,000 parts, nearly all passed without review).
 */
export interface ReportPopulation {
  modelVersion: number;
  threshold: number;
  /** Parts with a score under `modelVersion` (= reviewLoad.total). */
  scored: number;
  /** Inspect parts without a score under `modelVersion`. */
  unscored: number;
  rows: ReportDisposition[];
}

export interface ReportPart {
  imageId: number;
  path: string;
  sha256: string;
  verdict: 'good' | 'defect';
  defectType: string | null;
  comment: string | null;
  reviewer: string;
  reviewedAt: string;
  verdictId: number;
  /** 'undo': the verdict was restored by undoing a later one. */
  action: 'set' | 'undo';
  /** What the reviewer saw: model version, score and threshold at the time of the verdict. */
  modelVersion: number | null;
  scoreAtReview: number | null;
  thresholdAtReview: number | null;
  flaggedAtReview: boolean | null;
  /** Score under the report's model, and the outcome at the threshold in force (null: not scored). */
  score: number | null;
  outcome: Outcome | null;
}

export interface ReportThumbnail {
  imageId: number;
  path: string;
  outcome: 'TP' | 'FN' | 'FP';
  verdict: 'good' | 'defect';
  defectType: string | null;
  score: number;
  /** JPEG data URL (part with the heatmap laid over it); null when it could not be made (see note). */
  dataUrl: string | null;
  width: number;
  height: number;
  /** Why there is no image / no heatmap; null when all is well. */
  note: string | null;
}

export interface ReportAudit {
  ok: boolean;
  events: number;
  headSeq: number | null;
  headHash: string | null;
  /** The first problem found (null when the chain verifies). */
  problem: string | null;
  /** The last event at or before the end of the period (= the head without `to`). */
  periodEnd: { seq: number; hash: string; at: string } | null;
}

export interface ReportModel {
  format: typeof REPORT_FORMAT;
  formatVersion: number;
  kensaVersion: string;
  generatedAt: string;
  period: {
    from: string | null;
    to: string | null;
    /** Verdicts given at or after this instant (inclusive)... */
    start: string | null;
    /** ...and before this one (exclusive). */
    end: string | null;
  };
  project: { name: string; folder: string; createdAt: string };
  /** Versions used in the period (by the verdicts, and the one in force), oldest first. */
  models: ReportModelVersion[];
  /** The version the figures use: active at the end of the period. */
  modelInForce: number | null;
  threshold: { inForce: ReportThreshold | null; history: ReportThreshold[] };
  metrics: ReportMetrics | null;
  /** Every scored part by disposition (null when there are no figures). */
  population: ReportPopulation | null;
  parts: ReportPart[];
  thumbnails: { limit: number; eligible: number; items: ReportThumbnail[] };
  audit: ReportAudit;
  /** Things the reader must know (unscored parts, missing files, capped thumbnails...), in a fixed order. */
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Inclusive start / exclusive end instant (ISO, UTC) of a `from` / `to` option; null when absent. */
export function periodBound(value: string | undefined, which: 'from' | 'to'): string | null {
  if (value === undefined || value.trim() === '') return null;
  const s = value.trim();
  const m = DATE_ONLY.exec(s);
  if (m) {
    const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    const d = new Date(t);
    if (d.toISOString().slice(0, 10) !== s) throw new KensaError('INVALID_ARGUMENT', `--${which} "${value}" is not a calendar date (YYYY-MM-DD)`);
    return new Date(which === 'from' ? t : t + 86_400_000).toISOString();
  }
  const t = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s) || Number.isNaN(t)) {
    throw new KensaError('INVALID_ARGUMENT', `--${which} "${value}" is not an ISO date (YYYY-MM-DD) or timestamp (YYYY-MM-DDTHH:MM[:SS][Z])`);
  }
  return new Date(which === 'from' ? t : t + 1).toISOString();
}

function toReportThreshold(t: Threshold): ReportThreshold {
  return {
    id: t.id,
    modelVersion: t.modelVersion,
    value: t.value,
    margin: t.margin,
    marginKind: t.marginKind,
    reviewUpper: t.reviewUpper,
    setBy: t.setBy,
    reason: t.reason,
    createdAt: t.createdAt,
  };
}

/** The active model version at an instant, replayed from the audit trail (the store's own record). */
function activeVersionAt(svc: ProjectService, end: string | null): number | null {
  if (end === null) return getActiveModel(svc.db)?.version ?? null;
  let version: number | null = null;
  for (const e of listAudit(svc.db, { entity: 'model' })) {
    if (e.at >= end) break;
    if (e.kind === 'fit' || e.kind === 'refit') version = Number(e.entityId);
    else if (e.kind === 'rollback' || e.kind === 'activate') {
      const to = (e.payload as { to_version?: unknown } | null)?.to_version;
      if (typeof to === 'number') version = to;
    }
  }
  return version;
}

/** The threshold in force for a version at an instant (falling back to a version-less one, as ProjectService.threshold does). */
function thresholdAt(history: readonly Threshold[], version: number | null, end: string | null): Threshold | null {
  const before = history.filter((t) => end === null || t.createdAt < end);
  const latest = (v: number | null): Threshold | null => before.filter((t) => t.modelVersion === v).at(-1) ?? null;
  return (version !== null ? latest(version) : null) ?? latest(null);
}

async function modelFileState(svc: ProjectService, m: ModelRecord, wantScale: boolean): Promise<{ check: ReportModelVersion['fileCheck']; scale: ColourScale | null }> {
  if (!m.modelFile || !m.modelSha256) return { check: 'no-file', scale: null };
  const file = svc.abs(m.modelFile);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    return { check: 'missing', scale: null };
  }
  if (createHash('sha256').update(bytes).digest('hex') !== m.modelSha256) return { check: 'mismatch', scale: null };
  if (!wantScale) return { check: 'ok', scale: null };
  try {
    return { check: 'ok', scale: decodeModelFile(bytes, file).header.stats.colourScale };
  } catch {
    return { check: 'mismatch', scale: null };
  }
}

/** The part's image, scaled to fit THUMB_SIDE, with the anomaly map laid over it on the model's fixed colour scale. */
async function makeThumbnail(
  svc: ProjectService,
  image: { path: string; width: number; height: number },
  mapFile: string | null,
  scale: ColourScale | null,
): Promise<{ dataUrl: string | null; width: number; height: number; note: string | null }> {
  const size = fitWithin(image.width, image.height, THUMB_SIDE);
  let rgb: Uint8Array;
  try {
    rgb = (await loadImage(svc.abs(image.path), { ...size, resize: 'stretch' })).rgb;
  } catch (e) {
    return { dataUrl: null, ...size, note: `image unavailable: ${isKensaError(e) ? e.message : String(e)}` };
  }
  let note: string | null = null;
  let overlay: Buffer | null = null;
  if (!scale) note = 'no heatmap: the model file is missing or does not match its checksum';
  else if (!mapFile) note = 'no heatmap: no anomaly map was stored for this part';
  else {
    try {
      const m = await readMapPng(svc.abs(mapFile), mapScaleMax(scale.high));
      overlay = await sharp(renderHeatmap(m.map, m.width, m.height, scale, 0.55), { raw: { width: m.width, height: m.height, channels: 4 } })
        .resize(size.width, size.height, { fit: 'fill' })
        .raw()
        .toBuffer();
    } catch (e) {
      note = `no heatmap: ${isKensaError(e) ? e.message : String(e)}`;
    }
  }
  let img = sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } });
  if (overlay) img = img.composite([{ input: overlay, raw: { width: size.width, height: size.height, channels: 4 } }]);
  const jpeg = await img.jpeg({ quality: THUMB_QUALITY }).toBuffer();
  return { dataUrl: `data:image/jpeg;base64,${jpeg.toString('base64')}`, ...size, note };
}

/** Index of `x` in an ascending array, or −1. */
function indexOfSorted(xs: Float64Array, x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo < xs.length && xs[lo] === x ? lo : -1;
}

export const DISPOSITIONS: readonly Disposition[] = ['defect-flagged', 'defect-missed', 'good-flagged', 'good-passed', 'unreviewed-flagged', 'unreviewed-passed'];

/** Counts and score distribution per disposition over every scored part (`reviewed`: the parts in the report, by image id). */
function populationOf(
  scores: { ids: Float64Array; scores: Float64Array },
  reviewed: ReadonlyMap<number, ReportPart>,
  threshold: number,
  modelVersion: number,
  unscored: number,
): ReportPopulation {
  const n = scores.ids.length;
  const code = new Uint8Array(n);
  const sizes = new Array<number>(DISPOSITIONS.length).fill(0);
  for (let i = 0; i < n; i++) {
    const flagged = scores.scores[i]! >= threshold;
    const p = reviewed.get(scores.ids[i]!);
    const d = p ? (p.verdict === 'defect' ? (flagged ? 0 : 1) : flagged ? 2 : 3) : flagged ? 4 : 5;
    code[i] = d;
    sizes[d]!++;
  }
  const groups = sizes.map((m) => new Float64Array(m));
  const fill = new Array<number>(DISPOSITIONS.length).fill(0);
  for (let i = 0; i < n; i++) groups[code[i]!]![fill[code[i]!]!++] = scores.scores[i]!;
  const rows = DISPOSITIONS.map((disposition, d): ReportDisposition => {
    const g = groups[d]!.sort();
    return {
      disposition,
      parts: g.length,
      share: n === 0 ? null : g.length / n,
      scores: g.length === 0 ? null : { min: g[0]!, p05: quantileSorted(g, 0.05), median: quantileSorted(g, 0.5), p95: quantileSorted(g, 0.95), max: g[g.length - 1]! },
    };
  });
  return { modelVersion, threshold, scored: n, unscored, rows };
}

const outcomeOf = (verdict: 'good' | 'defect', flagged: boolean): Outcome => (verdict === 'defect' ? (flagged ? 'TP' : 'FN') : flagged ? 'FP' : 'TN');

/** Collects everything the report shows (see the module comment for the period semantics). */
export async function buildReport(svc: ProjectService, opts: ReportOptions): Promise<ReportModel> {
  if (!opts || typeof opts.kensaVersion !== 'string' || opts.kensaVersion === '') throw new KensaError('INVALID_ARGUMENT', 'buildReport needs the Kensa version');
  const start = periodBound(opts.from, 'from');
  const end = periodBound(opts.to, 'to');
  if (start !== null && end !== null && start >= end) throw new KensaError('INVALID_ARGUMENT', `the period is empty: --from ${opts.from} is not before --to ${opts.to}`);
  const limit = opts.maxThumbnails ?? DEFAULT_THUMBNAILS;
  if (!Number.isInteger(limit) || limit < 0) throw new KensaError('INVALID_ARGUMENT', `maxThumbnails must be a non-negative integer, got ${String(limit)}`);
  const db = svc.db;
  const project = requireProject(db);
  const notes: string[] = [];

  // ---- verdicts as of the end of the period (one read: the latest row of each image before the end) ----
  const parts: ReportPart[] = [];
  const images = new Map<number, ImageRecord>();
  for (const state of verdictsAsOf(db, end)) {
    if (state.verdict === null) continue;
    if (start !== null && state.createdAt < start) continue;
    const image = getImage(db, state.imageId);
    if (!image) continue;
    images.set(image.id, image);
    parts.push({
      imageId: image.id,
      path: image.path,
      sha256: image.sha256,
      verdict: state.verdict,
      defectType: state.defectType,
      comment: state.comment,
      reviewer: state.reviewer,
      reviewedAt: state.createdAt,
      verdictId: state.id,
      action: state.action,
      modelVersion: state.modelVersion,
      scoreAtReview: state.scoreShown,
      thresholdAtReview: state.threshold,
      flaggedAtReview: state.scoreShown !== null && state.threshold !== null ? state.scoreShown >= state.threshold : null,
      score: null,
      outcome: null,
    });
  }
  parts.sort((a, b) => (a.reviewedAt < b.reviewedAt ? -1 : a.reviewedAt > b.reviewedAt ? 1 : a.imageId - b.imageId));

  // ---- model and threshold in force ----
  const version = activeVersionAt(svc, end);
  const allThresholds = thresholdHistory(db);
  const inForce = thresholdAt(allThresholds, version, end);
  const history = allThresholds.filter((t) => end === null || t.createdAt < end).map(toReportThreshold);

  const usedVersions = new Set<number>();
  for (const p of parts) if (p.modelVersion !== null) usedVersions.add(p.modelVersion);
  if (version !== null) usedVersions.add(version);
  let scale: ColourScale | null = null;
  const models: ReportModelVersion[] = [];
  for (const v of [...usedVersions].sort((a, b) => a - b)) {
    const m = getModel(db, v);
    if (!m) continue;
    const state = await modelFileState(svc, m, v === version);
    if (v === version) scale = state.scale;
    if (state.check !== 'ok') notes.push(`Model v${v}: its file ${state.check === 'no-file' ? 'was never recorded' : state.check === 'missing' ? `is missing (${m.modelFile})` : `does not match the recorded SHA-256 (${m.modelFile})`}.`);
    models.push({
      version: m.version,
      kind: m.kind,
      parentVersion: m.parentVersion,
      status: m.status,
      backboneId: m.backboneId,
      backboneSha256: m.backboneSha256,
      modelFile: m.modelFile,
      modelSha256: m.modelSha256,
      fileCheck: state.check,
      detector: m.detector,
      facts: Object.values(m.facts).map((f) => `${f.label} ${f.value}${f.unit ? ` ${f.unit}` : ''}`).join(', '),
      createdAt: m.createdAt,
      createdBy: m.createdBy,
      inForce: v === version,
      verdicts: parts.filter((p) => p.modelVersion === v).length,
    });
  }

  // ---- figures at the threshold in force, on the scores of the model in force ----
  let metrics: ReportMetrics | null = null;
  let population: ReportPopulation | null = null;
  // Every score of the version as two columns (no object per part: 100,000 parts stay cheap).
  const scores = version !== null ? scoreColumns(db, version) : { ids: new Float64Array(0), scores: new Float64Array(0) };
  const scoreOf = (imageId: number): number | null => {
    const i = indexOfSorted(scores.ids, imageId);
    return i < 0 ? null : scores.scores[i]!;
  };
  if (version === null) notes.push('No model was active at the end of the period: no figures can be computed.');
  else if (inForce === null) notes.push(`No threshold was in force for model v${version} at the end of the period: no figures can be computed.`);
  if (version !== null && inForce !== null) {
    const t = inForce.value;
    const inReport = new Map<number, ReportPart>();
    const tuning: { score: number; verdict: 'good' | 'defect'; defectType: string | null }[] = [];
    for (const p of parts) {
      const s = scoreOf(p.imageId);
      if (s === null) continue;
      p.score = s;
      p.outcome = outcomeOf(p.verdict, s >= t);
      inReport.set(p.imageId, p);
      tuning.push({ score: s, verdict: p.verdict, defectType: p.verdict === 'defect' ? p.defectType : null });
    }
    const others = new Float64Array(scores.ids.length - inReport.size);
    let k = 0;
    for (let i = 0; i < scores.ids.length; i++) if (!inReport.has(scores.ids[i]!)) others[k++] = scores.scores[i]!;
    const stats = tuningStats(tuning, t, {
      unreviewedScores: others,
      margin: inForce.margin !== null && inForce.marginKind !== null ? { kind: inForce.marginKind, value: inForce.margin } : { kind: 'absolute', value: 0 },
      minDefects: project.settings.minDefectsForZeroMiss,
      bins: 40,
      log: tuning.length + others.length > 60,
    });
    const unscored = parts.length - tuning.length;
    if (unscored > 0) notes.push(`${unscored} reviewed part(s) in the period have no score under model v${version}; they are listed but left out of the figures.`);
    metrics = {
      modelVersion: version,
      threshold: t,
      parts: tuning.length,
      unscored,
      defects: stats.defects,
      goods: stats.goods,
      confusion: stats.confusion,
      recall: stats.recall,
      precision: stats.precision,
      pg0: stats.goodPassed,
      falseAlarmRate: stats.falseAlarmRate,
      auroc: stats.auroc,
      reviewLoad: stats.reviewLoad,
      byDefectType: stats.byDefectType,
      zeroMiss: stats.zeroMiss,
      histogram: stats.histogram,
    };
    const qc = queueCounts(db, { modelVersion: version, threshold: t });
    population = populationOf(scores, inReport, t, version, qc.all - qc.flagged - qc.passed);
  }

  // ---- thumbnails: missed parts first, then flagged ones, highest score first ----
  const rank = { FN: 0, TP: 1, FP: 2 } as const;
  const eligible = parts
    .filter((p): p is ReportPart & { outcome: 'TP' | 'FN' | 'FP'; score: number } => p.outcome === 'TP' || p.outcome === 'FN' || p.outcome === 'FP')
    .sort((a, b) => rank[a.outcome] - rank[b.outcome] || b.score - a.score || a.imageId - b.imageId);
  const items: ReportThumbnail[] = [];
  for (const p of eligible.slice(0, limit)) {
    const image = images.get(p.imageId)!;
    const th = await makeThumbnail(svc, image, version !== null ? (getScore(db, p.imageId, version)?.mapFile ?? null) : null, scale);
    items.push({ imageId: p.imageId, path: p.path, outcome: p.outcome, verdict: p.verdict, defectType: p.defectType, score: p.score, ...th });
  }
  if (eligible.length > limit) notes.push(`Thumbnails: the first ${limit} of ${eligible.length} flagged or missed parts are shown (missed parts first, then by score).`);

  // ---- audit chain ----
  const verification = svc.verifyAudit();
  const head = auditHead(db);
  let periodEnd: ReportAudit['periodEnd'] = null;
  if (end === null) {
    if (head) {
      const last = listAudit(db, { afterSeq: head.seq - 1, limit: 1 })[0];
      periodEnd = { seq: head.seq, hash: head.hash, at: last?.at ?? '' };
    }
  } else {
    for (const e of listAudit(db)) {
      if (e.at >= end) break;
      periodEnd = { seq: e.seq, hash: e.hash, at: e.at };
    }
  }
  const bad = verification.firstBad;
  const audit: ReportAudit = {
    ok: verification.ok,
    events: verification.events,
    headSeq: head?.seq ?? null,
    headHash: verification.headHash,
    problem: bad ? `${bad.seq === null ? 'a row without an audit event' : `event ${bad.seq}`}: ${bad.reason}` : null,
    periodEnd,
  };
  if (!audit.ok) notes.unshift(`THE AUDIT TRAIL FAILS VERIFICATION (${audit.problem}). The records in this report cannot be shown to be unaltered.`);

  return {
    format: REPORT_FORMAT,
    formatVersion: REPORT_FORMAT_VERSION,
    kensaVersion: opts.kensaVersion,
    generatedAt: opts.generatedAt ?? new Date().toISOString(),
    period: { from: opts.from?.trim() || null, to: opts.to?.trim() || null, start, end },
    project: { name: project.name, folder: svc.dir, createdAt: project.createdAt },
    models,
    modelInForce: version,
    threshold: { inForce: inForce ? toReportThreshold(inForce) : null, history },
    metrics,
    population,
    parts,
    thumbnails: { limit, eligible: eligible.length, items },
    audit,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// JSON and CSV
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------------------------

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
/** A CSS string literal that cannot end the string or the <style> element. */
const cssString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/[\r\n]+/g, ' ').replace(/</g, '\\3C ')}"`;
const num = (x: number | null, digits = 4): string => (x === null ? '—' : x.toFixed(digits));
const pct = (x: number | null): string => (x === null ? '—' : `${(100 * x).toFixed(1)}%`);
const when = (iso: string | null): string => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '—');
const DISPOSITION_LABEL: Record<Disposition, string> = {
  'defect-flagged': 'Defect, flagged (TP)',
  'defect-missed': 'Defect, MISSED (FN)',
  'good-flagged': 'Good, flagged (false alarm)',
  'good-passed': 'Good, passed',
  'unreviewed-flagged': 'No verdict in the period, flagged',
  'unreviewed-passed': 'No verdict in the period, passed',
};
const OUTCOME_LABEL: Record<Outcome, string> = { TP: 'defect flagged', FN: 'MISSED', FP: 'false alarm', TN: 'good passed' };

function periodText(m: ReportModel): string {
  const { from, to } = m.period;
  if (from && to) return `${from} to ${to}`;
  if (from) return `from ${from}`;
  if (to) return `up to ${to}`;
  return 'all verdicts';
}

function histogramSvg(h: Histogram, threshold: number, weakest: number | null): string {
  const W = 680;
  const H = 150;
  const L = 34;
  const R = 8;
  const T = 10;
  const B = 24;
  const pw = W - L - R;
  const ph = H - T - B;
  const lo = h.edges[0]!;
  const hi = h.edges[h.edges.length - 1]!;
  const x = (v: number): number => L + ((v - lo) / (hi - lo)) * pw;
  const max = h.maxHeight || 1;
  const y = (v: number): number => T + ph - (v / max) * ph;
  const n = h.edges.length - 1;
  const bw = pw / n;
  const parts: string[] = [];
  parts.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="#fbfcfd" stroke="#d5dbe3" stroke-width="0.6"/>`);
  // Overlaid full-width bars, the tallest drawn first so a smaller series always shows on top.
  const series: [number[], string][] = [
    [h.heights.unreviewed, '#c9ced6'],
    [h.heights.good, '#4f7cac'],
    [h.heights.defect, '#c0392b'],
  ];
  for (let i = 0; i < n; i++) {
    const bars = series.map(([vals, colour]) => [vals[i]!, colour] as const).filter(([v]) => v > 0);
    bars.sort((a, b) => b[0] - a[0]);
    for (const [v, colour] of bars) {
      parts.push(`<rect x="${(L + i * bw + 0.4).toFixed(2)}" y="${y(v).toFixed(2)}" width="${Math.max(0.5, bw - 0.8).toFixed(2)}" height="${(T + ph - y(v)).toFixed(2)}" fill="${colour}" fill-opacity="0.92"/>`);
    }
  }
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    const anchor = k === 0 ? 'start' : k === 4 ? 'end' : 'middle';
    parts.push(`<line x1="${x(v).toFixed(2)}" y1="${T + ph}" x2="${x(v).toFixed(2)}" y2="${T + ph + 3}" stroke="#5b6675" stroke-width="0.6"/>`);
    parts.push(`<text x="${x(v).toFixed(2)}" y="${H - 8}" text-anchor="${anchor}" class="ax">${num(v, 3)}</text>`);
  }
  const ylab = h.log ? `${Math.round(10 ** max - 1)}` : `${max}`;
  parts.push(`<text x="${L - 4}" y="${T + 7}" text-anchor="end" class="ax">${ylab}</text><text x="${L - 4}" y="${T + ph}" text-anchor="end" class="ax">0</text>`);
  if (weakest !== null && weakest >= lo && weakest <= hi) {
    parts.push(`<line x1="${x(weakest).toFixed(2)}" y1="${T}" x2="${x(weakest).toFixed(2)}" y2="${T + ph}" stroke="#c0392b" stroke-width="0.8" stroke-dasharray="1.5 2"/>`);
  }
  if (threshold >= lo && threshold <= hi) {
    const tx = x(threshold);
    const anchor = tx > L + pw * 0.8 ? 'end' : 'start';
    parts.push(`<line x1="${tx.toFixed(2)}" y1="${T - 2}" x2="${tx.toFixed(2)}" y2="${T + ph}" stroke="#1c2430" stroke-width="1.2" stroke-dasharray="4 2"/>`);
    parts.push(`<text x="${(tx + (anchor === 'end' ? -4 : 4)).toFixed(2)}" y="${T + 9}" text-anchor="${anchor}" class="lbl">threshold ${num(threshold)}</text>`);
  }
  return `<svg class="hist" viewBox="0 0 ${W} ${H}" xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Score distribution">${parts.join('')}</svg>`;
}

const CSS = `
:root { --ink:#1c2430; --muted:#5b6675; --line:#d5dbe3; --soft:#f3f5f8; --accent:#1f4e79; --bad:#b3261e; --badbg:#fbeaea; --ok:#1b6e3a; --okbg:#e8f4ec; --warn:#8a5a00; --warnbg:#fdf4e1; }
* { box-sizing: border-box; }
html { font-family: "Segoe UI", "Helvetica Neue", Arial, "Liberation Sans", "DejaVu Sans", sans-serif; font-size: 8.6pt; line-height: 1.38; color: var(--ink); -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; }
@media screen { body { max-width: 190mm; margin: 12mm auto; padding: 0 6mm; } }
h1 { font-size: 17pt; margin: 1mm 0 0.5mm; letter-spacing: -0.01em; }
h2 { font-size: 10.5pt; color: var(--accent); margin: 6mm 0 2mm; padding-bottom: 1mm; border-bottom: 0.6pt solid var(--line); break-after: avoid; }
h3 { font-size: 9pt; margin: 3mm 0 1.5mm; break-after: avoid; }
p { margin: 1mm 0 2mm; }
.mono, code { font-family: "DejaVu Sans Mono", Consolas, "Liberation Mono", monospace; font-size: 0.92em; }
.muted { color: var(--muted); }
.small { font-size: 7.4pt; }
.eyebrow { font-size: 7.4pt; font-weight: 700; letter-spacing: 0.14em; text-transform: uppercase; color: var(--accent); }
.titlebar { display: flex; justify-content: space-between; align-items: flex-end; gap: 6mm; padding-bottom: 3mm; border-bottom: 1.6pt solid var(--accent); }
.titlebar .folder { font-size: 7.4pt; color: var(--muted); word-break: break-all; }
table.meta { border-collapse: collapse; font-size: 7.8pt; }
table.meta th { text-align: left; color: var(--muted); font-weight: 500; padding: 0.3mm 3mm 0.3mm 0; white-space: nowrap; }
table.meta td { padding: 0.3mm 0; white-space: nowrap; }
.cards { display: grid; grid-template-columns: repeat(5, 1fr); gap: 2.5mm; margin: 4mm 0 1mm; }
.card { border: 0.6pt solid var(--line); border-radius: 1.5mm; padding: 2mm 2.5mm; background: var(--soft); }
.card .k { font-size: 7.2pt; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em; }
.card .v { font-size: 15pt; font-weight: 700; margin-top: 0.5mm; }
.card .s { font-size: 7.2pt; color: var(--muted); }
.card.bad { background: var(--badbg); border-color: #e3b4b1; } .card.bad .v { color: var(--bad); }
.card.good { background: var(--okbg); border-color: #b7d8c2; } .card.good .v { color: var(--ok); }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 6mm; }
table.grid { border-collapse: collapse; width: 100%; }
table.grid th, table.grid td { border-bottom: 0.5pt solid var(--line); padding: 1mm 1.6mm; text-align: left; vertical-align: top; }
table.grid thead th { background: var(--soft); font-weight: 600; font-size: 7.4pt; color: #333c48; border-bottom: 0.8pt solid #b9c2ce; }
table.grid td.n, table.grid th.n { text-align: right; font-variant-numeric: tabular-nums; }
table.cm { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.cm th, table.cm td { border: 0.6pt solid var(--line); padding: 1.6mm 2mm; text-align: center; }
table.cm thead th, table.cm tbody th { background: var(--soft); font-weight: 600; font-size: 7.6pt; }
table.cm td .c { font-size: 12pt; font-weight: 700; display: block; }
table.cm td .l { font-size: 7pt; color: var(--muted); }
table.cm td.miss { background: var(--badbg); } table.cm td.miss .c { color: var(--bad); }
table.cm td.hit { background: var(--okbg); } table.cm td.hit .c { color: var(--ok); }
.box { border: 0.6pt solid var(--line); border-radius: 1.5mm; padding: 2mm 3mm; }
.box dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.6mm 3mm; margin: 0; }
.box dt { color: var(--muted); } .box dd { margin: 0; }
.badge { white-space: nowrap; display: inline-block; padding: 0.2mm 1.8mm; border-radius: 1mm; font-size: 7.2pt; font-weight: 700; letter-spacing: 0.04em; }
.badge.ok { background: var(--okbg); color: var(--ok); } .badge.bad { background: var(--badbg); color: var(--bad); } .badge.warn { background: var(--warnbg); color: var(--warn); }
.audit { margin-top: 4mm; display: grid; grid-template-columns: max-content 1fr; gap: 0.8mm 4mm; align-items: baseline; }
.audit .hash { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 7.6pt; word-break: break-all; }
.notes { margin: 3mm 0 0; padding: 2mm 3mm; background: var(--warnbg); border-left: 2pt solid #e0b045; font-size: 7.8pt; }
.notes p { margin: 0.5mm 0; }
.notes.alarm { background: var(--badbg); border-left-color: var(--bad); }
.sign { margin-top: 6mm; border: 0.8pt solid #9aa5b3; border-radius: 1.5mm; padding: 3mm 4mm 4mm; break-inside: avoid; }
.sign .stmt { font-size: 7.8pt; color: #333c48; margin: 0 0 5mm; }
.sign .fields { display: grid; grid-template-columns: 1.3fr 1.3fr 0.8fr; gap: 8mm; }
.sign .field { border-top: 0.8pt solid var(--ink); padding-top: 1mm; font-size: 7.6pt; color: var(--muted); margin-top: 11mm; }
.sign .field b { color: var(--ink); font-size: 8pt; }
.pb { break-before: page; }
svg.hist { width: 100%; height: auto; display: block; }
svg.hist .ax { font-size: 8px; fill: #5b6675; font-family: inherit; }
svg.hist .lbl { font-size: 8.5px; fill: #1c2430; font-weight: 700; font-family: inherit; }
.legend { font-size: 7.4pt; color: var(--muted); margin-top: 1mm; }
.legend i { display: inline-block; width: 2.6mm; height: 2.6mm; vertical-align: -0.4mm; margin: 0 1mm 0 3mm; border-radius: 0.4mm; }
.thumbs { display: grid; grid-template-columns: repeat(4, 1fr); gap: 3mm; }
.thumbs figure { margin: 0; break-inside: avoid; border: 0.6pt solid var(--line); border-radius: 1.2mm; overflow: hidden; background: var(--soft); }
.thumbs figure.FN { border-color: var(--bad); border-width: 1.2pt; }
.thumbs img { width: 100%; height: auto; display: block; background: #222; }
.thumbs .noimg { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; color: var(--muted); font-size: 7pt; padding: 2mm; text-align: center; }
.thumbs figcaption { padding: 1mm 1.5mm 1.2mm; font-size: 6.8pt; line-height: 1.3; }
.thumbs figcaption .name { font-weight: 600; word-break: break-all; }
table.parts { font-size: 6.8pt; }
table.parts td, table.parts th { padding: 0.7mm 1.1mm; }
table.parts tr { break-inside: avoid; }
table.parts .sha { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 5.6pt; color: var(--muted); word-break: break-all; }
table.parts .path { word-break: break-all; }
table.parts td.FN { color: var(--bad); font-weight: 700; }
td.wrap { word-break: break-word; }
table.fixed { table-layout: fixed; }
.hashline { font-family: "DejaVu Sans Mono", Consolas, monospace; font-size: 6.4pt; color: var(--muted); word-break: break-all; margin-top: 0.4mm; }
.thumbs figcaption .row { display: flex; justify-content: space-between; align-items: center; margin: 0.6mm 0 0.3mm; }
.thumbs figcaption .score { font-weight: 700; font-variant-numeric: tabular-nums; }
table.parts td.FP { color: var(--warn); }
`;

function pageCss(m: ReportModel): string {
  const head = m.audit.headHash ? `audit head ${m.audit.headHash.slice(0, 16)}…` : 'audit chain empty';
  return `@page { size: A4; margin: 17mm 14mm 16mm 14mm;
  @top-left { content: ${cssString(m.project.name)}; font-size: 7.5pt; color: #5b6675; }
  @top-right { content: ${cssString(`Kensa ${m.kensaVersion} · Inspection audit report`)}; font-size: 7.5pt; color: #5b6675; }
  @bottom-left { content: ${cssString(`Generated ${when(m.generatedAt)} UTC · ${head}`)}; font-size: 7pt; color: #5b6675; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 7.5pt; color: #5b6675; }
}`;
}

function card(key: string, value: string, sub: string, tone: '' | 'bad' | 'good' = ''): string {
  return `<div class="card ${tone}"><div class="k">${esc(key)}</div><div class="v">${esc(value)}</div><div class="s">${esc(sub)}</div></div>`;
}

function marginText(t: ReportThreshold): string {
  if (t.margin === null || t.marginKind === null) return 'none recorded';
  return t.marginKind === 'absolute' ? `${num(t.margin)} (absolute, score units)` : `${t.margin} × good-score spread (p95 − p5)`;
}

/** The report as one self-contained HTML document (print layout: A4 portrait). */
export function reportHtml(model: ReportModel): string {
  const m = model;
  const x = m.metrics;
  const t = m.threshold.inForce;
  const out: string[] = [];
  out.push(`<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">`);
  out.push(`<meta name="generator" content="${esc(`Kensa ${m.kensaVersion}`)}">`);
  out.push(`<title>${esc(`Inspection audit report — ${m.project.name}`)}</title>`);
  out.push(`<style>${pageCss(m)}${CSS}</style></head><body>`);

  // ---- page 1: summary, audit chain, sign-off ----
  out.push(`<header class="titlebar"><div><div class="eyebrow">Inspection audit report</div><h1>${esc(m.project.name)}</h1><div class="folder mono">${esc(m.project.folder)}</div></div>`);
  out.push(`<table class="meta"><tbody>`);
  const meta: [string, string][] = [
    ['Period', periodText(m)],
    ['Generated', `${when(m.generatedAt)} UTC`],
    ['Kensa version', m.kensaVersion],
    ['Model in force', m.modelInForce === null ? 'none' : `v${m.modelInForce}`],
    ['Threshold in force', t ? num(t.value) : 'none'],
    ['Reviewed parts', String(m.parts.length)],
  ];
  for (const [k, v] of meta) out.push(`<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`);
  out.push(`</tbody></table></header>`);

  if (x) {
    const c = x.confusion;
    const missedTone = c.fn > 0 ? 'bad' : x.defects > 0 ? 'good' : '';
    out.push(`<section class="cards">`);
    out.push(card('Recall', pct(x.recall), x.defects === 0 ? 'no defects reviewed' : `${c.tp} of ${x.defects} defects flagged`, missedTone));
    out.push(card('Missed defects', String(c.fn), c.fn === 0 ? 'zero misses at this threshold' : 'defects passed the line', missedTone));
    out.push(card('Precision', pct(x.precision), `${c.tp} of ${c.tp + c.fp} flagged were defects`));
    out.push(card(c.fn === 0 ? 'PG0' : 'Good passed', pct(x.pg0), c.fn === 0 ? `${c.tn} of ${x.goods} good parts passed` : `${c.tn} of ${x.goods}, NOT at zero misses`));
    out.push(card('Review load', pct(x.reviewLoad.share), `${x.reviewLoad.flagged} of ${x.reviewLoad.total} scored parts flagged`));
    out.push(`</section>`);

    out.push(`<div class="two"><div><h3>Confusion matrix at threshold ${esc(num(x.threshold))} (model v${x.modelVersion})</h3>`);
    out.push(`<table class="cm"><thead><tr><th></th><th>Flagged (score ≥ threshold)</th><th>Passed (score &lt; threshold)</th><th>Total</th></tr></thead><tbody>`);
    out.push(`<tr><th>Defect</th><td class="hit"><span class="c">${c.tp}</span><span class="l">TP · flagged</span></td><td class="${c.fn > 0 ? 'miss' : ''}"><span class="c">${c.fn}</span><span class="l">FN · missed</span></td><td><span class="c">${x.defects}</span></td></tr>`);
    out.push(`<tr><th>Good</th><td><span class="c">${c.fp}</span><span class="l">FP · false alarm</span></td><td><span class="c">${c.tn}</span><span class="l">TN · passed</span></td><td><span class="c">${x.goods}</span></td></tr>`);
    out.push(`<tr><th>Total</th><td><span class="c">${c.tp + c.fp}</span></td><td><span class="c">${c.fn + c.tn}</span></td><td><span class="c">${x.parts}</span></td></tr>`);
    out.push(`</tbody></table>`);
    out.push(`<p class="small muted">Over the ${x.parts} parts reviewed in the period that are scored by model v${x.modelVersion}${x.unscored > 0 ? ` (${x.unscored} unscored left out)` : ''}. A part scoring exactly the threshold is flagged.${x.auroc !== null ? ` Image AUROC ${num(x.auroc, 3)}.` : ''}</p></div>`);
  } else {
    out.push(`<div class="two"><div><h3>Figures</h3><p>No figures: ${m.modelInForce === null ? 'no model was active' : 'no threshold was in force'} at the end of the period.</p></div>`);
  }
  out.push(`<div><h3>Threshold in force</h3><div class="box">`);
  if (t) {
    out.push(`<dl><dt>Value</dt><dd><b>${esc(num(t.value))}</b>${t.modelVersion !== null ? ` (model v${t.modelVersion})` : ''}</dd>`);
    out.push(`<dt>Safety margin</dt><dd>${esc(marginText(t))}</dd>`);
    if (t.reviewUpper !== null) out.push(`<dt>Reject at</dt><dd>${esc(num(t.reviewUpper))} (review band [${esc(num(t.value))}, ${esc(num(t.reviewUpper))}))</dd>`);
    out.push(`<dt>Set by</dt><dd>${esc(t.setBy)}, ${esc(when(t.createdAt))} UTC</dd><dt>Reason</dt><dd class="wrap">${esc(t.reason)}</dd></dl>`);
  } else out.push(`<p>No threshold in force.</p>`);
  if (x && x.zeroMiss.status === 'ok') {
    const z = x.zeroMiss;
    out.push(`<p class="small" style="margin-top:2mm">Zero-miss threshold on these parts: <b>${esc(num(z.threshold))}</b> (weakest defect ${esc(num(z.raw))} − ${z.marginUsed === 'gap' ? `half the empty gap below it ${esc(num(z.marginToWeakest))}, wider than the margin ${esc(num(z.margin))}: no reviewed good part changes side` : `margin ${esc(num(z.margin))}`}), PG0 there ${esc(pct(z.pg0))}.${z.fewDefects ? ` <span class="badge warn">ONLY ${z.defects} DEFECT${z.defects === 1 ? '' : 'S'} REVIEWED (fewer than ${z.minDefects})</span>` : ''}</p>`);
  } else if (x) {
    out.push(`<p class="small" style="margin-top:2mm"><span class="badge warn">NO DEFECTS REVIEWED YET</span> No zero-miss threshold can be derived.</p>`);
  }
  out.push(`</div></div></div>`);

  const a = m.audit;
  out.push(`<h2>Audit trail</h2><div class="audit">`);
  out.push(`<span class="muted">Verification</span><span><span class="badge ${a.ok ? 'ok' : 'bad'}">${a.ok ? 'VERIFIED' : 'BROKEN'}</span> ${a.events} hash-chained events${a.ok ? ', every verdict, threshold and model row matches its event' : ` — ${esc(a.problem ?? '')}`}</span>`);
  out.push(`<span class="muted">Chain head</span><span class="hash">${a.headHash ? `#${a.headSeq} ${esc(a.headHash)}` : '(empty)'}</span>`);
  if (m.period.end !== null) out.push(`<span class="muted">Last event of period</span><span class="hash">${a.periodEnd ? `#${a.periodEnd.seq} ${esc(a.periodEnd.hash)}` : '(none)'}</span>`);
  out.push(`</div>`);

  if (m.notes.length > 0) out.push(`<div class="notes${a.ok ? '' : ' alarm'}">${m.notes.map((n) => `<p>${esc(n)}</p>`).join('')}</div>`);

  out.push(`<section class="sign"><div class="eyebrow" style="margin-bottom:1.5mm">Sign-off</div>`);
  out.push(`<p class="stmt">I have reviewed this report: the model and threshold in force, the threshold history, the figures and the reviewed parts listed, and the verification of the audit trail (chain head ${esc(a.headHash ? a.headHash.slice(0, 16) : '—')}…).</p>`);
  out.push(`<div class="fields"><div class="field"><b>Reviewed by</b><br>name and role</div><div class="field"><b>Signature</b></div><div class="field"><b>Date</b></div></div></section>`);

  // ---- page 2: distribution, defect types, models, threshold history ----
  out.push(`<div class="pb"></div>`);
  if (x) {
    out.push(`<h2>Score distribution (model v${x.modelVersion}${x.histogram.log ? ', bar heights on a log scale' : ''})</h2>`);
    out.push(histogramSvg(x.histogram, x.threshold, x.zeroMiss.status === 'ok' ? x.zeroMiss.raw : null));
    out.push(`<div class="legend"><i style="background:#4f7cac"></i>good (reviewed)<i style="background:#c0392b"></i>defect (reviewed)<i style="background:#c9ced6"></i>other scored parts · dashed: threshold in force${x.zeroMiss.status === 'ok' ? ' · dotted red: weakest reviewed defect' : ''}</div>`);
    const pop = m.population;
    if (pop) {
      const n = (x: number): string => x.toLocaleString('en-US');
      out.push(`<h3>Parts by disposition (${n(pop.scored)} scored by model v${pop.modelVersion})</h3>`);
      out.push(`<table class="grid fixed" data-section="population"><colgroup><col style="width:34%"><col style="width:12%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"><col style="width:9%"></colgroup>`);
      out.push(`<thead><tr><th>Disposition</th><th class="n">Parts</th><th class="n">Share</th><th class="n">Min</th><th class="n">P5</th><th class="n">Median</th><th class="n">P95</th><th class="n">Max</th></tr></thead><tbody>`);
      for (const r of pop.rows) {
        const sc = r.scores;
        const cells = sc ? [sc.min, sc.p05, sc.median, sc.p95, sc.max].map((v) => `<td class="n">${num(v)}</td>`).join('') : '<td class="n">—</td>'.repeat(5);
        const alarm = r.disposition === 'defect-missed' && r.parts > 0 ? ' style="color:var(--bad);font-weight:700"' : '';
        out.push(`<tr><td${alarm}>${esc(DISPOSITION_LABEL[r.disposition])}</td><td class="n"${alarm}>${n(r.parts)}</td><td class="n">${pct(r.share)}</td>${cells}</tr>`);
      }
      if (pop.unscored > 0) out.push(`<tr><td>Not scored by model v${pop.modelVersion}</td><td class="n">${n(pop.unscored)}</td><td class="n">—</td>${'<td class="n">—</td>'.repeat(5)}</tr>`);
      out.push(`</tbody></table>`);
      const unreviewed = pop.rows.filter((r) => r.disposition.startsWith('unreviewed-')).reduce((a, r) => a + r.parts, 0);
      out.push(`<p class="small muted">Flagged: score ≥ ${esc(num(pop.threshold))}. Every reviewed part is listed at the end of the report (and in the CSV export); the ${n(unreviewed)} scored parts without a verdict in the period are summarised here, not listed.</p>`);
    }
    out.push(`<h3>Recall per defect type</h3>`);
    if (x.byDefectType.length === 0) out.push(`<p class="muted">No defects reviewed.</p>`);
    else {
      out.push(`<table class="grid" style="width:130mm"><thead><tr><th>Defect type</th><th class="n">Defects</th><th class="n">Flagged</th><th class="n">Missed</th><th class="n">Recall</th></tr></thead><tbody>`);
      for (const d of x.byDefectType) {
        out.push(`<tr><td>${d.defectType === null ? '<span class="muted">(no type given)</span>' : esc(d.defectType)}</td><td class="n">${d.defects}</td><td class="n">${d.flagged}</td><td class="n"${d.missed > 0 ? ' style="color:var(--bad);font-weight:700"' : ''}>${d.missed}</td><td class="n">${pct(d.recall)}</td></tr>`);
      }
      out.push(`</tbody></table>`);
    }
  }

  out.push(`<h2>Model versions used in the period</h2>`);
  if (m.models.length === 0) out.push(`<p class="muted">No model versions.</p>`);
  else {
    out.push(`<table class="grid fixed"><colgroup><col style="width:14%"><col style="width:15%"><col style="width:31%"><col style="width:31%"><col style="width:9%"></colgroup>`);
    out.push(`<thead><tr><th>Version</th><th>Made (UTC)</th><th>Backbone</th><th>Model file</th><th class="n">Verdicts</th></tr></thead><tbody>`);
    for (const v of m.models) {
      const check = v.fileCheck === 'ok' ? '<span class="badge ok">FILE OK</span>' : `<span class="badge bad">${esc(v.fileCheck.toUpperCase())}</span>`;
      out.push(
        `<tr><td><b>v${v.version}</b>${v.inForce ? ' <span class="badge ok">IN FORCE</span>' : ''}<br><span class="small muted">${v.kind}${v.parentVersion !== null ? ` of v${v.parentVersion}` : ''} · ${esc(v.detector)}${v.facts ? ` · ${esc(v.facts)}` : ''}</span></td>` +
          `<td>${esc(when(v.createdAt))}<br><span class="small muted">by ${esc(v.createdBy)}</span></td>` +
          `<td>${esc(v.backboneId)}<div class="hashline">sha256 ${esc(v.backboneSha256)}</div></td>` +
          `<td>${esc(v.modelFile ?? '—')} ${check}<div class="hashline">sha256 ${esc(v.modelSha256 ?? '—')}</div></td><td class="n">${v.verdicts}</td></tr>`,
      );
    }
    out.push(`</tbody></table>`);
  }

  out.push(`<h2>Threshold history</h2>`);
  if (m.threshold.history.length === 0) out.push(`<p class="muted">No thresholds set.</p>`);
  else {
    out.push(`<table class="grid fixed"><colgroup><col style="width:15%"><col style="width:7%"><col style="width:10%"><col style="width:12%"><col style="width:15%"><col></colgroup>`);
    out.push(`<thead><tr><th>When (UTC)</th><th>Model</th><th class="n">Value</th><th>Margin</th><th>Set by</th><th>Reason</th></tr></thead><tbody>`);
    for (const h of m.threshold.history) {
      const current = t !== null && h.id === t.id;
      out.push(
        `<tr${current ? ' style="background:var(--okbg)"' : ''}><td>${esc(when(h.createdAt))}</td><td>${h.modelVersion === null ? '—' : `v${h.modelVersion}`}</td><td class="n"><b>${esc(num(h.value))}</b>${h.reviewUpper !== null ? `<br><span class="small muted">reject ≥ ${esc(num(h.reviewUpper))}</span>` : ''}</td>` +
          `<td>${h.margin === null ? '—' : esc(h.marginKind === 'absolute' ? num(h.margin) : `${h.margin} × spread`)}</td><td>${esc(h.setBy)}</td><td class="wrap">${esc(h.reason)}${current ? ' <span class="badge ok">IN FORCE</span>' : ''}</td></tr>`,
      );
    }
    out.push(`</tbody></table>`);
  }

  // ---- thumbnails ----
  const th = m.thumbnails;
  if (th.eligible > 0) {
    out.push(`<h2 class="pb">Flagged and missed parts</h2>`);
    out.push(`<p class="small muted">${th.items.length} of ${th.eligible} parts (missed first, then flagged, by score). Heatmap on model v${m.modelInForce ?? '—'}'s fixed colour scale; a red frame marks a missed defect.</p>`);
    out.push(`<div class="thumbs">`);
    for (const it of th.items) {
      const img = it.dataUrl ? `<img src="${it.dataUrl}" width="${it.width}" height="${it.height}" alt="${esc(it.path)}">` : `<div class="noimg">${esc(it.note ?? 'no image')}</div>`;
      const tone = it.outcome === 'FN' ? 'bad' : it.outcome === 'TP' ? 'ok' : 'warn';
      out.push(
        `<figure class="${it.outcome}">${img}<figcaption><div class="name">${esc(path.basename(it.path))}</div>` +
          `<div class="row"><span class="badge ${tone}">${esc(OUTCOME_LABEL[it.outcome].toUpperCase())}</span><span class="score">${esc(num(it.score))}</span></div>` +
          `<div class="muted">${it.verdict === 'defect' ? `defect${it.defectType ? `: ${esc(it.defectType)}` : ''}` : 'good part'}</div>${it.dataUrl && it.note ? `<div class="muted">${esc(it.note)}</div>` : ''}</figcaption></figure>`,
      );
    }
    out.push(`</div>`);
  }

  // ---- every reviewed part ----
  out.push(`<h2 class="pb">Reviewed parts (${m.parts.length})</h2>`);
  out.push(`<p class="small muted">Score, model and threshold at review: what the reviewer saw. Outcome: at the threshold in force${x ? ` (${esc(num(x.threshold))})` : ''} on the score under model v${m.modelInForce ?? '—'}. SHA-256 of the image file as imported.</p>`);
  if (m.parts.length > 0) {
    out.push(`<table class="grid parts fixed"><colgroup><col style="width:4%"><col style="width:30%"><col style="width:8%"><col style="width:10%"><col style="width:11%"><col style="width:5%"><col style="width:8%"><col style="width:8%"><col style="width:7%"><col style="width:9%"></colgroup>`);
    out.push(`<thead><tr><th class="n">#</th><th>Part / SHA-256</th><th>Verdict</th><th>Reviewer</th><th>Reviewed (UTC)</th><th class="n">Model</th><th class="n">Score at review</th><th class="n">Thr. at review</th><th class="n">Score v${m.modelInForce ?? '—'}</th><th>Outcome</th></tr></thead><tbody>`);
    m.parts.forEach((p, i) => {
      out.push(
        `<tr><td class="n">${i + 1}</td><td><div class="path">${esc(p.path)}</div><div class="sha">${esc(p.sha256)}</div></td>` +
          `<td>${p.verdict}${p.defectType ? `<br><span class="muted">${esc(p.defectType)}</span>` : ''}${p.action === 'undo' ? '<br><span class="muted">(restored by undo)</span>' : ''}</td>` +
          `<td>${esc(p.reviewer)}</td><td>${esc(p.reviewedAt.slice(0, 10))}<br>${esc(p.reviewedAt.slice(11, 19))}</td><td class="n">${p.modelVersion === null ? '—' : `v${p.modelVersion}`}</td>` +
          `<td class="n">${num(p.scoreAtReview)}</td><td class="n">${num(p.thresholdAtReview)}</td><td class="n">${num(p.score)}</td>` +
          `<td class="${p.outcome ?? ''}">${p.outcome ? esc(OUTCOME_LABEL[p.outcome]) : '<span class="muted">not scored</span>'}</td></tr>`,
      );
    });
    out.push(`</tbody></table>`);
  }
  out.push(`<p class="small muted" style="margin-top:4mm">Definitions: a part is flagged when its score ≥ the threshold. Recall = TP / defects. Precision = TP / flagged. PG0 = share of good parts passed while no defect is missed. Review load = share of all scored parts flagged. Zero-miss threshold = the lowest reviewed defect score (the largest threshold that still flags every reviewed defect) minus the safety margin. Report format ${esc(m.format)} v${m.formatVersion}.</p>`);
  out.push(`</body></html>\n`);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// PDF through headless Chromium
// ---------------------------------------------------------------------------------------------

const CHROMIUM_NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chrome'];
const CHROMIUM_PATHS = [
  '/usr/bin/chromium',
  '/Applications/Chromium.app/Contents/MacOS/Chromium',
  '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
  'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
  'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe',
];

/** The Chromium to print with: $KENSA_CHROMIUM, /usr/bin/chromium, then chromium / google-chrome on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  const forced = env.KENSA_CHROMIUM;
  if (forced) {
    if (!existsSync(forced)) throw new KensaError('NOT_FOUND', `KENSA_CHROMIUM is set to ${forced}, which does not exist`, { file: forced });
    return forced;
  }
  if (existsSync(CHROMIUM_PATHS[0]!)) return CHROMIUM_PATHS[0]!;
  const exts = process.platform === 'win32' ? ['.exe', ''] : [''];
  for (const name of CHROMIUM_NAMES) {
    for (const dir of (env.PATH ?? '').split(path.delimiter).filter(Boolean)) {
      for (const ext of exts) {
        const file = path.join(dir, name + ext);
        if (existsSync(file)) return file;
      }
    }
  }
  for (const file of CHROMIUM_PATHS.slice(1)) if (existsSync(file)) return file;
  return null;
}

export const NO_CHROMIUM_MESSAGE =
  'PDF export needs Chromium or Google Chrome and none was found: install it (Debian/Ubuntu: sudo apt-get install chromium; ' +
  'Fedora: sudo dnf install chromium; macOS: brew install --cask chromium) or set KENSA_CHROMIUM=/path/to/chrome — ' +
  'or export the report as .html and print it from a browser';

/** Prints `html` to `outFile` (written atomically) with headless Chromium's print-to-PDF. */
export async function writeReportPdf(html: string, outFile: string, opts: { chromium?: string; timeoutMs?: number } = {}): Promise<void> {
  const chromium = opts.chromium ?? findChromium();
  if (!chromium) throw new KensaError('NOT_FOUND', NO_CHROMIUM_MESSAGE);
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'kensa-report-'));
  try {
    const htmlFile = path.join(tmp, 'report.html');
    const pdfFile = path.join(tmp, 'report.pdf');
    await writeFile(htmlFile, html);
    const args = [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-extensions',
      '--no-pdf-header-footer',
      // Untagged, as Electron's printToPDF prints it: the accessibility tags of a 3,000-row parts
      // table make the file ten times larger and the print two to three times slower.
      '--disable-pdf-tagging',
      `--user-data-dir=${path.join(tmp, 'profile')}`,
      `--print-to-pdf=${pdfFile}`,
      pathToFileURL(htmlFile).href,
    ];
    const stderr = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
      let text = '';
      const child = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr.on('data', (d: Buffer) => {
        text = (text + d.toString()).slice(-4000);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(new KensaError('NOT_FOUND', `cannot start ${chromium}: ${e.message}. ${NO_CHROMIUM_MESSAGE}`, { file: chromium }));
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, text });
      });
    });
    let pdf: Buffer | null = null;
    try {
      pdf = await readFile(pdfFile);
    } catch {
      pdf = null;
    }
    if (stderr.code !== 0 || !pdf || pdf.subarray(0, 5).toString('latin1') !== '%PDF-') {
      const last = stderr.text.trim().split('\n').filter((l) => !/dbus|Fontconfig/i.test(l)).at(-1) ?? '';
      throw new KensaError('INVALID_ARGUMENT', `${chromium} did not print the report to PDF (exit ${stderr.code ?? 'killed'})${last ? `: ${last}` : ''}`, { file: outFile });
    }
    await writeFileAtomic(outFile, pdf);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

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
