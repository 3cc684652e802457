import { describe, it, expect } from 'vitest';
import {
  chooseByCrossValidation,
  chooseInSampleLeaky,
  stratifiedFolds,
  wilson,
  type Candidate,
  type FixedCandidate,
  type LearnedCandidate,
  type ReviewedPart,
} from '../../../src-main/engine/core/choose';
import { auroc, zeroMiss } from '../../../src-main/engine/core/metrics';
import { Rng } from '../../../src-main/engine/core/random';

/** `defects` defect parts (ids 0..) then `goods` good parts, optional defect types cycled. */
function makeParts(defects: number, goods: number, types: (string | null)[] = [null]): ReviewedPart[] {
  const parts: ReviewedPart[] = [];
  for (let i = 0; i < defects; i++) parts.push({ id: i, label: 1, defectType: types[i % types.length] });
  for (let i = 0; i < goods; i++) parts.push({ id: defects + i, label: 0 });
  return parts;
}

function fixed(id: string, scores: Map<number, number>, learnedFrom: Iterable<number> = []): FixedCandidate {
  return { kind: 'fixed', id, label: id, scores, learnedFrom: new Set(learnedFrom) };
}

/** Honest, moderately good scores: goods ~ N(0, 1), defects ~ N(sep, 1). */
function honestScores(parts: ReviewedPart[], seed: number, sep = 2.5): Map<number, number> {
  const rng = new Rng(seed);
  return new Map(parts.map((p) => [p.id, (p.label === 1 ? sep : 0) + rng.normal()]));
}

describe('wilson', () => {
  // z = 1.96, z² = 3.8416. centre = (p + z²/2n)/(1 + z²/n), half = z·√(p(1−p)/n + z²/4n²)/(1 + z²/n)
  it('k = 5, n = 10', () => {
    // p = 0.5, 1 + z²/n = 1.38416, centre = (0.5 + 0.19208)/1.38416 = 0.5
    // half = 1.96·√(0.025 + 0.009604)/1.38416 = 1.96·0.1860215/1.38416 = 0.3646021/1.38416 = 0.2634104
    const [lo, hi] = wilson(5, 10);
    expect(lo).toBeCloseTo(0.2365896, 6);
    expect(hi).toBeCloseTo(0.7634104, 6);
  });

  it('k = 1, n = 4', () => {
    // p = 0.25, 1 + z²/n = 1.9604, centre = (0.25 + 0.4802)/1.9604 = 0.7302/1.9604 = 0.3724750
    // half = 1.96·√(0.046875 + 0.060025)/1.9604 = 1.96·√0.1069/1.9604 = 1.96·0.3269557/1.9604 = 0.3268889
    const [lo, hi] = wilson(1, 4);
    expect(lo).toBeCloseTo(0.0455861, 6);
    expect(hi).toBeCloseTo(0.6993639, 6);
  });

  it('k = 0: lower end exactly 0, upper = (z²/n)/(1 + z²/n)', () => {
    // p = 0: centre = half = 0.19208/1.38416 = 0.1387701 → [0, 0.2775402] (0.38416/1.38416)
    const [lo, hi] = wilson(0, 10);
    expect(lo).toBe(0);
    expect(hi).toBeCloseTo(0.2775402, 6);
    // n = 1: [0, 3.8416/4.8416] = [0, 0.7934567]
    expect(wilson(0, 1)[0]).toBe(0);
    expect(wilson(0, 1)[1]).toBeCloseTo(0.7934567, 6);
  });

  it('k = n: upper end exactly 1, lower = 1/(1 + z²/n)', () => {
    // by symmetry with k = 0: lo = 1 − 0.2775402 = 0.7224598 = 1/1.38416
    const [lo, hi] = wilson(10, 10);
    expect(lo).toBeCloseTo(0.7224598, 6);
    expect(hi).toBe(1);
  });

  it('n = 0 is uninformative; a bad k throws', () => {
    expect(wilson(0, 0)).toEqual([0, 1]);
    expect(() => wilson(3, 2)).toThrow(RangeError);
    expect(() => wilson(-1, 2)).toThrow(RangeError);
    expect(() => wilson(0.5, 2)).toThrow(RangeError);
  });

  it('z = 0 collapses to the point estimate', () => {
    expect(wilson(3, 4, 0)).toEqual([0.75, 0.75]);
  });
});

