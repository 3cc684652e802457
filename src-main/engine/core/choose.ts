/**
 * Choosing a scorer by cross-validation on reviewed parts. Pure TypeScript (no Node APIs).
 *
 * The question answered: among candidate scorers, which one lets the most good parts through at a
 * threshold that misses no defect (PG0, see `zeroMiss` in ./metrics) — measured ONLY on parts the
 * candidate has not learned from, so a scorer that memorises the reviewed labels cannot win.
 *
 * Candidates
 * - `fixed`   scores that do not depend on the reviewed labels, except for the parts listed in
 *             `learnedFrom` (e.g. good parts added to a PatchCore bank in a refit). Its scores are
 *             simply read from `scores`.
 * - `learned` a candidate that learns from reviewed parts: `fit(trainIds)` returns a scorer. Per
 *             fold it is fitted on the other folds (plus the excluded parts, below) and asked for
 *             the held-out fold's scores; it is never scored as held-out on a part it was fitted on.
 *
 * Fairness rule (one common evaluation set for every candidate)
 *   E = reviewed parts that NO fixed candidate learned from (the union of all `learnedFrom` is
 *   taken out). Every candidate is evaluated on exactly E, with the same seeded folds over E, so
 *   every row has the same `evaluated` count and PG0s share one denominator. The excluded parts
 *   U are never held out for anyone; they join every fold's training set handed to `fit` (the
 *   fixed candidate that learned them saw all of them too), but never the threshold-setting set.
 *
 * Folds: stratified by label and defect type (`stratifiedFolds`): each stratum is sorted by id,
 * shuffled with `Rng(seed)`, and the strata (defect types in sorted order, then the good parts)
 * are dealt round-robin with ONE running counter. Hence fold sizes, defects per fold and goods per
 * fold each differ by at most one, every fold holds a defect when there are ≥ k defects, and a
 * defect type with ≥ k parts appears in every fold. The result does not depend on input order.
 *
 * Per candidate (row)
 * - pg0, auroc      from the POOLED out-of-fold scores (each part scored by the model of the fold
 *                   that held it out). For fixed candidates that is just their scores on E. Note
 *                   that pooling learned candidates' scores from k models assumes comparable scales.
 * - pg0Interval     Wilson 95% interval of goodPassed / goods at the pooled zero-miss threshold.
 * - transfer        per fold, threshold = lowest defect score among the TRAINING folds' parts of E
 *                   (learned: scored by the model fitted on them; fixed: their scores), applied to
 *                   the held-out fold; misses (defect score < threshold) and good parts passed
 *                   (good score < threshold) summed over folds, with Wilson 95% for the miss rate.
 *                   This is the "what happens on the next part" evidence: pooled PG0 has zero misses
 *                   by construction, transfer does not.
 *
 * Best: the highest pooled out-of-fold PG0; ties (equal PG0, i.e. equal good-passed counts — the
 * denominator is common) are broken by fewer transfer misses, then by higher out-of-fold AUROC,
 * then by the earlier candidate in the input list.
 *
 * Too little data: best = null (and no rows; no candidate is fitted) when E holds fewer than
 * max(minDefects, folds) defects or fewer than minGoods good parts (defaults 4 and 4). The folds
 * bound guarantees every held-out fold and every training set holds a defect, so every fold's
 * transfer threshold exists.
 */
import { auroc, zeroMiss } from './metrics';
import { Rng } from './random';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

export interface ReviewedPart {
  id: number;
  /** 1 = defect, 0 = good. */
  label: 0 | 1;
  defectType?: string | null;
}

export interface FixedCandidate {
  kind: 'fixed';
  id: string;
  label: string;
  /** Raw anomaly score per part id (higher = more anomalous); must cover every evaluated part. */
  scores: ReadonlyMap<number, number>;
  /** Part ids this candidate has already learned from: excluded from every candidate's evaluation. */
  learnedFrom: ReadonlySet<number>;
}

export interface LearnedCandidate {
  kind: 'learned';
  id: string;
  label: string;
  /** Fits on the given part ids and returns a scorer (higher = more anomalous). */
  fit(trainIds: number[]): (id: number) => number;
}

export type Candidate = FixedCandidate | LearnedCandidate;

export interface ChooseOptions {
  /** Number of folds k (integer ≥ 2). */
  folds: number;
  seed: number;
  /** Fewest evaluable defects to choose at all (default 4; the folds count is a floor too). */
  minDefects?: number;
  /** Fewest evaluable good parts to choose at all (default 4). */
  minGoods?: number;
}

