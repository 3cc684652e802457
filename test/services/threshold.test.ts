/**
 * Threshold tuning maths on small inputs whose answers are worked out by hand in the comments.
 * Convention throughout: flagged ⇔ score >= threshold (a tie is flagged, never passed).
 */
import { describe, expect, it } from 'vitest';
import { bandStats, EXPECTED_MISS_MIN_DEFECTS, expectedMissLoo, quantileSorted, tuningStats, zeroMissThreshold, type Margin, type TuningPart } from '../../src-main/services/threshold';

const defect = (score: number, defectType: string | null = null): TuningPart => ({ score, verdict: 'defect', defectType });
const good = (score: number): TuningPart => ({ score, verdict: 'good', defectType: null });

/** Walks any value and returns the paths of NaN / ±Infinity numbers found (`allow` paths excepted). */
function nonFinite(v: unknown, at = '$', allow: RegExp[] = []): string[] {
  if (typeof v === 'number') return Number.isFinite(v) || allow.some((r) => r.test(at)) ? [] : [at];
  if (Array.isArray(v)) return v.flatMap((x, i) => nonFinite(x, `${at}[${i}]`, allow));
  if (v !== null && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => nonFinite(x, `${at}.${k}`, allow));
  return [];
}
// The ROC curve starts at threshold +Infinity (the (0, 0) point); that one is on purpose.
const ROC_START = [/^\$\.roc\.thresholds\[0\]$/];

describe('quantileSorted (type 7, linear interpolation)', () => {
  it('interpolates between order statistics', () => {
    // s = [0.1, 0.2, 0.3, 0.5, 0.6], n = 5
    // p95: h = 4 · 0.95 = 3.8 → s[3] + 0.8 (s[4] − s[3]) = 0.5 + 0.08 = 0.58
    // p5:  h = 4 · 0.05 = 0.2 → s[0] + 0.2 (s[1] − s[0]) = 0.1 + 0.02 = 0.12
    expect(quantileSorted([0.1, 0.2, 0.3, 0.5, 0.6], 0.95)).toBeCloseTo(0.58, 12);
    expect(quantileSorted([0.1, 0.2, 0.3, 0.5, 0.6], 0.05)).toBeCloseTo(0.12, 12);
    expect(quantileSorted([7], 0.95)).toBe(7);
    expect(() => quantileSorted([], 0.5)).toThrow(/empty/);
  });
});

