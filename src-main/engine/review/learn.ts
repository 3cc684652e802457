/**
 * A learning step: a new model version = the parent's unsupervised detector (unchanged) + a
 * review head trained on the reviewed parts (./head.ts). The parent's good-part statistics and
 * colour scale are kept, so scores stay comparable across versions; a parent that already had
 * a review head gets a fresh one (trained on the base detector's output, not on the old head's).
 */
import { KensaError, throwIfCancelled } from '../errors';
import type { LoadedModel, ModelArrays } from '../model-file';
import type { ModelHeaderDraft } from '../model-types';
import type { ResizeMode } from '../imaging/load';
import { chooseExecutionProvider, type EpRequest } from '../ort/session';
import { childHeader, extractForModel, finishScore, imagePatches, MapRunner } from '../detectors/pipeline';
import type { AnyDetector, FileError, RunOptions } from '../detectors/types';
import { cellCover, detectorArrays, ReviewedHead, trainReviewHead, type ReviewedPart, type ReviewHeadConfig } from './head';

export interface ReviewedFile {
  /** The part's id (image id in a project); out-of-fold scores are keyed by it. */
  id: number;
  file: string;
  label: 0 | 1;
  defectType: string | null;
  /** The drawn defect region at the image's own size (nonzero = defect); null = none drawn. */
  mask: { width: number; height: number; data: Uint8Array } | null;
}

/**
 * A mask at the image's own size → at the model input, with the geometry of the resize policy
 * (stretch: scale each axis; crop: scale to cover, centre-crop; pad: scale to fit, centred).
 * Nearest-neighbour sampling.
 */
export function maskToInput(mask: { width: number; height: number; data: Uint8Array }, width: number, height: number, resize: ResizeMode): Uint8Array {
  const out = new Uint8Array(width * height);
  const { width: mw, height: mh, data } = mask;
  let sx = mw / width;
  let sy = mh / height;
  let ox = 0;
  let oy = 0;
  if (resize !== 'stretch') {
    const s = resize === 'crop' ? Math.min(mw / width, mh / height) : Math.max(mw / width, mh / height);
    sx = s;
    sy = s;
    ox = (mw - width * s) / 2;
    oy = (mh - height * s) / 2;
  }
  for (let y = 0; y < height; y++) {
    const my = Math.floor(oy + (y + 0.5) * sy);
    if (my < 0 || my >= mh) continue;
    for (let x = 0; x < width; x++) {
      const mx = Math.floor(ox + (x + 0.5) * sx);
      if (mx >= 0 && mx < mw && data[my * mw + mx]) out[y * width + x] = 1;
    }
  }
  return out;
}

export interface LearnOptions extends RunOptions {
  backbone?: string;
  ep?: EpRequest;
  config?: Partial<ReviewHeadConfig>;
  /**
   * Cross-fitting: held-out id sets. For each, a head is trained on the other reviewed parts
   * and scores the held-out ones, so every reviewed part gets an image score from a head that
   * never saw it (the honest evidence for the expected miss rate and the choice of model).
   */
  folds?: number[][];
}

export interface LearnResult {
  header: ModelHeaderDraft;
  arrays: ModelArrays;
  skipped: FileError[];
  /** Out-of-fold image scores of the reviewed parts (with `folds`), by id. */
  outOfFold: { id: number; score: number }[];
}

export async function learnFromReview(detector: AnyDetector, parent: LoadedModel, reviewed: ReviewedFile[], opts: LearnOptions): Promise<LearnResult> {
  const t0 = performance.now();
  if (reviewed.length === 0) throw new KensaError('CONFLICT', 'no reviewed parts: nothing to learn from');
  const h = parent.header;
  const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
  const ex = await extractForModel(
    parent,
    reviewed.map((r) => r.file),
    ep,
    opts.backbone,
    { ...(opts.signal ? { signal: opts.signal } : {}), onProgress: (p) => opts.onProgress?.({ ...p, phase: 'features' }) },
  );
  const byFile = new Map(reviewed.map((r) => [r.file, r]));
  // The base detector's head (without any earlier review head): unsupervised patch scores.
  const baseArrays = detectorArrays(parent.arrays);
  const base = await detector.openHead({ ...parent, arrays: baseArrays }, { ep, mapStep: { map: () => Promise.reject(new Error('no map step while learning')) } });
  const parts: ReviewedPart[] = [];
  const { width, height } = h.config.embedding;
  try {
    for (let i = 0; i < ex.set.n; i++) {
      throwIfCancelled(opts.signal);
      const r = byFile.get(ex.used[i]!.file)!;
      const { p, rgb } = imagePatches(ex.set, i);
      const u = await base.score(p, rgb, 0);
      const cover = r.label === 1 && r.mask ? cellCover(maskToInput(r.mask, width, height, h.config.resize), width, height, h.features.grid) : null;
      parts.push({ label: r.label, defectType: r.defectType, feats: Float32Array.from(p.data), unsupervised: Float32Array.from(u.patch), cover });
      opts.onProgress?.({ phase: 'unsupervised', done: i + 1, total: ex.set.n });
    }
  } finally {
    await base.release();
  }
  const train = (subset: ReviewedPart[], phase: string) =>
    trainReviewHead(subset, h.features.dim, h.features.grid, {
      ep,
      seed: h.config.seed,
      stats: h.stats,
      ...(opts.config ? { config: opts.config } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (p) => opts.onProgress?.({ ...p, phase }),
    });
  // Out-of-fold scores: a head per fold, trained without it, scoring it through the full
  // detector + head path (the shared map step included).
  const outOfFold: { id: number; score: number }[] = [];
  const ids = ex.used.map((d) => byFile.get(d.file)!.id);
  const folds = opts.folds ?? [];
  for (const [k, fold] of folds.entries()) {
    const held = new Set(fold);
    const trainIdx = parts.map((_, i) => i).filter((i) => !held.has(ids[i]!));
    const heldIdx = parts.map((_, i) => i).filter((i) => held.has(ids[i]!));
    if (heldIdx.length === 0) continue;
    const sub = trainIdx.map((i) => parts[i]!);
    // A fold whose complement lacks a defect or a good part cannot train a head: its parts get
    // no out-of-fold score (the caller sees fewer out-of-fold scores than reviewed parts).
    if (!sub.some((p) => p.label === 1) || !sub.some((p) => p.label === 0)) continue;
    const fit = await train(sub, `learn fold ${k + 1}/${folds.length}`);
    const foldModel: LoadedModel = { header: { ...h, review: fit.info }, arrays: { ...baseArrays, ...fit.arrays }, file: `${parent.file}#fold${k + 1}` };
    const mapStep = await MapRunner.create(h.config, h.features.grid, ep);
    const head = await ReviewedHead.create(await detector.openHead(foldModel, { ep, mapStep }), foldModel, fit.info, ep);
    try {
      for (const i of heldIdx) {
        const { p, rgb } = imagePatches(ex.set, i);
        outOfFold.push({ id: ids[i]!, score: (await finishScore(head, p, rgb, 0, mapStep)).score });
      }
    } finally {
      await Promise.all([head.release(), mapStep.release()]);
    }
  }
  const trained = await train(parts, 'learn');
  const header: ModelHeaderDraft = {
    ...childHeader(h, ep),
    review: { ...trained.info, seconds: (performance.now() - t0) / 1000 },
  };
  return { header, arrays: { ...baseArrays, ...trained.arrays }, skipped: ex.skipped, outOfFold };
}
