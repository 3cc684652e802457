/**
 * Evaluation metrics for anomaly detection. Pure TypeScript on typed arrays (no Node APIs).
 *
 * Conventions everywhere: label 1 = defect (positive), 0 = good (negative). A part / pixel is
 * FLAGGED when `score >= threshold`. Scores are raw anomaly scores, higher = more anomalous.
 *
 * Image level (exact, one point per DISTINCT score, so tied scores always move together):
 * - `rocCurve`  ROC curve: for each distinct score t (descending) the point
 *               (FPR, TPR) = (share of good flagged, share of defects flagged) at threshold t,
 *               preceded by (0, 0) at threshold +Infinity.
 * - `auroc`     area under that curve = P(defect score > good score) + 1/2 P(equal)
 *               (Mann–Whitney U / (P·N)); NaN when either class is empty.
 * - `prCurve`   precision = TP / (TP + FP), recall = TP / P at each distinct score (descending).
 * - `f1Max`     the best F1 = 2TP / (2TP + FP + FN) over all distinct thresholds, with the
 *               threshold, precision and recall where it is reached (the highest such threshold
 *               on ties); all NaN when there are no defects.
 * - `zeroMiss`  the "zero-miss" operating point: the largest threshold that still flags every
 *               defect (= the lowest defect score), and PG0 = share of good parts that PASS there
 *               (good score < threshold). `pg0` is just that share. null when there are no defects.
 *
 * Pixel level (streaming, binned — `PixelMetricsAccumulator`):
 * - `pixelAuroc` AUROC over all pixels of all maps (positives = mask pixels, negatives = the rest),
 *               thresholds at bin edges, pixels sharing a bin count as ties (1/2).
 * - `pro`       MVTec AD "per-region overlap": for each connected ground-truth region r
 *               (per image, 8-connectivity) O_r(t) = |r ∩ {score >= t}| / |r|;
 *               PRO(t) = mean over all regions of O_r(t); FPR(t) = share of good pixels (over all
 *               images) with score >= t. Result = ∫ PRO d(FPR) from 0 to fprLimit (trapezoid, the
 *               point at exactly fprLimit interpolated) / fprLimit, so a perfect map scores 1.
 * - `connectedComponents` labels 4- or 8-connected foreground regions of a binary mask
 *               (iterative flood fill; no recursion).
 */
import { KensaError } from '../errors';

// ---------------------------------------------------------------------------------------------
// Image-level metrics
// ---------------------------------------------------------------------------------------------

/** ROC curve; thresholds descending; point i = (fpr, tpr) when flagging score >= thresholds[i]. */
export interface Curve {
  fpr: Float64Array;
  tpr: Float64Array;
  thresholds: Float64Array;
}

/** PR curve; one point per distinct score, thresholds descending (recall ascending). */
export interface PrCurve {
  precision: Float64Array;
  recall: Float64Array;
  thresholds: Float64Array;
}

export interface F1Max {
  f1: number;
  threshold: number;
  precision: number;
  recall: number;
}

export interface ZeroMiss {
  /** The largest threshold that flags every defect = the lowest defect score. */
  threshold: number;
  /** goodPassed / goodTotal (NaN when there are no good parts). */
  pg0: number;
  /** Good parts with score < threshold. */
  goodPassed: number;
  goodTotal: number;
  defectTotal: number;
}

/**
 * Scores grouped by distinct value, descending: `pos[i]` / `neg[i]` = how many defects / good
 * parts have exactly score `thresholds[i]`.
 */
export interface ScoreGroups {
  thresholds: Float64Array;
  pos: Float64Array;
  neg: Float64Array;
  /** Total defects. */
  P: number;
  /** Total good parts. */
  N: number;
}

function checkScoresLabels(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (scores.length !== labels.length) {
    throw new KensaError(
      'INVALID_ARGUMENT',
      `metrics: ${scores.length} scores but ${labels.length} labels`,
    );
  }
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (!Number.isFinite(s)) {
      throw new KensaError('INVALID_ARGUMENT', `metrics: score ${i} is not a finite number (${s})`);
    }
    const l = labels[i];
    if (l !== 0 && l !== 1) {
      throw new KensaError('INVALID_ARGUMENT', `metrics: label ${i} must be 0 (good) or 1 (defect), got ${l}`);
    }
  }
}