describe('zeroMissThreshold', () => {
  // defects 0.9, 0.7, 0.5 — goods 0.1, 0.2, 0.3, 0.5, 0.6
  const D = [0.9, 0.7, 0.5];
  const G = [0.1, 0.2, 0.3, 0.5, 0.6];

  it('raw = lowest defect score; absolute margin; ties with the threshold are flagged', () => {
    // raw = min(D) = 0.5. Margin 0.1 → threshold 0.4.
    // pg0 at 0.4: goods < 0.4 are 0.1, 0.2, 0.3 → 3/5.
    // pg0Raw at 0.5: goods < 0.5 are again 0.1, 0.2, 0.3 (the good at exactly 0.5 is FLAGGED) → 3/5.
    const z = zeroMissThreshold(D, G, { kind: 'absolute', value: 0.1 });
    expect(z).toMatchObject({ status: 'ok', raw: 0.5, spread: null, weakestDefect: 2, defects: 3, goods: 5, fewDefects: false, minDefects: 3 });
    if (z.status !== 'ok') throw new Error('unreachable');
    expect(z.threshold).toBeCloseTo(0.4, 12);
    expect(z.margin).toBe(0.1);
    expect(z.marginToWeakest).toBeCloseTo(0.1, 12);
    expect(z.pg0).toBeCloseTo(3 / 5, 12);
    expect(z.pg0Raw).toBeCloseTo(3 / 5, 12);
    // free margin: g* = highest good below 0.5 = 0.3 → gapHalf (0.5 − 0.3)/2 = 0.1, not larger than the margin → the margin is kept
    expect(z.freeMargin).toBeCloseTo(0.1, 12);
    expect(z.marginUsed).toBe('margin');
  });

  it('margin 0: the threshold is the weakest defect itself and still flags it (free margin off)', () => {
    const z = zeroMissThreshold(D, G, { kind: 'absolute', value: 0 }, { freeMargin: false });
    if (z.status !== 'ok') throw new Error('expected ok');
    expect(z.threshold).toBe(0.5);
    expect(z.marginToWeakest).toBe(0);
    expect(z).toMatchObject({ margin: 0, freeMargin: 0, marginUsed: 'margin' });
    expect(D.every((d) => d >= z.threshold)).toBe(true);
    // by default the empty gap 0.3 → 0.5 is used: 0.5 − 0.1 = 0.4; PG0 the same (3/5)
    const free = zeroMissThreshold(D, G, { kind: 'absolute', value: 0 });
    if (free.status !== 'ok') throw new Error('expected ok');
    expect(free).toMatchObject({ margin: 0, marginUsed: 'gap' });
    expect(free.freeMargin).toBeCloseTo(0.1, 12);
    expect(free.threshold).toBeCloseTo(0.4, 12);
    expect(free.marginToWeakest).toBeCloseTo(0.1, 12);
    expect(free.pg0).toBe(z.pg0);
  });

  it('spread margin = value · (p95(good) − p5(good))', () => {
    // goods 0, 1, ..., 20 (21 values): p95 → h = 20·0.95 = 19 → 19; p5 → h = 1 → 1; spread = 18.
    // value 0.25 → margin 4.5. defects 30, 12 → raw 12 → threshold 7.5.
    // goods < 7.5: 0..7 → 8 of 21. At raw 12: goods < 12: 0..11 → 12 of 21.
    const goods = Array.from({ length: 21 }, (_, i) => i);
    const z = zeroMissThreshold([30, 12], goods, { kind: 'spread', value: 0.25 });
    // free margin: g* = 11 → gapHalf 0.5 < 4.5 → the margin is kept
    expect(z).toMatchObject({ status: 'ok', raw: 12, spread: 18, margin: 4.5, freeMargin: 0.5, marginUsed: 'margin', threshold: 7.5, marginToWeakest: 4.5, weakestDefect: 1, fewDefects: true });
    if (z.status !== 'ok') throw new Error('unreachable');
    expect(z.pg0).toBeCloseTo(8 / 21, 12);
    expect(z.pg0Raw).toBeCloseTo(12 / 21, 12);
  });

  it('spread margin on the small set: spread 0.58 − 0.12 = 0.46, value 0.5 → margin 0.23', () => {
    // threshold 0.5 − 0.23 = 0.27; goods < 0.27: 0.1, 0.2 → 2/5 (gapHalf 0.1 < 0.23: the margin is kept)
    const z = zeroMissThreshold(D, G, { kind: 'spread', value: 0.5 });
    if (z.status !== 'ok') throw new Error('expected ok');
    expect(z.marginUsed).toBe('margin');
    expect(z.spread).toBeCloseTo(0.46, 12);
    expect(z.margin).toBeCloseTo(0.23, 12);
    expect(z.threshold).toBeCloseTo(0.27, 12);
    expect(z.pg0).toBeCloseTo(2 / 5, 12);
  });

  it('ties: a good part tied with the weakest defect is flagged at margin 0', () => {
    // defects 2, 2; goods 2, 1 → raw 2; goods < 2: only 1 → pg0 = 1/2. Weakest: first on ties (index 0).
    const z = zeroMissThreshold([2, 2], [2, 1], { kind: 'absolute', value: 0 }, { freeMargin: false });
    expect(z).toMatchObject({ status: 'ok', raw: 2, threshold: 2, pg0: 0.5, pg0Raw: 0.5, weakestDefect: 0 });
    // free margin: the tied good is not BELOW raw, so g* = 1 → gapHalf 0.5 → threshold 1.5; the tied good stays flagged
    expect(zeroMissThreshold([2, 2], [2, 1], { kind: 'absolute', value: 0 })).toMatchObject({ status: 'ok', raw: 2, threshold: 1.5, freeMargin: 0.5, marginUsed: 'gap', pg0: 0.5, pg0Raw: 0.5 });
  });

  it('all scores equal: every good part is flagged, spread is 0', () => {
    // defects 1, 1; goods 1, 1, 1 → raw 1; goods < 1: none → pg0 = 0. p95 = p5 = 1 → spread 0 → threshold 1.
    // no good part below raw → no free margin
    expect(zeroMissThreshold([1, 1], [1, 1, 1], { kind: 'absolute', value: 0 })).toMatchObject({ status: 'ok', raw: 1, threshold: 1, freeMargin: 0, marginUsed: 'margin', pg0: 0 });
    expect(zeroMissThreshold([1, 1], [1, 1, 1], { kind: 'spread', value: 2 })).toMatchObject({ status: 'ok', raw: 1, threshold: 1, spread: 0, margin: 0, pg0: 0 });
  });

  it('one defect: defined, flagged as too few (minDefects configurable)', () => {
    // defect 0.8; goods 0.2, 0.9 → raw 0.8; goods < 0.8: 0.2 → 1/2.
    // free margin: g* = 0.2 → gapHalf 0.3 → threshold 0.5; goods < 0.5: 0.2 → still 1/2.
    const z = zeroMissThreshold([0.8], [0.2, 0.9], { kind: 'absolute', value: 0 });
    expect(z).toMatchObject({ status: 'ok', raw: 0.8, marginUsed: 'gap', pg0: 0.5, weakestDefect: 0, defects: 1, fewDefects: true, minDefects: 3 });
    if (z.status === 'ok') expect(z.threshold).toBeCloseTo(0.5, 12);
    expect(zeroMissThreshold([0.8], [0.2, 0.9], { kind: 'absolute', value: 0 }, { freeMargin: false })).toMatchObject({ threshold: 0.8, pg0: 0.5 });
    expect(zeroMissThreshold([0.8], [0.2, 0.9], { kind: 'absolute', value: 0 }, { minDefects: 1 })).toMatchObject({ fewDefects: false, minDefects: 1 });
  });

  it('no defects reviewed yet: an explicit status, nothing NaN', () => {
    expect(zeroMissThreshold([], [0.1, 0.2], { kind: 'absolute', value: 0.1 })).toEqual({ status: 'no-defects' });
    expect(zeroMissThreshold([], [], { kind: 'spread', value: 1 })).toEqual({ status: 'no-defects' });
  });

  it('no good parts: PG0 is null (undefined share), a spread margin falls back to 0', () => {
    // defects 0.4, 0.6 → raw 0.4; absolute 0.1 → 0.3
    const abs = zeroMissThreshold([0.4, 0.6], [], { kind: 'absolute', value: 0.1 });
    expect(abs).toMatchObject({ status: 'ok', raw: 0.4, pg0: null, pg0Raw: null, goods: 0, spread: null, freeMargin: 0, marginUsed: 'margin' });
    if (abs.status === 'ok') expect(abs.threshold).toBeCloseTo(0.3, 12);
    expect(zeroMissThreshold([0.4, 0.6], [], { kind: 'spread', value: 1 })).toMatchObject({ status: 'ok', raw: 0.4, threshold: 0.4, margin: 0, spread: null, pg0: null });
    expect(nonFinite(abs)).toEqual([]);
  });

  it('free margin: half the empty gap below the weakest defect, when wider than the margin', () => {
    // defects 10, 12; goods 2, 4, 11; absolute margin 0.5.
    // raw = 10; g* = highest good BELOW 10 = 4 (11 is above raw); gapHalf = (10 − 4)/2 = 3 > 0.5
    // → threshold 10 − 3 = 7. Goods < 7: 2, 4 → PG0 2/3 — as with the margin alone (9.5: 2, 4) and at raw.
    const z = zeroMissThreshold([10, 12], [2, 4, 11], { kind: 'absolute', value: 0.5 });
    expect(z).toMatchObject({ status: 'ok', raw: 10, threshold: 7, margin: 0.5, freeMargin: 3, marginUsed: 'gap', marginToWeakest: 3 });
    const off = zeroMissThreshold([10, 12], [2, 4, 11], { kind: 'absolute', value: 0.5 }, { freeMargin: false });
    expect(off).toMatchObject({ status: 'ok', raw: 10, threshold: 9.5, margin: 0.5, freeMargin: 0, marginUsed: 'margin', marginToWeakest: 0.5 });
    if (z.status !== 'ok' || off.status !== 'ok') throw new Error('unreachable');
    expect(z.pg0).toBeCloseTo(2 / 3, 12);
    expect(z.pg0).toBe(off.pg0);
    expect(z.pg0).toBe(z.pg0Raw);
    // leave-one-out with the gap rule:
    //   leave out 10: raw 12, g* = 11 → gapHalf 0.5, not > 0.5 → 12 − 0.5 = 11.5 → 10 < 11.5 MISSED
    //   leave out 12: raw 10, g* = 4 → 7 → 12 flagged                                 → 1/2
    expect(z.expectedMiss).toMatchObject({ looMisses: 1, defects: 2, rate: 0.5 });
  });

  it('free margin: a margin wider than half the gap is kept', () => {
    // defects 10, 12; goods 2, 4, 9; absolute 2: g* = 9 → gapHalf 0.5 < 2 → threshold 8.
    // Goods < 8: 2, 4 → PG0 2/3 (the good at 9 is flagged by the configured margin, as without the free margin).
    const z = zeroMissThreshold([10, 12], [2, 4, 9], { kind: 'absolute', value: 2 });
    expect(z).toMatchObject({ status: 'ok', raw: 10, threshold: 8, margin: 2, freeMargin: 0.5, marginUsed: 'margin', marginToWeakest: 2 });
    if (z.status === 'ok') expect(z.pg0).toBeCloseTo(2 / 3, 12);
    expect(zeroMissThreshold([10, 12], [2, 4, 9], { kind: 'absolute', value: 2 }, { freeMargin: false })).toMatchObject({ threshold: 8, pg0: z.status === 'ok' ? z.pg0 : -1 });
  });

  it('free margin: none without a good part below the weakest defect', () => {
    // defects 10, 12; goods 10, 15 (none strictly below 10) → no gap → 10 − 0.5 = 9.5; PG0 0/2
    const z = zeroMissThreshold([10, 12], [10, 15], { kind: 'absolute', value: 0.5 });
    expect(z).toMatchObject({ status: 'ok', raw: 10, threshold: 9.5, freeMargin: 0, marginUsed: 'margin', marginToWeakest: 0.5, pg0: 0 });
  });

  it('free margin never changes the side of a reviewed good part (random cases)', () => {
    let a = 777;
    const rand = (): number => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      return a / 4294967296;
    };
    for (let c = 0; c < 300; c++) {
      const D = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.round(rand() * 40) / 8);
      const G = Array.from({ length: Math.floor(rand() * 12) }, () => Math.round(rand() * 40) / 8);
      const margin: Margin = { kind: 'absolute', value: Math.round(rand() * 8) / 8 };
      const on = zeroMissThreshold(D, G, margin);
      const off = zeroMissThreshold(D, G, margin, { freeMargin: false });
      if (on.status !== 'ok' || off.status !== 'ok') throw new Error('unreachable');
      const ctx = JSON.stringify({ D, G, margin });
      expect(on.threshold, ctx).toBeLessThanOrEqual(off.threshold);
      expect(on.marginToWeakest, ctx).toBeCloseTo(Math.max(on.margin, on.freeMargin), 12);
      expect(D.every((d) => d >= on.threshold), ctx).toBe(true);
      if (on.marginUsed === 'gap') {
        // every good passed at raw is passed at the proposal, every good flagged at raw stays flagged
        expect(G.every((g) => g < on.raw === g < on.threshold), ctx).toBe(true);
        expect(on.pg0, ctx).toBe(off.pg0);
      } else expect(on.threshold, ctx).toBe(off.threshold);
    }
  });

  it('rejects bad input with specific messages', () => {
    expect(() => zeroMissThreshold([NaN], [], { kind: 'absolute', value: 0 })).toThrow(/defectScores\[0\] must be a finite number/);
    expect(() => zeroMissThreshold([1], [Infinity], { kind: 'absolute', value: 0 })).toThrow(/goodScores\[0\]/);
    expect(() => zeroMissThreshold([1], [], { kind: 'absolute', value: -0.1 })).toThrow(/must not be negative/);
    expect(() => zeroMissThreshold([1], [], { kind: 'relative' as 'absolute', value: 0 })).toThrow(/margin.kind/);
    expect(() => zeroMissThreshold([1], [], { kind: 'absolute', value: 0 }, { minDefects: 0 })).toThrow(/minDefects/);
  });
});

