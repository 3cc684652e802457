/**
 * Anomaly-map colouring on a FIXED scale.
 *
 * A map arrives as raw patch scores (Float32, row-major [height, width], base64) together
 * with the active model's colour scale { low, high } in the same raw units. Values are mapped
 * t = (v − low) / (high − low), clamped to [0, 1], through one perceptual "turbo" ramp
 * (cold → hot). Never per-image min–max: a good part must look cold, whatever its own range.
 * Alpha also rises with t so cold regions let the photo show through.
 */
import type { MapData } from '../../../src-main/shared/api';

/** Turbo colormap (Mikhailov 2019), polynomial approximation; x in [0, 1] → RGB 0..255. */
function turbo(x: number): [number, number, number] {
  const r = 0.13572138 + x * (4.6153926 + x * (-42.66032258 + x * (132.13108234 + x * (-152.94239396 + x * 59.28637943))));
  const g = 0.09140261 + x * (2.19418839 + x * (4.84296658 + x * (-14.18503333 + x * (4.27729857 + x * 2.82956604))));
  const b = 0.1066733 + x * (12.64194608 + x * (-60.58204836 + x * (110.36276771 + x * (-89.90310912 + x * 27.34824973))));
  const c = (v: number): number => Math.round(255 * Math.min(1, Math.max(0, v)));
  return [c(r), c(g), c(b)];
}

const LUT_SIZE = 256;
/** RGBA lookup table, LUT_SIZE entries. */
const LUT: Uint8ClampedArray = (() => {
  const lut = new Uint8ClampedArray(LUT_SIZE * 4);
  for (let i = 0; i < LUT_SIZE; i++) {
    const t = i / (LUT_SIZE - 1);
    const [r, g, b] = turbo(t);
    lut[i * 4] = r;
    lut[i * 4 + 1] = g;
    lut[i * 4 + 2] = b;
    lut[i * 4 + 3] = Math.round(255 * (0.3 + 0.7 * t));
  }
  return lut;
})();

/** CSS colour of position t ∈ [0, 1] on the ramp. */
export function rampColour(t: number): string {
  const [r, g, b] = turbo(Math.min(1, Math.max(0, t)));
  return `rgb(${r}, ${g}, ${b})`;
}

/** A CSS linear-gradient of the ramp (for the legend), left → right or bottom → top. */
export function rampGradient(direction: 'to right' | 'to top' = 'to right', stops = 12): string {
  const parts: string[] = [];
  for (let i = 0; i <= stops; i++) parts.push(`${rampColour(i / stops)} ${((100 * i) / stops).toFixed(1)}%`);
  return `linear-gradient(${direction}, ${parts.join(', ')})`;
}

export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The map's raw values (Float32 little-endian). Throws when the size does not match. */
export function decodeMapValues(map: MapData): Float32Array {
  const bytes = base64ToBytes(map.valuesBase64);
  const n = map.width * map.height;
  if (bytes.byteLength !== n * 4) {
    throw new Error(`anomaly map has ${bytes.byteLength} bytes, expected ${n * 4} for ${map.width}×${map.height} Float32 values`);
  }
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export interface ColouredMap {
  canvas: HTMLCanvasElement;
  width: number;
  height: number;
  /** Largest raw value in the map (shown in the legend). */
  max: number;
  scale: { low: number; high: number };
}

/** Paints the map on its own canvas (map resolution) with the fixed scale. */
export function colourMap(map: MapData): ColouredMap {
  const values = decodeMapValues(map);
  const { low, high } = map.colourScale;
  const span = high > low ? high - low : 1;
  const img = new ImageData(map.width, map.height);
  const px = img.data;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > max) max = v;
    let t = (v - low) / span;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    const k = Math.round(t * (LUT_SIZE - 1)) * 4;
    const o = i * 4;
    px[o] = LUT[k]!;
    px[o + 1] = LUT[k + 1]!;
    px[o + 2] = LUT[k + 2]!;
    px[o + 3] = LUT[k + 3]!;
  }
  const canvas = document.createElement('canvas');
  canvas.width = map.width;
  canvas.height = map.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw on a canvas');
  ctx.putImageData(img, 0, 0);
  return { canvas, width: map.width, height: map.height, max, scale: { low, high } };
}
