/**
 * Mapping from the services' records to the API's data shapes (src-main/shared/api.ts):
 * errors, model summaries, queue entries, the project state, and images as JPEG for the
 * renderer. Pure functions over what they are given; no state of their own.
 */
import path from 'node:path';
import sharp from 'sharp';
import { fitWithin } from '../../engine/imaging/heatmap';
import { loadImage, probeImage } from '../../engine/imaging/load';
import type { ApiError, ImageData, JobProgress, ModelSummary, ProjectState, QueueEntry } from '../../shared/api';
import { isKensaError } from '../../shared/errors';
import type { ModelRecord } from '../../store/index';
import type { ProjectService, QueueItem } from '../project-service';

export function toApiError(e: unknown): ApiError {
  if (isKensaError(e)) return e.file === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, file: e.file };
  return { code: 'INTERNAL', message: `unexpected error: ${e instanceof Error ? e.message : String(e)}` };
}

export function modelSummary(m: ModelRecord, active: number | null): ModelSummary {
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
    activeModel: active ? modelSummary(active, active.version) : null,
    models: models.map((m) => modelSummary(m, active?.version ?? null)).reverse(),
    threshold: t ? { value: t.value, reason: t.reason, setBy: t.setBy, createdAt: t.createdAt, modelVersion: t.modelVersion, reviewUpper: t.reviewUpper } : null,
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