describe('expectedMissLoo (leave-one-out miss rate of the zero-miss rule)', () => {
  const ABS0: Margin = { kind: 'absolute', value: 0 };
  // goods 0, 1, ..., 20: spread p95 − p5 = 19 − 1 = 18 (see zeroMissThreshold above)
  const GOODS21 = Array.from({ length: 21 }, (_, i) => i);

  it('defects 5, 6, 7, 20 with margin 0: only the weakest is missed → 1/4', () => {
    // leave out  5: others 6, 7, 20 → threshold 6 → 5 < 6 → MISSED
    // leave out  6: others 5, 7, 20 → threshold 5 → 6 ≥ 5 → flagged
    // leave out  7: threshold 5 → flagged;  leave out 20: threshold 5 → flagged
    // rate 1/4. Upper bound (one-sided 95 % Clopper–Pearson): P(X ≤ 1 | 4, p) = 0.05, i.e.
    // 4q³ − 3q⁴ = 0.05 with q = 1 − p: q = 0.25 → 0.05078, q = 0.2486 → 0.04999 → p ≈ 0.7514.
    const e = expectedMissLoo([5, 6, 7, 20], [], ABS0);
    expect(e).toMatchObject({ looMisses: 1, defects: 4, rate: 0.25, reliable: false });
    expect(e.upper95).toBeCloseTo(0.7514, 4);
    expect(e.method).toMatch(/leave-one-out.*one-sided 95 % Clopper–Pearson/);
    expect(e.note).toBe('Only 4 reviewed defects: too few for the expected miss rate to mean much (it needs at least 10). Keep reviewing flagged parts.');
    // the order of the defects does not matter, nor (free margin off, absolute margin) the goods
    expect(expectedMissLoo([20, 7, 5, 6], [1, 2], ABS0, { freeMargin: false })).toEqual(e);
    expect(expectedMissLoo([20, 7, 5, 6], [], ABS0)).toEqual(e);
  });

  it('the free margin in the folds: raw_i − max(m, (raw_i − g*_i)/2)', () => {
    // defects 5, 6, 7, 20; goods 1, 2; margin 0.
    //   leave out 5: raw 6, g* = 2 → gapHalf 2 → threshold 4 → 5 ≥ 4 flagged (missed with margin 0 alone)
    //   leave out 6, 7, 20: raw 5, g* = 2 → gapHalf 1.5 → 3.5 → flagged  → 0/4
    expect(expectedMissLoo([5, 6, 7, 20], [1, 2], ABS0)).toMatchObject({ looMisses: 0, defects: 4, rate: 0 });
    // goods 1, 5.5: fold "leave out 5": raw 6, g* = 5.5 → gapHalf 0.25 → 5.75 → 5 MISSED;
    //   the others: raw 5, g* = 1 → gapHalf 2 → 3 → flagged → 1/4
    expect(expectedMissLoo([5, 6, 7, 20], [1, 5.5], ABS0)).toMatchObject({ looMisses: 1, rate: 0.25 });
    //   with margin 1 > 0.25: 6 − 1 = 5 → 5 flagged (a tie) → 0/4
    expect(expectedMissLoo([5, 6, 7, 20], [1, 5.5], { kind: 'absolute', value: 1 })).toMatchObject({ looMisses: 0 });
    // goods 1, 6 (none strictly below 6 except 1): leave out 5: raw 6, g* = 1 → gapHalf 2.5 → 3.5 → flagged → 0/4
    expect(expectedMissLoo([5, 6, 7, 20], [1, 6], ABS0)).toMatchObject({ looMisses: 0 });
    // no good part below any raw_i: no free margin, the same as off
    expect(expectedMissLoo([5, 6, 7, 20], [8, 9], ABS0)).toEqual(expectedMissLoo([5, 6, 7, 20], [8, 9], ABS0, { freeMargin: false }));
    expect(expectedMissLoo([5, 6, 7, 20], [8, 9], ABS0)).toMatchObject({ looMisses: 1 });
  });

  it('an absolute margin at least the gap to the next defect catches the weakest one', () => {
    // margin 1: leave out 5 → 6 − 1 = 5 → 5 ≥ 5 → flagged (a tie is flagged); 0/4.
    // Upper bound with 0 misses: 1 − 0.05^(1/4) = 1 − 0.47287 = 0.52713.
    const e = expectedMissLoo([5, 6, 7, 20], [], { kind: 'absolute', value: 1 });
    expect(e).toMatchObject({ looMisses: 0, defects: 4, rate: 0 });
    expect(e.upper95).toBeCloseTo(0.52713, 5);
    // margin 0.99: threshold 5.01 → 5 missed again
    expect(expectedMissLoo([5, 6, 7, 20], [], { kind: 'absolute', value: 0.99 }).looMisses).toBe(1);
  });

  it('spread margin: value × (p95 − p5) of the good scores, as zeroMissThreshold computes it', () => {
    // goods 0..20 → spread 18; value 0.25 → margin 4.5.
    // defects 9, 12, 30: leave out 9 → 12 − 4.5 = 7.5 → 9 ≥ 7.5 → flagged;
    //   leave out 12 → 9 − 4.5 = 4.5 → flagged; leave out 30 → 4.5 → flagged → 0/3.
    //   Upper bound: 1 − 0.05^(1/3) = 1 − 0.36840 = 0.63160.
    const spread: Margin = { kind: 'spread', value: 0.25 };
    const a = expectedMissLoo([9, 12, 30], GOODS21, spread);
    expect(a).toMatchObject({ looMisses: 0, defects: 3, rate: 0 });
    expect(a.upper95).toBeCloseTo(0.6316, 4);
    // the same defects with margin 0: leave out 9 → threshold 12 → 9 missed → 1/3
    expect(expectedMissLoo([9, 12, 30], GOODS21, ABS0)).toMatchObject({ looMisses: 1, rate: 1 / 3 });
    // defects 5, 12, 30: leave out 5 → 7.5 → 5 < 7.5 → MISSED; the others flagged → 1/3.
    //   Upper bound: P(X ≤ 1 | 3, p) = q³ + 3pq² = 3q² − 2q³ = 0.05 → q ≈ 0.1354 → p ≈ 0.8646.
    const b = expectedMissLoo([5, 12, 30], GOODS21, spread);
    expect(b).toMatchObject({ looMisses: 1, defects: 3 });
    expect(b.rate).toBeCloseTo(1 / 3, 12);
    expect(b.upper95).toBeCloseTo(0.8646, 4);
    // no good parts: no spread, margin 0 (as zeroMissThreshold) → 5 < 12 missed
    expect(expectedMissLoo([9, 12, 30], [], spread).looMisses).toBe(1);
  });

  it('ties: a defect tied with the weakest other defect is flagged', () => {
    // 5, 5, 9 margin 0: leaving out either 5 leaves the other 5 → threshold 5 → flagged; 0/3
    expect(expectedMissLoo([5, 5, 9], [], ABS0)).toMatchObject({ looMisses: 0, rate: 0 });
    // all equal
    expect(expectedMissLoo([2, 2], [2], ABS0)).toMatchObject({ looMisses: 0, defects: 2, rate: 0 });
  });

  it('each fold is exactly zeroMissThreshold on the other defects (random cases)', () => {
    let a = 12345;
    const rand = (): number => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0;
      return a / 4294967296;
    };
    for (let c = 0; c < 200; c++) {
      const nD = 2 + Math.floor(rand() * 12);
      const nG = Math.floor(rand() * 15);
      // coarse scores so that ties happen
      const D = Array.from({ length: nD }, () => Math.round(rand() * 20) / 4);
      const G = Array.from({ length: nG }, () => Math.round(rand() * 20) / 4);
      const margin: Margin = rand() < 0.5 ? { kind: 'absolute', value: Math.round(rand() * 8) / 8 } : { kind: 'spread', value: Math.round(rand() * 8) / 16 };
      const opts = { freeMargin: rand() < 0.5 };
      let misses = 0;
      D.forEach((d, i) => {
        const z = zeroMissThreshold([...D.slice(0, i), ...D.slice(i + 1)], G, margin, opts);
        if (z.status !== 'ok') throw new Error('unreachable: n ≥ 2');
        if (d < z.threshold) misses++;
      });
      const e = expectedMissLoo(D, G, margin, opts);
      expect(e.looMisses, JSON.stringify({ D, G, margin, opts })).toBe(misses);
      const z = zeroMissThreshold(D, G, margin, opts);
      if (z.status === 'ok') expect(z.expectedMiss).toEqual(e);
    }
  });

  it(`not reliable below ${EXPECTED_MISS_MIN_DEFECTS} defects, with the reason in words`, () => {
    expect(EXPECTED_MISS_MIN_DEFECTS).toBe(10);
    // 1..9 with margin 1: leave out 1 → 2 − 1 = 1 → flagged; 0/9. Upper 1 − 0.05^(1/9) = 0.28313.
    const nine = expectedMissLoo([1, 2, 3, 4, 5, 6, 7, 8, 9], [], { kind: 'absolute', value: 1 });
    expect(nine).toMatchObject({ looMisses: 0, defects: 9, rate: 0, reliable: false });
    expect(nine.upper95).toBeCloseTo(0.28313, 5);
    expect(nine.note).toBe('Only 9 reviewed defects: too few for the expected miss rate to mean much (it needs at least 10). Keep reviewing flagged parts.');
    // 1..10: 0/10 → reliable; upper 1 − 0.05^(1/10) = 0.25887 (rule of three: 3/10 = 0.3)
    const ten = expectedMissLoo([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [], { kind: 'absolute', value: 1 });
    expect(ten).toMatchObject({ looMisses: 0, defects: 10, rate: 0, reliable: true });
    expect(ten.upper95).toBeCloseTo(0.25887, 5);
    expect(ten.note).toBe('Each of the 10 reviewed defects was left out in turn and checked against the zero-miss threshold of the other 9, with the same margin; 0 would have been passed.');
  });

  it('0 and 1 defects: no estimate (rate null, bound 1), never NaN', () => {
    const none = expectedMissLoo([], [0.1, 0.2], ABS0);
    expect(none).toMatchObject({ looMisses: 0, defects: 0, rate: null, upper95: 1, reliable: false });
    expect(none.note).toBe('No reviewed defects: the miss rate on new parts cannot be estimated yet.');
    expect(nonFinite(none)).toEqual([]);
    // one defect: its fold has no other defect, so no threshold (zeroMissThreshold says 'no-defects')
    const one = expectedMissLoo([0.8], [0.2, 0.9], { kind: 'spread', value: 0.5 });
    expect(one).toMatchObject({ looMisses: 0, defects: 1, rate: null, upper95: 1, reliable: false });
    expect(one.note).toMatch(/^Only 1 reviewed defect: with it left out there is no other defect to set a threshold from/);
    expect(nonFinite(one)).toEqual([]);
    // inside the zero-miss result: present on 'ok' (n = 1), absent on 'no-defects' (n = 0)
    expect(zeroMissThreshold([0.8], [0.2, 0.9], ABS0)).toMatchObject({ status: 'ok', expectedMiss: { defects: 1, rate: null } });
    expect(zeroMissThreshold([], [0.2], ABS0)).toEqual({ status: 'no-defects' });
  });

  it('rejects bad input', () => {
    expect(() => expectedMissLoo([1, NaN], [], ABS0)).toThrow(/defectScores\[1\] must be a finite number/);
    expect(() => expectedMissLoo([1, 2], [Infinity], ABS0)).toThrow(/goodScores\[0\]/);
    expect(() => expectedMissLoo([1, 2], [], { kind: 'absolute', value: -1 })).toThrow(/must not be negative/);
  });
});

