/**
 * The patch-feature extractor graph vs a plain-JS reference of PatchCore §3.1:
 *   normalise → truncated backbone (run in its own ORT session) → 3×3 average pooling
 *   (zero padding, pads counted) → bilinear (half-pixel) upsample of the stride-16 map to the
 *   stride-8 grid → concat → rows (n·h + y)·w + x.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadBackbone, type BackboneFile } from '../../../src-main/engine/backbone/backbone';
import { adaptivePoolMatrix, buildExtractorGraph, embeddingDim, IMAGENET_MEAN, IMAGENET_STD, type EmbeddingConfig } from '../../../src-main/engine/backbone/extractor';
import { FeatureExtractor } from '../../../src-main/engine/backbone/feature-extractor';
import { truncate, type TapInfo } from '../../../src-main/engine/backbone/taps';
import { Rng } from '../../../src-main/engine/core/random';
import { KensaError } from '../../../src-main/engine/errors';
import { decodeModel, DType, encodeModel, GraphBuilder } from '../../../src-main/engine/ort/onnx-builder';
import { createSession, ort } from '../../../src-main/engine/ort/session';
import { avgPoolSame, bilinearHalfPixel, maxRelDiff } from '../../helpers/reference';
import { TINY_INPUT, TINY_TAPS, writeTinyBackbone } from '../../helpers/tiny-backbone';

let dir: string;
let tiny: BackboneFile;
let tinySym: BackboneFile;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-extractor-'));
  tiny = await loadBackbone(writeTinyBackbone(dir, 1));
  tinySym = await loadBackbone(writeTinyBackbone(dir, 1, { symbolic: true }));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const cfgFor = (width: number, height: number, over: Partial<EmbeddingConfig> = {}): EmbeddingConfig => ({
  width,
  height,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  aggregation: 3,
  projectDim: null,
  ...over,
});

/** n seeded random uint8 RGB images [n, H, W, 3], with some smooth structure so pooling matters. */
function images(n: number, width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const rgb = new Uint8Array(n * width * height * 3);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++)
        for (let c = 0; c < 3; c++) {
          const v = 128 + 80 * Math.sin((x * (c + 1)) / 7 + i) * Math.cos(y / 5) + 40 * (rng.next() - 0.5);
          rgb[((i * height + y) * width + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
        }
  return rgb;
}

/** ImageNet normalisation in float64, uint8 NHWC → float NCHW. */
function normalise(rgb: Uint8Array, n: number, width: number, height: number): Float32Array {
  const out = new Float32Array(n * 3 * height * width);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < height; y++)
        for (let x = 0; x < width; x++) {
          const v = rgb[((i * height + y) * width + x) * 3 + c]!;
          out[((i * 3 + c) * height + y) * width + x] = (v / 255 - IMAGENET_MEAN[c]!) / IMAGENET_STD[c]!;
        }
  return out;
}

/** Runs the backbone truncated at `taps` in its own session; returns each tap's NCHW map. */
async function runTruncated(bb: BackboneFile, taps: TapInfo[], input: Float32Array, dims: number[]): Promise<ort.Tensor[]> {
  const s = await createSession(encodeModel(truncate(bb.model, taps.map((t) => t.name)), 13), { ep: 'cpu', threads: 1 });
  const out = await s.run({ [TINY_INPUT]: new ort.Tensor('float32', input, dims) });
  await s.release();
  return taps.map((t) => out[t.name]!);
}

/**
 * Reference patches [n·h·w, D]: pool (k = aggregation, skipped for 1) each tap, upsample deeper
 * taps to the first tap's grid, concat channels, NCHW → rows.
 */
