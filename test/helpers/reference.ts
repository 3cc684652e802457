/**
 * Plain-JS (float64) reference implementations of the tensor operations the engine runs in ONNX
 * Runtime, written from the operator definitions (not from the engine's code), so tests can
 * compare ORT outputs against them. Layouts are NCHW row-major unless said otherwise.
 */

/** k×k average pooling, stride 1, zero padding (k−1)/2, padded zeros counted (count_include_pad=1). */
export function avgPoolSame(src: Float32Array | Float64Array, n: number, c: number, h: number, w: number, k: number): Float64Array {
  const r = (k - 1) / 2;
  const out = new Float64Array(n * c * h * w);
  for (let b = 0; b < n * c; b++) {
    const base = b * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let dy = -r; dy <= r; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -r; dx <= r; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= w) continue;
            s += src[base + yy * w + xx]!;
          }
        }
        out[base + y * w + x] = s / (k * k);
      }
    }
  }
  return out;
}

/**
 * Bilinear resize with half-pixel centres (ONNX Resize linear/half_pixel, torch
 * interpolate(align_corners=False)): source coordinate (o + ½)·in/out − ½, clamped to [0, in−1].
 */
export function bilinearHalfPixel(src: Float32Array | Float64Array, n: number, c: number, ih: number, iw: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(n * c * oh * ow);
  const coord = (o: number, inSize: number, outSize: number): [number, number, number] => {
    let s = ((o + 0.5) * inSize) / outSize - 0.5;
    s = Math.min(Math.max(s, 0), inSize - 1);
    const i0 = Math.floor(s);
    const i1 = Math.min(i0 + 1, inSize - 1);
    return [i0, i1, s - i0];
  };
  for (let b = 0; b < n * c; b++) {
    const si = b * ih * iw;
    const so = b * oh * ow;
    for (let y = 0; y < oh; y++) {
      const [y0, y1, fy] = coord(y, ih, oh);
      for (let x = 0; x < ow; x++) {
        const [x0, x1, fx] = coord(x, iw, ow);
        const v00 = src[si + y0 * iw + x0]!;
        const v01 = src[si + y0 * iw + x1]!;
        const v10 = src[si + y1 * iw + x0]!;
        const v11 = src[si + y1 * iw + x1]!;
        out[so + y * ow + x] = (1 - fy) * ((1 - fx) * v00 + fx * v01) + fy * ((1 - fx) * v10 + fx * v11);
      }
    }
  }
  return out;
}

/** Mirror index without repeating the edge (ONNX Pad mode=reflect, numpy 'reflect'): −1 → 1, n → n−2. */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** Separable blur of each [h, w] plane with a 1-D kernel, reflect padding, output the same size. */
export function blurReflect(src: Float64Array | Float32Array, planes: number, h: number, w: number, kernel: ArrayLike<number>): Float64Array {
  const r = (kernel.length - 1) / 2;
  const tmp = new Float64Array(planes * h * w);
  const out = new Float64Array(planes * h * w);
  for (let p = 0; p < planes; p++) {
    const b = p * h * w;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let t = -r; t <= r; t++) s += kernel[t + r]! * src[b + y * w + reflectIndex(x + t, w)]!;
        tmp[b + y * w + x] = s;
      }
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let t = -r; t <= r; t++) s += kernel[t + r]! * tmp[b + reflectIndex(y + t, h) * w + x]!;
        out[b + y * w + x] = s;
      }
    }
  }
  return out;
}

/** ‖a_i − b_j‖² in float64 for rows i of a [na, d] and j of b [nb, d]. */
export function sqDist(a: ArrayLike<number>, i: number, b: ArrayLike<number>, j: number, d: number): number {
  let s = 0;
  for (let k = 0; k < d; k++) {
    const t = a[i * d + k]! - b[j * d + k]!;
    s += t * t;
  }
  return s;
}

/** Largest |a − b| / max(1, |b|) over two equally long arrays. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!));
    if (Number.isNaN(d)) return Infinity; // a NaN anywhere is a failure
    if (d > m) m = d;
  }
  return m;
}
