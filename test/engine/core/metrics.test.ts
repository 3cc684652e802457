import { describe, it, expect } from 'vitest';
import {
  auroc,
  connectedComponents,
  f1Max,
  pg0,
  PixelMetricsAccumulator,
  prCurve,
  rocCurve,
  trapezoidUpTo,
  zeroMiss,
} from '../../../src-main/engine/core/metrics';
import { KensaError } from '../../../src-main/engine/errors';

/** Small deterministic PRNG (mulberry32) so the random cases are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random blobs (discs and rectangles) on a width × height mask. */
function blobMask(rand: () => number, width: number, height: number, blobs: number, maxR: number): Uint8Array {
  const m = new Uint8Array(width * height);
  for (let b = 0; b < blobs; b++) {
    const cx = Math.floor(rand() * width);
    const cy = Math.floor(rand() * height);
    const r = 1 + Math.floor(rand() * maxR);
    const disc = rand() < 0.5;
    for (let y = Math.max(0, cy - r); y <= Math.min(height - 1, cy + r); y++) {
      for (let x = Math.max(0, cx - r); x <= Math.min(width - 1, cx + r); x++) {
        if (!disc || (x - cx) ** 2 + (y - cy) ** 2 <= r * r) m[y * width + x] = 1;
      }
    }
  }
  return m;
}


// ---------------------------------------------------------------------------------------------