describe('stratifiedFolds', () => {
  it('every part exactly once; balanced sizes, defects, goods; types spread; deterministic', () => {
    const parts = makeParts(15, 23, ['scratch', 'dent', 'scratch', null]);
    const k = 5;
    const folds = stratifiedFolds(parts, k, 42);
    expect(folds).toHaveLength(k);
    const all = folds.flat().sort((a, b) => a - b);
    expect(all).toEqual(parts.map((p) => p.id).sort((a, b) => a - b));

    const labelOf = new Map(parts.map((p) => [p.id, p]));
    const spread = (xs: number[]) => Math.max(...xs) - Math.min(...xs);
    expect(spread(folds.map((f) => f.length))).toBeLessThanOrEqual(1);
    const defectsPer = folds.map((f) => f.filter((id) => labelOf.get(id)!.label === 1).length);
    expect(spread(defectsPer)).toBeLessThanOrEqual(1);
    expect(Math.min(...defectsPer)).toBeGreaterThan(0);
    expect(spread(folds.map((f) => f.filter((id) => labelOf.get(id)!.label === 0).length))).toBeLessThanOrEqual(1);
    // 'scratch' has 8 ≥ k parts, 'dent' 4 and untyped 3: each type's parts land in distinct folds
    for (const type of ['scratch', 'dent', null]) {
      const per = folds.map((f) => f.filter((id) => labelOf.get(id)!.label === 1 && (labelOf.get(id)!.defectType ?? null) === type).length);
      const n = per.reduce((a, b) => a + b, 0);
      expect(spread(per)).toBeLessThanOrEqual(1);
      if (n >= k) expect(Math.min(...per)).toBeGreaterThan(0);
    }

    // deterministic for a seed, independent of input order, different for another seed
    expect(stratifiedFolds(parts, k, 42)).toEqual(folds);
    const shuffled = Array.from(new Rng(7).permutation(parts.length), (i) => parts[i]);
    expect(stratifiedFolds(shuffled, k, 42)).toEqual(folds);
    expect(stratifiedFolds(parts, k, 43)).not.toEqual(folds);
  });

  it('every fold holds a defect whenever defects ≥ folds', () => {
    for (const k of [2, 3, 5]) {
      for (let d = k; d < k + 4; d++) {
        for (let seed = 0; seed < 5; seed++) {
          const parts = makeParts(d, 3 * k + seed, ['a', 'b', 'c']);
          const ids = new Set(parts.filter((p) => p.label === 1).map((p) => p.id));
          for (const f of stratifiedFolds(parts, k, seed)) expect(f.some((id) => ids.has(id))).toBe(true);
        }
      }
    }
  });

  it('rejects bad folds and duplicate ids', () => {
    expect(() => stratifiedFolds(makeParts(4, 4), 1, 0)).toThrow(RangeError);
    expect(() => stratifiedFolds([{ id: 1, label: 0 }, { id: 1, label: 1 }], 2, 0)).toThrow(RangeError);
  });
});

