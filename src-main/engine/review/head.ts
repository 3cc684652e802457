/**
 * A head that learns from the review: reviewed defects (their regions, or their hottest
 * patches) against reviewed good parts, on the backbone's patch features; its output is ADDED
 * to the unsupervised detector's, never replacing it.
 *
 * Training data (one row per patch, features x ∈ ℝ^D standardised with μ, σ of the rows):
 *   positives  patches of reviewed defects whose 8 px cell is ≥ `cover` inside the drawn region
 *              (a region smaller than that in every cell: its best-covered cell);
 *              a defect without a region contributes its `hottest` patches by the unsupervised map
 *   negatives  every patch of the reviewed good parts, and the patches of reviewed defects
 *              outside their region dilated by one cell (at most `maxNegatives`, seeded sample)
 * Model: an MLP [D → H → 1] (H = `hidden`), or a logistic regression [D → 1] with hidden = 0, on
 * logits; weighted binary cross-entropy with the classes balanced (positive weight shared per
 * patch, or per reviewed defect with `positiveWeight` = 'part') (../ort/mlp.ts), Adam with
 * weight decay, a fixed seed.
 *
 * Fusion (the unsupervised output u of the same model, its good-part statistics):
 *   g(x)         = min(cap, max(0, l(x) − m))                  only defect-like evidence counts
 *   patch score  u_p + a · w · s_pix · g(x_p)                   s_pix = p99.9 − p50 of good pixels
 *   image score  u   + a · w · s_img · e                        s_img = std of good image scores
 *                e = mean of the `topK` largest g(x_p) (topK = 1: max_p g)
 *                (detectors whose image score is the map maximum take the max of the fused map)
 *   w            = D_rev / (D_rev + k)                          D_rev reviewed defects, k = `evidence`;
 *                a = `gain`
 *   m            = 0, or with `offsetQuantile` = q the out-of-fold offset: the reviewed parts in
 *                  two folds, a head fitted on each fold, m = q-quantile of the other fold's good
 *                  parts' max logits (the final head is fitted on all reviewed parts)
 * The defaults (weight decay 1e-2, cap 6, gain 0.5: at most 3·w·s_img of evidence) come from a
 * split of magnetic_tile, where weight decay 1e-4 with an unbounded g overfitted: it raised
 * unseen good parts (median max logit ≈ 2, q90 ≈ 7) far above what it gave reviewed ones.
 * With no reviewed defects there is no head (w = 0). Because g ≥ 0 only raises scores and is
 * trained to stay at 0 on good patches, a defect of a type nobody reviewed keeps at least its
 * unsupervised score; what can change its ranking is a good part that the head wrongly raises,
 * which the leave-one-defect-type-out measurement of `npm run bench:review` watches.
 *
 * Sections (prefix `review/`): mean, std [D]; the MLP's W0, b0, W1, b1 (W0, b0 only with hidden = 0).
 */
import { Rng } from '../core/random';
import { KensaError, throwIfCancelled } from '../errors';
import { f32Section, type LoadedModel, type ModelArrays } from '../model-file';
import type { GoodStats } from '../model-types';
import { initMlp, MlpRunner, trainMlp, type MlpParams, type MlpSpec } from '../ort/mlp';
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
  /**
   * Out-of-fold offset m: quantile of held-out reviewed goods' max logits (two folds), so that
   * g = max(0, l − m) is ~0 on good parts the head did not see. null = m = 0.
   */
  offsetQuantile: number | null;
  /** Upper bound of g (logit units); null = unbounded. */
  cap: number | null;
  /** Multiplier of the evidence (g in logit units → units of s_img, s_pix). */
  gain: number;
  /** Image evidence = mean of the top-k g of the image (k = 1: the maximum). */
  topK: number;
  /**
   * How the positives' half of the weight is shared: 'patch' = equally per patch (large
   * defects dominate), 'part' = equally per reviewed defect, then per patch within it.
   */
  positiveWeight: 'patch' | 'part';
}

