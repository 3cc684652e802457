/**
 * PaDiM's per-position Gaussian: the streaming moment accumulation (ORT graph) and the float64
 * finish (centering, shrinkage, Cholesky inverse) against a hand-computed case and a direct
 * float64 reference (two-pass covariance, Gauss–Jordan inverse, scikit-learn's Ledoit–Wolf
 * formula), the Mahalanobis graph with a channel subset, and the failure on a singular
 * covariance.
 */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../../../src-main/engine/core/random';
import { chooseChannels, GaussianAccumulator, MahalanobisScorer } from '../../../../src-main/engine/detectors/padim/gaussian';
import { KensaError } from '../../../../src-main/engine/errors';
import { maxRelDiff } from '../../../helpers/reference';

/** Largest |a − b| / max(1, max |b|): error relative to the array's scale. */
function scaledDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let scale = 1;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / scale);
  return Number.isNaN(m) ? Infinity : m;
}

/** Generic Gauss–Jordan inverse with partial pivoting (float64). */
function gaussJordanInverse(m: Float64Array, d: number): Float64Array {
  const a = Float64Array.from(m);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(a[r * d + col]!) > Math.abs(a[piv * d + col]!)) piv = r;
    if (piv !== col) {
      for (let k = 0; k < d; k++) {
        [a[col * d + k], a[piv * d + k]] = [a[piv * d + k]!, a[col * d + k]!];
        [inv[col * d + k], inv[piv * d + k]] = [inv[piv * d + k]!, inv[col * d + k]!];
      }
    }
    const f = 1 / a[col * d + col]!;
    for (let k = 0; k < d; k++) {
      a[col * d + k] = a[col * d + k]! * f;
      inv[col * d + k] = inv[col * d + k]! * f;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const g = a[r * d + col]!;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) {
        a[r * d + k] = a[r * d + k]! - g * a[col * d + k]!;
        inv[r * d + k] = inv[r * d + k]! - g * inv[col * d + k]!;
      }
    }
  }
  return inv;
}

interface Reference {
  mean: Float64Array; // [P, d]
  cov: Float64Array; // [P, d, d] unbiased
  lw: number[]; // Ledoit–Wolf α per position
}

/** Direct float64 two-pass statistics of feats [N·P, D] restricted to `channels`. */
function reference(feats: Float32Array, N: number, P: number, D: number, channels: Int32Array): Reference {
  const d = channels.length;
  const mean = new Float64Array(P * d);
  const cov = new Float64Array(P * d * d);
  const lw: number[] = [];
  const x = (i: number, p: number, c: number): number => feats[(i * P + p) * D + channels[c]!]!;
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < d; c++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += x(i, p, c);
      mean[p * d + c] = s / N;
    }
    const xc = (i: number, c: number): number => x(i, p, c) - mean[p * d + c]!;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        let s = 0;
        for (let i = 0; i < N; i++) s += xc(i, a) * xc(i, b);
        cov[(p * d + a) * d + b] = s / (N - 1);
      }
    }
    // scikit-learn's ledoit_wolf_shrinkage, written out on the centred samples.
    const S = (a: number, b: number): number => (cov[(p * d + a) * d + b]! * (N - 1)) / N;
    let tr = 0;
    for (let a = 0; a < d; a++) tr += S(a, a);
    const mu = tr / d;
    let delta = 0;
    for (let a = 0; a < d; a++) {
      for (let b = 0; b < d; b++) {
        const v = S(a, b) - (a === b ? mu : 0);
        delta += v * v;
      }
    }
    delta /= d;
    let beta = 0;
    for (let i = 0; i < N; i++) {
      for (let a = 0; a < d; a++) {
        for (let b = 0; b < d; b++) {
          const v = xc(i, a) * xc(i, b) - S(a, b);
          beta += v * v;
        }
      }
    }
    beta /= N * N * d;
    lw.push(delta === 0 ? 0 : Math.min(beta, delta) / delta);
  }
  return { mean, cov, lw };
}