describe('tuningStats', () => {
  // defects 0.9, 0.7, 0.5 — goods 0.1, 0.2, 0.3, 0.5, 0.6 — threshold 0.5
  const parts = [defect(0.9, 'scratch'), defect(0.7, 'pit'), defect(0.5, 'scratch'), good(0.1), good(0.2), good(0.3), good(0.5), good(0.6)];

  it('confusion matrix, recall, precision, rates at the threshold (ties flagged)', () => {
    // defects: all >= 0.5 → TP 3, FN 0. goods: 0.5 (tie) and 0.6 flagged → FP 2; 0.1, 0.2, 0.3 → TN 3.
    // recall 3/3; precision 3/(3+2) = 0.6; false alarms 2/5; good passed 3/5.
    const s = tuningStats(parts, 0.5);
    expect(s.confusion).toEqual({ tp: 3, fn: 0, fp: 2, tn: 3 });
    expect(s).toMatchObject({ threshold: 0.5, reviewed: 8, defects: 3, goods: 5, recall: 1, precision: 0.6, falseAlarmRate: 0.4, goodPassed: 0.6 });
    // Raise the threshold just above 0.5: the defect at 0.5 is MISSED and the tied good passes.
    // TP 2 (0.9, 0.7), FN 1; FP 1 (0.6), TN 4 → recall 2/3, precision 2/3.
    const up = tuningStats(parts, 0.55);
    expect(up.confusion).toEqual({ tp: 2, fn: 1, fp: 1, tn: 4 });
    expect(up.recall).toBeCloseTo(2 / 3, 12);
    expect(up.precision).toBeCloseTo(2 / 3, 12);
  });

  it('ROC / PR / AUROC come from metrics.ts', () => {
    // AUROC = P(d > g) + ½ P(tie) over 15 pairs: 0.9 beats 5, 0.7 beats 5, 0.5 beats 3 and ties 1 → 13.5/15 = 0.9
    const s = tuningStats(parts, 0.5);
    expect(s.auroc).toBeCloseTo(0.9, 12);
    // distinct scores descending: 0.9, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1 → 7 points + the (0, 0) start
    expect(s.roc!.thresholds).toEqual([Infinity, 0.9, 0.7, 0.6, 0.5, 0.3, 0.2, 0.1]);
    expect(s.roc!.tpr).toEqual([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1, 1]);
    expect(s.roc!.fpr).toEqual([0, 0, 0, 1 / 5, 2 / 5, 3 / 5, 4 / 5, 1]);
    // PR at 0.5: TP 3, FP 2 → precision 0.6, recall 1 (the 4th point)
    expect(s.pr!.thresholds[3]).toBe(0.5);
    expect(s.pr!.precision[3]).toBeCloseTo(0.6, 12);
    expect(s.pr!.recall[3]).toBe(1);
    expect(nonFinite(s, '$', ROC_START)).toEqual([]);
  });

  it('per-defect-type recall, sorted by type, untyped last', () => {
    // at 0.5: scratch 0.9 flagged, scratch 0.3 missed → 1/2; pit 0.6 → 1/1; untyped 0.2 missed → 0/1
    const s = tuningStats([defect(0.9, 'scratch'), defect(0.3, 'scratch'), defect(0.6, 'pit'), defect(0.2), good(0.1)], 0.5);
    expect(s.byDefectType).toEqual([
      { defectType: 'pit', defects: 1, flagged: 1, missed: 0, recall: 1 },
      { defectType: 'scratch', defects: 2, flagged: 1, missed: 1, recall: 0.5 },
      { defectType: null, defects: 1, flagged: 0, missed: 1, recall: 0 },
    ]);
    expect(s.confusion).toEqual({ tp: 2, fn: 2, fp: 0, tn: 1 });
  });

  it('review load counts every scored part, reviewed or not', () => {
    // reviewed: 0.9, 0.3, 0.6, 0.2, 0.1 → flagged at 0.5: 0.9, 0.6 (2)
    // unreviewed: 0.1, 0.55, 0.7 → flagged: 0.55, 0.7 (2)  → 4 of 8 = 0.5
    const s = tuningStats([defect(0.9, 'scratch'), defect(0.3, 'scratch'), defect(0.6, 'pit'), defect(0.2), good(0.1)], 0.5, { unreviewedScores: [0.1, 0.55, 0.7] });
    expect(s.reviewLoad).toEqual({ flagged: 4, total: 8, share: 0.5 });
    // only unreviewed parts: 1 of 2 flagged (0.5 ties → flagged)
    expect(tuningStats([], 0.5, { unreviewedScores: [0.5, 0.4] }).reviewLoad).toEqual({ flagged: 1, total: 2, share: 0.5 });
    // nothing scored at all
    expect(tuningStats([], 0.5).reviewLoad).toEqual({ flagged: 0, total: 0, share: null });
  });

  it('histogram: fixed bins, the three series, log heights', () => {
    // goods 0.1 ×3, defect 0.9, unreviewed 0.5, threshold 0.5; range = [0.1, 0.9]; 2 bins of 0.4:
    // [0.1, 0.5) ← the three goods; [0.5, 0.9] ← the defect (0.9, closed last bin) and the unreviewed 0.5
    const s = tuningStats([good(0.1), good(0.1), good(0.1), defect(0.9)], 0.5, { bins: 2, log: true, unreviewedScores: [0.5] });
    const h = s.histogram;
    expect(h.edges).toEqual([0.1, 0.5, 0.9]);
    expect(h.counts).toEqual({ good: [3, 0], defect: [0, 1], unreviewed: [0, 1] });
    expect(h.log).toBe(true);
    expect(h.heights.good[0]).toBeCloseTo(Math.log10(4), 12);
    expect(h.heights.defect[1]).toBeCloseTo(Math.log10(2), 12);
    expect(h.maxHeight).toBeCloseTo(Math.log10(4), 12);
    const lin = tuningStats([good(0.1), good(0.1), good(0.1), defect(0.9)], 0.5, { bins: 2 }).histogram;
    expect(lin.heights).toEqual(lin.counts);
    // a custom range clamps outliers into the end bins
    expect(tuningStats([good(-5), defect(50)], 0.5, { bins: 4, range: [0, 1] }).histogram.counts).toEqual({ good: [1, 0, 0, 0], defect: [0, 0, 0, 1], unreviewed: [0, 0, 0, 0] });
  });

  it('all scores equal: defined everywhere', () => {
    // defects 1, 1; goods 1, 1, 1; threshold 1 → all flagged: TP 2, FP 3, recall 1, precision 2/5, AUROC ½ (all ties).
    // Histogram range [0.5, 1.5] (unit range around the common value), 4 bins of 0.25 → bin 2.
    const s = tuningStats([defect(1), defect(1), good(1), good(1), good(1)], 1, { bins: 4 });
    expect(s.confusion).toEqual({ tp: 2, fn: 0, fp: 3, tn: 0 });
    expect(s).toMatchObject({ recall: 1, precision: 0.4, goodPassed: 0, auroc: 0.5 });
    expect(s.histogram.edges).toEqual([0.5, 0.75, 1, 1.25, 1.5]);
    expect(s.histogram.counts.good).toEqual([0, 0, 3, 0]);
    expect(s.zeroMiss).toMatchObject({ status: 'ok', raw: 1, threshold: 1, pg0: 0 });
    expect(nonFinite(s, '$', ROC_START)).toEqual([]);
  });

  it('no defects reviewed yet: recall / PR / AUROC null, zero-miss says so, nothing NaN', () => {
    const s = tuningStats([good(0.1), good(0.4), good(0.6)], 0.5, { margin: { kind: 'spread', value: 0.5 } });
    expect(s).toMatchObject({ defects: 0, goods: 3, recall: null, pr: null, roc: null, auroc: null, byDefectType: [], zeroMiss: { status: 'no-defects' } });
    // FP 1 (0.6), TN 2 → precision 0/1 = 0 (something is flagged), false alarms 1/3
    expect(s.confusion).toEqual({ tp: 0, fn: 0, fp: 1, tn: 2 });
    expect(s.precision).toBe(0);
    expect(s.falseAlarmRate).toBeCloseTo(1 / 3, 12);
    expect(nonFinite(s)).toEqual([]);
    // and nothing at all
    const none = tuningStats([], 0.5);
    expect(none).toMatchObject({ reviewed: 0, recall: null, precision: null, falseAlarmRate: null, goodPassed: null, zeroMiss: { status: 'no-defects' } });
    expect(nonFinite(none)).toEqual([]);
  });

  it('no good parts: precision defined, good-part rates null', () => {
    // defects 0.4, 0.6 at 0.5: TP 1, FN 1 → recall ½, precision 1/1
    const s = tuningStats([defect(0.4), defect(0.6)], 0.5);
    expect(s).toMatchObject({ recall: 0.5, precision: 1, falseAlarmRate: null, goodPassed: null, roc: null, auroc: null });
    expect(s.zeroMiss).toMatchObject({ status: 'ok', raw: 0.4, pg0: null });
    expect(nonFinite(s)).toEqual([]);
  });

  it('zero-miss with the margin and minDefects passed through', () => {
    // raw 0.5, absolute 0.1 → 0.4, pg0 3/5 (see zeroMissThreshold above); minDefects 4 > 3 defects → fewDefects
    const s = tuningStats(parts, 0.5, { margin: { kind: 'absolute', value: 0.1 }, minDefects: 4 });
    expect(s.zeroMiss).toMatchObject({ status: 'ok', raw: 0.5, fewDefects: true, minDefects: 4, marginUsed: 'margin' });
    if (s.zeroMiss.status === 'ok') expect(s.zeroMiss.pg0).toBeCloseTo(0.6, 12);
    // leave-one-out with the same margin: defects 0.9, 0.7, 0.5 → leave out 0.5: 0.7 − 0.1 = 0.6 → 0.5 missed → 1/3
    // (free margin there: raw 0.7, g* 0.6 → gapHalf 0.05 < 0.1, no change)
    if (s.zeroMiss.status === 'ok') expect(s.zeroMiss.expectedMiss).toMatchObject({ looMisses: 1, defects: 3, reliable: false });
    // the free margin option passes through: margin 0, off → threshold 0.5; on (default) → 0.4
    expect(tuningStats(parts, 0.5, { freeMargin: false }).zeroMiss).toMatchObject({ threshold: 0.5, marginUsed: 'margin' });
    expect(tuningStats(parts, 0.5).zeroMiss).toMatchObject({ marginUsed: 'gap' });
  });

  it('rejects bad input', () => {
    expect(() => tuningStats([good(NaN)], 0.5)).toThrow(/parts\[0\]\.score must be a finite number/);
    expect(() => tuningStats([{ score: 1, verdict: 'maybe' as 'good', defectType: null }], 0.5)).toThrow(/verdict must be 'good' or 'defect'/);
    expect(() => tuningStats([], NaN)).toThrow(/threshold must be a finite number/);
    expect(() => tuningStats([], 0.5, { unreviewedScores: [1, NaN] })).toThrow(/unreviewedScores\[1\]/);
    expect(() => tuningStats([], 0.5, { bins: 0 })).toThrow(/bins/);
    expect(() => tuningStats([], 0.5, { range: [1, 1] })).toThrow(/range/);
  });
});

