/**
 * Threshold tuning: what a decision threshold does on the parts reviewed so far. Pure
 * functions on plain arrays (no I/O, no store), shared by the tuning view, the report and the
 * CLI. The exact curve maths (ROC, PR, AUROC, the zero-miss point) lives in
 * ../engine/core/metrics and is reused here, not duplicated.
 *
 * Conventions (as in metrics.ts): a part is FLAGGED when `score >= threshold` — a part scoring
 * exactly the threshold is flagged, never passed — and a flagged part goes to a person.
 *   TP = defect flagged        FN = defect passed = MISSED
 *   FP = good flagged          TN = good passed
 * Rates whose denominator is empty are `null`, never NaN: "no defects reviewed yet" is an
 * explicit state, not a number.
 *
 * Zero-miss threshold (DESIGN.md, anomalib's PGn with n = 0): raw = the lowest reviewed
 * defect score = the largest threshold that still flags every reviewed defect; the threshold
 * proposed is raw − margin, where the margin is either absolute (score units) or a share of
 * the good-score spread p95(good) − p5(good). PG0 = share of reviewed good parts passed
 * (score < threshold) at that threshold.
 *
 * Free margin (option `freeMargin`, default on): g* = the highest reviewed good score strictly
 * BELOW raw (none → no free margin); gapHalf = (raw − g*) / 2, half the empty gap between the
 * good parts and the weakest defect. The threshold proposed is then raw − max(m, gapHalf): when
 * gapHalf > m the margin is widened to the middle of the gap ('gap'), otherwise m is kept
 * ('margin'). The widening costs nothing on the reviewed parts: when it happens, every good
 * score is either ≤ g* < raw − gapHalf < raw − m (passed with or without it) or ≥ raw (flagged
 * either way; a tie with the threshold is flagged), so PG0 is the same as with m alone and as at
 * raw — while new defects a little weaker than the weakest reviewed one are still flagged.
 * (Should raw − gapHalf round to g* or below — a gap of an ulp or two — the gap is not used.)
 *
 * Expected miss rate on new parts (`expectedMissLoo`, leave-one-out): each reviewed defect i in
 * turn is held out, the zero-miss threshold is recomputed from the OTHER reviewed defects with
 * the same margin rule (raw_i = lowest score among the others, g*_i = highest good below raw_i,
 * threshold_i = raw_i − max(m, (raw_i − g*_i) / 2) with the free margin, raw_i − m without),
 * and defect i counts as missed when it would be passed there (score_i < threshold_i).
 * LOO miss rate = misses / n. Its upper bound is the one-sided 95 % Clopper–Pearson (exact
 * binomial) limit of engine/core/holdout (0 misses → 1 − 0.05^(1/n) ≈ 3/n, the rule of three).
 * Fewer than 2 defects: no fold has a threshold, so there is no estimate (rate null); fewer
 * than EXPECTED_MISS_MIN_DEFECTS: an estimate, marked not reliable.
 *
 * Quantiles (p5, p95) use linear interpolation between order statistics (numpy's default,
 * Hyndman–Fan type 7): q(p) = s[⌊h⌋] + (h − ⌊h⌋)(s[⌊h⌋+1] − s[⌊h⌋]) with h = (n − 1)p.
 */
import { clopperPearsonUpper } from '../engine/core/holdout';
import { auroc, prCurve, rocCurve, zeroMiss } from '../engine/core/metrics';
import type { ExpectedMissInfo } from '../shared/api';
import { KensaError } from '../shared/errors';

export type PartVerdict = 'good' | 'defect';

/** A reviewed part: its score under one model version, and the reviewer's verdict. */
export interface TuningPart {
  score: number;
  verdict: PartVerdict;
  /** Only meaningful for a defect; null = not given. */
  defectType: string | null;
}

export interface Margin {
  /** 'absolute': `value` in score units; 'spread': `value` × (p95(good) − p5(good)). */
  kind: 'absolute' | 'spread';
  /** ≥ 0. */
  value: number;
}

export interface Confusion {
  /** Defects flagged. */
  tp: number;
  /** Defects passed: MISSED. */
  fn: number;
  /** Good parts flagged (false alarms; a person re-inspects them). */
  fp: number;
  /** Good parts passed. */
  tn: number;
}

export interface DefectTypeRecall {
  /** null: defects reviewed without a type. */
  defectType: string | null;
  defects: number;
  flagged: number;
  missed: number;
  /** flagged / defects. */
  recall: number;
}