export interface Transfer {
  /** Held-out defects below their fold's training threshold, summed over folds. */
  misses: number;
  defects: number;
  missRate: number;
  /** Wilson 95% interval of misses / defects. */
  missInterval: [number, number];
  /** Held-out good parts below their fold's training threshold, summed over folds. */
  goodPassed: number;
  goods: number;
}

export interface CandidateRow {
  id: string;
  label: string;
  /** Pooled out-of-fold PG0 (good passed / goods at the lowest out-of-fold defect score). */
  pg0: number;
  /** Wilson 95% interval of the pooled PG0. */
  pg0Interval: [number, number];
  /** Pooled out-of-fold AUROC. */
  auroc: number;
  transfer: Transfer;
  /** Parts the row was evaluated on (the common set E: the same for every row). */
  evaluated: number;
  /** The pooled held-out score of every evaluated part (the scores pg0 / auroc come from). */
  scores: Map<number, number>;
}

export interface Choice {
  /** One row per candidate, in input order (empty when there is too little data). */
  rows: CandidateRow[];
  best: string | null;
  reason: string;
  /** Folds used (0 when nothing was evaluated). */
  folds: number;
  /** Reviewed parts left out of every evaluation because a fixed candidate learned from them. */
  excluded: number;
}

// ---------------------------------------------------------------------------------------------
// Wilson interval
// ---------------------------------------------------------------------------------------------

/**
 * Wilson score interval for k successes in n trials:
 *   centre = (p + z²/2n) / (1 + z²/n),  half = z·√(p(1−p)/n + z²/4n²) / (1 + z²/n),  p = k/n.
 * [0, 1] when n = 0. The end at 0 (k = 0) or 1 (k = n) is exact.
 */
export function wilson(k: number, n: number, z = 1.96): [number, number] {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(k) || k < 0 || k > n) {
    throw new RangeError(`wilson: need integers 0 ≤ k ≤ n, got k = ${k}, n = ${n}`);
  }
  if (!(z >= 0) || !Number.isFinite(z)) throw new RangeError(`wilson: bad z ${z}`);
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  const lo = k === 0 ? 0 : Math.max(0, centre - half);
  const hi = k === n ? 1 : Math.min(1, centre + half);
  return [lo, hi];
}

// ---------------------------------------------------------------------------------------------
// Folds
// ---------------------------------------------------------------------------------------------

function checkFolds(folds: number): void {
  if (!Number.isInteger(folds) || folds < 2) {
    throw new RangeError(`choose: folds must be an integer ≥ 2, got ${folds}`);
  }
}

/**
 * Stratified, seeded folds (arrays of part ids). Strata: one per defect type among the defects
 * (missing type = its own stratum), then the good parts. See the file comment for the dealing rule.
 */
