/**
 * The runtime-built ORT graphs vs brute-force / plain-JS references: chunked nearest-neighbour
 * search, top-k neighbours, and the anomaly map (upsample + reflect-padded Gaussian blur).
 */
import { describe, it, expect } from 'vitest';
import { gaussianKernel } from '../../../src-main/engine/core/gaussian';
import { Rng } from '../../../src-main/engine/core/random';
import { buildAnomalyMapGraph, buildMinDistGraph, buildNearestNeighbourGraph, buildTopKGraph } from '../../../src-main/engine/ort/graphs';
import { decodeModel } from '../../../src-main/engine/ort/onnx-builder';
import { createSession, ort } from '../../../src-main/engine/ort/session';
import { bilinearHalfPixel, blurReflect, maxRelDiff, reflectIndex, sqDist } from '../../helpers/reference';

function gaussian(n: number, d: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * d);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * scale;
  return x;
}

async function runOnce(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(model, { ep: 'cpu' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Bank rows sorted by squared distance to query row q (float64). */
function ranked(queries: Float32Array, q: number, bank: Float32Array, size: number, d: number): { idx: number; d2: number }[] {
  const all = Array.from({ length: size }, (_, j) => ({ idx: j, d2: sqDist(queries, q, bank, j, d) }));
  return all.sort((a, b) => a.d2 - b.d2 || a.idx - b.idx);
}

describe('buildNearestNeighbourGraph', () => {
  const B = 5000;
  const D = 16;
  const CHUNK = 1024; // 5 chunks: 4 × 1024 + 904
  const bank = gaussian(B, D, 1);
  // 300 queries: 200 random points, 90 bank entries plus small noise spread over every chunk
  // (including the chunk edges), 10 exact copies of bank entries.
  const edges = [0, 1023, 1024, 2047, 2048, 3071, 3072, 4095, 4096, 4999];
  const Q = 300;
  const queries = new Float32Array(Q * D);
  queries.set(gaussian(200, D, 2));
  const rng = new Rng(3);
  const near: number[] = [];
  for (let i = 0; i < 90; i++) near.push(i < edges.length ? edges[i]! : rng.int(B));
  near.forEach((j, i) => {
    for (let k = 0; k < D; k++) queries[(200 + i) * D + k] = bank[j * D + k]! + rng.normal() * 0.1;
  });
  const copies = [5, 1500, 3000, 4097, 4998, 1024, 2048, 0, 4999, 777];
  copies.forEach((j, i) => queries.set(bank.subarray(j * D, (j + 1) * D), (290 + i) * D));

  it('gives the brute-force nearest index and distance for every query (several chunks combined)', async () => {
    const model = buildNearestNeighbourGraph(bank, B, D, CHUNK);
    // Really chunked: 5 MatMuls against separate bank slices.
    const ops = decodeModel(model).graph!.node!.map((n) => n.opType);
    expect(ops.filter((o) => o === 'MatMul')).toHaveLength(5);

    const out = await runOnce(model, { patches: new ort.Tensor('float32', queries, [Q, D]) });
    expect(out.dist!.dims).toEqual([Q]);
    expect(out.index!.dims).toEqual([Q]);
    const dist = out.dist!.data as Float32Array;
    const index = out.index!.data as BigInt64Array;

    const refDist = new Float64Array(Q);
    let unambiguous = 0;
    const chunksHit = new Set<number>();
    for (let q = 0; q < Q; q++) {
      const r = ranked(queries, q, bank, B, D);
      refDist[q] = Math.sqrt(r[0]!.d2);
      chunksHit.add(Math.floor(r[0]!.idx / CHUNK));
      const got = Number(index[q]);
      expect(got).toBeGreaterThanOrEqual(0);
      expect(got).toBeLessThan(B);
      const gap = (r[1]!.d2 - r[0]!.d2) / Math.max(r[1]!.d2, 1e-12);
      if (gap > 1e-4) {
        unambiguous += 1;
        expect(got, `query ${q}`).toBe(r[0]!.idx);
      } else {
        // A near tie: whichever was returned must be (numerically) as near as the nearest.
        expect(sqDist(queries, q, bank, got, D)).toBeLessThanOrEqual(r[0]!.d2 * (1 + 1e-4) + 1e-6);
      }
    }
    expect(unambiguous).toBeGreaterThanOrEqual(Q - 3);
    // The answers come from every chunk, so the chunk minima really are combined.
    expect(chunksHit).toEqual(new Set([0, 1, 2, 3, 4]));
    // Near-bank queries find their own bank entry, also in the last (short) chunk.
    near.forEach((j, i) => expect(Number(index[200 + i])).toBe(j));
    copies.forEach((j, i) => expect(Number(index[290 + i])).toBe(j));

    // Distances: within 1e-4 relative for all but the exact copies (true distance 0, where
    // float32 cancellation leaves ~1e-3), which must be ≈ 0 and never NaN.
    expect(maxRelDiff(dist.subarray(0, 290), refDist.subarray(0, 290))).toBeLessThan(1e-4);
    for (let q = 290; q < Q; q++) {
      expect(Number.isFinite(dist[q]!)).toBe(true);
      expect(dist[q]).toBeLessThan(1e-2);
    }
  });

  it('a single chunk (chunk ≥ bank size) gives the same answers', async () => {
    const many = await runOnce(buildNearestNeighbourGraph(bank, B, D, CHUNK), { patches: new ort.Tensor('float32', queries, [Q, D]) });
    const one = await runOnce(buildNearestNeighbourGraph(bank, B, D, 8192), { patches: new ort.Tensor('float32', queries, [Q, D]) });
    expect(Array.from(one.index!.data as BigInt64Array)).toEqual(Array.from(many.index!.data as BigInt64Array));
    expect(maxRelDiff(one.dist!.data as Float32Array, many.dist!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('refuses a bank whose length does not match size × dim', () => {
    expect(() => buildNearestNeighbourGraph(new Float32Array(10), 3, 4)).toThrow(/3×4/);
  });
});

describe('buildTopKGraph', () => {
  it('returns the k nearest bank rows of each query, nearest first', async () => {
    const B = 800;
    const D = 12;
    const K = 9;
    const bank = gaussian(B, D, 11);
    const Q = 100;
    const queries = new Float32Array(Q * D);
    queries.set(bank.subarray(0, 50 * D)); // bank entries themselves (as at fit time)
    queries.set(gaussian(50, D, 12), 50 * D);
    const out = await runOnce(buildTopKGraph(D, K), {
      queries: new ort.Tensor('float32', queries, [Q, D]),
      bank: new ort.Tensor('float32', bank, [B, D]),
    });
    expect(out.indices!.dims).toEqual([Q, K]);
    const idx = out.indices!.data as BigInt64Array;
    let exactRows = 0;
    for (let q = 0; q < Q; q++) {
      const r = ranked(queries, q, bank, B, D);
      const got = Array.from(idx.subarray(q * K, (q + 1) * K), Number);
      expect(new Set(got).size).toBe(K);
      // The distance at every rank matches the brute-force sorted distance (robust to ties)...
      got.forEach((m, j) => expect(Math.abs(sqDist(queries, q, bank, m, D) - r[j]!.d2)).toBeLessThanOrEqual(1e-4 * Math.max(1, r[j]!.d2)));
      // ...and where no two of the first k+1 are near ties, the indices are exactly the same.
      let clear = true;
      for (let j = 0; j < K; j++) if ((r[j + 1]!.d2 - r[j]!.d2) / Math.max(r[j + 1]!.d2, 1e-12) < 1e-4) clear = false;
      if (clear) {
        exactRows += 1;
        expect(got).toEqual(r.slice(0, K).map((e) => e.idx));
      }
      // A bank entry is its own nearest neighbour.
      if (q < 50) expect(got[0]).toBe(q);
    }
    expect(exactRows).toBeGreaterThanOrEqual(Q - 5);
  });
});

describe('buildAnomalyMapGraph', () => {
  /** JS reference: bilinear half-pixel upsample, reflect pad, separable Gaussian. */
  function referenceMap(scores: Float32Array, n: number, h: number, w: number, H: number, W: number, kernel: Float32Array): Float64Array {
    return blurReflect(bilinearHalfPixel(scores, n, 1, h, w, H, W), n, H, W, kernel);
  }

  const cases = [
    { n: 1, h: 4, w: 4, H: 32, W: 32, sigma: 4 },
    { n: 2, h: 4, w: 4, H: 32, W: 32, sigma: 2 },
    { n: 2, h: 4, w: 6, H: 32, W: 48, sigma: 4 }, // non-square: catches a swapped H/W
  ];
  for (const c of cases) {
    it(`matches upsample → reflect pad → Gaussian(σ=${c.sigma}) for [${c.n},1,${c.h},${c.w}] → ${c.H}×${c.W} within 1e-4`, async () => {
      const kernel = gaussianKernel(c.sigma);
      const rng = new Rng(c.n * 100 + c.w);
      const scores = new Float32Array(c.n * c.h * c.w);
      for (let i = 0; i < scores.length; i++) scores[i] = rng.next() * 5;
      scores[1] = 20; // a hot spot near the border: reflect padding matters there
      const out = await runOnce(buildAnomalyMapGraph(c.H, c.W, kernel), { scores: new ort.Tensor('float32', scores, [c.n, 1, c.h, c.w]) });
      expect(out.map!.dims).toEqual([c.n, 1, c.H, c.W]);
      const got = out.map!.data as Float32Array;
      const ref = referenceMap(scores, c.n, c.h, c.w, c.H, c.W, kernel);
      expect(maxRelDiff(got, ref)).toBeLessThan(1e-4);
      // Zero padding instead of reflect would lower the border: make sure the reference can tell.
      const zeroPad = blurZero(bilinearHalfPixel(scores, c.n, 1, c.h, c.w, c.H, c.W), c.n, c.H, c.W, kernel);
      expect(maxRelDiff(got, zeroPad)).toBeGreaterThan(1e-2);
    });
  }

  it('a constant score map stays constant (weights sum to 1, reflect keeps the border level)', async () => {
    const kernel = gaussianKernel(4);
    const out = await runOnce(buildAnomalyMapGraph(32, 32, kernel), { scores: new ort.Tensor('float32', new Float32Array(16).fill(2.5), [1, 1, 4, 4]) });
    for (const v of out.map!.data as Float32Array) expect(v).toBeCloseTo(2.5, 5);
  });

  /** Same blur with zero padding (a wrong implementation), for the discrimination check above. */
  function blurZero(src: Float64Array, planes: number, h: number, w: number, kernel: Float32Array): Float64Array {
    const r = (kernel.length - 1) / 2;
    const tmp = new Float64Array(src.length);
    const out = new Float64Array(src.length);
    for (let p = 0; p < planes; p++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let t = -r; t <= r; t++) if (x + t >= 0 && x + t < w) s += kernel[t + r]! * src[p * h * w + y * w + x + t]!;
          tmp[p * h * w + y * w + x] = s;
        }
    for (let p = 0; p < planes; p++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          let s = 0;
          for (let t = -r; t <= r; t++) if (y + t >= 0 && y + t < h) s += kernel[t + r]! * tmp[p * h * w + (y + t) * w + x]!;
          out[p * h * w + y * w + x] = s;
        }
    return out;
  }
});

describe('reference helpers (sanity)', () => {
  it('reflectIndex mirrors without repeating the edge', () => {
    expect([-3, -2, -1, 0, 1, 4, 5, 6, 7].map((i) => reflectIndex(i, 5))).toEqual([3, 2, 1, 0, 1, 4, 3, 2, 1]);
  });
  it('bilinearHalfPixel: 2 → 4 of [0, 1] is [0, 0.25, 0.75, 1]', () => {
    // Source coordinates (o + ½)/2 − ½ = −0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
    expect(Array.from(bilinearHalfPixel(Float32Array.of(0, 1), 1, 1, 1, 2, 1, 4))).toEqual([0, 0.25, 0.75, 1]);
  });
});

describe('gaussianKernel', () => {
  it('σ = 4: 33 taps (2·⌊4σ+½⌋+1), sums to 1, symmetric, peak at the centre, Gaussian ratios', () => {
    const k = gaussianKernel(4);
    expect(k.length).toBe(33);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    for (let i = 0; i < 16; i++) expect(k[i]).toBe(k[32 - i]);
    const peak = k.indexOf(Math.max(...k));
    expect(peak).toBe(16);
    for (let i = 16; i < 32; i++) expect(k[i + 1]!).toBeLessThan(k[i]!);
    // k[16+t]/k[16] = exp(−t²/(2σ²)) = exp(−t²/32).
    expect(k[17]! / k[16]!).toBeCloseTo(Math.exp(-1 / 32), 6);
    expect(k[32]! / k[16]!).toBeCloseTo(Math.exp(-256 / 32), 6);
  });

  it('other sizes, and σ ≤ 0 is refused', () => {
    expect(gaussianKernel(1).length).toBe(9);
    expect(gaussianKernel(2).length).toBe(17);
    expect(gaussianKernel(0.5).length).toBe(5);
    expect(() => gaussianKernel(0)).toThrow(/sigma/);
    expect(() => gaussianKernel(-1)).toThrow(/sigma/);
    expect(() => gaussianKernel(Number.NaN)).toThrow(/sigma/);
  });
});

describe('buildMinDistGraph', () => {
  it('gives min over the bank of ‖q − b‖² (clamped at 0) per query', async () => {
    const D = 10;
    const bank = gaussian(700, D, 21);
    const Q = 120;
    const queries = new Float32Array(Q * D);
    queries.set(gaussian(110, D, 22));
    queries.set(bank.subarray(0, 10 * D), 110 * D); // exact copies: distance 0, never negative
    const out = await runOnce(buildMinDistGraph(D), {
      queries: new ort.Tensor('float32', queries, [Q, D]),
      bank: new ort.Tensor('float32', bank, [700, D]),
    });
    expect(out.mind!.dims).toEqual([Q]);
    const got = out.mind!.data as Float32Array;
    const ref = Array.from({ length: Q }, (_, q) => ranked(queries, q, bank, 700, D)[0]!.d2);
    expect(maxRelDiff(got.subarray(0, 110), ref.slice(0, 110))).toBeLessThan(1e-4);
    for (let q = 110; q < Q; q++) {
      expect(got[q]).toBeGreaterThanOrEqual(0);
      expect(got[q]).toBeLessThan(1e-4);
    }
  });
});
