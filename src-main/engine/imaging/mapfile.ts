/**
 * Anomaly maps on disk: 16-bit grayscale PNG, value v ↦ round(v / max · 65535), clamped to
 * [0, max]. `max` is fixed per model (recorded with the model), so a map file is read back in
 * raw score units to within max/65535 — far below anything a reviewer or a threshold can
 * see — at a fraction of the size of float32, and any image tool can open it.
 *
 * Layout in memory: map [H, W] float32, row-major.
 */
import { readFile } from 'node:fs/promises';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { KensaError } from '../errors';
import { writeFileAtomic } from '../model-file';
import { ihdr, PNG_SIGNATURE, pngChunk } from './png';

/** Encodes a map as a 16-bit grayscale PNG (see the module comment for the value mapping). */
export function encodeMapPng(map: Float32Array, width: number, height: number, max: number): Buffer {
  if (map.length !== width * height) throw new Error(`map has ${map.length} values for ${width}×${height}`);
  if (!(max > 0)) throw new Error(`map scale max must be > 0, got ${max}`);
  const stride = 1 + width * 2;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    raw[y * stride] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const v = Math.round((Math.min(max, Math.max(0, map[y * width + x]!)) / max) * 65535);
      raw.writeUInt16BE(v, y * stride + 1 + x * 2);
    }
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr(width, height, 16, 0)),
    pngChunk('IDAT', zlib.deflateSync(raw, { level: 6 })),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

export async function writeMapPng(file: string, map: Float32Array, width: number, height: number, max: number): Promise<void> {
  await writeFileAtomic(file, encodeMapPng(map, width, height, max));
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