export interface ReviewLoad {
  /** Parts with score >= threshold among ALL scored parts (reviewed and unreviewed). */
  flagged: number;
  total: number;
  /** flagged / total; null when nothing is scored. */
  share: number | null;
}

export interface Histogram {
  /** bins + 1 edges, ascending; bin i is [edges[i], edges[i+1]), the last bin closed. */
  edges: number[];
  counts: { good: number[]; defect: number[]; unreviewed: number[] };
  /** What to draw: the counts, or log10(1 + count) when `log`. */
  heights: { good: number[]; defect: number[]; unreviewed: number[] };
  log: boolean;
  /** Largest height over the three series (0 when empty). */
  maxHeight: number;
}

export type ZeroMissResult =
  | { status: 'no-defects' }
  | {
      status: 'ok';
      /** The lowest reviewed defect score: the largest threshold that still flags every reviewed defect. */
      raw: number;
      /** raw − max(margin, freeMargin): the threshold proposed. */
      threshold: number;
      /** The configured margin in score units (absolute value, or value × spread); what is subtracted is marginToWeakest. */
      margin: number;
      /** Half the empty gap between the highest good part below raw and raw; 0 with no good part below raw or with the free margin off. */
      freeMargin: number;
      /** Which one was subtracted: the configured margin, or half the gap (only when freeMargin > margin). */
      marginUsed: 'margin' | 'gap';
      /** p95(good) − p5(good) used by a 'spread' margin; null for 'absolute' or with no good parts (margin 0 then). */
      spread: number | null;
      /** Share of good parts passed (score < threshold) at `threshold`; null when no good parts are reviewed. */
      pg0: number | null;
      /** The same share at `raw` (no margin); null when no good parts are reviewed. */
      pg0Raw: number | null;
      /** Index into `defectScores` of the weakest (lowest-scoring) defect; the first one on ties. */
      weakestDefect: number;
      /** Score distance from the proposed threshold up to the weakest defect (= raw − threshold = max(margin, freeMargin) ≥ 0). */
      marginToWeakest: number;
      defects: number;
      goods: number;
      /** Fewer reviewed defects than `minDefects`: the proposal rests on too little evidence. */
      fewDefects: boolean;
      minDefects: number;
      /** Leave-one-out estimate of the miss rate of this rule on parts not reviewed yet. */
      expectedMiss: ExpectedMiss;
    };

/** Reviewed defects below which the leave-one-out estimate is marked not reliable. */
export const EXPECTED_MISS_MIN_DEFECTS = 10;

/** Leave-one-out miss rate of the zero-miss rule (see the module comment); the API type, one definition. */
export type ExpectedMiss = ExpectedMissInfo;

export interface ZeroMissOptions {
  /** Reviewed defects needed before the proposal is trusted (default 3; the project setting minDefectsForZeroMiss). */
  minDefects?: number;
  /**
   * Widen the margin to half the empty gap between the highest good part below the weakest
   * defect and that defect when this is larger than the margin (default true; see the module
   * comment). Also applies to the leave-one-out folds.
   */
  freeMargin?: boolean;
}

export interface TuningOptions extends ZeroMissOptions {
  /** Scores of the parts without a verdict (they count for the review load and the histogram). */
  unreviewedScores?: ArrayLike<number>;
  /** Margin for the zero-miss proposal (default absolute 0). */
  margin?: Margin;
  /** Histogram bins (default 40). */
  bins?: number;
  /** Histogram heights as log10(1 + count) (default false). */
  log?: boolean;
  /** Histogram range; default: min/max over every score and the threshold. Values outside land in the end bins. */
  range?: [number, number];
}

export interface TuningStats {
  threshold: number;
  reviewed: number;
  defects: number;
  goods: number;
  confusion: Confusion;
  /** TP / defects; null when no defects are reviewed. */
  recall: number | null;
  /** TP / (TP + FP); null when no reviewed part is flagged. */
  precision: number | null;
  /** FP / goods (the ROC x of this threshold); null when no good parts are reviewed. */
  falseAlarmRate: number | null;
  /** TN / goods: share of good parts passed at this threshold; null when no good parts are reviewed. */
  goodPassed: number | null;
  reviewLoad: ReviewLoad;
  /** One row per defect type, sorted by type (code-unit order), untyped (null) last. */
  byDefectType: DefectTypeRecall[];
  /** Exact ROC (metrics.rocCurve); null unless both classes are reviewed. thresholds[0] = +Infinity (the (0, 0) point). */
  roc: { fpr: number[]; tpr: number[]; thresholds: number[] } | null;
  /** Exact PR curve (metrics.prCurve); null when no defects are reviewed. */
  pr: { precision: number[]; recall: number[]; thresholds: number[] } | null;
  /** null unless both classes are reviewed. */
  auroc: number | null;
  histogram: Histogram;
  zeroMiss: ZeroMissResult;
}