describe('auroc / rocCurve', () => {
  it('perfect separation = 1, reversed = 0, all equal = 0.5', () => {
    // every defect above every good part → all 2·2 pairs won → 4/4
    expect(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    // every defect below every good part → 0/4
    expect(auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0])).toBe(0);
    // all 2·2 pairs tie → 4 · 1/2 / 4
    expect(auroc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
  });

  it('3 good / 2 defect with one tie, by hand', () => {
    // good: 0.1, 0.4, 0.6   defect: 0.6, 0.9
    // defect 0.9 beats all 3 good                     → 3
    // defect 0.6 beats 0.1 and 0.4, ties 0.6 (1/2)     → 2.5
    // AUROC = 5.5 / (2·3) = 11/12
    const scores = [0.1, 0.6, 0.4, 0.9, 0.6];
    const labels = [0, 1, 0, 1, 0];
    expect(auroc(scores, labels)).toBeCloseTo(11 / 12, 14);
  });

  it('rocCurve: starts at (0,0) with +Infinity, tied good+defect scores make ONE diagonal step', () => {
    // same data; distinct scores descending: 0.9 (D), 0.6 (D+G), 0.4 (G), 0.1 (G); P = 2, N = 3
    //   +Inf → (0, 0)
    //   0.9  → (0, 1/2)
    //   0.6  → (1/3, 1)   ← the tie: one point, diagonal step from (0, 1/2)
    //   0.4  → (2/3, 1)
    //   0.1  → (1, 1)
    const c = rocCurve([0.1, 0.6, 0.4, 0.9, 0.6], [0, 1, 0, 1, 0]);
    expect(Array.from(c.thresholds)).toEqual([Infinity, 0.9, 0.6, 0.4, 0.1]);
    const fpr = Array.from(c.fpr);
    const tpr = Array.from(c.tpr);
    const want = [
      [0, 0],
      [0, 0.5],
      [1 / 3, 1],
      [2 / 3, 1],
      [1, 1],
    ];
    expect(fpr.length).toBe(5);
    want.forEach(([f, t], i) => {
      expect(fpr[i]).toBeCloseTo(f, 14);
      expect(tpr[i]).toBeCloseTo(t, 14);
    });
    // and its trapezoid area is the Mann–Whitney value 11/12
    expect(trapezoidUpTo(c.fpr, c.tpr, 1)).toBeCloseTo(11 / 12, 14);
  });

  it('all scores tied → a single diagonal from (0,0) to (1,1)', () => {
    const c = rocCurve([3, 3, 3], [0, 1, 0]);
    expect(Array.from(c.fpr)).toEqual([0, 1]);
    expect(Array.from(c.tpr)).toEqual([0, 1]);
    expect(Array.from(c.thresholds)).toEqual([Infinity, 3]);
  });

  it('NaN when a class is empty; bad input throws INVALID_ARGUMENT', () => {
    expect(auroc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(auroc([0.1, 0.2], [1, 1])).toBeNaN();
    expect(auroc([], [])).toBeNaN();
    expect(() => auroc([0.1], [0, 1])).toThrow(KensaError);
    expect(() => auroc([NaN, 0.1], [0, 1])).toThrow(KensaError);
    expect(() => auroc([0.2, 0.1], [0, 2])).toThrow(KensaError);
  });
});

describe('prCurve / f1Max', () => {
  // defect 0.9, good 0.8, defect 0.7, defect 0.3, good 0.2 (P = 3); F1 = 2TP / (TP + FP + P)
  //   t = 0.9: TP 1 FP 0 → 2/4 = 0.5
  //   t = 0.8: TP 1 FP 1 → 2/5 = 0.4
  //   t = 0.7: TP 2 FP 1 → 4/6 ≈ 0.667
  //   t = 0.3: TP 3 FP 1 → 6/7 ≈ 0.857   ← best: precision 3/4, recall 1
  //   t = 0.2: TP 3 FP 2 → 6/8 = 0.75
  const scores = [0.2, 0.9, 0.3, 0.8, 0.7];
  const labels = [0, 1, 1, 0, 1];

  it('prCurve points by hand', () => {
    const pr = prCurve(scores, labels);
    expect(Array.from(pr.thresholds)).toEqual([0.9, 0.8, 0.7, 0.3, 0.2]);
    const wantP = [1, 1 / 2, 2 / 3, 3 / 4, 3 / 5];
    const wantR = [1 / 3, 1 / 3, 2 / 3, 1, 1];
    wantP.forEach((p, i) => expect(pr.precision[i]).toBeCloseTo(p, 14));
    wantR.forEach((r, i) => expect(pr.recall[i]).toBeCloseTo(r, 14));
  });

  it('f1Max by hand', () => {
    const r = f1Max(scores, labels);
    expect(r.f1).toBeCloseTo(6 / 7, 14);
    expect(r.threshold).toBe(0.3);
    expect(r.precision).toBeCloseTo(3 / 4, 14);
    expect(r.recall).toBe(1);
  });

  it('f1Max: equal F1 at two thresholds → the higher threshold', () => {
    // defect 0.9, good 0.8, good 0.7, defect 0.6 (P = 2)
    //   t = 0.9: 2·1 / (1 + 0 + 2) = 2/3
    //   t = 0.8: 2 / (1 + 1 + 2)   = 1/2
    //   t = 0.7: 2 / (1 + 2 + 2)   = 2/5
    //   t = 0.6: 4 / (2 + 2 + 2)   = 2/3   ← ties with 0.9; 0.9 is kept
    const r = f1Max([0.9, 0.8, 0.7, 0.6], [1, 0, 0, 1]);
    expect(r.f1).toBeCloseTo(2 / 3, 14);
    expect(r.threshold).toBe(0.9);
    expect(r.precision).toBe(1);
    expect(r.recall).toBe(0.5);
  });

  it('no positives → NaN fields; no negatives → F1 1 at the lowest defect score', () => {
    for (const r of [f1Max([0.1, 0.5], [0, 0]), f1Max([], [])]) {
      expect(r.f1).toBeNaN();
      expect(r.threshold).toBeNaN();
      expect(r.precision).toBeNaN();
      expect(r.recall).toBeNaN();
    }
    // all defects: flagging everything (t = 0.2) gives TP 2, FP 0 → F1 = 4/4
    const r = f1Max([0.5, 0.2], [1, 1]);
    expect(r).toEqual({ f1: 1, threshold: 0.2, precision: 1, recall: 1 });
    // no positives → recall is 0/0
    expect(Number.isNaN(prCurve([0.1], [0]).recall[0])).toBe(true);
  });
});

describe('zeroMiss / pg0', () => {
  it('no defects → null', () => {
    expect(zeroMiss([0.1, 0.2], [0, 0])).toBeNull();
    expect(pg0([0.1, 0.2], [0, 0])).toBeNull();
    expect(pg0([], [])).toBeNull();
  });

  it('one defect', () => {
    // good 0.1, 0.2, 0.5; defect 0.3 → threshold 0.3; good below it: 0.1, 0.2 → 2/3 pass
    const r = zeroMiss([0.1, 0.3, 0.2, 0.5], [0, 1, 0, 0]);
    expect(r).toEqual({ threshold: 0.3, pg0: 2 / 3, goodPassed: 2, goodTotal: 3, defectTotal: 1 });
    expect(pg0([0.1, 0.3, 0.2, 0.5], [0, 1, 0, 0])).toBe(2 / 3);
  });

  it('ties: a good part with exactly the min defect score is flagged, so not passed', () => {
    // good 0.1, 0.3, 0.3, 0.5; defect 0.3, 0.8 → threshold 0.3
    // good strictly below 0.3: only 0.1 → 1/4
    const r = zeroMiss([0.1, 0.3, 0.3, 0.5, 0.3, 0.8], [0, 0, 0, 0, 1, 1]);
    expect(r).toEqual({ threshold: 0.3, pg0: 1 / 4, goodPassed: 1, goodTotal: 4, defectTotal: 2 });
  });

  it('all scores equal → pg0 = 0', () => {
    expect(pg0([0.7, 0.7, 0.7, 0.7], [0, 1, 0, 0])).toBe(0);
  });

  it('no good parts → pg0 NaN (0/0), still a result', () => {
    const r = zeroMiss([0.4, 0.6], [1, 1]);
    expect(r?.threshold).toBe(0.4);
    expect(r?.goodTotal).toBe(0);
    expect(r?.pg0).toBeNaN();
  });
});

describe('connectedComponents', () => {
  it('two diagonal-touching pixels: one region with 8-connectivity, two with 4', () => {
    // 1 0
    // 0 1
    const m = new Uint8Array([1, 0, 0, 1]);
    const c8 = connectedComponents(m, 2, 2);
    expect(c8.count).toBe(1);
    expect(Array.from(c8.labels)).toEqual([1, 0, 0, 1]);
    const c4 = connectedComponents(m, 2, 2, 4);
    expect(c4.count).toBe(2);
    expect(Array.from(c4.labels)).toEqual([1, 0, 0, 2]);
  });

  it('a ring is one region (hole is background); a dot inside it is a second region', () => {
    // 5×5 border ring (16 pixels) + the centre pixel, which is 2 pixels away from the ring
    const w = 5;
    const m = new Uint8Array(25);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 5; x++) if (x === 0 || y === 0 || x === 4 || y === 4) m[y * w + x] = 1;
    let c = connectedComponents(m, 5, 5);
    expect(c.count).toBe(1);
    expect(c.labels.filter((l) => l === 1).length).toBe(16);
    expect(c.labels[2 * w + 2]).toBe(0);
    expect(connectedComponents(m, 5, 5, 4).count).toBe(1); // a ring is 4-connected too
    m[2 * w + 2] = 1;
    c = connectedComponents(m, 5, 5);
    expect(c.count).toBe(2);
    expect(c.labels[0]).toBe(1); // raster order: the ring is met first
    expect(c.labels[2 * w + 2]).toBe(2);
  });

  it('checkerboard: 4-connectivity → every pixel alone, 8-connectivity → one region', () => {
    const w = 6;
    const h = 5;
    const m = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = (x + y) % 2 === 0 ? 1 : 0;
    expect(connectedComponents(m, w, h, 4).count).toBe(15);
    expect(connectedComponents(m, w, h, 8).count).toBe(1);
  });

  it('a 2048×2048 filled mask runs without stack overflow (iterative)', () => {
    const n = 2048;
    const m = new Uint8Array(n * n).fill(255); // any nonzero value is foreground
    const c = connectedComponents(m, n, n);
    expect(c.count).toBe(1);
    expect(c.labels[0]).toBe(1);
    expect(c.labels[n * n - 1]).toBe(1);
    expect(c.labels.every((l) => l === 1)).toBe(true);
  });

  it('empty mask → no regions; size mismatch throws', () => {
    expect(connectedComponents(new Uint8Array(12), 4, 3).count).toBe(0);
    expect(connectedComponents(new Uint8Array(0), 0, 0).count).toBe(0);
    expect(() => connectedComponents(new Uint8Array(11), 4, 3)).toThrow(KensaError);
  });
});