/** Sorts by score (descending) and counts defects / good parts per distinct score. */
export function groupScores(scores: ArrayLike<number>, labels: ArrayLike<number>): ScoreGroups {
  checkScoresLabels(scores, labels);
  const n = scores.length;
  const s = Float64Array.from(scores);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => s[b] - s[a]);

  const thresholds = new Float64Array(n);
  const pos = new Float64Array(n);
  const neg = new Float64Array(n);
  let groups = 0;
  let P = 0;
  let N = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    const v = s[i];
    if (groups === 0 || thresholds[groups - 1] !== v) {
      thresholds[groups] = v;
      groups++;
    }
    if (labels[i] === 1) {
      pos[groups - 1]++;
      P++;
    } else {
      neg[groups - 1]++;
      N++;
    }
  }
  return {
    thresholds: thresholds.slice(0, groups),
    pos: pos.slice(0, groups),
    neg: neg.slice(0, groups),
    P,
    N,
  };
}

/**
 * Exact ROC curve. Starts at (0, 0) with threshold +Infinity, then one point per distinct score
 * (descending), so a group of tied scores is ONE point (a diagonal step when it mixes classes).
 * A rate whose class is empty is NaN (0/0).
 */
export function rocCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): Curve {
  const g = groupScores(scores, labels);
  const m = g.thresholds.length + 1;
  const fpr = new Float64Array(m);
  const tpr = new Float64Array(m);
  const thresholds = new Float64Array(m);
  thresholds[0] = Infinity;
  fpr[0] = 0 / g.N;
  tpr[0] = 0 / g.P;
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < g.thresholds.length; i++) {
    tp += g.pos[i];
    fp += g.neg[i];
    thresholds[i + 1] = g.thresholds[i];
    fpr[i + 1] = fp / g.N;
    tpr[i + 1] = tp / g.P;
  }
  return { fpr, tpr, thresholds };
}

/** Mann–Whitney AUROC from grouped counts (ties count 1/2). NaN when a class is empty. */
function aurocFromCounts(pos: Float64Array, neg: Float64Array, P: number, N: number): number {
  if (P === 0 || N === 0) return NaN;
  // Walk from the most anomalous group down: each good part in group i is beaten by every
  // defect above it (1 each) and ties with the defects in its own group (1/2 each).
  let above = 0;
  let u = 0;
  for (let i = 0; i < pos.length; i++) {
    u += neg[i] * (above + 0.5 * pos[i]);
    above += pos[i];
  }
  return u / (P * N);
}

/** Exact AUROC = P(defect score > good score) + 1/2 P(tie); NaN if one class is empty. */
export function auroc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const g = groupScores(scores, labels);
  return aurocFromCounts(g.pos, g.neg, g.P, g.N);
}

/**
 * Exact precision–recall curve: one point per distinct score (descending thresholds, so recall
 * ascends). No artificial end point is added. Recall is NaN when there are no defects.
 */
export function prCurve(scores: ArrayLike<number>, labels: ArrayLike<number>): PrCurve {
  const g = groupScores(scores, labels);
  const m = g.thresholds.length;
  const precision = new Float64Array(m);
  const recall = new Float64Array(m);
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < m; i++) {
    tp += g.pos[i];
    fp += g.neg[i];
    precision[i] = tp / (tp + fp);
    recall[i] = tp / g.P;
  }
  return { precision, recall, thresholds: g.thresholds.slice() };
}

/**
 * Best F1 over all distinct thresholds (flag when score >= threshold). On equal F1 the HIGHEST
 * threshold wins. All fields NaN when there are no defects (F1 is undefined / identically 0).
 */
export function f1Max(scores: ArrayLike<number>, labels: ArrayLike<number>): F1Max {
  const g = groupScores(scores, labels);
  const none: F1Max = { f1: NaN, threshold: NaN, precision: NaN, recall: NaN };
  if (g.P === 0) return none;
  let best = none;
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < g.thresholds.length; i++) {
    tp += g.pos[i];
    fp += g.neg[i];
    // F1 = 2TP / (2TP + FP + FN) = 2TP / (TP + FP + P)
    const f1 = (2 * tp) / (tp + fp + g.P);
    if (!(f1 <= best.f1)) {
      // also true while best.f1 is NaN
      best = { f1, threshold: g.thresholds[i], precision: tp / (tp + fp), recall: tp / g.P };
    }
  }
  return best;
}