/** Σ̂ = (1−α)Σ + α(tr Σ/d)I + εI of one position. */
function regularised(cov: Float64Array, p: number, d: number, alpha: number, eps: number): Float64Array {
  const c = cov.slice(p * d * d, (p + 1) * d * d);
  let tr = 0;
  for (let i = 0; i < d; i++) tr += c[i * d + i]!;
  for (let i = 0; i < d * d; i++) c[i] = c[i]! * (1 - alpha);
  for (let i = 0; i < d; i++) c[i * d + i] = c[i * d + i]! + (alpha * tr) / d + eps;
  return c;
}

/** Correlated Gaussian features [N·P, D] with per-position offsets far from 0 (tests the shift). */
function features(N: number, P: number, D: number, seed: number, offset = 50): Float32Array {
  const rng = new Rng(seed);
  const mix = Array.from({ length: P }, () => Float64Array.from({ length: D * D }, () => rng.normal() * 0.5));
  const base = Float64Array.from({ length: P * D }, () => offset + rng.normal() * 5);
  const out = new Float32Array(N * P * D);
  const z = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    for (let p = 0; p < P; p++) {
      for (let k = 0; k < D; k++) z[k] = rng.normal();
      for (let a = 0; a < D; a++) {
        let v = base[p * D + a]! + z[a]!;
        for (let k = 0; k < D; k++) v += mix[p]![a * D + k]! * z[k]!;
        out[(i * P + p) * D + a] = v;
      }
    }
  }
  return out;
}

/** Mahalanobis distances in float64 from the reference statistics. */
function referenceDistances(patches: Float32Array, n: number, P: number, D: number, channels: Int32Array, mean: Float64Array, inv: Float64Array[]): Float64Array {
  const d = channels.length;
  const out = new Float64Array(n * P);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < P; p++) {
      const delta = Array.from({ length: d }, (_, c) => patches[(i * P + p) * D + channels[c]!]! - mean[p * d + c]!);
      let q = 0;
      for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) q += delta[a]! * inv[p]![a * d + b]! * delta[b]!;
      out[i * P + p] = Math.sqrt(q);
    }
  }
  return out;
}

describe('GaussianAccumulator + Mahalanobis: hand-computed case', () => {
  it('d=2, one position, 4 samples, α=0.5, ε=0.01', async () => {
    // samples x1..x4 = (1,1), (3,5), (2,2), (2,4)
    const feats = Float32Array.of(1, 1, 3, 5, 2, 2, 2, 4);
    const acc = new GaussianAccumulator(1, 2);
    await acc.add(feats, 4);
    const fit = acc.finish({ shrinkage: 0.5, epsilon: 0.01 });
    // μ = ((1+3+2+2)/4, (1+5+2+4)/4) = (2, 3)
    expect(Array.from(fit.mean)).toEqual([2, 3]);
    // deviations: (−1,−2), (1,2), (0,−1), (0,1)
    // Σ deviations: x·x = 1+1+0+0 = 2;  x·y = 2+2+0+0 = 4;  y·y = 4+4+1+1 = 10
    // Σ = 1/(N−1)·[[2, 4], [4, 10]] = [[2/3, 4/3], [4/3, 10/3]];  tr Σ / d = (12/3)/2 = 2
    // Σ̂ = 0.5·Σ + 0.5·2·I + 0.01·I = [[1/3 + 1.01, 2/3], [2/3, 5/3 + 1.01]]
    //   = [[a, b], [b, c]] with a = 4/3 + 0.01 = 1.343333…, b = 2/3, c = 8/3 + 0.01 = 2.676666…
    // det = a·c − b² = 32/9 + 0.01·(12/3) + 0.0001 − 4/9 = 28/9 + 0.0401 = 3.1512111…
    // Σ̂⁻¹ = 1/det·[[c, −b], [−b, a]]
    //   c/det = 2.676666…/3.1512111… = 0.849408869
    //   b/det = 0.666666…/3.1512111… = 0.211558872
    //   a/det = 1.343333…/3.1512111… = 0.426291126
    const inv = [0.849408869, -0.211558872, -0.211558872, 0.426291126];
    for (let i = 0; i < 4; i++) expect(fit.covInv[i]).toBeCloseTo(inv[i]!, 5);
    expect(fit.shrinkage).toBe(0.5);
    expect(fit.images).toBe(4);
    // test point q = (4, 1): δ = q − μ = (2, −2)
    // δᵀ Σ̂⁻¹ δ = (c·2² − 2·b·2·(−2) + a·(−2)²)/det = (4c + 8b + 4a)/det
    //          = (10.706666… + 5.333333… + 5.373333…)/3.1512111… = 21.413333…/3.1512111… = 6.795270954
    // M = sqrt(6.795270954) = 2.606774051
    const scorer = await MahalanobisScorer.create(fit.mean, fit.covInv, 1, 2, null, 2);
    try {
      const dist = await scorer.score(Float32Array.of(4, 1, 2, 3), 2); // the test point, then μ itself
      expect(Math.abs(dist[0]! - 2.606774051)).toBeLessThan(1e-5);
      expect(dist[1]).toBe(0);
    } finally {
      await scorer.release();
    }
  });
});

