/**
 * Anomaly maps on disk: 16-bit grayscale PNG, value v ↦ round(v / max · 65535), clamped to
 * [0, max]. `max` is fixed per model (recorded with the model), so a map file is read back in
 * raw score units to within max/65535 — far below anything a reviewer or a threshold can
 * see — at a fraction of the size of float32, and any image tool can open it.
 *
 * Layout in memory: map [H, W] float32, row-major. Maps come in two sizes: full (16-bit, the
 * model's input size) and preview (8-bit, ≤ 64 px, for passed parts under a retention policy).
 */
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { KensaError } from '../errors';
import { writeFileAtomic } from '../model-file';
import { ihdr, PNG_SIGNATURE, pngChunk } from './png';

const deflate = promisify(zlib.deflate);

/**
 * Encodes a map as a grayscale PNG (see the module comment for the value mapping): 16-bit at
 * full size, or 8-bit for a preview. Every row uses PNG's Sub filter (each sample minus its
 * left neighbour): a map is smooth, so the differences are small and deflate to about 60 % of
 * the unfiltered size (a 256 × 256 map: ~120 KB unfiltered, ~70 KB with Sub).
 */
export function encodeMapPng(map: Float32Array, width: number, height: number, max: number, bits: 8 | 16 = 16): Buffer {
  return png(width, height, bits, zlib.deflateSync(filteredRows(map, width, height, max, bits), { level: 6 }));
}

/** encodeMapPng with the deflate on libuv's thread pool: the calling thread is free meanwhile. */
export async function encodeMapPngAsync(map: Float32Array, width: number, height: number, max: number): Promise<Buffer> {
  return png(width, height, 16, await deflate(filteredRows(map, width, height, max, 16), { level: 6 }));
}

/** Quantised samples, each row Sub-filtered and prefixed with its filter byte (PNG's raw IDAT stream). */
function filteredRows(map: Float32Array, width: number, height: number, max: number, bits: 8 | 16): Buffer {
  if (map.length !== width * height) throw new Error(`map has ${map.length} values for ${width}×${height}`);
  if (!(max > 0)) throw new Error(`map scale max must be > 0, got ${max}`);
  const bpp = bits / 8;
  const stride = 1 + width * bpp;
  const raw = Buffer.alloc(stride * height);
  const row = new Uint8Array(width * bpp);
  const k = (bits === 16 ? 65535 : 255) / max;
  for (let y = 0; y < height; y++) {
    const m = y * width;
    for (let x = 0; x < width; x++) {
      const f = map[m + x]!;
      const v = f <= 0 ? 0 : f >= max ? (bits === 16 ? 65535 : 255) : Math.round(f * k);
      if (bits === 16) {
        row[2 * x] = v >>> 8;
        row[2 * x + 1] = v & 255;
      } else row[x] = v;
    }
    const o = y * stride;
    raw[o] = 1; // filter: Sub
    for (let i = 0; i < bpp; i++) raw[o + 1 + i] = row[i]!;
    for (let i = bpp; i < row.length; i++) raw[o + 1 + i] = (row[i]! - row[i - bpp]!) & 255;
  }
  return raw;
}

function png(width: number, height: number, bits: 8 | 16, idat: Buffer): Buffer {
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr(width, height, bits, 0)), pngChunk('IDAT', idat), pngChunk('IEND', new Uint8Array(0))]);
}

/** The side of a preview map: enough for a heatmap overlay (the map is a blurred upsample of a ~32 × 32 patch grid). */
export const PREVIEW_SIDE = 64;

/**
 * A small map for the retention policy: box-averaged down to at most PREVIEW_SIDE on the long
 * side, 8-bit (256 levels over 0..max, as many as the heatmap's colour ramp has). Read back
 * by readMapPng like any map; the renderer stretches it over the image.
 */
export function encodeMapPreview(map: Float32Array, width: number, height: number, max: number): Buffer {
  const k = Math.max(1, Math.ceil(Math.max(width, height) / PREVIEW_SIDE));
  const w = Math.ceil(width / k);
  const h = Math.ceil(height / k);
  const small = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sum = 0;
      let n = 0;
      for (let yy = y * k; yy < Math.min(height, (y + 1) * k); yy++) {
        for (let xx = x * k; xx < Math.min(width, (x + 1) * k); xx++) {
          sum += map[yy * width + xx]!;
          n += 1;
        }
      }
      small[y * w + x] = sum / n;
    }
  }
  return encodeMapPng(small, w, h, max, 8);
}

/** Writes a full map atomically; returns its size in bytes. */
export async function writeMapPng(file: string, map: Float32Array, width: number, height: number, max: number): Promise<number> {
  const png = await encodeMapPngAsync(map, width, height, max);
  await writeFileAtomic(file, png);
  return png.length;
}

/** Reads a map PNG back into raw score units. */
export async function readMapPng(file: string, max: number): Promise<{ map: Float32Array; width: number; height: number }> {
  try {
    const { data, info } = await sharp(await readFile(file)).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const px = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    const map = new Float32Array(info.width * info.height);
    for (let i = 0; i < map.length; i++) map[i] = (px[i * info.channels]! / 65535) * max;
    return { map, width: info.width, height: info.height };
  } catch (e) {
    throw new KensaError('IMAGE_CORRUPT', `cannot read anomaly map ${file}: ${(e as Error).message}`, { file, cause: e });
  }
}