export interface BandCounts {
  total: number;
  good: number;
  defect: number;
  unreviewed: number;
}

export interface BandStats {
  pass: number;
  reject: number;
  /** score < pass: passed without a person. Defects here are MISSES. */
  passBand: BandCounts;
  /** pass <= score < reject: a person reviews them. */
  reviewBand: BandCounts;
  /** score >= reject: rejected without review. Good parts here are scrapped good parts. */
  rejectBand: BandCounts;
  /** Reviewed defects in the pass band. */
  missed: number;
  /** Reviewed good parts in the reject band. */
  goodRejected: number;
  /** Share of all scored parts in the review band; null when nothing is scored. */
  reviewShare: number | null;
}

const invalid = (message: string): KensaError => new KensaError('INVALID_ARGUMENT', message);

function finiteNumber(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${what} must be a finite number, got ${String(v)}`);
  return v;
}

function checkParts(parts: readonly TuningPart[]): void {
  if (!Array.isArray(parts)) throw invalid('parts must be an array');
  parts.forEach((p, i) => {
    if (p === null || typeof p !== 'object') throw invalid(`parts[${i}] must be an object`);
    finiteNumber(p.score, `parts[${i}].score`);
    if (p.verdict !== 'good' && p.verdict !== 'defect') throw invalid(`parts[${i}].verdict must be 'good' or 'defect', got ${String(p.verdict)}`);
  });
}

function checkScores(scores: ArrayLike<number>, what: string): void {
  for (let i = 0; i < scores.length; i++) finiteNumber(scores[i], `${what}[${i}]`);
}

function checkMargin(m: Margin): void {
  if (m === null || typeof m !== 'object' || (m.kind !== 'absolute' && m.kind !== 'spread')) throw invalid("margin.kind must be 'absolute' or 'spread'");
  if (finiteNumber(m.value, 'margin.value') < 0) throw invalid(`margin.value must not be negative, got ${m.value}`);
}

function minDefectsOf(opts: ZeroMissOptions): number {
  const n = opts.minDefects ?? 3;
  if (!Number.isInteger(n) || n < 1) throw invalid(`minDefects must be a positive integer, got ${String(n)}`);
  return n;
}

const ratio = (num: number, den: number): number | null => (den === 0 ? null : num / den);

/** Linear-interpolation quantile (type 7) of an ascending array; p in [0, 1]. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) throw invalid('quantile of an empty set');
  const h = (n - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * The zero-miss threshold with a safety margin (see the module comment). Ties: a good part
 * scoring exactly the proposed threshold is flagged, so it does not count as passed.
 */
export function zeroMissThreshold(
  defectScores: ArrayLike<number>,
  goodScores: ArrayLike<number>,
  margin: Margin,
  opts: ZeroMissOptions = {},
): ZeroMissResult {
  checkScores(defectScores, 'defectScores');
  checkScores(goodScores, 'goodScores');
  checkMargin(margin);
  const minDefects = minDefectsOf(opts);
  if (defectScores.length === 0) return { status: 'no-defects' };

  // metrics.zeroMiss on the labelled union: raw = lowest defect score, PG0 there.
  const nD = defectScores.length;
  const nG = goodScores.length;
  const scores = new Float64Array(nD + nG);
  const labels = new Uint8Array(nD + nG);
  for (let i = 0; i < nD; i++) {
    scores[i] = defectScores[i]!;
    labels[i] = 1;
  }
  for (let i = 0; i < nG; i++) scores[nD + i] = goodScores[i]!;
  const zm = zeroMiss(scores, labels)!; // non-null: there are defects
  const raw = zm.threshold;

  let weakestDefect = 0;
  for (let i = 1; i < nD; i++) if (defectScores[i]! < defectScores[weakestDefect]!) weakestDefect = i;

  const free = opts.freeMargin ?? true;
  const sortedGoods = Float64Array.from(goodScores).sort();
  const { margin: m, spread } = marginInScoreUnits(sortedGoods, margin);
  const { threshold, freeMargin, marginUsed } = marginRule(raw, m, sortedGoods, free);
  let passed = 0;
  for (let i = 0; i < nG; i++) if (goodScores[i]! < threshold) passed++;
  return {
    status: 'ok',
    raw,
    threshold,
    margin: m,
    freeMargin,
    marginUsed,
    spread,
    pg0: ratio(passed, nG),
    pg0Raw: nG === 0 ? null : zm.pg0,
    weakestDefect,
    marginToWeakest: raw - threshold,
    defects: nD,
    goods: nG,
    fewDefects: nD < minDefects,
    minDefects,
    expectedMiss: leaveOneOut(defectScores, m, sortedGoods, free),
  };
}

/**
 * The threshold of the zero-miss rule for one raw value: raw − m, or raw − gapHalf when the
 * free margin is on and half the gap below raw (to the highest good score strictly below it)
 * is larger than m. `sortedGoods` ascending. O(log g).
 */
function marginRule(raw: number, m: number, sortedGoods: ArrayLike<number>, free: boolean): { threshold: number; freeMargin: number; marginUsed: 'margin' | 'gap' } {
  if (free) {
    // first index with a score >= raw: the good below it, if any, is g*
    let lo = 0;
    let hi = sortedGoods.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sortedGoods[mid]! < raw) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) {
      const gStar = sortedGoods[lo - 1]!;
      const gapHalf = (raw - gStar) / 2;
      const atGap = raw - gapHalf;
      // atGap > gStar keeps g* passed; it can only fail when the gap is an ulp or two wide
      if (atGap > gStar) {
        return gapHalf > m ? { threshold: atGap, freeMargin: gapHalf, marginUsed: 'gap' } : { threshold: raw - m, freeMargin: gapHalf, marginUsed: 'margin' };
      }
    }
  }
  return { threshold: raw - m, freeMargin: 0, marginUsed: 'margin' };
}

/**
 * The margin of the zero-miss rule in score units, and the good-score spread it scales
 * ('spread' kind with good parts; null otherwise); `sorted` = the good scores, ascending. It depends on the good scores only, never
 * on the defects, so a leave-one-out fold (same goods, one defect fewer) gets the same margin.
 */
function marginInScoreUnits(sorted: ArrayLike<number>, margin: Margin): { margin: number; spread: number | null } {
  if (margin.kind === 'absolute') return { margin: margin.value, spread: null };
  if (sorted.length === 0) return { margin: 0, spread: null }; // no good parts: no spread to scale by (goods = 0 tells the caller)
  const spread = quantileSorted(sorted, 0.95) - quantileSorted(sorted, 0.05);
  return { margin: margin.value * spread, spread };
}

const EXPECTED_MISS_METHOD = 'leave-one-out over the reviewed defects; one-sided 95 % Clopper–Pearson upper bound';

/**
 * Leave-one-out miss rate of the zero-miss rule (see the module comment): fold i's threshold is
 * what zeroMissThreshold(defects without i, goods, margin, opts) proposes — the lowest OTHER
 * defect score raw_i minus the margin of marginInScoreUnits (the same for every fold), or
 * minus half the gap from the highest good below raw_i when the free margin is on and that is
 * larger — and defect i is missed when its score is below it. O(n + g log g): the lowest other
 * score is the overall lowest, except for the one weakest defect, whose fold uses the second
 * lowest (equal to the lowest on ties, so a tied defect is never missed); so there are only two
 * distinct raw_i, each with one binary search in the goods sorted once.
 */
export function expectedMissLoo(
  defectScores: ArrayLike<number>,
  goodScores: ArrayLike<number>,
  margin: Margin,
  opts: Pick<ZeroMissOptions, 'freeMargin'> = {},
): ExpectedMiss {
  checkScores(defectScores, 'defectScores');
  checkScores(goodScores, 'goodScores');
  checkMargin(margin);
  const sortedGoods = Float64Array.from(goodScores).sort();
  return leaveOneOut(defectScores, marginInScoreUnits(sortedGoods, margin).margin, sortedGoods, opts.freeMargin ?? true);
}

/** expectedMissLoo on checked input, with the margin already in score units and the goods sorted ascending. */
function leaveOneOut(defectScores: ArrayLike<number>, m: number, sortedGoods: ArrayLike<number>, free: boolean): ExpectedMiss {
  const n = defectScores.length;
  const min = EXPECTED_MISS_MIN_DEFECTS;
  if (n < 2) {
    return {
      looMisses: 0,
      defects: n,
      rate: null,
      upper95: 1,
      method: EXPECTED_MISS_METHOD,
      reliable: false,
      note:
        n === 0
          ? 'No reviewed defects: the miss rate on new parts cannot be estimated yet.'
          : 'Only 1 reviewed defect: with it left out there is no other defect to set a threshold from, so the miss rate on new parts cannot be estimated yet. Keep reviewing flagged parts.',
    };
  }
  let weakest = 0;
  for (let i = 1; i < n; i++) if (defectScores[i]! < defectScores[weakest]!) weakest = i;
  let secondLowest = Infinity;
  for (let i = 0; i < n; i++) if (i !== weakest && defectScores[i]! < secondLowest) secondLowest = defectScores[i]!;
  // the two fold thresholds: every fold but the weakest's has raw_i = the lowest score
  const atLowest = marginRule(defectScores[weakest]!, m, sortedGoods, free).threshold;
  const atSecond = marginRule(secondLowest, m, sortedGoods, free).threshold;
  let looMisses = 0;
  for (let i = 0; i < n; i++) {
    if (defectScores[i]! < (i === weakest ? atSecond : atLowest)) looMisses++;
  }
  const reliable = n >= min;
  return {
    looMisses,
    defects: n,
    rate: looMisses / n,
    upper95: clopperPearsonUpper(looMisses, n, 0.95),
    method: EXPECTED_MISS_METHOD,
    reliable,
    note: reliable
      ? `Each of the ${n} reviewed defects was left out in turn and checked against the zero-miss threshold of the other ${n - 1}, with the same margin; ${looMisses} would have been passed.`
      : `Only ${n} reviewed defects: too few for the expected miss rate to mean much (it needs at least ${min}). Keep reviewing flagged parts.`,
  };
}

function histogram(
  parts: readonly TuningPart[],
  unreviewed: ArrayLike<number>,
  threshold: number,
  bins: number,
  log: boolean,
  range: [number, number] | undefined,
): Histogram {
  let lo: number;
  let hi: number;
  if (range) {
    lo = finiteNumber(range[0], 'range[0]');
    hi = finiteNumber(range[1], 'range[1]');
    if (!(hi > lo)) throw invalid(`range must be [min, max] with max > min, got [${lo}, ${hi}]`);
  } else {
    lo = threshold;
    hi = threshold;
    for (const p of parts) {
      if (p.score < lo) lo = p.score;
      if (p.score > hi) hi = p.score;
    }
    for (let i = 0; i < unreviewed.length; i++) {
      const s = unreviewed[i]!;
      if (s < lo) lo = s;
      if (s > hi) hi = s;
    }
    if (hi === lo) {
      // every score (and the threshold) equal: one unit-wide range centred on it
      lo -= 0.5;
      hi += 0.5;
    }
  }
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  const bin = (s: number): number => Math.min(bins - 1, Math.max(0, Math.floor((s - lo) / width)));
  const good = new Array<number>(bins).fill(0);
  const defect = new Array<number>(bins).fill(0);
  const other = new Array<number>(bins).fill(0);
  for (const p of parts) (p.verdict === 'defect' ? defect : good)[bin(p.score)]!++;
  for (let i = 0; i < unreviewed.length; i++) other[bin(unreviewed[i]!)]!++;
  const h = (c: number[]): number[] => (log ? c.map((x) => Math.log10(1 + x)) : c.slice());
  const heights = { good: h(good), defect: h(defect), unreviewed: h(other) };
  const maxHeight = Math.max(0, ...heights.good, ...heights.defect, ...heights.unreviewed);
  return { edges, counts: { good, defect, unreviewed: other }, heights, log, maxHeight };
}

/** Sorts defect-type keys: code-unit order (locale-independent, so reproducible), null last. */
function compareType(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/** Everything the tuning view shows for one threshold (see the module comment for the definitions). */
export function tuningStats(parts: readonly TuningPart[], threshold: number, opts: TuningOptions = {}): TuningStats {
  checkParts(parts);
  finiteNumber(threshold, 'threshold');
  const unreviewed = opts.unreviewedScores ?? [];
  checkScores(unreviewed, 'unreviewedScores');
  const bins = opts.bins ?? 40;
  if (!Number.isInteger(bins) || bins < 1 || bins > 10_000) throw invalid(`bins must be an integer from 1 to 10000, got ${String(bins)}`);
  const margin = opts.margin ?? { kind: 'absolute', value: 0 };

  const confusion: Confusion = { tp: 0, fn: 0, fp: 0, tn: 0 };
  const types = new Map<string | null, { defects: number; flagged: number }>();
  const defectScores: number[] = [];
  const goodScores: number[] = [];
  for (const p of parts) {
    const flagged = p.score >= threshold;
    if (p.verdict === 'defect') {
      defectScores.push(p.score);
      if (flagged) confusion.tp++;
      else confusion.fn++;
      const key = p.defectType ?? null;
      const t = types.get(key) ?? { defects: 0, flagged: 0 };
      t.defects++;
      if (flagged) t.flagged++;
      types.set(key, t);
    } else {
      goodScores.push(p.score);
      if (flagged) confusion.fp++;
      else confusion.tn++;
    }
  }
  const defects = defectScores.length;
  const goods = goodScores.length;

  let flaggedAll = confusion.tp + confusion.fp;
  for (let i = 0; i < unreviewed.length; i++) if (unreviewed[i]! >= threshold) flaggedAll++;
  const total = parts.length + unreviewed.length;

  const byDefectType = [...types.entries()]
    .sort(([a], [b]) => compareType(a, b))
    .map(([defectType, t]) => ({ defectType, defects: t.defects, flagged: t.flagged, missed: t.defects - t.flagged, recall: t.flagged / t.defects }));

  const scores = new Float64Array(parts.length);
  const labels = new Uint8Array(parts.length);
  parts.forEach((p, i) => {
    scores[i] = p.score;
    labels[i] = p.verdict === 'defect' ? 1 : 0;
  });
  const both = defects > 0 && goods > 0;
  let roc: TuningStats['roc'] = null;
  if (both) {
    const c = rocCurve(scores, labels);
    roc = { fpr: Array.from(c.fpr), tpr: Array.from(c.tpr), thresholds: Array.from(c.thresholds) };
  }
  let pr: TuningStats['pr'] = null;
  if (defects > 0) {
    const c = prCurve(scores, labels);
    pr = { precision: Array.from(c.precision), recall: Array.from(c.recall), thresholds: Array.from(c.thresholds) };
  }

  return {
    threshold,
    reviewed: parts.length,
    defects,
    goods,
    confusion,
    recall: ratio(confusion.tp, defects),
    precision: ratio(confusion.tp, confusion.tp + confusion.fp),
    falseAlarmRate: ratio(confusion.fp, goods),
    goodPassed: ratio(confusion.tn, goods),
    reviewLoad: { flagged: flaggedAll, total, share: ratio(flaggedAll, total) },
    byDefectType,
    roc,
    pr,
    auroc: both ? auroc(scores, labels) : null,
    histogram: histogram(parts, unreviewed, threshold, bins, opts.log ?? false, opts.range),
    zeroMiss: zeroMissThreshold(defectScores, goodScores, margin, opts),
  };
}

/**
 * Two thresholds: pass below `pass`, a person reviews [pass, reject), reject at or above
 * `reject` (the store's threshold value and reviewUpper). pass === reject: no review band.
 */
export function bandStats(parts: readonly TuningPart[], pass: number, reject: number, opts: { unreviewedScores?: ArrayLike<number> } = {}): BandStats {
  checkParts(parts);
  finiteNumber(pass, 'pass');
  finiteNumber(reject, 'reject');
  if (reject < pass) throw invalid(`the reject threshold (${reject}) must not be below the pass threshold (${pass})`);
  const unreviewed = opts.unreviewedScores ?? [];
  checkScores(unreviewed, 'unreviewedScores');
  const empty = (): BandCounts => ({ total: 0, good: 0, defect: 0, unreviewed: 0 });
  const bands = { passBand: empty(), reviewBand: empty(), rejectBand: empty() };
  const bandOf = (s: number): BandCounts => (s < pass ? bands.passBand : s < reject ? bands.reviewBand : bands.rejectBand);
  for (const p of parts) {
    const b = bandOf(p.score);
    b.total++;
    b[p.verdict === 'defect' ? 'defect' : 'good']++;
  }
  for (let i = 0; i < unreviewed.length; i++) {
    const b = bandOf(unreviewed[i]!);
    b.total++;
    b.unreviewed++;
  }
  const total = parts.length + unreviewed.length;
  return {
    pass,
    reject,
    ...bands,
    missed: bands.passBand.defect,
    goodRejected: bands.rejectBand.good,
    reviewShare: ratio(bands.reviewBand.total, total),
  };
}