describe('GaussianAccumulator + Mahalanobis vs a float64 reference', () => {
  const P = 3;
  const D = 6;
  const N = 50;
  const channels = chooseChannels(D, 4, 7);
  const d = channels.length;
  const feats = features(N, P, D, 11);
  const ref = reference(feats, N, P, D, channels);

  async function fitIn(batch: number, shrinkage: number | 'ledoit-wolf', epsilon: number) {
    const acc = new GaussianAccumulator(P, d, { channels, fullDim: D });
    for (let s = 0; s < N; s += batch) {
      const e = Math.min(N, s + batch);
      await acc.add(feats.subarray(s * P * D, e * P * D), e - s);
    }
    expect(acc.images).toBe(N);
    return acc.finish({ shrinkage, epsilon });
  }

  it('random P=3, d=4 of 6 channels, N=50: mean, Σ̂⁻¹ and distances match', async () => {
    const alpha = 0.3;
    const fit = await fitIn(N, alpha, 0.01);
    expect(maxRelDiff(fit.mean, ref.mean)).toBeLessThan(1e-6);
    const invs = Array.from({ length: P }, (_, p) => gaussJordanInverse(regularised(ref.cov, p, d, alpha, 0.01), d));
    for (let p = 0; p < P; p++) {
      expect(scaledDiff(fit.covInv.subarray(p * d * d, (p + 1) * d * d), invs[p]!)).toBeLessThan(1e-5);
    }
    const test = features(5, P, D, 99, 50);
    const want = referenceDistances(test, 5, P, D, channels, ref.mean, invs);
    const scorer = await MahalanobisScorer.create(fit.mean, fit.covInv, P, d, channels, D);
    try {
      expect(maxRelDiff(await scorer.score(test, 5), want)).toBeLessThan(1e-4);
      // symbolic N: one image at a time gives the same distances
      const one = await scorer.score(test.subarray(2 * P * D, 3 * P * D), 1);
      expect(maxRelDiff(one, want.subarray(2 * P, 3 * P))).toBeLessThan(1e-4);
    } finally {
      await scorer.release();
    }
  });

  it('streaming in batches of 7 gives the same fit as all images at once', async () => {
    const all = await fitIn(N, 0.2, 0.01);
    const streamed = await fitIn(7, 0.2, 0.01);
    expect(maxRelDiff(streamed.mean, all.mean)).toBeLessThan(1e-6);
    expect(scaledDiff(streamed.covInv, all.covInv)).toBeLessThan(1e-5);
  });

  it('Ledoit–Wolf α from the streamed sums matches the direct formula', async () => {
    const fit = await fitIn(7, 'ledoit-wolf', 0);
    const alphas = fit.shrinkage as number[];
    expect(alphas).toHaveLength(P);
    for (let p = 0; p < P; p++) {
      expect(alphas[p]).toBeGreaterThanOrEqual(0);
      expect(alphas[p]).toBeLessThanOrEqual(1);
      expect(Math.abs(alphas[p]! - ref.lw[p]!)).toBeLessThan(1e-4);
      const inv = gaussJordanInverse(regularised(ref.cov, p, d, ref.lw[p]!, 0), d);
      expect(scaledDiff(fit.covInv.subarray(p * d * d, (p + 1) * d * d), inv)).toBeLessThan(1e-4);
    }
  });
});

