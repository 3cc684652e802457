/**
 * Gathering a report from the store: buildReport(svc, opts) → ReportModel (./model.ts).
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
 * (score, model version and threshold at the time of the verdict). The signatures are those
 * of the threshold in force and of the event that made the model in force active, made before
 * that moment. The audit chain is verified as it stands now, and both its current head and the
 * last event of the period are printed.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { fitWithin, renderHeatmap, type ColourScale } from '../../engine/imaging/heatmap';
import { loadImage } from '../../engine/imaging/load';
import { readMapPng } from '../../engine/imaging/mapfile';
import { decodeModelFile } from '../../engine/model-file';
import { KensaError, isKensaError } from '../../shared/errors';
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
  signatureValid,
  signaturesFor,
  thresholdHistory,
  verdictsAsOf,
  type ImageRecord,
  type ModelRecord,
  type Signature,
  type Threshold,
} from '../../store/index';
import { activationEvent, recordContentHash } from '../accounts';
import { mapScaleMax, type ProjectService } from '../project-service';
import { quantileSorted, tuningStats } from '../threshold';
import {
  DEFAULT_THUMBNAILS,
  DISPOSITIONS,
  REPORT_FORMAT,
  REPORT_FORMAT_VERSION,
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

const THUMB_SIDE = 200;
const THUMB_QUALITY = 72;

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

/**
 * The active model version at an instant, replayed from the audit trail (the store's own
 * record), with the audit event that made it active (what an activation signature covers).
 */
function activeVersionAt(svc: ProjectService, end: string | null): { version: number | null; activationSeq: number | null } {
  if (end === null) {
    const version = getActiveModel(svc.db)?.version ?? null;
    return { version, activationSeq: version === null ? null : activationEvent(svc.db, version) };
  }
  let version: number | null = null;
  let activationSeq: number | null = null;
  for (const e of listAudit(svc.db, { entity: 'model' })) {
    if (e.at >= end) break;
    if (e.kind === 'fit' || e.kind === 'refit') {
      version = Number(e.entityId);
      activationSeq = e.seq;
    } else if (e.kind === 'rollback' || e.kind === 'activate') {
      const to = (e.payload as { to_version?: unknown } | null)?.to_version;
      if (typeof to === 'number') {
        version = to;
        activationSeq = e.seq;
      }
    }
  }
  return { version, activationSeq };
}

/** A stored signature as the report prints it: checked over its fields and against the record's content hash now. */
function reportSignature(s: Signature, record: string, contentHash: string | null): ReportSignature {
  const problem = !signatureValid(s)
    ? 'the Ed25519 signature does not verify over its fields'
    : contentHash === null
      ? 'the signed record is no longer in the project'
      : s.contentHash !== contentHash
        ? 'the record was changed after it was signed'
        : null;
  return {
    id: s.id,
    recordKind: s.recordKind,
    recordId: s.recordId,
    record,
    contentHash: s.contentHash,
    meaning: s.meaning,
    signer: s.signer,
    printedName: s.printedName,
    signedAt: s.signedAt,
    publicKey: s.publicKey,
    signature: s.signature,
    valid: problem === null,
    problem,
  };
}

/** The signatures of the threshold in force and of the activation of the model in force, made before `end`. */
function signaturesOf(svc: ProjectService, inForce: Threshold | null, version: number | null, activationSeq: number | null, end: string | null): ReportSignature[] {
  const out: ReportSignature[] = [];
  const hashOf = (kind: 'threshold' | 'activation', id: string): string | null => {
    try {
      return recordContentHash(svc.db, kind, id).contentHash;
    } catch (e) {
      if (isKensaError(e) && e.code === 'NOT_FOUND') return null;
      throw e;
    }
  };
  const before = (xs: Signature[]): Signature[] => xs.filter((s) => end === null || s.signedAt < end);
  if (inForce) {
    const id = String(inForce.id);
    const sigs = before(signaturesFor(svc.db, 'threshold', id));
    const record = `threshold #${inForce.id}: ${inForce.value.toFixed(4)} (${inForce.modelVersion === null ? 'any model' : `model v${inForce.modelVersion}`})`;
    const hash = sigs.length > 0 ? hashOf('threshold', id) : null;
    for (const s of sigs) out.push(reportSignature(s, record, hash));
  }
  if (version !== null && activationSeq !== null) {
    const id = String(activationSeq);
    const sigs = before(signaturesFor(svc.db, 'activation', id));
    const event = sigs.length > 0 ? listAudit(svc.db, { afterSeq: activationSeq - 1, limit: 1 })[0] : undefined;
    const record = `activation of model v${version}${event ? ` (${event.kind}, audit event ${activationSeq})` : ` (audit event ${activationSeq})`}`;
    const hash = sigs.length > 0 ? hashOf('activation', id) : null;
    for (const s of sigs) out.push(reportSignature(s, record, hash));
  }
  return out;
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
  const { version, activationSeq } = activeVersionAt(svc, end);
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
    signatures: signaturesOf(svc, inForce, version, activationSeq, end),
    notes,
  };
}
