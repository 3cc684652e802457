/**
 * A head that learns from the review: reviewed defects (their regions, or their hottest
 * patches) against reviewed good parts, on the backbone's patch features; its output is ADDED
 * to the unsupervised detector's, never replacing it.
 *
 * Training data (one row per patch, features x ∈ ℝ^D standardised with μ, σ of the rows):
 *   positives  patches of reviewed defects whose 8 px cell is ≥ `cover` inside the drawn region;
 *              a defect without a region contributes its `hottest` patches by the unsupervised map
 *   negatives  every patch of the reviewed good parts, and the patches of reviewed defects
 *              outside their region dilated by one cell
 * Model: an MLP [D → H → 1] on logits, weighted binary cross-entropy with the classes balanced
 * (../ort/mlp.ts), Adam, a fixed seed.
 *
 * Fusion (the unsupervised output u of the same model, its good-part statistics):
 *   g(x)         = max(0, l(x))                               only defect-like evidence counts
 *   patch score  u_p + w · s_pix · g(x_p)                       s_pix = p99.9 − p50 of good pixels
 *   image score  u   + w · s_img · max_p g(x_p)                 s_img = std of good image scores
 *                (detectors whose image score is the map maximum take the max of the fused map)
 *   w            = D_rev / (D_rev + k)                          D_rev reviewed defects, k = `evidence`
 * With no reviewed defects there is no head (w = 0). Because g ≥ 0 only raises scores and is
 * trained to stay at 0 on good patches, a defect of a type nobody reviewed keeps at least its
 * unsupervised score; what can change its ranking is a good part that the head wrongly raises,
 * which the leave-one-defect-type-out measurement of `npm run bench:review` watches.
 *
 * Sections (prefix `review/`): mean, std [D]; the MLP's W0, b0, W1, b1.
 */
import { Rng } from '../core/random';
import { KensaError, throwIfCancelled } from '../errors';
import { f32Section, type LoadedModel, type ModelArrays } from '../model-file';
import type { GoodStats } from '../model-types';
import { initMlp, MlpRunner, trainMlp, type MlpSpec } from '../ort/mlp';
import type { ExecutionProvider } from '../ort/session';
import type { Patches } from '../backbone/feature-extractor';
import type { Head, HeadOutput, Progress } from '../detectors/types';
import { channelStats, paramsFromModel, paramsToArrays, sampleRows, standardise } from '../detectors/common/channels';

export interface ReviewHeadConfig {
  hidden: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  /** Share of a cell's pixels inside the region for the cell to be a positive. */
  cover: number;
  /** Patches taken from a defect without a drawn region (its hottest by the unsupervised map). */
  hottest: number;
  /** k of w = D_rev / (D_rev + k). */
  evidence: number;
  /** At most this many negative rows (seeded sample). */
  maxNegatives: number;
}

export const DEFAULT_REVIEW_HEAD: ReviewHeadConfig = {
  hidden: 64,
  epochs: 25,
  batchSize: 512,
  learningRate: 2e-3,
  weightDecay: 1e-4,
  cover: 0.3,
  hottest: 4,
  evidence: 8,
  maxNegatives: 60_000,
};

/** What the model header says about its review head. */
export interface ReviewHeadInfo {
  config: ReviewHeadConfig;
  /** Fusion weight w. */
  weight: number;
  /** s_img and s_pix (raw units of the unsupervised detector). */
  imageScale: number;
  pixelScale: number;
  /** What it learned from. */
  defects: number;
  goods: number;
  positives: number;
  negatives: number;
  defectsWithRegions: number;
  defectTypes: string[];
  finalLoss: number | null;
  seconds: number;
}

/** One reviewed part, its patch features and, for a defect, its region mask on the patch grid. */
export interface ReviewedPart {
  label: 0 | 1;
  defectType: string | null;
  /** [h·w, D] */
  feats: Float32Array;
  /** Unsupervised patch scores [h·w] (for the hottest patches of a defect without a region). */
  unsupervised: Float32Array;
  /** Share of each cell inside the drawn region [h·w] in [0, 1]; null = no region drawn. */
  cover: Float32Array | null;
}

