/**
 * One-sided Clopper–Pearson upper bound (engine/core/holdout.ts). Small cases are solved by
 * hand in the comments; the larger reference values are Beta quantiles,
 * scipy.stats.beta.ppf(0.95, k + 1, n − k), computed once outside the repo.
 */
import { describe, expect, it } from 'vitest';
import { binomialCdf, clopperPearsonUpper } from '../../../src-main/engine/core/holdout';

describe('binomialCdf', () => {
  it('matches hand sums', () => {
    // n = 4, p = ½: P(X ≤ 1) = (1 + 4) / 16 = 0.3125
    expect(binomialCdf(1, 4, 0.5)).toBeCloseTo(0.3125, 14);
    // n = 3, p = 0.2: P(X ≤ 0) = 0.8³ = 0.512; P(X ≤ 3) = 1
    expect(binomialCdf(0, 3, 0.2)).toBeCloseTo(0.512, 14);
    expect(binomialCdf(3, 3, 0.2)).toBeCloseTo(1, 14);
    expect(binomialCdf(2, 5, 0)).toBe(1);
    expect(binomialCdf(2, 5, 1)).toBe(0);
  });

  it('large n neither underflows nor overflows', () => {
    // n = 100 000, p = 1e-4: X ≈ Poisson(10), P(X ≤ 10) ≈ 0.58304; the binomial value is
    // scipy.stats.binom.cdf(10, 100000, 1e-4) = 0.5830397502972542. (1 − p)^n alone is e^−10.
    expect(binomialCdf(10, 100_000, 1e-4)).toBeCloseTo(0.5830397502972542, 10);
    // far tail: P(X ≤ 0 | 10 000, ½) = 2^−10000 underflows to 0, never NaN
    expect(binomialCdf(0, 10_000, 0.5)).toBe(0);
  });
});

describe('clopperPearsonUpper (one-sided, 95 %)', () => {
  it('0 events in n: 1 − 0.05^(1/n), the rule of three (≈ 3/n)', () => {
    // n = 1: 1 − 0.05 = 0.95
    expect(clopperPearsonUpper(0, 1)).toBeCloseTo(0.95, 14);
    // n = 10: 0.05^0.1 = e^(−0.29957) = 0.74113 → 0.25887 (3/n = 0.3)
    expect(clopperPearsonUpper(0, 10)).toBeCloseTo(0.2588655508930522, 12);
    // n = 300: ≈ 2.996/300 ≈ 0.00994
    expect(clopperPearsonUpper(0, 300)).toBeCloseTo(-Math.expm1(Math.log(0.05) / 300), 14);
    expect(clopperPearsonUpper(0, 300)).toBeLessThan(3 / 300);
  });

  it('1 event in 2: 1 − p² = 0.05 → p = √0.95', () => {
    // P(X ≤ 1 | 2, p) = 1 − p² (only X = 2 is excluded)
    expect(clopperPearsonUpper(1, 2)).toBeCloseTo(Math.sqrt(0.95), 12); // 0.974679…
  });

  it('1 event in 4 (the leave-one-out example): 0.75140', () => {
    // P(X ≤ 1 | 4, p) = q⁴ + 4pq³ = 4q³ − 3q⁴ with q = 1 − p; set it to 0.05:
    //   q = 0.25   → 0.0625 − 0.01172 = 0.05078 (> 0.05)
    //   q = 0.2486 → 0.06146 − 0.01146 = 0.04999 (≈ 0.05)  → p ≈ 0.7514
    const u = clopperPearsonUpper(1, 4);
    expect(u).toBeCloseTo(0.7513953742698181, 10);
    expect(binomialCdf(1, 4, u)).toBeCloseTo(0.05, 12);
  });

  it('matches Beta quantiles on larger cases', () => {
    expect(clopperPearsonUpper(1, 3)).toBeCloseTo(0.8646496378284161, 10);
    expect(clopperPearsonUpper(3, 20)).toBeCloseTo(0.3436638043142818, 10);
    expect(clopperPearsonUpper(5, 10)).toBeCloseTo(0.7775588989918706, 10);
    expect(clopperPearsonUpper(50, 1000)).toBeCloseTo(0.06286340351237973, 10);
  });

  it('all events, or no trials: 1', () => {
    expect(clopperPearsonUpper(4, 4)).toBe(1);
    expect(clopperPearsonUpper(0, 0)).toBe(1);
  });

  it('grows with k, shrinks with n, and lies above k / n', () => {
    for (let n = 1; n <= 30; n++) {
      let prev = -1;
      for (let k = 0; k <= n; k++) {
        const u = clopperPearsonUpper(k, n);
        expect(u).toBeGreaterThan(prev);
        expect(u).toBeGreaterThanOrEqual(k / n);
        if (k < n) expect(u).toBeGreaterThan(clopperPearsonUpper(k, n + 1));
        prev = u;
      }
    }
  });

  it('other confidence levels', () => {
    // 0 of 10 at 90 %: 1 − 0.1^0.1 = 0.20567
    expect(clopperPearsonUpper(0, 10, 0.9)).toBeCloseTo(1 - 0.1 ** 0.1, 12);
    expect(clopperPearsonUpper(3, 20, 0.99)).toBeGreaterThan(clopperPearsonUpper(3, 20, 0.95));
  });

  it('rejects bad input', () => {
    expect(() => clopperPearsonUpper(-1, 3)).toThrow(/k must be a non-negative integer/);
    expect(() => clopperPearsonUpper(1.5, 3)).toThrow(/k must be a non-negative integer/);
    expect(() => clopperPearsonUpper(1, Number.NaN)).toThrow(/n must be a non-negative integer/);
    expect(() => clopperPearsonUpper(4, 3)).toThrow(/must not exceed n/);
    expect(() => clopperPearsonUpper(1, 3, 1)).toThrow(/confidence/);
    expect(() => clopperPearsonUpper(1, 3, 0)).toThrow(/confidence/);
  });
});