// ---------------------------------------------------------------------------------------------

/** Brute-force PRO: every distinct score is a threshold; regions labelled by a separate DFS. */
function bruteForcePro(
  maps: Float32Array[],
  masks: (Uint8Array | null)[],
  width: number,
  height: number,
  limit: number,
): number {
  // independent 8-connected labelling (recursion is fine at 16×16)
  const regions: number[][] = []; // each region: the scores of its pixels
  const goodScores: number[] = [];
  maps.forEach((map, img) => {
    const mask = masks[img];
    const seen = new Uint8Array(width * height);
    const visit = (x: number, y: number, acc: number[]): void => {
      if (x < 0 || y < 0 || x >= width || y >= height) return;
      const i = y * width + x;
      if (seen[i] || !mask || !mask[i]) return;
      seen[i] = 1;
      acc.push(map[i]);
      for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) if (dx || dy) visit(x + dx, y + dy, acc);
    };
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (mask && mask[i]) {
          if (!seen[i]) {
            const acc: number[] = [];
            visit(x, y, acc);
            regions.push(acc);
          }
        } else {
          goodScores.push(map[i]);
        }
      }
    }
  });
  const all = new Set<number>();
  for (const m of maps) for (const v of m) all.add(v);
  const thresholds = [...all].sort((a, b) => b - a);
  const xs = [0];
  const ys = [0];
  for (const t of thresholds) {
    xs.push(goodScores.filter((s) => s >= t).length / goodScores.length);
    ys.push(regions.reduce((sum, r) => sum + r.filter((s) => s >= t).length / r.length, 0) / regions.length);
  }
  // trapezoid to `limit`, interpolating the point at exactly `limit`
  let area = 0;
  for (let i = 1; i < xs.length; i++) {
    if (xs[i] <= limit) {
      area += ((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1])) / 2;
    } else {
      if (xs[i - 1] < limit) {
        const yl = ys[i - 1] + ((ys[i] - ys[i - 1]) * (limit - xs[i - 1])) / (xs[i] - xs[i - 1]);
        area += ((limit - xs[i - 1]) * (yl + ys[i - 1])) / 2;
      }
      break;
    }
  }
  return area / limit;
}