export function stratifiedFolds(parts: readonly ReviewedPart[], folds: number, seed: number): number[][] {
  checkFolds(folds);
  checkParts(parts);
  const defectStrata = new Map<string, number[]>();
  const goods: number[] = [];
  for (const p of parts) {
    if (p.label === 0) {
      goods.push(p.id);
    } else {
      // '\u0000' keeps "no type" apart from any real type name (and sorts first)
      const key = p.defectType == null ? '\u0000' : `t:${p.defectType}`;
      let s = defectStrata.get(key);
      if (!s) defectStrata.set(key, (s = []));
      s.push(p.id);
    }
  }
  const strata = [...defectStrata.keys()]
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => defectStrata.get(k) as number[]);
  strata.push(goods);

  const rng = new Rng(seed);
  const out: number[][] = Array.from({ length: folds }, () => []);
  let counter = 0;
  for (const stratum of strata) {
    stratum.sort((a, b) => a - b);
    const perm = rng.permutation(stratum.length);
    for (let i = 0; i < stratum.length; i++) {
      out[counter % folds].push(stratum[perm[i]]);
      counter++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

function checkParts(parts: readonly ReviewedPart[]): void {
  const seen = new Set<number>();
  for (const p of parts) {
    if (!Number.isFinite(p.id)) throw new RangeError(`choose: part id ${p.id} is not a finite number`);
    if (p.label !== 0 && p.label !== 1) {
      throw new RangeError(`choose: part ${p.id} has label ${String(p.label)}; must be 0 (good) or 1 (defect)`);
    }
    if (seen.has(p.id)) throw new RangeError(`choose: part id ${p.id} appears twice`);
    seen.add(p.id);
  }
}

function checkCandidates(candidates: readonly Candidate[], evaluable: readonly ReviewedPart[]): void {
  const seen = new Set<string>();
  for (const c of candidates) {
    if (seen.has(c.id)) throw new RangeError(`choose: candidate id "${c.id}" appears twice`);
    seen.add(c.id);
    if (c.kind === 'fixed') {
      for (const p of evaluable) {
        const s = c.scores.get(p.id);
        if (s === undefined || !Number.isFinite(s)) {
          throw new RangeError(`choose: fixed candidate "${c.id}" has no finite score for part ${p.id} (${s})`);
        }
      }
    } else if (c.kind !== 'learned') {
      throw new RangeError(`choose: candidate "${(c as Candidate).id}" has unknown kind`);
    }
  }
}

/**
 * One evaluation round: `fit` = ids handed to a learned candidate's fit(), `calibrate` = evaluable
 * training ids whose defects set the transfer threshold, `test` = the held-out ids.
 */
interface Split {
  fit: number[];
  calibrate: number[];
  test: number[];
}

function evaluateCandidate(
  c: Candidate,
  splits: readonly Split[],
  evaluable: readonly ReviewedPart[],
  labelOf: ReadonlyMap<number, 0 | 1>,
): CandidateRow {
  const scores = new Map<number, number>();
  let misses = 0;
  let goodPassed = 0;
  for (const split of splits) {
    let score: (id: number) => number;
    if (c.kind === 'fixed') {
      score = (id) => c.scores.get(id) as number;
    } else {
      const model = c.fit(split.fit.slice());
      score = (id) => {
        const s = model(id);
        if (!Number.isFinite(s)) {
          throw new RangeError(`choose: learned candidate "${c.id}" gave part ${id} a non-finite score (${s})`);
        }
        return s;
      };
    }
    // zero-miss threshold of the training parts; +Infinity (flag nothing ⇒ miss every held-out
    // defect) if they hold no defect, which the data guard rules out
    let threshold = Infinity;
    for (const id of split.calibrate) {
      if (labelOf.get(id) === 1) threshold = Math.min(threshold, score(id));
    }
    for (const id of split.test) {
      const s = score(id);
      scores.set(id, s);
      if (s < threshold) {
        if (labelOf.get(id) === 1) misses++;
        else goodPassed++;
      }
    }
  }

  const s = new Float64Array(evaluable.length);
  const l = new Uint8Array(evaluable.length);
  let defects = 0;
  evaluable.forEach((p, i) => {
    s[i] = scores.get(p.id) as number;
    l[i] = p.label;
    defects += p.label;
  });
  const goods = evaluable.length - defects;
  const zm = zeroMiss(s, l);
  const pooledPassed = zm ? zm.goodPassed : 0;
  return {
    id: c.id,
    label: c.label,
    pg0: zm ? zm.pg0 : NaN,
    pg0Interval: wilson(pooledPassed, goods),
    auroc: auroc(s, l),
    transfer: {
      misses,
      defects,
      missRate: misses / defects,
      missInterval: wilson(misses, defects),
      goodPassed,
      goods,
    },
    evaluated: evaluable.length,
    scores,
  };
}

const orNegInf = (x: number): number => (Number.isNaN(x) ? -Infinity : x);

/** The ranking: PG0 desc, transfer misses asc, AUROC desc, input order. */
function compareRows(a: CandidateRow, b: CandidateRow): number {
  return (
    orNegInf(b.pg0) - orNegInf(a.pg0) ||
    a.transfer.misses - b.transfer.misses ||
    orNegInf(b.auroc) - orNegInf(a.auroc)
  );
}

const f3 = (x: number): string => x.toFixed(3);

function explain(rows: CandidateRow[], folds: number, what: string): { best: string | null; reason: string } {
  // Array.prototype.sort is stable, so equal rows keep input order
  const ranked = rows.slice().sort(compareRows);
  const best = ranked[0];
  const [lo, hi] = best.pg0Interval;
  let reason =
    `"${best.label}" has the highest ${what} PG0 ${f3(best.pg0)} (95% CI ${f3(lo)}–${f3(hi)}) ` +
    `over ${best.evaluated} parts` +
    (folds > 0 ? ` in ${folds} folds` : '') +
    `; transfer misses ${best.transfer.misses}/${best.transfer.defects}`;
  const second = ranked[1];
  if (second) {
    if (second.pg0 === best.pg0) {
      reason += `; tied on PG0 with "${second.label}", chosen for `;
      if (second.transfer.misses !== best.transfer.misses) {
        reason += `fewer transfer misses (${best.transfer.misses} vs ${second.transfer.misses})`;
      } else if (second.auroc !== best.auroc) {
        reason += `higher AUROC (${f3(best.auroc)} vs ${f3(second.auroc)})`;
      } else {
        reason += 'coming first in the candidate list';
      }
    } else {
      reason += `; runner-up "${second.label}" PG0 ${f3(second.pg0)}`;
      if (second.pg0 >= lo) reason += ' (inside the 95% interval: not a clear difference)';
    }
  }
  return { best: best.id, reason };
}

interface Prepared {
  evaluable: ReviewedPart[];
  excludedIds: number[];
  labelOf: Map<number, 0 | 1>;
  tooFew: string | null;
}

function prepare(
  parts: readonly ReviewedPart[],
  candidates: readonly Candidate[],
  minDefects: number,
  minGoods: number,
): Prepared {
  checkParts(parts);
  for (const [name, v] of [['minDefects', minDefects], ['minGoods', minGoods]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`choose: ${name} must be an integer ≥ 1, got ${v}`);
  }
  const learned = new Set<number>();
  for (const c of candidates) if (c.kind === 'fixed') for (const id of c.learnedFrom) learned.add(id);
  const evaluable = parts.filter((p) => !learned.has(p.id));
  const excludedIds = parts.filter((p) => learned.has(p.id)).map((p) => p.id).sort((a, b) => a - b);
  const labelOf = new Map(parts.map((p) => [p.id, p.label] as const));
  const defects = evaluable.filter((p) => p.label === 1).length;
  const goods = evaluable.length - defects;
  const excludedNote = excludedIds.length > 0 ? ` (after leaving out ${excludedIds.length} parts a candidate learned from)` : '';
  let tooFew: string | null = null;
  if (candidates.length === 0) {
    tooFew = 'no candidates to choose from';
  } else if (defects < minDefects) {
    tooFew = `too few reviewed defects: ${defects}${excludedNote}, need at least ${minDefects}`;
  } else if (goods < minGoods) {
    tooFew = `too few reviewed good parts: ${goods}${excludedNote}, need at least ${minGoods}`;
  }
  return { evaluable, excludedIds, labelOf, tooFew };
}

/**
 * Evaluates every candidate by stratified k-fold cross-validation on the reviewed parts and picks
 * the best (see the file comment for the fairness rule, the threshold transfer and the tie-breaker).
 */
export function chooseByCrossValidation(
  parts: readonly ReviewedPart[],
  candidates: readonly Candidate[],
  opts: ChooseOptions,
): Choice {
  const { folds: k, seed } = opts;
  checkFolds(k);
  const minDefects = opts.minDefects ?? 4;
  const { evaluable, excludedIds, labelOf, tooFew } = prepare(parts, candidates, minDefects, opts.minGoods ?? 4);
  let reason = tooFew;
  if (reason === null) {
    const defects = evaluable.filter((p) => p.label === 1).length;
    if (defects < k) {
      reason = `too few reviewed defects for ${k} folds: ${defects}, need at least ${k} so every fold holds one`;
    }
  }
  if (reason !== null) return { rows: [], best: null, reason, folds: 0, excluded: excludedIds.length };
  checkCandidates(candidates, evaluable);

  const foldIds = stratifiedFolds(evaluable, k, seed);
  const splits: Split[] = foldIds.map((test, f) => {
    const calibrate = foldIds.filter((_, g) => g !== f).flat();
    const fit = calibrate.concat(excludedIds).sort((a, b) => a - b);
    return { fit, calibrate, test };
  });
  const rows = candidates.map((c) => evaluateCandidate(c, splits, evaluable, labelOf));
  const { best, reason: why } = explain(rows, k, 'out-of-fold');
  return { rows, best, reason: why, folds: k, excluded: excludedIds.length };
}

/**
 * @internal TEST-ONLY, DELIBERATELY LEAKY: fits every learned candidate on ALL reviewed parts and
 * scores the same parts (thresholds likewise in-sample), otherwise exactly like
 * `chooseByCrossValidation` (same evaluable set, same ranking). Exists so tests can show that a
 * label-memorising candidate wins here and loses under cross-validation. Never use it to choose.
 */
export function chooseInSampleLeaky(
  parts: readonly ReviewedPart[],
  candidates: readonly Candidate[],
  opts: { minDefects?: number; minGoods?: number } = {},
): Choice {
  const { evaluable, excludedIds, labelOf, tooFew } = prepare(parts, candidates, opts.minDefects ?? 4, opts.minGoods ?? 4);
  if (tooFew !== null) return { rows: [], best: null, reason: tooFew, folds: 0, excluded: excludedIds.length };
  checkCandidates(candidates, evaluable);
  const all = evaluable.map((p) => p.id);
  const splits: Split[] = [{ fit: parts.map((p) => p.id), calibrate: all, test: all }];
  const rows = candidates.map((c) => evaluateCandidate(c, splits, evaluable, labelOf));
  const { best, reason } = explain(rows, 0, 'IN-SAMPLE (leaky)');
  return { rows, best, reason, folds: 0, excluded: excludedIds.length };
}