export const DEFAULT_REVIEW_HEAD: ReviewHeadConfig = {
  hidden: 64,
  epochs: 25,
  batchSize: 512,
  learningRate: 2e-3,
  weightDecay: 1e-2,
  cover: 0.3,
  hottest: 4,
  evidence: 8,
  maxNegatives: 60_000,
  offsetQuantile: null,
  cap: 6,
  gain: 0.5,
  topK: 1,
  positiveWeight: 'patch',
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
  /** The offset m of g = max(0, l − m) (absent in older models: 0). */
  offset?: number;
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

/** [D → H → 1], or a logistic regression [D → 1] when hidden = 0. */
export const reviewSpec = (dim: number, hidden: number): MlpSpec => ({ sizes: hidden > 0 ? [dim, hidden, 1] : [dim, 1], activation: 'leaky_relu' });

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
      let best = -1;
      let any = false;
      for (let k = 0; k < P; k++) {
        if (p.cover[k]! >= cfg.cover) {
          pos.push({ part: i, patch: k });
          any = true;
        } else if (!near[k]) neg.push({ part: i, patch: k });
        if (p.cover[k]! > 0 && (best < 0 || p.cover[k]! > p.cover[best]!)) best = k;
      }
      // A region smaller than `cover` of any cell: its best-covered cell.
      if (!any && best >= 0) pos.push({ part: i, patch: best });
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

interface FittedHead {
  params: MlpParams;
  mean: Float32Array;
  std: Float32Array;
  positives: number;
  negatives: number;
  finalLoss: number | null;
}

/** One MLP fitted on the rows of `parts` (see the module doc). */
async function fitHead(parts: ReviewedPart[], dim: number, grid: [number, number], cfg: ReviewHeadConfig, seed: number, opts: TrainReviewHeadOptions, progress: boolean): Promise<FittedHead> {
  const { pos, neg: allNeg } = trainingRows(parts, grid, cfg);
  if (pos.length === 0) throw new KensaError('CONFLICT', 'the reviewed defects give no defect patches (regions too small?): draw their regions or review more defects');
  const negPick = sampleRows(allNeg.length, cfg.maxNegatives, seed + 17);
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
  if (cfg.positiveWeight === 'part') {
    const per = new Map<number, number>();
    for (const r of pos) per.set(r.part, (per.get(r.part) ?? 0) + 1);
    pos.forEach((r, j) => (w[j] = rows.length / (2 * per.size * per.get(r.part)!)));
  } else w.fill(rows.length / (2 * pos.length), 0, pos.length);
  w.fill(rows.length / (2 * neg.length), pos.length);
  throwIfCancelled(opts.signal);
  const spec = reviewSpec(dim, cfg.hidden);
  const rng = new Rng(seed * 1000 + 401);
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
    ...(progress ? { onProgress: (done: number, total: number) => opts.onProgress?.({ phase: 'learn', done, total }) } : {}),
  });
  return { params, mean, std, positives: pos.length, negatives: neg.length, finalLoss: r.losses[r.losses.length - 1] ?? null };
}

/** Per part, the maximum logit of a fitted head over its patches. */
async function maxLogits(head: FittedHead, parts: ReviewedPart[], dim: number, cfg: ReviewHeadConfig, ep: ExecutionProvider): Promise<number[]> {
  const mlp = await MlpRunner.create(reviewSpec(dim, cfg.hidden), head.params, ep);
  try {
    const out: number[] = [];
    for (const p of parts) {
      const l = await mlp.run(standardise(p.feats, dim, head.mean, head.std), p.feats.length / dim);
      out.push(l.reduce((a, b) => (b > a ? b : a), -Infinity));
    }
    return out;
  } finally {
    await mlp.release();
  }
}

/** q-quantile (linear interpolation) of a non-empty list. */
function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

/**
 * The out-of-fold offset m: the reviewed parts in two seeded folds (stratified by label and
 * defect type); a head fitted on each fold scores the other fold's good parts; m = the
 * `offsetQuantile` of those max logits. null when a fold lacks defects or goods.
 */
async function outOfFoldOffset(parts: ReviewedPart[], dim: number, grid: [number, number], cfg: ReviewHeadConfig, opts: TrainReviewHeadOptions): Promise<number | null> {
  const fold = new Uint8Array(parts.length);
  const groups = new Map<string, number[]>();
  parts.forEach((p, i) => {
    const key = p.label === 0 ? 'good' : `defect/${p.defectType ?? ''}`;
    const g = groups.get(key) ?? [];
    g.push(i);
    groups.set(key, g);
  });
  const rng = new Rng(opts.seed * 1000 + 409);
  let turn = 0;
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    for (const j of rng.permutation(g.length)) fold[g[j]!] = turn++ % 2;
  }
  const held: number[] = [];
  for (const f of [0, 1]) {
    const train = parts.filter((_, i) => fold[i] !== f);
    const test = parts.filter((p, i) => fold[i] === f && p.label === 0);
    if (test.length === 0 || !train.some((p) => p.label === 1) || !train.some((p) => p.label === 0)) return null;
    const head = await fitHead(train, dim, grid, cfg, opts.seed + 1 + f, opts, false);
    held.push(...(await maxLogits(head, test, dim, cfg, opts.ep)));
  }
  return quantile(held, cfg.offsetQuantile!);
}