function referencePatches(maps: ort.Tensor[], aggregation: number): { data: Float64Array; n: number; h: number; w: number; dim: number } {
  const [n, , h, w] = maps[0]!.dims as number[];
  const parts = maps.map((m) => {
    const [mn, c, mh, mw] = m.dims as number[];
    let v: Float64Array | Float32Array = m.data as Float32Array;
    if (aggregation > 1) v = avgPoolSame(v, mn!, c!, mh!, mw!, aggregation);
    if (mh !== h || mw !== w) v = bilinearHalfPixel(v, mn!, c!, mh!, mw!, h!, w!);
    return { c: c!, v };
  });
  const dim = parts.reduce((s, p) => s + p.c, 0);
  const data = new Float64Array(n! * h! * w! * dim);
  for (let b = 0; b < n!; b++)
    for (let y = 0; y < h!; y++)
      for (let x = 0; x < w!; x++) {
        const row = (b * h! + y) * w! + x;
        let off = 0;
        for (const p of parts) {
          for (let c = 0; c < p.c; c++) data[row * dim + off + c] = p.v[((b * p.c + c) * h! + y) * w! + x]!;
          off += p.c;
        }
      }
  return { data, n: n!, h: h!, w: w!, dim };
}

describe('extractor vs JS reference (tiny backbone)', () => {
  const cases = [
    { label: '64×64, fixed input', sym: false, width: 64, height: 64, n: 2 },
    { label: '96 wide × 64 high, symbolic input (h ≠ w catches a transposed layout)', sym: true, width: 96, height: 64, n: 2 },
  ];
  for (const c of cases) {
    it(`patches match pool → upsample → concat within 1e-4: ${c.label}`, async () => {
      const bb = c.sym ? tinySym : tiny;
      const cfg = cfgFor(c.width, c.height);
      const ex = await FeatureExtractor.create(bb, cfg, 'cpu');
      try {
        expect(ex.taps.map((t) => [t.name, t.stride])).toEqual([
          [TINY_TAPS.s8, 8],
          [TINY_TAPS.s16, 16],
        ]);
        const rgb = images(c.n, c.width, c.height, 7);
        const got = await ex.extract(rgb, c.n);
        expect([got.n, got.h, got.w, got.dim]).toEqual([c.n, c.height / 8, c.width / 8, 40]);
        expect(got.data.length).toBe(c.n * (c.height / 8) * (c.width / 8) * 40);

        const maps = await runTruncated(bb, ex.taps, normalise(rgb, c.n, c.width, c.height), [c.n, 3, c.height, c.width]);
        expect(maps[0]!.dims).toEqual([c.n, 16, c.height / 8, c.width / 8]);
        expect(maps[1]!.dims).toEqual([c.n, 24, c.height / 16, c.width / 16]);
        const ref = referencePatches(maps, 3);
        expect([ref.h, ref.w, ref.dim]).toEqual([got.h, got.w, got.dim]);
        // The reference is not trivially small (the comparison means something).
        expect(Math.max(...Array.from(ref.data, Math.abs))).toBeGreaterThan(0.1);
        expect(maxRelDiff(got.data, ref.data)).toBeLessThan(1e-4);
      } finally {
        await ex.release();
      }
    });
  }

  it('the comparison is sensitive: pads not counted, or align-corners upsampling, would be caught', async () => {
    const cfg = cfgFor(64, 64);
    const ex = await FeatureExtractor.create(tiny, cfg, 'cpu');
    try {
      const rgb = images(1, 64, 64, 9);
      const got = await ex.extract(rgb, 1);
      const maps = await runTruncated(tiny, ex.taps, normalise(rgb, 1, 64, 64), [1, 3, 64, 64]);
      expect(maxRelDiff(got.data, referencePatches(maps, 3).data)).toBeLessThan(1e-4);
      // Variant 1: average over the valid pixels only (count_include_pad = 0) on the s8 map.
      const s8 = maps[0]!.data as Float32Array;
      const excl = (y: number, x: number, c: number): number => {
        let s = 0;
        let n = 0;
        for (let dy = -1; dy <= 1; dy++)
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy < 0 || yy > 7 || xx < 0 || xx > 7) continue;
            s += s8[(c * 8 + yy) * 8 + xx]!;
            n += 1;
          }
        return s / n;
      };
      let worst = 0;
      for (let c = 0; c < 16; c++) worst = Math.max(worst, Math.abs(got.data[c]! - excl(0, 0, c))); // corner patch
      expect(worst).toBeGreaterThan(1e-3);
      // Variant 2: align-corners bilinear (source = o·(in−1)/(out−1)) for the s16 part.
      const pooled16 = avgPoolSame(maps[1]!.data as Float32Array, 1, 24, 4, 4, 3);
      const ac = (y: number, x: number, c: number): number => {
        const sy = (y * 3) / 7;
        const sx = (x * 3) / 7;
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const y1 = Math.min(y0 + 1, 3);
        const x1 = Math.min(x0 + 1, 3);
        const fy = sy - y0;
        const fx = sx - x0;
        const v = (yy: number, xx: number): number => pooled16[(c * 4 + yy) * 4 + xx]!;
        return (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x1)) + fy * ((1 - fx) * v(y1, x0) + fx * v(y1, x1));
      };
      worst = 0;
      for (let c = 0; c < 24; c++) worst = Math.max(worst, Math.abs(got.data[(1 * 8 + 2) * 40 + 16 + c]! - ac(1, 2, c)));
      expect(worst).toBeGreaterThan(1e-3);
    } finally {
      await ex.release();
    }
  });

  it('aggregation 1 skips pooling: raw taps, stride-16 map only upsampled; no AveragePool in the graph', async () => {
    const cfg = cfgFor(64, 64, { aggregation: 1 });
    const ex = await FeatureExtractor.create(tiny, cfg, 'cpu');
    try {
      const rgb = images(1, 64, 64, 3);
      const got = await ex.extract(rgb, 1);
      const maps = await runTruncated(tiny, ex.taps, normalise(rgb, 1, 64, 64), [1, 3, 64, 64]);
      const ref = referencePatches(maps, 1);
      expect(maxRelDiff(got.data, ref.data)).toBeLessThan(1e-4);
      // The stride-8 part of each row is exactly the raw tap value (no pooling at all).
      const s8 = maps[0]!.data as Float32Array;
      for (const [y, x, ch] of [
        [0, 0, 0],
        [3, 5, 7],
        [7, 7, 15],
      ] as const) {
        expect(got.data[(y * 8 + x) * 40 + ch]).toBeCloseTo(s8[(ch * 8 + y) * 8 + x]!, 5);
      }
      // And it differs from the pooled result (pooling really is skipped, not always applied).
      const pooled = referencePatches(maps, 3);
      expect(maxRelDiff(got.data, pooled.data)).toBeGreaterThan(1e-2);
    } finally {
      await ex.release();
    }
    const bytes = buildExtractorGraph(tiny.model, tiny.file, [
      { name: TINY_TAPS.s8, channels: 16, stride: 8 },
      { name: TINY_TAPS.s16, channels: 24, stride: 16 },
    ], cfg);
    const ops = decodeModel(bytes).graph!.node!.map((n) => n.opType);
    expect(ops).not.toContain('AveragePool');
    expect(ops).toContain('Resize');
  });

  it('an even or zero aggregation is refused with INVALID_ARGUMENT', () => {
    const taps: TapInfo[] = [{ name: TINY_TAPS.s8, channels: 16, stride: 8 }];
    for (const aggregation of [0, 2, 4]) {
      let err: unknown;
      try {
        buildExtractorGraph(tiny.model, tiny.file, taps, cfgFor(64, 64, { aggregation }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KensaError);
      expect((err as KensaError).code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('ImageNet normalisation', () => {
  /**
   * A "backbone" whose taps are plain block averages of its input (AveragePool 8×8 / 16×16,
   * stride = kernel), so the extractor's output exposes the normalised pixels directly.
   */
  function averagingBackbone(): BackboneFile {
    const g = new GraphBuilder('avg_backbone');
    g.input('img', DType.FLOAT, ['N', 3, 64, 64]);
    g.op1('AveragePool', ['img'], { kernel_shape: [8, 8], strides: [8, 8] }, 's8');
    g.op1('AveragePool', ['img'], { kernel_shape: [16, 16], strides: [16, 16] }, 's16');
    g.op1('Add', ['s16', 's16'], {}, 'unused'); // some later node
    g.output('unused', DType.FLOAT, null);
    const model = decodeModel(g.toModel(13));
    return { id: 'avg', file: 'avg.onnx', sha256: '', bytes: 0, taps: ['s8', 's16'], model };
  }
  const taps: TapInfo[] = [
    { name: 's8', channels: 3, stride: 8 },
    { name: 's16', channels: 3, stride: 16 },
  ];

  async function extractRaw(rgb: Uint8Array): Promise<{ data: Float32Array; h: number; w: number }> {
    const bb = averagingBackbone();
    const bytes = buildExtractorGraph(bb.model, bb.file, taps, cfgFor(64, 64, { aggregation: 1 }));
    const s = await createSession(bytes, { ep: 'cpu', threads: 1 });
    const out = await s.run({ image: new ort.Tensor('uint8', rgb, [1, 64, 64, 3]) });
    await s.release();
    const grid = out.grid!.data as BigInt64Array;
    expect(out.patches!.dims).toEqual([64, 6]);
    return { data: out.patches!.data as Float32Array, h: Number(grid[0]), w: Number(grid[1]) };
  }

  it('an image of 124/116/104 (≈ 255·mean) gives ≈ 0 input everywhere', async () => {
    const rgb = new Uint8Array(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) rgb.set([124, 116, 104], i * 3);
    const { data, h, w } = await extractRaw(rgb);
    expect([h, w]).toEqual([8, 8]);
    // Hand: (124/255 − 0.485)/0.229 = (0.486275 − 0.485)/0.229 =  0.00557,
    //       (116/255 − 0.456)/0.224 = (0.454902 − 0.456)/0.224 = −0.00490,
    //       (104/255 − 0.406)/0.225 = (0.407843 − 0.406)/0.225 =  0.00819.
    const expected = [0.00557, -0.0049, 0.00819];
    for (let r = 0; r < 64; r++)
      for (let c = 0; c < 6; c++) {
        expect(Math.abs(data[r * 6 + c]!)).toBeLessThan(0.01);
        expect(data[r * 6 + c]).toBeCloseTo(expected[c % 3]!, 4);
      }
  });

  it('black and white map to −μ/σ and (1−μ)/σ per channel', async () => {
    for (const [v, hand] of [
      [0, [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]], // −2.1179, −2.0357, −1.8044
      [255, [0.515 / 0.229, 0.544 / 0.224, 0.594 / 0.225]], //  2.2489,  2.4286,  2.64
    ] as const) {
      const { data } = await extractRaw(new Uint8Array(64 * 64 * 3).fill(v));
      for (let c = 0; c < 6; c++) expect(data[c]).toBeCloseTo(hand[c % 3]!, 4);
    }
  });

  it('channels are not swapped and NHWC → NCHW / row layout is right', async () => {
    // R depends on x only, G on y only, B constant: block (y, x) averages are known in closed form.
    const rgb = new Uint8Array(64 * 64 * 3);
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) rgb.set([x * 4, y * 2, 200], (y * 64 + x) * 3);
    const { data } = await extractRaw(rgb);
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) {
        const row = y * 8 + x;
        // mean of 4·x' over x' in [8x, 8x+8) = 4·(8x + 3.5); G likewise with 2·(8y + 3.5).
        const r = (4 * (8 * x + 3.5)) / 255;
        const g = (2 * (8 * y + 3.5)) / 255;
        expect(data[row * 6 + 0]).toBeCloseTo((r - 0.485) / 0.229, 4);
        expect(data[row * 6 + 1]).toBeCloseTo((g - 0.456) / 0.224, 4);
        expect(data[row * 6 + 2]).toBeCloseTo((200 / 255 - 0.406) / 0.225, 4);
      }
  });
});

describe('projectDim: adaptive average pooling over channels', () => {
  it('adaptivePoolMatrix(10, 4) has torch bin edges [0,3) [2,5) [5,8) [7,10) and rows summing to 1', () => {
    const m = adaptivePoolMatrix(10, 4);
    const bins = [
      [0, 3],
      [2, 5],
      [5, 8],
      [7, 10],
    ];
    bins.forEach(([s, e], o) => {
      for (let i = 0; i < 10; i++) expect(m[o * 10 + i]).toBeCloseTo(i >= s! && i < e! ? 1 / 3 : 0, 7);
    });
  });

  it('rows sum to 1 and each covers a contiguous bin, for several sizes', () => {
    for (const [inD, outD] of [
      [40, 12],
      [40, 40],
      [7, 3],
      [1536, 1024],
    ] as const) {
      const m = adaptivePoolMatrix(inD, outD);
      for (let o = 0; o < outD; o++) {
        let s = 0;
        const nz: number[] = [];
        for (let i = 0; i < inD; i++) {
          s += m[o * inD + i]!;
          if (m[o * inD + i]! !== 0) nz.push(i);
        }
        expect(s).toBeCloseTo(1, 5);
        expect(nz.at(-1)! - nz[0]! + 1).toBe(nz.length); // contiguous
        expect(nz[0]).toBe(Math.floor((o * inD) / outD));
        expect(nz.at(-1)! + 1).toBe(Math.ceil(((o + 1) * inD) / outD));
      }
    }
    // 40 → 40 is the identity.
    const id = adaptivePoolMatrix(40, 40);
    for (let o = 0; o < 40; o++) for (let i = 0; i < 40; i++) expect(id[o * 40 + i]).toBe(o === i ? 1 : 0);
  });

  it('the extractor with projectDim 12 gives the unprojected patches pooled over channels', async () => {
    const rgb = images(2, 64, 64, 11);
    const full = await FeatureExtractor.create(tiny, cfgFor(64, 64), 'cpu');
    const proj = await FeatureExtractor.create(tiny, cfgFor(64, 64, { projectDim: 12 }), 'cpu');
    try {
      expect(full.dim).toBe(40);
      expect(proj.dim).toBe(12);
      const a = await full.extract(rgb, 2);
      const b = await proj.extract(rgb, 2);
      expect(b.dim).toBe(12);
      expect(b.data.length).toBe(2 * 64 * 12);
      // Reference: bins of torch's adaptive_avg_pool1d over 40 channels, computed here directly.
      const ref = new Float64Array(2 * 64 * 12);
      for (let r = 0; r < 128; r++)
        for (let o = 0; o < 12; o++) {
          const s = Math.floor((o * 40) / 12);
          const e = Math.ceil(((o + 1) * 40) / 12);
          let acc = 0;
          for (let i = s; i < e; i++) acc += a.data[r * 40 + i]!;
          ref[r * 12 + o] = acc / (e - s);
        }
      expect(maxRelDiff(b.data, ref)).toBeLessThan(1e-4);
    } finally {
      await full.release();
      await proj.release();
    }
  });

  it('projectDim ≥ D keeps D (no projection)', async () => {
    const taps: TapInfo[] = [
      { name: 'a', channels: 16, stride: 8 },
      { name: 'b', channels: 24, stride: 16 },
    ];
    expect(embeddingDim(taps, cfgFor(64, 64, { projectDim: 40 }))).toBe(40);
    expect(embeddingDim(taps, cfgFor(64, 64, { projectDim: 1000 }))).toBe(40);
    expect(embeddingDim(taps, cfgFor(64, 64, { projectDim: null }))).toBe(40);
    expect(embeddingDim(taps, cfgFor(64, 64, { projectDim: 39 }))).toBe(39);
    const rgb = images(1, 64, 64, 5);
    const a = await FeatureExtractor.create(tiny, cfgFor(64, 64, { projectDim: 1000 }), 'cpu');
    const b = await FeatureExtractor.create(tiny, cfgFor(64, 64), 'cpu');
    try {
      const pa = await a.extract(rgb, 1);
      const pb = await b.extract(rgb, 1);
      expect(pa.dim).toBe(40);
      expect(Array.from(pa.data)).toEqual(Array.from(pb.data));
    } finally {
      await a.release();
      await b.release();
    }
  });
});

describe('FeatureExtractor.extract input checks', () => {
  it('a byte count that does not match n × H × W × 3 is refused', async () => {
    const ex = await FeatureExtractor.create(tiny, cfgFor(64, 64), 'cpu');
    try {
      await expect(ex.extract(new Uint8Array(64 * 64 * 3 - 1), 1)).rejects.toThrow(/extract/);
      await expect(ex.extract(new Uint8Array(64 * 64 * 3), 2)).rejects.toThrow(/extract/);
    } finally {
      await ex.release();
    }
  });
});
