/**
 * The API argument validators against arbitrary input (fast-check): whatever a renderer or a
 * page on the loopback host sends, a call either gets clean, typed arguments or a specific
 * INVALID_ARGUMENT error — never another exception, never a value of the wrong type.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { API_METHODS, type ApiMethod } from '../../src-main/shared/api';
import { isKensaError } from '../../src-main/shared/errors';
import { validateArgs } from '../../src-main/services/validate';

function outcome(method: ApiMethod, input: unknown): 'ok' | 'invalid' {
  try {
    validateArgs(method, input);
    return 'ok';
  } catch (e) {
    if (!isKensaError(e) || e.code !== 'INVALID_ARGUMENT') throw new Error(`${method}: threw ${String(e)} for ${JSON.stringify(input)}`);
    expect(e.message.startsWith(method)).toBe(true);
    return 'invalid';
  }
}

describe('validateArgs (property-based)', () => {
  it('any JSON value: clean arguments or INVALID_ARGUMENT, for every method', () => {
    fc.assert(
      fc.property(fc.constantFrom(...API_METHODS), fc.jsonValue(), (method, input) => {
        outcome(method, input);
      }),
      { numRuns: 3000 },
    );
  });

  it('objects with the right keys but arbitrary values never slip through with a wrong type', () => {
    const anything = fc.oneof(fc.string(), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string()), fc.object());
    fc.assert(
      fc.property(anything, anything, anything, (a, b, c) => {
        if (outcome('review.verdict', { imageId: a, verdict: b, defectType: c }) === 'ok') {
          const v = validateArgs('review.verdict', { imageId: a, verdict: b, defectType: c });
          expect(Number.isInteger(v.imageId) && v.imageId >= 1).toBe(true);
          expect(['good', 'defect']).toContain(v.verdict);
        }
        if (outcome('threshold.set', { value: a, reason: b }) === 'ok') {
          const v = validateArgs('threshold.set', { value: a, reason: b });
          expect(Number.isFinite(v.value)).toBe(true);
          expect(v.reason.trim().length).toBeGreaterThan(0);
        }
        if (outcome('images.import', { paths: a, role: b }) === 'ok') {
          const v = validateArgs('images.import', { paths: a, role: b });
          expect(v.paths.every((p) => typeof p === 'string' && !p.includes('\0'))).toBe(true);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('upload names can never address another folder', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (name) => {
        const r = outcome('images.upload', { files: [{ name, dataBase64: 'AAAA' }], role: 'inspect' });
        if (r === 'ok') expect(name.includes('/') || name.includes('\\') || name === '..' || name === '.' || name.trim() === '').toBe(false);
      }),
      { numRuns: 3000 },
    );
    for (const bad of ['../x.png', '..', 'a/b.png', 'c:\\x.png', '/etc/passwd']) expect(outcome('images.upload', { files: [{ name: bad, dataBase64: '' }], role: 'inspect' })).toBe('invalid');
  });

  it('huge payloads are refused with a size message, not processed', () => {
    expect(() => validateArgs('images.import', { paths: Array.from({ length: 10_001 }, () => '/x'), role: 'train' })).toThrow(/1 to 10,000 paths/);
    expect(() => validateArgs('app.setReviewer', { name: 'x'.repeat(81) })).toThrow(/longer than 80/);
    expect(() => validateArgs('review.verdict', { imageId: 1, verdict: 'defect', comment: 'x'.repeat(2001) })).toThrow(/longer than 2000/);
  });
});
