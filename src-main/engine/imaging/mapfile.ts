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

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

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
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 16; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
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