describe('chooseByCrossValidation', () => {
  it('a learned candidate is never scored as held-out on a part it was fitted on', () => {
    const parts = makeParts(12, 30, ['x', 'y']);
    const base = honestScores(parts, 3);
    const fits: number[][] = [];
    const asked: Set<number>[] = [];
    // the score encodes which fit produced it (fit index + a tiny part-dependent offset)
    const spy: LearnedCandidate = {
      kind: 'learned',
      id: 'spy',
      label: 'spy',
      fit(trainIds) {
        const i = fits.length;
        fits.push(trainIds.slice());
        trainIds.length = 0; // mutating the argument must not affect the evaluation
        asked.push(new Set());
        return (id) => {
          asked[i].add(id);
          return i + 1e-6 * base.get(id)!;
        };
      },
    };
    const k = 4;
    const choice = chooseByCrossValidation(parts, [spy, fixed('honest', base)], { folds: k, seed: 9 });
    expect(fits).toHaveLength(k);
    const row = choice.rows[0];
    expect(row.scores.size).toBe(parts.length);

    const heldOut: Set<number>[] = Array.from({ length: k }, () => new Set());
    for (const [id, s] of row.scores) heldOut[Math.round(s)].add(id);
    const union = new Set<number>();
    for (let i = 0; i < k; i++) {
      const train = new Set(fits[i]);
      // disjoint: nothing held out by fit i was in its training set
      for (const id of heldOut[i]) expect(train.has(id)).toBe(false);
      expect(heldOut[i].size).toBeGreaterThan(0);
      // train ∪ held-out = all parts, and the scorer saw nothing else
      expect(train.size + heldOut[i].size).toBe(parts.length);
      for (const id of asked[i]) expect(train.has(id) || heldOut[i].has(id)).toBe(true);
      for (const id of heldOut[i]) union.add(id);
    }
    expect(union.size).toBe(parts.length);
    // the held-out sets are exactly the stratified folds
    const folds = stratifiedFolds(parts, k, 9).map((f) => [...f].sort((a, b) => a - b));
    expect(heldOut.map((h) => [...h].sort((a, b) => a - b))).toEqual(folds);
  });

  describe('planted leak: a label memoriser', () => {
    const parts = makeParts(20, 60, ['scratch', 'dent']);
    const honest = fixed('honest', honestScores(parts, 11));
    const labelOf = new Map(parts.map((p) => [p.id, p.label]));
    /** Returns label + tiny noise for ids it was fitted on, uniform noise for anything else. */
    const memoriser = (): LearnedCandidate => {
      const rng = new Rng(123);
      return {
        kind: 'learned',
        id: 'memoriser',
        label: 'memoriser',
        fit(trainIds) {
          const seen = new Set(trainIds);
          return (id) => (seen.has(id) ? labelOf.get(id)! + 1e-3 * rng.next() : rng.next());
        },
      };
    };

    it('cross-validation chooses the honest candidate', () => {
      const choice = chooseByCrossValidation(parts, [memoriser(), honest], { folds: 5, seed: 1 });
      expect(choice.best).toBe('honest');
      const [mem, hon] = choice.rows;
      expect(hon.pg0).toBeGreaterThan(0.5);
      expect(mem.pg0).toBeLessThan(0.3);
      expect(hon.pg0).toBeGreaterThan(mem.pg0Interval[1]);
      // thresholds learned in-sample (~1) miss held-out noise scores: the transfer evidence
      expect(mem.transfer.misses).toBe(20);
      expect(mem.transfer.missRate).toBe(1);
      expect(hon.transfer.misses).toBeLessThan(mem.transfer.misses);
      expect(choice.reason).toContain('"honest"');
    });

    it('the same test FAILS on a leaky (fit on all, score all) evaluation: there the memoriser wins', () => {
      const leaky = chooseInSampleLeaky(parts, [memoriser(), honest]);
      expect(leaky.best).toBe('memoriser');
      expect(leaky.rows[0].pg0).toBe(1);
      expect(leaky.rows[0].auroc).toBe(1);
      expect(leaky.rows[0].transfer.misses).toBe(0);
      expect(leaky.rows[0].pg0).toBeGreaterThan(leaky.rows[1].pg0);
      // the honest fixed candidate is unaffected by the leak
      const cv = chooseByCrossValidation(parts, [memoriser(), honest], { folds: 5, seed: 1 });
      expect(leaky.rows[1].pg0).toBe(cv.rows[1].pg0);
    });
  });

  it('parts a fixed candidate learned from are excluded from every candidate (artificially perfect scores do not help)', () => {
    const parts = makeParts(8, 24);
    const scores = honestScores(parts, 5, 1.5);
    const learned = [8, 9, 10, 11, 12, 13]; // six good parts, "added to the bank"
    for (const id of learned) scores.set(id, -100);
    const refit = fixed('refit', scores, learned);
    const other = fixed('other', honestScores(parts, 6, 1.5));
    const choice = chooseByCrossValidation(parts, [refit, other], { folds: 4, seed: 2 });
    expect(choice.excluded).toBe(6);
    for (const row of choice.rows) {
      expect(row.evaluated).toBe(parts.length - 6);
      expect(row.transfer.goods).toBe(24 - 6);
      for (const id of learned) expect(row.scores.has(id)).toBe(false);
    }

    const keep = parts.filter((p) => !learned.includes(p.id));
    const expected = zeroMiss(keep.map((p) => scores.get(p.id)!), keep.map((p) => p.label))!;
    const inflated = zeroMiss(parts.map((p) => scores.get(p.id)!), parts.map((p) => p.label))!;
    expect(inflated.pg0).toBeGreaterThan(expected.pg0); // the planted help is real ...
    const row = choice.rows[0];
    expect(row.pg0).toBe(expected.pg0); // ... and it is not counted
    expect(row.pg0Interval).toEqual(wilson(expected.goodPassed, expected.goodTotal));
    expect(row.auroc).toBe(auroc(keep.map((p) => scores.get(p.id)!), keep.map((p) => p.label)));
  });

  it('learned candidates are fitted on the excluded parts too, but never scored on them as held-out', () => {
    const parts = makeParts(8, 20);
    const learned = [8, 9, 10];
    const fits: number[][] = [];
    const probe: LearnedCandidate = {
      kind: 'learned',
      id: 'probe',
      label: 'probe',
      fit(trainIds) {
        fits.push(trainIds);
        return (id) => id;
      },
    };
    const choice = chooseByCrossValidation(parts, [fixed('bank', honestScores(parts, 1), learned), probe], { folds: 4, seed: 3 });
    for (const f of fits) for (const id of learned) expect(f).toContain(id);
    for (const id of learned) expect(choice.rows[1].scores.has(id)).toBe(false);
  });

  it('ties on PG0 go to fewer transfer misses', () => {
    const parts = makeParts(6, 10);
    // both pass every good part at the pooled zero-miss threshold (PG0 = 1) ...
    const clean = new Map(parts.map((p) => [p.id, p.label === 1 ? 10 : 0]));
    const shaky = new Map(parts.map((p) => [p.id, p.label === 1 ? 10 : 0]));
    shaky.set(0, 5); // ... but defect 0 sits below the other folds' lowest defect (10): one transfer miss
    const choice = chooseByCrossValidation(parts, [fixed('shaky', shaky), fixed('clean', clean)], { folds: 3, seed: 4 });
    expect(choice.rows.map((r) => r.pg0)).toEqual([1, 1]);
    expect(choice.rows[0].transfer.misses).toBe(1);
    expect(choice.rows[1].transfer.misses).toBe(0);
    expect(choice.best).toBe('clean');
    expect(choice.reason).toContain('fewer transfer misses');
  });

  it('transfer: per-fold threshold from the other folds, summed misses and good parts passed', () => {
    // 4 defects, 4 goods, 2 folds; scores chosen so each fold's threshold is hand-checkable
    const parts = makeParts(4, 4);
    const s = new Map([[0, 5], [1, 6], [2, 7], [3, 8], [4, 1], [5, 5.5], [6, 6.5], [7, 9]]);
    const choice = chooseByCrossValidation(parts, [fixed('f', s)], { folds: 2, seed: 0, minDefects: 2, minGoods: 2 });
    const folds = stratifiedFolds(parts, 2, 0);
    let misses = 0;
    let passed = 0;
    for (let f = 0; f < 2; f++) {
      const t = Math.min(...folds[1 - f].filter((id) => id < 4).map((id) => s.get(id)!));
      for (const id of folds[f]) {
        if (s.get(id)! < t) {
          if (id < 4) misses++;
          else passed++;
        }
      }
    }
    // by hand for seed 0: folds {3, 0, 7, 5} and {2, 1, 6, 4}.
    //   fold 0: threshold = min(defects 2, 1 of fold 1) = 6 → defect 0 (5) missed, good 5 (5.5) passed
    //   fold 1: threshold = min(defects 3, 0 of fold 0) = 5 → no miss, good 4 (1) passed
    expect(folds).toEqual([[3, 0, 7, 5], [2, 1, 6, 4]]);
    expect([misses, passed]).toEqual([1, 2]);
    const row = choice.rows[0];
    expect(row.transfer).toMatchObject({ misses, defects: 4, goodPassed: passed, goods: 4, missRate: misses / 4 });
    expect(row.transfer.missInterval).toEqual(wilson(misses, 4));
    // pooled: lowest defect 5 passes good part 4 (score 1) only
    expect(row.pg0).toBe(0.25);
  });

  it('too few defects → best null with the reason, and nothing is fitted', () => {
    const parts = makeParts(3, 20);
    let fitted = 0;
    const c: LearnedCandidate = { kind: 'learned', id: 'l', label: 'l', fit: () => { fitted++; return () => 0; } };
    const choice = chooseByCrossValidation(parts, [c, fixed('f', honestScores(parts, 1))], { folds: 3, seed: 0 });
    expect(choice.best).toBeNull();
    expect(choice.rows).toEqual([]);
    expect(choice.reason).toBe('too few reviewed defects: 3, need at least 4');
    expect(fitted).toBe(0);
  });

  it('too few goods, too few defects for the folds, exclusions counted, no candidates', () => {
    const few = makeParts(6, 3);
    expect(chooseByCrossValidation(few, [fixed('f', honestScores(few, 1))], { folds: 3, seed: 0 }).reason).toBe(
      'too few reviewed good parts: 3, need at least 4',
    );
    const five = makeParts(5, 10);
    const r = chooseByCrossValidation(five, [fixed('f', honestScores(five, 1))], { folds: 6, seed: 0 });
    expect(r.best).toBeNull();
    expect(r.reason).toContain('for 6 folds');
    // a defect the candidate learned from does not count
    const r2 = chooseByCrossValidation(five, [fixed('f', honestScores(five, 1), [0, 1])], { folds: 2, seed: 0 });
    expect(r2.best).toBeNull();
    expect(r2.reason).toContain('3 (after leaving out 2 parts');
    expect(chooseByCrossValidation(five, [], { folds: 2, seed: 0 }).best).toBeNull();
  });

  it('is deterministic for a seed and validates its input', () => {
    const parts = makeParts(10, 30, ['a', 'b']);
    const cands = (): Candidate[] => [
      fixed('a', honestScores(parts, 1)),
      { kind: 'learned', id: 'b', label: 'b', fit: () => { const s = honestScores(parts, 2, 2); return (id) => s.get(id)!; } },
    ];
    const a = chooseByCrossValidation(parts, cands(), { folds: 5, seed: 8 });
    const b = chooseByCrossValidation(parts, cands(), { folds: 5, seed: 8 });
    expect(b).toEqual(a);

    const missing = new Map(honestScores(parts, 1));
    missing.delete(3);
    expect(() => chooseByCrossValidation(parts, [fixed('m', missing)], { folds: 5, seed: 0 })).toThrow(/no finite score for part 3/);
    expect(() => chooseByCrossValidation(parts, [fixed('a', honestScores(parts, 1)), fixed('a', honestScores(parts, 2))], { folds: 5, seed: 0 })).toThrow(/twice/);
    const nan: LearnedCandidate = { kind: 'learned', id: 'n', label: 'n', fit: () => () => NaN };
    expect(() => chooseByCrossValidation(parts, [nan], { folds: 5, seed: 0 })).toThrow(/non-finite/);
    expect(() => chooseByCrossValidation(parts, [], { folds: 1, seed: 0 })).toThrow(RangeError);
  });
});
