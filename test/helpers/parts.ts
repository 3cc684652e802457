/**
 * Generated parts for engine tests: a smooth colour gradient (shifted a little per seed) with
 * uniform noise is a good part; the same with a filled square is a defect. 96×96 RGB, raw
 * interleaved bytes, written as PNG with sharp.
 */
import sharp from 'sharp';
import { Rng } from '../../src-main/engine/core/random';

export const PART_SIZE = 96;

/** A square defect [x0, y0, side] in part pixels, filled with `value` (default: bright, a little less blue). */
export interface SquareDefect {
  square: [number, number, number];
  value?: number;
}

export function makePart(seed: number, defect?: SquareDefect | [number, number, number]): Buffer {
  const d: SquareDefect | undefined = Array.isArray(defect) ? { square: defect } : defect;
  const rng = new Rng(seed);
  const shift = rng.next() * 16 - 8;
  const raw = Buffer.alloc(PART_SIZE * PART_SIZE * 3);
  for (let y = 0; y < PART_SIZE; y++)
    for (let x = 0; x < PART_SIZE; x++) {
      const base = [70 + x * 0.8 + shift, 60 + y * 0.9 + shift, 110 + (x + y) * 0.3];
      for (let c = 0; c < 3; c++) {
        let v = base[c]! + (rng.next() - 0.5) * 16;
        if (d) {
          const [x0, y0, s] = d.square;
          if (x >= x0 && x < x0 + s && y >= y0 && y < y0 + s) v = d.value ?? 250 - (c === 2 ? 40 : 0);
        }
        raw[(y * PART_SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  return raw;
}

export async function writePart(file: string, raw: Buffer): Promise<string> {
  await sharp(raw, { raw: { width: PART_SIZE, height: PART_SIZE, channels: 3 } }).png().toFile(file);
  return file;
}