/**
 * The zero-miss operating point: threshold = lowest defect score (the largest threshold that still
 * flags every defect); pg0 = share of good parts passed there (score strictly below it; a good part
 * tied with that defect is flagged). null when there are no defects; pg0 NaN when no good parts.
 */
export function zeroMiss(scores: ArrayLike<number>, labels: ArrayLike<number>): ZeroMiss | null {
  checkScoresLabels(scores, labels);
  let threshold = Infinity;
  let defectTotal = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 1) {
      defectTotal++;
      if (scores[i] < threshold) threshold = scores[i];
    }
  }
  if (defectTotal === 0) return null;
  let goodTotal = 0;
  let goodPassed = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] === 0) {
      goodTotal++;
      if (scores[i] < threshold) goodPassed++;
    }
  }
  return { threshold, pg0: goodPassed / goodTotal, goodPassed, goodTotal, defectTotal };
}

/** Share of good parts passed at the zero-miss threshold (see `zeroMiss`); null without defects. */
export function pg0(scores: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  return zeroMiss(scores, labels)?.pg0 ?? null;
}

// ---------------------------------------------------------------------------------------------
// Connected components
// ---------------------------------------------------------------------------------------------

function checkDims(what: string, length: number, width: number, height: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new KensaError('INVALID_ARGUMENT', `${what}: bad size ${width}×${height}`);
  }
  if (length !== width * height) {
    throw new KensaError(
      'INVALID_ARGUMENT',
      `${what}: ${length} values do not make a ${width}×${height} image (${width * height})`,
    );
  }
}

/**
 * Labels `mask` (nonzero = foreground) into `labels` (fully overwritten; 0 = background, then
 * 1..count in raster order of each region's first pixel). `queue` is scratch of ≥ width·height.
 * Iterative BFS: every pixel is queued at most once.
 */
function labelInto(
  mask: Uint8Array,
  width: number,
  height: number,
  connectivity: 4 | 8,
  labels: Int32Array,
  queue: Int32Array,
): number {
  const n = width * height;
  labels.fill(0, 0, n);
  const diag = connectivity === 8;
  let count = 0;
  for (let start = 0; start < n; start++) {
    if (mask[start] === 0 || labels[start] !== 0) continue;
    count++;
    labels[start] = count;
    let head = 0;
    let tail = 0;
    queue[tail++] = start;
    while (head < tail) {
      const p = queue[head++];
      const y = (p / width) | 0;
      const x = p - y * width;
      const hasL = x > 0;
      const hasR = x < width - 1;
      const hasU = y > 0;
      const hasD = y < height - 1;
      let q: number;
      if (hasL) {
        q = p - 1;
        if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
      }
      if (hasR) {
        q = p + 1;
        if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
      }
      if (hasU) {
        q = p - width;
        if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
        if (diag) {
          if (hasL) {
            q = p - width - 1;
            if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
          }
          if (hasR) {
            q = p - width + 1;
            if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
          }
        }
      }
      if (hasD) {
        q = p + width;
        if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
        if (diag) {
          if (hasL) {
            q = p + width - 1;
            if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
          }
          if (hasR) {
            q = p + width + 1;
            if (mask[q] !== 0 && labels[q] === 0) { labels[q] = count; queue[tail++] = q; }
          }
        }
      }
    }
  }
  return count;
}

/**
 * Connected regions of a binary mask (nonzero = foreground), row-major `width × height`.
 * labels: 0 = background, 1..count = regions, numbered in raster order of their first pixel.
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  connectivity: 4 | 8 = 8,
): { labels: Int32Array; count: number } {
  checkDims('connectedComponents', mask.length, width, height);
  if (connectivity !== 4 && connectivity !== 8) {
    throw new KensaError('INVALID_ARGUMENT', `connectedComponents: connectivity must be 4 or 8, got ${connectivity}`);
  }
  const n = width * height;
  const labels = new Int32Array(n);
  const count = labelInto(mask, width, height, connectivity, labels, new Int32Array(n));
  return { labels, count };
}

// ---------------------------------------------------------------------------------------------
// Pixel-level metrics (streaming)
// ---------------------------------------------------------------------------------------------

export interface PixelMetricsOptions {
  /** Score range for binning; values outside [min, max] are clamped into the end bins. */
  min: number;
  max: number;
  /** Number of bins (default 65536). */
  bins?: number;
}

/** PRO curve as (fpr, pro) points, thresholds descending, starting at (0, 0) with +Infinity. */
export interface ProCurve {
  fpr: Float64Array;
  pro: Float64Array;
  thresholds: Float64Array;
}