export const reviewSpec = (dim: number, hidden: number): MlpSpec => ({ sizes: [dim, hidden, 1], activation: 'leaky_relu' });

/** Share of each grid cell covered by a mask [H·W] (nonzero = inside) → [h·w]. */
export function cellCover(mask: Uint8Array, width: number, height: number, grid: [number, number]): Float32Array {
  const [h, w] = grid;
  const out = new Float32Array(h * w);
  const cnt = new Float32Array(h * w);
  for (let y = 0; y < height; y++) {
    const gy = Math.min(h - 1, Math.floor((y * h) / height));
    for (let x = 0; x < width; x++) {
      const gx = Math.min(w - 1, Math.floor((x * w) / width));
      cnt[gy * w + gx] += 1;
      if (mask[y * width + x]) out[gy * w + gx] += 1;
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = cnt[i]! > 0 ? out[i]! / cnt[i]! : 0;
  return out;
}

/** The positive and negative patch rows of the reviewed parts (see the module doc). */
export function trainingRows(parts: ReviewedPart[], grid: [number, number], cfg: ReviewHeadConfig): { pos: { part: number; patch: number }[]; neg: { part: number; patch: number }[] } {
  const [h, w] = grid;
  const pos: { part: number; patch: number }[] = [];
  const neg: { part: number; patch: number }[] = [];
  parts.forEach((p, i) => {
    const P = h * w;
    if (p.label === 0) {
      for (let k = 0; k < P; k++) neg.push({ part: i, patch: k });
      return;
    }
    if (p.cover) {
      // Inside: positives. Outside the region dilated by one cell: negatives.
      const near = new Uint8Array(P);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          if (p.cover[y * w + x]! <= 0) continue;
          for (let dy = -1; dy <= 1; dy++)
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xx = x + dx;
              if (yy >= 0 && yy < h && xx >= 0 && xx < w) near[yy * w + xx] = 1;
            }
        }
      for (let k = 0; k < P; k++) {
        if (p.cover[k]! >= cfg.cover) pos.push({ part: i, patch: k });
        else if (!near[k]) neg.push({ part: i, patch: k });
      }
      return;
    }
    const order = Array.from({ length: P }, (_, k) => k).sort((a, b) => p.unsupervised[b]! - p.unsupervised[a]!);
    for (const k of order.slice(0, cfg.hottest)) pos.push({ part: i, patch: k });
  });
  return { pos, neg };
}

