/**
 * Greedy k-center coreset (PatchCore Alg. 1) vs a brute-force JS greedy. With projectDim ≥ dim
 * the projection is the identity, so the ORT Loop graph must pick exactly what plain greedy picks
 * from the same start.
 */
import { describe, it, expect } from 'vitest';
import { coresetSize, DEFAULT_CORESET, extendCoreset, greedyCoreset, projectForCoreset, type CoresetOptions } from '../../src-main/engine/coreset';
import { Rng } from '../../src-main/engine/core/random';
import { KensaError } from '../../src-main/engine/errors';
import { maxRelDiff, sqDist } from '../helpers/reference';

const run = { ep: 'cpu' as const };
const opts = (over: Partial<CoresetOptions> = {}): CoresetOptions => ({ ...DEFAULT_CORESET, projectDim: 1024, ...over });

function gaussian(n: number, d: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * scale;
  return x;
}

/** Small integers: every distance is computed exactly in float32, so ties break identically. */
function integers(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.int(17) - 8;
  return x;
}

/** `clusters` Gaussian blobs (σ = spread) around centres drawn with σ = 5. */
function clustered(n: number, d: number, clusters: number, spread: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const centres = gaussian(clusters, d, seed + 1000, 5);
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = rng.int(clusters);
    for (let k = 0; k < d; k++) x[i * d + k] = centres[c * d + k]! + rng.normal() * spread;
  }
  return x;
}

/**
 * Plain greedy k-center from `start` in float64: each step picks the point farthest from the
 * chosen set (first index among equals). Also reports the smallest relative gap between the best
 * and the second-best candidate over all steps (how close the run came to a tie).
 */
function bruteGreedy(x: Float32Array, n: number, d: number, k: number, start: number): { picks: number[]; minGap: number } {
  const mind = new Float64Array(n).fill(Infinity);
  const picks = [start];
  let last = start;
  let minGap = Infinity;
  while (picks.length < k) {
    for (let i = 0; i < n; i++) mind[i] = Math.min(mind[i]!, sqDist(x, i, x, last, d));
    let best = 0;
    for (let i = 1; i < n; i++) if (mind[i]! > mind[best]!) best = i;
    let second = -Infinity;
    for (let i = 0; i < n; i++) if (i !== best && mind[i]! > second) second = mind[i]!;
    minGap = Math.min(minGap, (mind[best]! - second) / Math.max(mind[best]!, 1e-12));
    picks.push(best);
    last = best;
  }
  return { picks, minGap };
}

/** max over points of the distance to the nearest chosen centre. */
function coveringRadius(x: Float32Array, n: number, d: number, centres: ArrayLike<number>): number {
  let r = 0;
  for (let i = 0; i < n; i++) {
    let m = Infinity;
    for (let j = 0; j < centres.length; j++) m = Math.min(m, sqDist(x, i, x, centres[j]!, d));
    r = Math.max(r, m);
  }
  return Math.sqrt(r);
}

async function rejection(p: Promise<unknown>): Promise<KensaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return e as KensaError;
  }
  throw new Error('expected a rejection');
}

