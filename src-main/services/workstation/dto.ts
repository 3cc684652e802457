/**
 * Mapping from the services' records to the API's data shapes (src-main/shared/api.ts):
 * errors, model summaries, queue entries, the project state, and images as JPEG for the
 * renderer. Pure functions over what they are given; no state of their own.
 */
import path from 'node:path';
import sharp from 'sharp';
import { fitWithin } from '../../engine/imaging/heatmap';
import { loadImage, probeImage } from '../../engine/imaging/load';
import type { ApiError, ImageData, JobProgress, ModelSummary, ProjectState, QueueEntry, SignatureInfo, ThresholdInfo } from '../../shared/api';
import { isKensaError } from '../../shared/errors';
import { listAudit, signatureValid, signaturesFor, type Db, type ModelRecord, type Signature, type Threshold } from '../../store/index';
import type { ProjectService, QueueItem } from '../project-service';

export function toApiError(e: unknown): ApiError {
  if (isKensaError(e)) return e.file === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, file: e.file };
  return { code: 'INTERNAL', message: `unexpected error: ${e instanceof Error ? e.message : String(e)}` };
}

export function signatureInfo(s: Signature): SignatureInfo {
  return { id: s.id, recordKind: s.recordKind, recordId: s.recordId, contentHash: s.contentHash, meaning: s.meaning, signer: s.signer, printedName: s.printedName, signedAt: s.signedAt, valid: signatureValid(s) };
}

/** A threshold row with its signatures. */
export function thresholdInfo(db: Db, t: Threshold): ThresholdInfo {
  return {
    id: t.id,
    value: t.value,
    reason: t.reason,
    setBy: t.setBy,
    createdAt: t.createdAt,
    modelVersion: t.modelVersion,
    reviewUpper: t.reviewUpper,
    signatures: signaturesFor(db, 'threshold', String(t.id)).map(signatureInfo),
  };
}

/**
 * The audit event that last made each model version active (fit, refit, rollback, activate:
 * what an activation signature covers, as services/accounts.ts activationEvent finds it), in one read.
 */
export function activationEvents(db: Db): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of listAudit(db, { entity: 'model' })) {
    if (e.kind !== 'fit' && e.kind !== 'refit' && e.kind !== 'rollback' && e.kind !== 'activate') continue;
    const p = e.payload as { version?: unknown; to_version?: unknown } | null;
    const v = p?.to_version ?? p?.version;
    if (typeof v === 'number') out.set(v, e.seq);
  }
  return out;
}

/** The signatures of a version's latest activation (`activations`: from activationEvents). */
export function activationSignatures(db: Db, activations: ReadonlyMap<number, number>, version: number): SignatureInfo[] {
  const seq = activations.get(version);
  return seq === undefined ? [] : signaturesFor(db, 'activation', String(seq)).map(signatureInfo);
}

export function modelSummary(m: ModelRecord, active: number | null, signatures: SignatureInfo[] = []): ModelSummary {
  return {
    version: m.version,
    parentVersion: m.parentVersion,
    kind: m.kind,
    status: m.status,
    backboneId: m.backboneId,
    detector: m.detector,
    facts: Object.entries(m.facts).map(([key, f]) => ({ key, ...f })),
    fitSeconds: m.fitSeconds,
    ep: m.ep,
    createdAt: m.createdAt,
    createdBy: m.createdBy,
    addedImages: m.addedImageIds.length,
    active: m.version === active,
    signatures,
  };
}

export function queueEntry(q: QueueItem): QueueEntry {
  return {
    imageId: q.image.id,
    name: path.basename(q.image.path),
    path: q.image.path,
    width: q.image.width,
    height: q.image.height,
    score: q.score,
    flagged: q.flagged,
    verdict: q.verdict?.verdict ?? null,
    defectType: q.verdict?.defectType ?? null,
    reviewer: q.verdict?.verdict ? q.verdict.reviewer : null,
  };
}

/** The project as the renderer shows it (counts from SQL, models newest first). */
export function projectState(p: ProjectService, colourScale: { low: number; high: number } | null, job: JobProgress | null): ProjectState {
  const active = p.activeModel();
  const qc = p.queueCounts();
  const t = p.threshold();
  const models = p.models();
  const activations = activationEvents(p.db);
  const summary = (m: ModelRecord): ModelSummary => modelSummary(m, active?.version ?? null, activationSignatures(p.db, activations, m.version));
  return {
    dir: p.dir,
    name: (p.db.prepare('SELECT name FROM project WHERE id = 1').get() as { name: string }).name,
    counts: {
      ...p.counts(),
      scored: qc.flagged + qc.passed,
      flagged: qc.flagged,
      reviewed: qc.all - qc.unreviewed,
      unscored: qc.all - qc.flagged - qc.passed,
    },
    activeModel: active ? summary(active) : null,
    models: models.map(summary).reverse(),
    threshold: t ? thresholdInfo(p.db, t) : null,
    pendingRefit: p.pendingRefit().length,
    autoRefitAfter: p.settings().autoRefitAfter,
    colourScale,
    job,
  };
}

/** An image file as a JPEG no larger than maxSide (aspect kept). */
export async function encodeImage(file: string, maxSide: number, quality = 88): Promise<ImageData> {
  const info = await probeImage(file); // the size from the header: the image is decoded once, below
  const size = fitWithin(info.width, info.height, maxSide);
  const img = await loadImage(file, { ...size, resize: 'stretch' });
  const jpeg = await sharp(img.rgb, { raw: { width: size.width, height: size.height, channels: 3 } }).jpeg({ quality }).toBuffer();
  return { mime: 'image/jpeg', dataBase64: jpeg.toString('base64'), width: size.width, height: size.height, originalWidth: info.width, originalHeight: info.height };
}