/** Trains the review head; returns its sections (prefixed `review/`) and header info. */
export async function trainReviewHead(parts: ReviewedPart[], dim: number, grid: [number, number], opts: TrainReviewHeadOptions): Promise<{ arrays: ModelArrays; info: ReviewHeadInfo }> {
  const t0 = performance.now();
  const cfg: ReviewHeadConfig = { ...DEFAULT_REVIEW_HEAD, ...opts.config };
  const defects = parts.filter((p) => p.label === 1);
  const goods = parts.filter((p) => p.label === 0);
  if (defects.length === 0) throw new KensaError('CONFLICT', 'no reviewed defects yet: the review head learns from reviewed defects (and good parts); nothing to learn');
  if (goods.length === 0) throw new KensaError('CONFLICT', 'no reviewed good parts yet: the review head needs good parts to learn what is not a defect');
  const offset = cfg.offsetQuantile !== null ? await outOfFoldOffset(parts, dim, grid, cfg, opts) : null;
  const head = await fitHead(parts, dim, grid, cfg, opts.seed, opts, true);
  const arrays = paramsToArrays('review/', head.params, { 'review/mean': head.mean, 'review/std': head.std });
  const s = opts.stats;
  return {
    arrays,
    info: {
      config: cfg,
      weight: defects.length / (defects.length + cfg.evidence),
      // With fewer than two calibration parts the image-score spread is unknown: the pixel spread stands in.
      imageScale: s.imageScore.std > 0 ? s.imageScore.std : s.pixel.p999 - s.pixel.p50 > 0 ? s.pixel.p999 - s.pixel.p50 : 1,
      pixelScale: s.pixel.p999 - s.pixel.p50 > 0 ? s.pixel.p999 - s.pixel.p50 : 1,
      defects: defects.length,
      goods: goods.length,
      positives: head.positives,
      negatives: head.negatives,
      defectsWithRegions: defects.filter((p) => p.cover !== null).length,
      defectTypes: [...new Set(defects.map((p) => p.defectType ?? 'defect'))].sort(),
      finalLoss: head.finalLoss,
      seconds: (performance.now() - t0) / 1000,
      offset: Math.max(0, offset ?? 0),
    },
  };
}

const isReviewSection = (name: string): boolean => name.startsWith('review/');

/** The sections of a model that belong to its review head. */
export function reviewArrays(arrays: ModelArrays): ModelArrays {
  return Object.fromEntries(Object.entries(arrays).filter(([k]) => isReviewSection(k)));
}

/** The sections of a model without its review head's (the detector's own). */
export function detectorArrays(arrays: ModelArrays): ModelArrays {
  return Object.fromEntries(Object.entries(arrays).filter(([k]) => !isReviewSection(k)));
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
    const { pixelScale, imageScale } = this.info;
    const weight = this.info.weight * (this.info.config.gain ?? 1);
    const m = this.info.offset ?? 0;
    const cap = this.info.config.cap ?? Infinity;
    const k = Math.max(1, Math.min(l.length, this.info.config.topK ?? 1));
    const patch = new Float32Array(base.patch.length);
    const g = new Float32Array(l.length);
    for (let j = 0; j < patch.length; j++) {
      g[j] = Math.min(cap, Math.max(0, l[j]! - m));
      patch[j] = base.patch[j]! + weight * pixelScale * g[j]!;
    }
    let evidence: number;
    if (k === 1) evidence = g.reduce((a, b) => (b > a ? b : a), 0);
    else {
      const top = g.slice().sort().subarray(g.length - k);
      evidence = top.reduce((a, b) => a + b, 0) / k;
    }
    const out: HeadOutput = { patch };
    if (base.imageScore !== undefined) out.imageScore = base.imageScore + weight * imageScale * evidence;
    return out;
  }

  async release(): Promise<void> {
    await Promise.all([this.base.release(), this.mlp.release()]);
  }
}