const MAX_BINS = 1 << 24;

/**
 * Accumulates anomaly maps + ground-truth masks into per-bin histograms, so pixel AUROC and PRO
 * over any number of maps cost O(bins) memory. Thresholds are the bin lower edges: pixel `v`
 * lands in bin floor((v − min) / (max − min) · bins) (clamped), and "flagged at threshold k"
 * means "in bin ≥ k".
 *
 * PRO: each defect pixel of region r (of R regions in total) adds weight 1/(R·|r|) to its bin,
 * so the summed weight of bins ≥ k is the mean overlap at threshold k. R is only known at the
 * end, so the bins hold Σ 1/|r| and are divided by R when read.
 */
export class PixelMetricsAccumulator {
  readonly min: number;
  readonly max: number;
  readonly bins: number;
  /** Good pixels per bin. */
  private readonly good: Float64Array;
  /** Defect pixels per bin. */
  private readonly defect: Float64Array;
  /** Σ 1/|r| over defect pixels per bin (r = the pixel's region). */
  private readonly regionWeight: Float64Array;
  private regionCount = 0;
  private goodTotal = 0;
  private defectTotal = 0;
  private images = 0;
  private readonly scale: number;
  // scratch for connected components, grown on demand
  private labelBuf: Int32Array = new Int32Array(0);
  private queueBuf: Int32Array = new Int32Array(0);
  private invSizeBuf: Float64Array = new Float64Array(0);

