/**
 * PatchCore image score (Eq. 6–7) on a case small enough to do by hand.
 *
 *   test patches (2-D):  p0 = (0, 1)   p1 = (3, 4)   p2 = (3, 1)
 *   bank:                m0 = (0, 0)   m1 = (3, 0)   m2 = (6, 8)   m3 = (0, 10)
 *
 *   nearest bank entry of each patch (Eq. 6 inner min):
 *     p0: ‖p0−m0‖ = 1,  ‖p0−m1‖ = √10,  ...                 → m0, s = 1
 *     p1: ‖p1−m0‖ = 5,  ‖p1−m1‖ = 4,  ‖p1−m2‖ = 5,  ‖p1−m3‖ = √45 → m1, s = 4
 *     p2: ‖p2−m1‖ = 1                                         → m1, s = 1
 *   s* = max = 4 at p1 (m_test,* = p1), m* = m1.
 *
 *   𝒩_3(m1), m1 first, then by distance from m1 = (3,0):
 *     ‖m1−m0‖ = 3,  ‖m1−m2‖ = √73 ≈ 8.54,  ‖m1−m3‖ = √109 ≈ 10.44   → [m1, m0, m2]
 *   distances of p1 to them: 4, 5, 5
 *   w = 1 − e⁴ / (e⁴ + e⁵ + e⁵) = 1 − 1 / (1 + 2e) = 1 − 1/6.436564 = 1 − 0.1553624 = 0.8446376
 *   s = w · s* = 4 · 0.8446376 = 3.3785504
 */
import { describe, it, expect } from 'vitest';
import { imageScore } from '../../../src-main/engine/core/scoring';

const dim = 2;
const patches = Float32Array.of(0, 1, 3, 4, 3, 1);
const bank = Float32Array.of(0, 0, 3, 0, 6, 8, 0, 10);
// 𝒩_3 of every bank entry (the entry first, then by distance), worked out by hand; only m1's
// row is used by the b = 3 case.
//   m0 = (0,0):  m1 3, m2 10, m3 10 (tie, lower index first)      → [m0, m1, m2]
//   m1 = (3,0):  m0 3, m2 √73 ≈ 8.54, m3 √109 ≈ 10.44              → [m1, m0, m2]
//   m2 = (6,8):  m3 √40 ≈ 6.32, m1 √73 ≈ 8.54, m0 10                → [m2, m3, m1]
//   m3 = (0,10): m2 √40 ≈ 6.32, m0 10, m1 √109                      → [m3, m2, m0]
const neighbours3 = Int32Array.of(0, 1, 2, 1, 0, 2, 2, 3, 1, 3, 2, 0);
const patchDist = Float32Array.of(1, 4, 1);
const nnIndex = BigInt64Array.of(0n, 1n, 1n);

describe('imageScore (Eq. 6–7)', () => {
  it('b = 3: s* = 4 at patch 1, w = 1 − 1/(1 + 2e) ≈ 0.8446376, s ≈ 3.3785504', () => {
    const r = imageScore(patchDist, nnIndex, patches, bank, neighbours3, dim, 3);
    expect(r.maxPatch).toBe(1);
    expect(r.maxPatchScore).toBe(4);
    expect(r.weight).toBeCloseTo(0.8446376, 6);
    expect(r.score).toBeCloseTo(3.3785504, 6);
    // The same numbers in closed form.
    expect(r.weight).toBeCloseTo(1 - 1 / (1 + 2 * Math.E), 12);
    expect(r.score).toBeCloseTo(4 * (1 - 1 / (1 + 2 * Math.E)), 12);
  });

  it('nnIndex may be plain numbers too', () => {
    const r = imageScore(patchDist, [0, 1, 1], patches, bank, neighbours3, dim, 3);
    expect(r.score).toBeCloseTo(3.3785504, 6);
  });

  it('b = 2: 𝒩_2(m1) = [m1, m0] → w = 1 − e⁴/(e⁴ + e⁵) = 1 − 1/(1 + e) ≈ 0.731059', () => {
    const neighbours2 = Int32Array.of(0, 1, 1, 0, 2, 3, 3, 2);
    const r = imageScore(patchDist, nnIndex, patches, bank, neighbours2, dim, 2);
    expect(r.weight).toBeCloseTo(0.731059, 6);
    expect(r.score).toBeCloseTo(4 * 0.731059, 5);
  });

  it('b = 1: s = s* (weight 1)', () => {
    const neighbours1 = Int32Array.of(0, 1, 2, 3);
    const r = imageScore(patchDist, nnIndex, patches, bank, neighbours1, dim, 1);
    expect(r.score).toBe(4);
    expect(r.maxPatchScore).toBe(4);
    expect(r.weight).toBe(1);
    expect(r.maxPatch).toBe(1);
  });

  it('a patch farther from the neighbours than from m* gets a larger weight than one equidistant', () => {
    // If every neighbour were at distance s* (here: all equal 4), w = 1 − 1/3.
    const equal = imageScore(Float32Array.of(4), [0], Float32Array.of(0, 0), Float32Array.of(4, 0, 0, 4, -4, 0), Int32Array.of(0, 1, 2, 1, 0, 2, 2, 0, 1), 2, 3);
    expect(equal.weight).toBeCloseTo(2 / 3, 10);
    const spread = imageScore(patchDist, nnIndex, patches, bank, neighbours3, dim, 3);
    expect(spread.weight).toBeGreaterThan(equal.weight);
  });

  it('large distances (s* = 1000) do not overflow: the result is finite', () => {
    // Every coordinate ×250: distances ×250 → s* = 1000, neighbours at 1250, 1250.
    // w = 1 − e¹⁰⁰⁰ / (e¹⁰⁰⁰ + 2e¹²⁵⁰) = 1 − 1/(1 + 2e²⁵⁰) = 1 (to double precision), s = 1000.
    const scale = (a: Float32Array): Float32Array => a.map((v) => v * 250);
    const r = imageScore(scale(patchDist), nnIndex, scale(patches), scale(bank), neighbours3, dim, 3);
    expect(Number.isFinite(r.score)).toBe(true);
    expect(Number.isFinite(r.weight)).toBe(true);
    expect(r.maxPatchScore).toBe(1000);
    expect(r.score).toBeCloseTo(1000, 6);
  });

  it('large distances with every neighbour ≈ s* away (e^1000 would overflow): finite, w ≈ 2/3', () => {
    // One patch at (1000, 0); bank m0 = (0, 0) (its nearest, s* = 1000), m1 = (0, 1), m2 = (0, −1)
    // a hair farther: ‖q − m1‖ = √(1000² + 1) ≈ 1000.0005. w = 1 − e¹⁰⁰⁰/(e¹⁰⁰⁰ + 2e¹⁰⁰⁰·⁰⁰⁰⁵)
    // = 1 − 1/(1 + 2e^0.0005) ≈ 1 − 1/3.001 ≈ 0.66678.
    const r = imageScore(Float32Array.of(1000), [0], Float32Array.of(1000, 0), Float32Array.of(0, 0, 0, 1, 0, -1), Int32Array.of(0, 1, 2, 1, 0, 2, 2, 0, 1), 2, 3);
    expect(Number.isFinite(r.score)).toBe(true);
    expect(r.weight).toBeCloseTo(1 - 1 / (1 + 2 * Math.exp(0.0005)), 5);
    expect(r.score).toBeCloseTo(1000 * r.weight, 6);
  });
});