describe('bandStats (pass / human review / reject)', () => {
  // defects 0.9, 0.45, 0.65; goods 0.2, 0.5, 0.85; unreviewed 0.3, 0.7, 0.95; pass 0.5, reject 0.8
  const parts = [defect(0.9), defect(0.45), defect(0.65), good(0.2), good(0.5), good(0.85)];
  const unreviewedScores = [0.3, 0.7, 0.95];

  it('counts per band; defects in the pass band are misses; ties go up a band', () => {
    // pass   (< 0.5):       defect 0.45 (MISSED), good 0.2, unreviewed 0.3
    // review ([0.5, 0.8)):  good 0.5 (tie with pass → reviewed), defect 0.65, unreviewed 0.7
    // reject (>= 0.8):      defect 0.9, good 0.85 (a good part rejected), unreviewed 0.95
    const b = bandStats(parts, 0.5, 0.8, { unreviewedScores });
    expect(b.passBand).toEqual({ total: 3, good: 1, defect: 1, unreviewed: 1 });
    expect(b.reviewBand).toEqual({ total: 3, good: 1, defect: 1, unreviewed: 1 });
    expect(b.rejectBand).toEqual({ total: 3, good: 1, defect: 1, unreviewed: 1 });
    expect(b).toMatchObject({ pass: 0.5, reject: 0.8, missed: 1, goodRejected: 1 });
    expect(b.reviewShare).toBeCloseTo(1 / 3, 12);
    // a score exactly at the reject threshold is rejected
    expect(bandStats([good(0.8)], 0.5, 0.8).rejectBand.good).toBe(1);
  });

  it('pass = reject: no review band; reject below pass is refused; empty is defined', () => {
    const b = bandStats(parts, 0.5, 0.5);
    expect(b.reviewBand.total).toBe(0);
    expect(b.missed).toBe(1);
    expect(() => bandStats(parts, 0.8, 0.5)).toThrow(/must not be below the pass threshold/);
    expect(bandStats([], 0.5, 0.8)).toMatchObject({ missed: 0, goodRejected: 0, reviewShare: null });
  });
});