describe('greedyCoreset vs brute-force greedy (N ≤ groupSize, identity projection)', () => {
  it('integer data: exactly the same picks, in the same order', async () => {
    for (const seed of [1, 2, 3]) {
      const n = 400;
      const d = 4;
      const x = integers(n, d, seed);
      const got = await greedyCoreset(x, n, d, opts({ ratio: 0.1, seed }), run);
      expect(got.length).toBe(40);
      const ref = bruteGreedy(x, n, d, 40, got[0]!);
      expect(Array.from(got)).toEqual(ref.picks);
    }
  });

  it('Gaussian data (no near ties): exactly the same picks', async () => {
    const n = 600;
    const d = 8;
    for (const seed of [2, 7]) {
      const x = gaussian(n, d, seed);
      const got = await greedyCoreset(x, n, d, opts({ ratio: 0.1, seed }), run);
      expect(got.length).toBe(60);
      const ref = bruteGreedy(x, n, d, 60, got[0]!);
      // Precondition on the data: no step is a near tie that float32 rounding could flip.
      expect(ref.minGap).toBeGreaterThan(1e-4);
      expect(Array.from(got)).toEqual(ref.picks);
    }
  });

  it('the second pick is always the point farthest from the start', async () => {
    for (const seed of [10, 11, 12, 13, 14]) {
      const n = 500;
      const d = 6;
      const x = gaussian(n, d, seed * 7);
      const got = await greedyCoreset(x, n, d, opts({ ratio: 0.02, seed }), run);
      const start = got[0]!;
      let far = -1;
      let best = -1;
      for (let i = 0; i < n; i++) {
        const dd = sqDist(x, i, x, start, d);
        if (dd > best) {
          best = dd;
          far = i;
        }
      }
      expect(got[1]).toBe(far);
    }
  });

  it('the seed picks the start; the same seed gives the same coreset', async () => {
    const n = 500;
    const d = 6;
    const x = gaussian(n, d, 99);
    const a = await greedyCoreset(x, n, d, opts({ ratio: 0.05, seed: 3 }), run);
    const b = await greedyCoreset(x, n, d, opts({ ratio: 0.05, seed: 3 }), run);
    expect(Array.from(b)).toEqual(Array.from(a));
    const starts = new Set<number>();
    for (const seed of [0, 1, 2, 3, 4, 5]) starts.add((await greedyCoreset(x, n, d, opts({ ratio: 0.01, seed }), run))[0]!);
    expect(starts.size).toBeGreaterThan(1);
  });
});

describe('outliers are always kept', () => {
  function withOutlier(n: number, d: number, seed: number, at: number): Float32Array {
    const x = gaussian(n, d, seed);
    for (let k = 0; k < d; k++) x[at * d + k] = 100 + k;
    return x;
  }

  it('single stage: the far outlier is in the coreset for every seed', async () => {
    for (const seed of [0, 1, 2, 3, 4]) {
      const at = 37 + seed * 50;
      const x = withOutlier(1000, 8, seed + 20, at);
      const got = Array.from(await greedyCoreset(x, 1000, 8, opts({ ratio: 0.01, seed }), run));
      expect(got).toContain(at);
      // Unless it is the random start, it is the second pick.
      if (got[0] !== at) expect(got[1]).toBe(at);
    }
  });

  it('two-stage grouped path (N = 3000, groupSize = 500): the outlier survives both stages', async () => {
    for (const seed of [0, 1, 2]) {
      const at = 2999 - seed * 1000;
      const x = withOutlier(3000, 8, seed + 30, at);
      const got = Array.from(await greedyCoreset(x, 3000, 8, opts({ ratio: 0.1, groupSize: 500, seed }), run));
      expect(got.length).toBe(300);
      expect(got).toContain(at);
    }
  });
});