describe('Ledoit–Wolf shrinkage', () => {
  /** N samples of a d-dim Gaussian with covariance diag(1, 2, …, d) at one position. */
  function diagGaussian(N: number, d: number, seed: number): Float32Array {
    const rng = new Rng(seed);
    return Float32Array.from({ length: N * d }, (_, i) => 3 + rng.normal() * Math.sqrt(1 + (i % d)));
  }

  async function lw(N: number, d: number, seed: number): Promise<number> {
    const acc = new GaussianAccumulator(1, d);
    await acc.add(diagGaussian(N, d, seed), N);
    const a = (acc.finish({ shrinkage: 'ledoit-wolf', epsilon: 0.01 }).shrinkage as number[])[0]!;
    expect(a).toBeGreaterThanOrEqual(0);
    expect(a).toBeLessThanOrEqual(1);
    return a;
  }

  it('is small when N ≫ d on a well-conditioned Gaussian and large when N < d', async () => {
    for (const seed of [1, 2, 3]) {
      expect(await lw(2000, 4, seed)).toBeLessThan(0.05);
      expect(await lw(10, 30, seed)).toBeGreaterThan(0.5);
    }
  });
});

describe('chooseChannels', () => {
  it('is deterministic per seed, sorted and distinct; count ≥ dim gives every channel', () => {
    const a = chooseChannels(448, 100, 5);
    expect(a).toEqual(chooseChannels(448, 100, 5));
    expect(a).toHaveLength(100);
    for (let i = 1; i < a.length; i++) expect(a[i]!).toBeGreaterThan(a[i - 1]!);
    expect(a[0]!).toBeGreaterThanOrEqual(0);
    expect(a[a.length - 1]!).toBeLessThan(448);
    expect(Array.from(chooseChannels(448, 100, 6))).not.toEqual(Array.from(a));
    expect(Array.from(chooseChannels(5, 5, 1))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(chooseChannels(5, 9, 1))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('singular covariance', () => {
  async function failure(feats: Float32Array, N: number, P: number, d: number): Promise<KensaError> {
    const acc = new GaussianAccumulator(P, d);
    await acc.add(feats, N);
    try {
      acc.finish({ shrinkage: 0, epsilon: 0 });
    } catch (e) {
      expect(e).toBeInstanceOf(KensaError);
      return e as KensaError;
    }
    throw new Error('finish() did not throw');
  }

  it('a constant channel without regularisation fails with FIT_FAILED naming the position', async () => {
    const P = 3;
    const d = 3;
    const N = 20;
    const feats = features(N, P, d, 3);
    for (let i = 0; i < N; i++) feats[(i * P + 1) * d + 2] = 7.25; // position 1, channel 2 constant
    const err = await failure(feats, N, P, d);
    expect(err.code).toBe('FIT_FAILED');
    expect(err.message).toMatch(/position 1\b/);
    // ε > 0 makes the same data fit
    const acc = new GaussianAccumulator(P, d);
    await acc.add(feats, N);
    expect(() => acc.finish({ shrinkage: 0, epsilon: 0.01 })).not.toThrow();
  });

  it('a channel duplicating another fails with FIT_FAILED naming the position', async () => {
    const P = 3;
    const d = 5;
    const N = 30;
    const feats = features(N, P, d, 4);
    for (let i = 0; i < N; i++) feats[(i * P + 2) * d + 3] = feats[(i * P + 2) * d + 1]!; // position 2: channel 3 = channel 1
    const err = await failure(feats, N, P, d);
    expect(err.code).toBe('FIT_FAILED');
    expect(err.message).toMatch(/position 2\b/);
  });

  it('fewer images than channels (rank ≤ N−1 < d) without regularisation fails', async () => {
    const err = await failure(features(5, 2, 12, 1), 5, 2, 12);
    expect(err.code).toBe('FIT_FAILED');
    expect(err.message).toMatch(/rank at most 4 < 12/);
  });
});
