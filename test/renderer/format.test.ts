/**
 * Pure UI formatting (src-renderer/src/lib/format.ts): integers, and the expected-miss line of
 * the tuning screen. The .svelte.ts state modules need the Svelte compiler and are not loaded here.
 */
import { describe, expect, it } from 'vitest';
import { fmtExpectedMiss, fmtInt, fmtRatePct } from '../../src-renderer/src/lib/format';

describe('fmtInt', () => {
  it('groups thousands exactly as toLocaleString(en-US), rounding; — when missing', () => {
    for (const v of [0, 7, -7, 999, 1000, -1000, 12345, 999_999, 1_000_000, -123_456_789, 2 ** 40, 1234.5, -1234.5, 0.4, -0.6]) {
      expect(fmtInt(v), String(v)).toBe(Math.round(v).toLocaleString('en-US'));
    }
    expect(fmtInt(null)).toBe('—');
    expect(fmtInt(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('fmtRatePct', () => {
  it('one decimal; two significant digits for tiny nonzero rates; — when missing', () => {
    expect(fmtRatePct(0.25)).toBe('25.0 %');
    expect(fmtRatePct(0)).toBe('0.0 %');
    expect(fmtRatePct(1)).toBe('100.0 %');
    expect(fmtRatePct(0.0296)).toBe('3.0 %');
    // 0 misses in 10 000: 1 − 0.05^(1/10000) ≈ 0.0002995 → "0.03 %", not "0.0 %"
    expect(fmtRatePct(0.0002995)).toBe('0.03 %');
    expect(fmtRatePct(0.00001234)).toBe('0.0012 %');
    expect(fmtRatePct(null)).toBe('—');
    expect(fmtRatePct(Number.NaN)).toBe('—');
  });
});

describe('fmtExpectedMiss', () => {
  it('rate, LOO and the number of defects, and the 95 % upper bound', () => {
    // 1 of 4 missed; one-sided Clopper–Pearson 0.7514 (test/services/threshold.test.ts)
    expect(fmtExpectedMiss({ defects: 4, rate: 0.25, upper95: 0.7513953742698181 })).toBe('Expected miss rate on new parts: 25.0 % (LOO, 4 defects; ≤ 75.1 % at 95 %)');
    // 0 of 10: 1 − 0.05^(1/10) = 0.25887
    expect(fmtExpectedMiss({ defects: 10, rate: 0, upper95: 0.2588655508930522 })).toBe('Expected miss rate on new parts: 0.0 % (LOO, 10 defects; ≤ 25.9 % at 95 %)');
    expect(fmtExpectedMiss({ defects: 12345, rate: 0, upper95: 0.0002426 })).toBe('Expected miss rate on new parts: 0.0 % (LOO, 12,345 defects; ≤ 0.024 % at 95 %)');
  });

  it('no estimate (fewer than 2 defects): a dash and no bound', () => {
    expect(fmtExpectedMiss({ defects: 1, rate: null, upper95: 1 })).toBe('Expected miss rate on new parts: — (LOO, 1 defect)');
    expect(fmtExpectedMiss({ defects: 0, rate: null, upper95: 1 })).toBe('Expected miss rate on new parts: — (LOO, 0 defects)');
  });
});