describe('coreset size and indices', () => {
  it('coresetSize = round(ratio·N), at least 1, capped by maxSize and N', () => {
    expect(coresetSize(1000, { ratio: 0.1, maxSize: 20000 })).toBe(100);
    expect(coresetSize(10, { ratio: 0.25, maxSize: 20000 })).toBe(3); // 2.5 rounds up
    expect(coresetSize(10, { ratio: 0.24, maxSize: 20000 })).toBe(2); // 2.4 rounds down
    expect(coresetSize(1000, { ratio: 0.1, maxSize: 30 })).toBe(30);
    expect(coresetSize(1000, { ratio: 0.0004, maxSize: 30 })).toBe(1);
    expect(coresetSize(7, { ratio: 1, maxSize: 30 })).toBe(7);
  });

  it('greedyCoreset returns that many unique, in-range indices (single and grouped paths)', async () => {
    const cases: [number, Partial<CoresetOptions>, number][] = [
      [1000, { ratio: 0.1 }, 100],
      [1000, { ratio: 0.25, maxSize: 37 }, 37],
      [10, { ratio: 0.25 }, 3],
      [1200, { ratio: 0.1, groupSize: 500 }, 120],
      [1200, { ratio: 0.2, groupSize: 500, maxSize: 50 }, 50],
      // k ≥ N: everything, in order.
      [20, { ratio: 1 }, 20],
    ];
    for (const [n, o, k] of cases) {
      const x = gaussian(n, 5, n);
      const got = await greedyCoreset(x, n, 5, opts(o), run);
      expect(got.length).toBe(k);
      expect(new Set(got).size).toBe(k);
      for (const i of got) expect(i >= 0 && i < n).toBe(true);
    }
    expect(Array.from(await greedyCoreset(gaussian(20, 5, 1), 20, 5, opts({ ratio: 1 }), run))).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('duplicated points: indices stay unique (fewer than k when there are fewer distinct points)', async () => {
    // 30 distinct points, each repeated 10 times → N = 300; ask for 50 centres.
    const base = gaussian(30, 4, 8);
    const x = new Float32Array(300 * 4);
    for (let i = 0; i < 300; i++) x.set(base.subarray((i % 30) * 4, (i % 30) * 4 + 4), i * 4);
    const got = await greedyCoreset(x, 300, 4, opts({ ratio: 50 / 300 }), run);
    expect(new Set(got).size).toBe(got.length);
    expect(got.length).toBeGreaterThanOrEqual(30);
    expect(got.length).toBeLessThanOrEqual(50);
    expect(coveringRadius(x, 300, 4, got)).toBe(0);
  });

  it('rejects a bad ratio and a size mismatch', async () => {
    await expect(greedyCoreset(new Float32Array(10), 5, 2, opts({ ratio: 0 }), run)).rejects.toThrow(/ratio/);
    await expect(greedyCoreset(new Float32Array(10), 5, 2, opts({ ratio: 1.5 }), run)).rejects.toThrow(/ratio/);
    await expect(greedyCoreset(new Float32Array(9), 5, 2, opts(), run)).rejects.toThrow(/5×2/);
  });
});

describe('cancellation', () => {
  it('an already aborted signal rejects with CANCELLED (single and grouped paths)', async () => {
    const ac = new AbortController();
    ac.abort();
    const x = gaussian(1200, 4, 1);
    for (const groupSize of [40_000, 500]) {
      const e = await rejection(greedyCoreset(x, 1200, 4, opts({ ratio: 0.1, groupSize }), { ep: 'cpu', signal: ac.signal }));
      expect(e.code).toBe('CANCELLED');
    }
  });

  it('aborting during the run (from the progress callback) stops it with CANCELLED', async () => {
    const ac = new AbortController();
    const calls: number[] = [];
    const x = gaussian(3000, 4, 2);
    // k = 600 > 256 iterations per session call: several calls, so there is a later check.
    const e = await rejection(
      greedyCoreset(x, 3000, 4, opts({ ratio: 0.2 }), {
        ep: 'cpu',
        signal: ac.signal,
        onProgress: (done) => {
          calls.push(done);
          ac.abort();
        },
      }),
    );
    expect(e.code).toBe('CANCELLED');
    expect(calls).toEqual([256]);
  });
});

describe('grouped (two-stage) path quality', () => {
  it('its covering radius is within 2× of exact greedy on clustered data', async () => {
    for (const seed of [1, 2]) {
      const n = 3000;
      const d = 8;
      const x = clustered(n, d, 40, 0.5, seed);
      const exact = await greedyCoreset(x, n, d, opts({ ratio: 0.05, seed }), run);
      const grouped = await greedyCoreset(x, n, d, opts({ ratio: 0.05, groupSize: 500, seed }), run);
      expect(exact.length).toBe(150);
      expect(grouped.length).toBe(150);
      const rExact = coveringRadius(x, n, d, exact);
      const rGrouped = coveringRadius(x, n, d, grouped);
      expect(rExact).toBeGreaterThan(0);
      expect(rGrouped).toBeLessThanOrEqual(2 * rExact);
      // And both are far better than a random subset of the same size.
      const rng = new Rng(seed);
      const random = Array.from(rng.permutation(n).subarray(0, 150));
      expect(rGrouped).toBeLessThan(coveringRadius(x, n, d, random));
    }
  });
});

describe('projectForCoreset', () => {
  it('identity when target ≥ dim: xp = x and x2 = ‖x‖²', async () => {
    const x = gaussian(50, 6, 3);
    const { xp, x2, d } = await projectForCoreset(x, 50, 6, 64, 0, 'cpu');
    expect(d).toBe(6);
    expect(Array.from(xp)).toEqual(Array.from(x));
    const ref = Array.from({ length: 50 }, (_, i) => sqDist(x, i, new Float32Array(6), 0, 6));
    expect(maxRelDiff(x2, ref)).toBeLessThan(1e-5);
  });

  it('random projection: xp = x·P and x2 = ‖x·P‖² (P recovered by projecting the identity)', async () => {
    const dim = 40;
    const target = 12;
    const seed = 5;
    // Rows of the identity project to the rows of P.
    const eye = new Float32Array(dim * dim);
    for (let i = 0; i < dim; i++) eye[i * dim + i] = 1;
    const pr = await projectForCoreset(eye, dim, dim, target, seed, 'cpu');
    expect(pr.d).toBe(target);
    const P = Float32Array.from(pr.xp);
    // P is a scaled Gaussian: entries ~ N(0, 1/target), so Σ P² ≈ dim.
    let ss = 0;
    for (const v of P) ss += v * v;
    expect(ss / dim).toBeGreaterThan(0.6);
    expect(ss / dim).toBeLessThan(1.5);

    const n = 200;
    const x = gaussian(n, dim, 17);
    const { xp, x2, d } = await projectForCoreset(x, n, dim, target, seed, 'cpu');
    expect(d).toBe(target);
    const refXp = new Float64Array(n * target);
    const refX2 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < target; j++) {
        let s = 0;
        for (let k = 0; k < dim; k++) s += x[i * dim + k]! * P[k * target + j]!;
        refXp[i * target + j] = s;
        refX2[i] += s * s;
      }
    }
    expect(maxRelDiff(xp, refXp)).toBeLessThan(1e-4);
    expect(maxRelDiff(x2, refX2)).toBeLessThan(1e-4);
    // Johnson–Lindenstrauss on average: E‖xP‖² = ‖x‖².
    let ratio = 0;
    for (let i = 0; i < n; i++) ratio += refX2[i]! / sqDist(x, i, new Float32Array(dim), 0, dim);
    expect(ratio / n).toBeGreaterThan(0.7);
    expect(ratio / n).toBeLessThan(1.3);

    // Same seed, same P; another seed, another P.
    const again = await projectForCoreset(eye, dim, dim, target, seed, 'cpu');
    expect(Array.from(again.xp)).toEqual(Array.from(P));
    const other = await projectForCoreset(eye, dim, dim, target, seed + 1, 'cpu');
    expect(Array.from(other.xp)).not.toEqual(Array.from(P));
  });
});