describe('PixelMetricsAccumulator', () => {
  it('perfect map (defect = 1, good = 0) → pixelAuroc 1, pro 1', () => {
    const w = 8;
    const h = 8;
    const mask = blobMask(rng(1), w, h, 2, 2);
    const map = Float32Array.from(mask, (m) => (m ? 1 : 0));
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1 });
    acc.add(map, mask, w, h);
    acc.add(new Float32Array(w * h), null, w, h); // an all-good image scoring 0 everywhere
    expect(acc.pixelAuroc()).toBe(1);
    // curve: (0,0) → (0,1) at the top bin → (1,1) at bin 0 → area over [0, 0.3] = 0.3 → /0.3 = 1
    expect(acc.pro()).toBeCloseTo(1, 12);
    expect(acc.pro(1)).toBeCloseTo(1, 12);
  });

  it('a map that misses one of two regions entirely → PRO 0.5 (good pixels in between)', () => {
    // 10×10 image; region A = 2×2 block top-left scoring 1, region B = 2×2 block bottom-right
    // scoring 0, the 92 good pixels score 0.5. R = 2, N = 92.
    //   t = 1   (top bin):  FP 0   → (0, 1/2)      (A fully covered, B not)
    //   t = 0.5:            FP 92  → (1, 1/2)
    //   t = 0:              FP 92  → (1, 1)
    // ∫₀^0.3 PRO dFPR = 0.3 · 1/2 → PRO₀.₃ = 0.5 exactly
    // pixel AUROC: 4 defect pixels beat all 92 good, 4 lose to all → (4·92)/(8·92) = 0.5
    const w = 10;
    const mask = new Uint8Array(100);
    const map = new Float32Array(100).fill(0.5);
    for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      mask[y * w + x] = 1;
      map[y * w + x] = 1;
    }
    for (const [x, y] of [[8, 8], [9, 8], [8, 9], [9, 9]]) {
      mask[y * w + x] = 1;
      map[y * w + x] = 0;
    }
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1 });
    acc.add(map, mask, 10, 10);
    expect(acc.counts).toEqual({ goodPixels: 92, defectPixels: 8, regions: 2, images: 1 });
    expect(acc.pro()).toBeCloseTo(0.5, 12);
    expect(acc.pro(1)).toBeCloseTo(0.5, 12);
    expect(acc.pixelAuroc()).toBeCloseTo(0.5, 12);
  });

  it('missed region scoring like the good pixels → the (1,1) interpolation gives 0.575', () => {
    // same masks, but good pixels AND region B score 0: points (0,0) → (0, 1/2) → (1, 1).
    // PRO at FPR 0.3 on the segment (0, 1/2)–(1, 1): 1/2 + 0.3/2 = 0.65
    // area = 0.3 · (0.5 + 0.65) / 2 = 0.1725 → / 0.3 = 0.575
    const w = 10;
    const mask = new Uint8Array(100);
    const map = new Float32Array(100);
    for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) {
      mask[y * w + x] = 1;
      map[y * w + x] = 1;
    }
    for (const [x, y] of [[8, 8], [9, 8], [8, 9], [9, 9]]) mask[y * w + x] = 1;
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1 });
    acc.add(map, mask, 10, 10);
    expect(acc.pro()).toBeCloseTo(0.575, 12);
  });

  it('PRO on a hand-made 2-image case (regions of different size weigh the same)', () => {
    // Image 1 (4×4): region R1 = 2×2 block top-left, scores 0.9 0.9 / 0.2 0.2;
    //   one good pixel scores 0.7, the other 11 good pixels 0.
    // Image 2 (4×4): R2 = single pixel (0,0) scoring 0.6; R3 = pixels (2,3),(3,3) scoring 0.6, 0.1;
    //   one good pixel (3,0) scores 0.4, the other 12 good pixels 0.
    // R = 3, N = 12 + 13 = 25.
    //   t = 0.9: O = (2/4, 0, 0)    PRO 1/6   FP 0 → (0,    1/6)
    //   t = 0.7: same overlaps      PRO 1/6   FP 1 → (0.04, 1/6)
    //   t = 0.6: O = (1/2, 1, 1/2)  PRO 2/3   FP 1 → (0.04, 2/3)
    //   t = 0.4:                    PRO 2/3   FP 2 → (0.08, 2/3)
    //   t = 0.2: O = (1, 1, 1/2)    PRO 5/6   FP 2 → (0.08, 5/6)
    //   t = 0.1: O = (1, 1, 1)      PRO 1     FP 2 → (0.08, 1)
    //   t = 0:                      PRO 1     FP 25 → (1, 1)
    // ∫₀^0.3 = 0.04·1/6 + 0.04·2/3 + 0.22·1 = 1/150 + 4/150 + 33/150 = 38/150
    // PRO₀.₃ = (38/150) / 0.3 = 38/45 ≈ 0.8444
    const map1 = new Float32Array(16);
    const mask1 = new Uint8Array(16);
    map1[0] = 0.9; map1[1] = 0.9; map1[4] = 0.2; map1[5] = 0.2;
    mask1[0] = mask1[1] = mask1[4] = mask1[5] = 1;
    map1[15] = 0.7; // a good pixel
    const map2 = new Float32Array(16);
    const mask2 = new Uint8Array(16);
    map2[0] = 0.6; mask2[0] = 1; // R2
    map2[14] = 0.6; map2[15] = 0.1; mask2[14] = mask2[15] = 1; // R3
    map2[3] = 0.4; // a good pixel
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1, bins: 1000 });
    acc.add(map1, mask1, 4, 4);
    acc.add(map2, mask2, 4, 4);
    expect(acc.counts).toEqual({ goodPixels: 25, defectPixels: 7, regions: 3, images: 2 });
    expect(acc.pro()).toBeCloseTo(38 / 45, 10);
    // the brute force agrees
    expect(bruteForcePro([map1, map2], [mask1, mask2], 4, 4, 0.3)).toBeCloseTo(38 / 45, 10);
    // pixel AUROC, by hand: defects 0.9 0.9 0.2 0.2 0.6 0.6 0.1 vs good 0.7 0.4 and 23 × 0
    //   0.9 (×2): beat 25 each → 50;  0.6 (×2): beat 24 each → 48;  0.2 (×2): 23 each → 46;
    //   0.1: 23 → total 167 / (7 · 25) = 167/175
    expect(acc.pixelAuroc()).toBeCloseTo(167 / 175, 10);
  });

  it('pixelAuroc from the histograms matches exact auroc() on ≥ 1e5 random pixels', () => {
    const rand = rng(7);
    const w = 200;
    const h = 160;
    const acc = new PixelMetricsAccumulator({ min: -0.5, max: 2 });
    const allScores: number[] = [];
    const allLabels: number[] = [];
    for (let img = 0; img < 4; img++) {
      const mask = blobMask(rand, w, h, 6, 25);
      const map = new Float32Array(w * h);
      for (let i = 0; i < map.length; i++) map[i] = rand() + (mask[i] ? 0.35 * rand() + 0.2 : 0);
      acc.add(map, mask, w, h);
      for (let i = 0; i < map.length; i++) {
        allScores.push(map[i]);
        allLabels.push(mask[i]);
      }
    }
    expect(allScores.length).toBeGreaterThanOrEqual(1e5);
    const exact = auroc(allScores, allLabels);
    expect(exact).toBeGreaterThan(0.6);
    expect(exact).toBeLessThan(0.95);
    expect(Math.abs(acc.pixelAuroc() - exact)).toBeLessThan(1e-3);
  });

  it('brute-force PRO cross-check on random blobs (several 16×16 images)', () => {
    for (const [seed, quantise, bins] of [
      [11, false, 65536],
      [12, true, 65536], // scores on a 1/32 grid: many ties
      [13, false, 2048], // coarser bins: binning error must still be small
    ] as const) {
      const rand = rng(seed);
      const w = 16;
      const h = 16;
      const maps: Float32Array[] = [];
      const masks: (Uint8Array | null)[] = [];
      for (let img = 0; img < 5; img++) {
        const mask = img === 4 ? null : blobMask(rand, w, h, 1 + Math.floor(rand() * 3), 3);
        const map = new Float32Array(w * h);
        for (let i = 0; i < map.length; i++) {
          let v = rand() + (mask && mask[i] ? 0.6 * rand() : 0);
          if (quantise) v = Math.round(v * 32) / 32;
          map[i] = v;
        }
        maps.push(map);
        masks.push(mask);
      }
      let lo = Infinity;
      let hi = -Infinity;
      for (const m of maps) for (const v of m) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const acc = new PixelMetricsAccumulator({ min: lo, max: hi, bins });
      maps.forEach((m, i) => acc.add(m, masks[i], w, h));
      expect(acc.counts.regions).toBeGreaterThan(1);
      const brute = bruteForcePro(maps, masks, w, h, 0.3);
      expect(brute).toBeGreaterThan(0.05);
      expect(brute).toBeLessThan(0.95);
      expect(Math.abs(acc.pro() - brute)).toBeLessThan(1e-2);
      // pixel AUROC too
      const scores: number[] = [];
      const labels: number[] = [];
      maps.forEach((m, i) => m.forEach((v, j) => { scores.push(v); labels.push(masks[i]?.[j] ? 1 : 0); }));
      expect(Math.abs(acc.pixelAuroc() - auroc(scores, labels))).toBeLessThan(1e-3);
    }
  });

  it('degenerate: NaN without regions / good pixels; out-of-range values are clamped; bad input throws', () => {
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1, bins: 16 });
    expect(acc.pixelAuroc()).toBeNaN();
    expect(acc.pro()).toBeNaN();
    acc.add(new Float32Array([0.1, 0.2, 0.3, 0.4]), null, 2, 2);
    expect(acc.pixelAuroc()).toBeNaN(); // no defect pixels
    expect(acc.pro()).toBeNaN(); // no regions

    // values far outside [min, max] land in the end bins: defect 5 → top bin, good −3 → bin 0
    const b = new PixelMetricsAccumulator({ min: 0, max: 1, bins: 16 });
    b.add(new Float32Array([5, -3]), new Uint8Array([1, 0]), 2, 1);
    expect(b.pixelAuroc()).toBe(1);
    expect(b.pro()).toBeCloseTo(1, 12);

    // min == max: everything is one tie
    const c = new PixelMetricsAccumulator({ min: 2, max: 2 });
    c.add(new Float32Array([1, 2, 3, 4]), new Uint8Array([1, 0, 0, 1]), 4, 1);
    expect(c.pixelAuroc()).toBe(0.5);

    expect(() => acc.add(new Float32Array(3), null, 2, 2)).toThrow(KensaError);
    expect(() => acc.add(new Float32Array(4), new Uint8Array(5), 2, 2)).toThrow(KensaError);
    const before = acc.counts;
    expect(() => acc.add(new Float32Array([0, NaN, 0, 0]), new Uint8Array(4), 2, 2)).toThrow(KensaError);
    expect(acc.counts).toEqual(before); // a rejected map leaves no trace
    expect(() => acc.pro(0)).toThrow(KensaError);
    expect(() => new PixelMetricsAccumulator({ min: 1, max: 0 })).toThrow(KensaError);
    expect(() => new PixelMetricsAccumulator({ min: 0, max: 1, bins: 0 })).toThrow(KensaError);
  });

  it('speed sanity: 600 maps of 224×224 (30M pixels) go through without trouble', () => {
    const rand = rng(3);
    const w = 224;
    const h = 224;
    // a handful of distinct maps, cycled, so generating data does not dominate
    const maps: Float32Array[] = [];
    const masks: (Uint8Array | null)[] = [];
    for (let k = 0; k < 8; k++) {
      const mask = k % 2 === 0 ? null : blobMask(rand, w, h, 4, 20);
      const map = new Float32Array(w * h);
      for (let i = 0; i < map.length; i++) map[i] = rand() + (mask && mask[i] ? 0.5 : 0);
      maps.push(map);
      masks.push(mask);
    }
    const acc = new PixelMetricsAccumulator({ min: 0, max: 1.5 });
    for (let i = 0; i < 600; i++) acc.add(maps[i % 8], masks[i % 8], w, h);
    const { goodPixels, defectPixels, images } = acc.counts;
    expect(images).toBe(600);
    expect(goodPixels + defectPixels).toBe(600 * w * h);
    const a = acc.pixelAuroc();
    const p = acc.pro();
    expect(a).toBeGreaterThan(0.5);
    expect(a).toBeLessThanOrEqual(1);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThanOrEqual(1);
  });
});