  constructor(opts: PixelMetricsOptions) {
    const { min, max } = opts;
    const bins = opts.bins ?? 65536;
    if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) {
      throw new KensaError('INVALID_ARGUMENT', `PixelMetricsAccumulator: bad score range [${min}, ${max}]`);
    }
    if (!Number.isInteger(bins) || bins < 1 || bins > MAX_BINS) {
      throw new KensaError('INVALID_ARGUMENT', `PixelMetricsAccumulator: bins must be an integer in 1..${MAX_BINS}, got ${bins}`);
    }
    this.min = min;
    this.max = max;
    this.bins = bins;
    // max == min: every value lands in bin 0 (one big tie)
    this.scale = max > min ? bins / (max - min) : 0;
    this.good = new Float64Array(bins);
    this.defect = new Float64Array(bins);
    this.regionWeight = new Float64Array(bins);
  }

  /** Totals so far: pixels of each kind, ground-truth regions and maps added. */
  get counts(): { goodPixels: number; defectPixels: number; regions: number; images: number } {
    return { goodPixels: this.goodTotal, defectPixels: this.defectTotal, regions: this.regionCount, images: this.images };
  }

  /**
   * Adds one anomaly map (row-major width × height) with its ground-truth mask
   * (nonzero = defect pixel; null = all good). Regions are 8-connected, per image.
   */
  add(map: Float32Array, mask: Uint8Array | null, width: number, height: number): void {
    checkDims('PixelMetricsAccumulator.add (map)', map.length, width, height);
    if (mask !== null) checkDims('PixelMetricsAccumulator.add (mask)', mask.length, width, height);
    const n = width * height;
    const B = this.bins;
    const lo = this.min;
    const scale = this.scale;
    const good = this.good;

    // reject NaN up front so that a bad map leaves the accumulator untouched
    for (let i = 0; i < n; i++) {
      const v = map[i];
      if (v !== v) {
        throw new KensaError('INVALID_ARGUMENT', `PixelMetricsAccumulator.add: map value ${i} is NaN`);
      }
    }

    let anyDefect = false;
    if (mask !== null) {
      for (let i = 0; i < n; i++) {
        if (mask[i] !== 0) { anyDefect = true; break; }
      }
    }

    if (!anyDefect) {
      for (let i = 0; i < n; i++) {
        const t = (map[i] - lo) * scale;
        good[t >= B ? B - 1 : t >= 0 ? t | 0 : 0]++;
      }
      this.goodTotal += n;
      this.images++;
      return;
    }

    // label the regions of this image
    if (this.labelBuf.length < n) {
      this.labelBuf = new Int32Array(n);
      this.queueBuf = new Int32Array(n);
    }
    const labels = this.labelBuf;
    const count = labelInto(mask as Uint8Array, width, height, 8, labels, this.queueBuf);
    if (this.invSizeBuf.length < count + 1) this.invSizeBuf = new Float64Array(count + 1);
    const invSize = this.invSizeBuf;
    invSize.fill(0, 0, count + 1);
    for (let i = 0; i < n; i++) invSize[labels[i]]++;
    let defectPixels = 0;
    for (let r = 1; r <= count; r++) {
      defectPixels += invSize[r];
      invSize[r] = 1 / invSize[r];
    }

    const defect = this.defect;
    const weight = this.regionWeight;
    for (let i = 0; i < n; i++) {
      const t = (map[i] - lo) * scale;
      const b = t >= B ? B - 1 : t >= 0 ? t | 0 : 0;
      const r = labels[i];
      if (r === 0) {
        good[b]++;
      } else {
        defect[b]++;
        weight[b] += invSize[r];
      }
    }
    this.goodTotal += n - defectPixels;
    this.defectTotal += defectPixels;
    this.regionCount += count;
    this.images++;
  }

  /**
   * Pixel AUROC from the histograms (positives = defect pixels, negatives = good pixels; pixels in
   * the same bin tie and count 1/2). NaN when either kind of pixel is missing.
   */
  pixelAuroc(): number {
    const B = this.bins;
    const P = this.defectTotal;
    const N = this.goodTotal;
    if (P === 0 || N === 0) return NaN;
    let above = 0;
    let u = 0;
    for (let k = B - 1; k >= 0; k--) {
      const pk = this.defect[k];
      u += this.good[k] * (above + 0.5 * pk);
      above += pk;
    }
    return u / (P * N);
  }

  /**
   * The PRO curve at the bin edges: starts at (0, 0) with threshold +Infinity, then one point per
   * non-empty bin, thresholds descending (the bin's lower edge; values clamped into an end bin
   * belong to it too). fpr is NaN throughout when there are no good pixels, pro when there are no
   * ground-truth regions.
   */
  proCurve(): ProCurve {
    const B = this.bins;
    const N = this.goodTotal;
    const R = this.regionCount;
    let m = 1;
    for (let k = 0; k < B; k++) if (this.good[k] !== 0 || this.defect[k] !== 0) m++;
    const fpr = new Float64Array(m);
    const pro = new Float64Array(m);
    const thresholds = new Float64Array(m);
    thresholds[0] = Infinity;
    fpr[0] = 0 / N;
    pro[0] = 0 / R;
    const width = this.scale > 0 ? 1 / this.scale : 0;
    let fp = 0;
    let w = 0;
    let j = 1;
    for (let k = B - 1; k >= 0; k--) {
      if (this.good[k] === 0 && this.defect[k] === 0) continue;
      fp += this.good[k];
      w += this.regionWeight[k];
      fpr[j] = fp / N;
      pro[j] = w / R;
      thresholds[j] = this.min + k * width;
      j++;
    }
    return { fpr, pro, thresholds };
  }

  /**
   * Normalised area under the PRO curve for FPR in [0, fprLimit] (trapezoid rule, the curve
   * linearly interpolated at exactly fprLimit), divided by fprLimit — 1 is perfect.
   * NaN when there are no ground-truth regions or no good pixels.
   */
  pro(fprLimit = 0.3): number {
    if (!(fprLimit > 0 && fprLimit <= 1)) {
      throw new KensaError('INVALID_ARGUMENT', `pro: fprLimit must be in (0, 1], got ${fprLimit}`);
    }
    if (this.regionCount === 0 || this.goodTotal === 0) return NaN;
    const { fpr, pro } = this.proCurve();
    return trapezoidUpTo(fpr, pro, fprLimit) / fprLimit;
  }
}

/**
 * ∫ y dx over x ∈ [x[0], limit] by the trapezoid rule for a curve with non-decreasing x,
 * linearly interpolating y at exactly x = limit. If the curve ends before `limit`, the area
 * stops at its last point.
 */
export function trapezoidUpTo(x: ArrayLike<number>, y: ArrayLike<number>, limit: number): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) {
    const x0 = x[i - 1];
    const x1 = x[i];
    const y0 = y[i - 1];
    const y1 = y[i];
    if (x1 <= limit) {
      area += ((x1 - x0) * (y0 + y1)) / 2;
    } else {
      if (x0 < limit) {
        const yl = y0 + ((y1 - y0) * (limit - x0)) / (x1 - x0);
        area += ((limit - x0) * (y0 + yl)) / 2;
      }
      break;
    }
  }
  return area;
}