describe('extendCoreset (refit: Algorithm 1 continued from an existing bank)', () => {
  /** Brute force: centres = bank; repeatedly add the new point farthest from all centres. */
  function bruteExtend(bank: Float32Array, bankSize: number, x: Float32Array, n: number, d: number, add: number): number[] {
    const mind = new Float64Array(n).fill(Infinity);
    for (let i = 0; i < n; i++) for (let j = 0; j < bankSize; j++) mind[i] = Math.min(mind[i]!, sqDist(x, i, bank, j, d));
    const picks: number[] = [];
    while (picks.length < add) {
      let best = 0;
      for (let i = 1; i < n; i++) if (mind[i]! > mind[best]!) best = i;
      picks.push(best);
      for (let i = 0; i < n; i++) mind[i] = Math.min(mind[i]!, sqDist(x, i, x, best, d));
    }
    return picks;
  }

  it('integer data: picks exactly what greedy continued from the bank picks', async () => {
    const d = 4;
    const bank = integers(60, d, 41);
    const x = integers(300, d, 42);
    const got = await extendCoreset(bank, 60, x, 300, d, 25, opts(), run);
    expect(Array.from(got)).toEqual(bruteExtend(bank, 60, x, 300, d, 25));
  });

  it('new points already in the bank are not re-added; a new outlier comes first', async () => {
    const d = 6;
    const bank = gaussian(100, d, 43);
    // 50 copies of bank rows plus one far point at index 50.
    const x = new Float32Array(51 * d);
    for (let i = 0; i < 50; i++) x.set(bank.subarray(i * d, (i + 1) * d), i * d);
    for (let k = 0; k < d; k++) x[50 * d + k] = 50;
    const got = await extendCoreset(bank, 100, x, 51, d, 5, opts(), run);
    expect(got[0]).toBe(50);
    expect(new Set(got).size).toBe(got.length);
  });

  it('add ≤ 0 gives nothing; add > n is capped at n', async () => {
    const x = gaussian(8, 3, 1);
    const bank = gaussian(4, 3, 2);
    expect((await extendCoreset(bank, 4, x, 8, 3, 0, opts(), run)).length).toBe(0);
    const all = await extendCoreset(bank, 4, x, 8, 3, 20, opts(), run);
    expect(Array.from(all).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});