export interface TrainReviewHeadOptions {
  ep: ExecutionProvider;
  seed: number;
  stats: GoodStats;
  config?: Partial<ReviewHeadConfig>;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

/** Trains the review head; returns its sections (prefixed `review/`) and header info. */
export async function trainReviewHead(parts: ReviewedPart[], dim: number, grid: [number, number], opts: TrainReviewHeadOptions): Promise<{ arrays: ModelArrays; info: ReviewHeadInfo }> {
  const t0 = performance.now();
  const cfg: ReviewHeadConfig = { ...DEFAULT_REVIEW_HEAD, ...opts.config };
  const defects = parts.filter((p) => p.label === 1);
  const goods = parts.filter((p) => p.label === 0);
  if (defects.length === 0) throw new KensaError('CONFLICT', 'no reviewed defects yet: the review head learns from reviewed defects (and good parts); nothing to learn');
  if (goods.length === 0) throw new KensaError('CONFLICT', 'no reviewed good parts yet: the review head needs good parts to learn what is not a defect');
  const { pos, neg: allNeg } = trainingRows(parts, grid, cfg);
  if (pos.length === 0) throw new KensaError('CONFLICT', 'the reviewed defects give no defect patches (regions too small?): draw their regions or review more defects');
  const negPick = sampleRows(allNeg.length, cfg.maxNegatives, opts.seed + 17);
  const neg = Array.from(negPick, (i) => allNeg[i]!);
  const rows = [...pos, ...neg];
  const x = new Float32Array(rows.length * dim);
  rows.forEach((r, j) => x.set(parts[r.part]!.feats.subarray(r.patch * dim, (r.patch + 1) * dim), j * dim));
  const { mean, std } = channelStats(x, dim);
  const xs = standardise(x, dim, mean, std);
  const t = new Float32Array(rows.length);
  t.fill(1, 0, pos.length);
  // Balanced classes: each class carries half of the total weight.
  const w = new Float32Array(rows.length);
  w.fill(rows.length / (2 * pos.length), 0, pos.length);
  w.fill(rows.length / (2 * neg.length), pos.length);
  throwIfCancelled(opts.signal);
  const spec = reviewSpec(dim, cfg.hidden);
  const rng = new Rng(opts.seed * 1000 + 401);
  const params = initMlp(spec, rng);
  const r = await trainMlp(spec, params, { x: xs, t, w, rows: rows.length }, {
    epochs: cfg.epochs,
    batchSize: cfg.batchSize,
    lr: cfg.learningRate,
    weightDecay: cfg.weightDecay,
    rng,
    ep: opts.ep,
    loss: 'bce',
    ...(opts.signal ? { signal: opts.signal } : {}),
    onProgress: (done, total) => opts.onProgress?.({ phase: 'learn', done, total }),
  });
  const arrays = paramsToArrays('review/', params, { 'review/mean': mean, 'review/std': std });
  const s = opts.stats;
  return {
    arrays,
    info: {
      config: cfg,
      weight: defects.length / (defects.length + cfg.evidence),
      imageScale: s.imageScore.std > 0 ? s.imageScore.std : 1,
      pixelScale: s.pixel.p999 - s.pixel.p50 > 0 ? s.pixel.p999 - s.pixel.p50 : 1,
      defects: defects.length,
      goods: goods.length,
      positives: pos.length,
      negatives: neg.length,
      defectsWithRegions: defects.filter((p) => p.cover !== null).length,
      defectTypes: [...new Set(defects.map((p) => p.defectType ?? 'defect'))].sort(),
      finalLoss: r.losses[r.losses.length - 1] ?? null,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}

/** The sections of a model that belong to its review head. */
export function reviewArrays(model: { arrays: ModelArrays }): ModelArrays {
  return Object.fromEntries(Object.entries(model.arrays).filter(([k]) => k.startsWith('review/')));
}

/** The unsupervised detector's head with the review head's evidence added (module doc). */
export class ReviewedHead implements Head {
  private constructor(
    private readonly base: Head,
    private readonly mlp: MlpRunner,
    private readonly mean: Float32Array,
    private readonly std: Float32Array,
    private readonly info: ReviewHeadInfo,
  ) {}

  static async create(base: Head, model: LoadedModel, info: ReviewHeadInfo, ep: ExecutionProvider): Promise<ReviewedHead> {
    const dim = model.header.features.dim;
    const spec = reviewSpec(dim, info.config.hidden);
    const mlp = await MlpRunner.create(spec, paramsFromModel(model, 'review/', spec), ep);
    return new ReviewedHead(base, mlp, f32Section(model, 'review/mean', dim), f32Section(model, 'review/std', dim), info);
  }

  /** The head's logits l(x) [h·w] of image i. */
  async logits(p: Patches, i: number): Promise<Float32Array> {
    const per = p.h * p.w;
    const x = standardise(p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim), p.dim, this.mean, this.std);
    return this.mlp.run(x, per);
  }

  async score(p: Patches, rgb: Uint8Array, i: number): Promise<HeadOutput> {
    const base = await this.base.score(p, rgb, i);
    const l = await this.logits(p, i);
    const { weight, pixelScale, imageScale } = this.info;
    const patch = new Float32Array(base.patch.length);
    let gmax = 0;
    for (let k = 0; k < patch.length; k++) {
      const g = l[k]! > 0 ? l[k]! : 0;
      if (g > gmax) gmax = g;
      patch[k] = base.patch[k]! + weight * pixelScale * g;
    }
    const out: HeadOutput = { patch };
    if (base.imageScore !== undefined) out.imageScore = base.imageScore + weight * imageScale * gmax;
    return out;
  }

  async release(): Promise<void> {
    await Promise.all([this.base.release(), this.mlp.release()]);
  }
}
