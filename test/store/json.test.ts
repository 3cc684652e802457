/**
 * canonicalJson (src-main/store/json.ts), the text the audit chain hashes: keys sorted
 * recursively, no whitespace, undefined members dropped, values JSON cannot carry refused,
 * and numbers that round-trip through SQLite REAL columns unchanged.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src-main/store/index';

describe('canonicalJson', () => {
  it('sorts keys recursively and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 'x' })).toBe('{"b":"x"}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
    expect(canonicalJson('é\n"')).toBe('"é\\n\\""');
  });

  it('refuses what JSON cannot carry faithfully', () => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 10n, () => 1, new Date(), new Map(), { x: Number.NaN }]) {
      expect(() => canonicalJson(bad)).toThrow(/cannot be stored as JSON|only plain objects/);
    }
  });

  it('is the same for equal values whatever the key order, and parses back to the value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }), (v) => {
        const text = canonicalJson(v);
        const back = JSON.parse(text) as unknown;
        expect(canonicalJson(back)).toBe(text);
        const shuffled = JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).reverse()) : x))) as unknown;
        expect(canonicalJson(shuffled)).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
