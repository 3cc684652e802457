/**
 * The sample project: synthetic parts made by code, so a newcomer can try fit → score →
 * review → threshold in a minute without any data of their own.
 *
 * A part is a machined washer photographed from above (256×256 RGB): a metallic ring with
 * concentric turning marks and a soft highlight on a grey conveyor background, with small
 * random shifts, rotations of the highlight and exposure changes, plus sensor noise. Defects
 * drawn on some inspection parts: a scratch across the ring, a dark pit, a chipped edge, and
 * an oily stain. Deterministic (seeded).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../engine/core/random';

export type DemoDefect = 'scratch' | 'pit' | 'chip' | 'stain';

const SIZE = 256;

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Renders one part as interleaved RGB. */
export function renderPart(seed: number, defect: DemoDefect | null): Uint8Array {
  const rng = new Rng(seed);
  const img = new Uint8Array(SIZE * SIZE * 3);
  const cx = SIZE / 2 + (rng.next() - 0.5) * 8;
  const cy = SIZE / 2 + (rng.next() - 0.5) * 8;
  const rOut = 92 + (rng.next() - 0.5) * 3;
  const rIn = 44 + (rng.next() - 0.5) * 2;
  const light = rng.next() * Math.PI * 2;
  const exposure = 0.92 + rng.next() * 0.16;
  const bg = 96 + rng.next() * 10;
  // Defect geometry.
  const dAng = rng.next() * Math.PI * 2;
  const dRad = rIn + 12 + rng.next() * (rOut - rIn - 24);
  const px = cx + Math.cos(dAng) * dRad;
  const py = cy + Math.sin(dAng) * dRad;
  const sAng = rng.next() * Math.PI;
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const dx = x - cx;
      const dy = y - cy;
      const r = Math.sqrt(dx * dx + dy * dy);
      const a = Math.atan2(dy, dx);
      let v: number;
      let tint = [1, 1, 1];
      // Conveyor belt: grey with a faint weave.
      v = bg + 4 * Math.sin(x * 0.9) * Math.sin(y * 0.9);
      let onRing = r >= rIn && r <= rOut;
      if (defect === 'chip' && onRing && r > rOut - 14) {
        const da = Math.abs(((a - dAng + 3 * Math.PI) % (2 * Math.PI)) - Math.PI);
        if (da * r < 16 - (rOut - r)) onRing = false;
      }
      if (onRing) {
        // Metal: turning marks + a highlight from the light direction + an edge bevel.
        const marks = 10 * Math.sin(r * 2.1) + 4 * Math.sin(r * 5.3);
        const highlight = 45 * Math.max(0, Math.cos(a - light)) ** 3;
        const bevel = Math.min(r - rIn, rOut - r) < 3 ? -30 : 0;
        v = 150 + marks + highlight + bevel;
        tint = [1.0, 1.0, 1.04];
        if (defect === 'pit') {
          const d = Math.hypot(x - px, y - py);
          if (d < 7) v -= 90 * (1 - d / 7) ** 0.6;
        }
        if (defect === 'scratch') {
          // A thin dark line segment through the defect point.
          const ux = Math.cos(sAng);
          const uy = Math.sin(sAng);
          const t = (x - px) * ux + (y - py) * uy;
          const n = Math.abs(-(x - px) * uy + (y - py) * ux);
          if (Math.abs(t) < 34 && n < 1.6) v -= 70 * (1 - n / 1.6);
        }
        if (defect === 'stain') {
          const d = Math.hypot(x - px, (y - py) * 1.4);
          if (d < 13) {
            const k = (1 - d / 13) ** 0.8;
            v -= 35 * k;
            tint = [1.0 + 0.25 * k, 0.95, 0.75 - 0.1 * k];
          }
        }
      } else if (r > rOut && r < rOut + 5) {
        v -= 25 * (1 - (r - rOut) / 5); // contact shadow
      }
      v = v * exposure + rng.normal() * 3;
      const o = (y * SIZE + x) * 3;
      img[o] = clamp(v * tint[0]!);
      img[o + 1] = clamp(v * tint[1]!);
      img[o + 2] = clamp(v * tint[2]!);
    }
  }
  return img;
}

export interface DemoLayout {
  trainDir: string;
  inspectDir: string;
  train: number;
  inspect: number;
  defects: { file: string; defect: DemoDefect }[];
}

/**
 * Which inspection parts of the sample are defective, and how: entry k is the defect of
 * `part-<k+1>.png` (null = good). Seeded, so tests can know the ground truth without images.
 */
export function demoInspectionPlan(nGood = 14, nBad = 10): (DemoDefect | null)[] {
  const kinds: DemoDefect[] = ['scratch', 'pit', 'chip', 'stain'];
  const order = new Rng(42).permutation(nGood + nBad);
  return Array.from(order, (slot) => (slot < nBad ? kinds[slot % kinds.length]! : null));
}

/** File name of the k-th (0-based) inspection part of the sample. */
export function demoPartName(k: number): string {
  return `part-${String(k + 1).padStart(3, '0')}.png`;
}

/** Writes the sample images: `train/` (good parts) and `inspect/` (good and defective). */
export async function writeDemoImages(dir: string, opts: { train?: number; goodInspect?: number; defective?: number } = {}): Promise<DemoLayout> {
  const nTrain = opts.train ?? 40;
  const nGood = opts.goodInspect ?? 14;
  const nBad = opts.defective ?? 10;
  const trainDir = path.join(dir, 'sample-images', 'train');
  const inspectDir = path.join(dir, 'sample-images', 'inspect');
  await mkdir(trainDir, { recursive: true });
  await mkdir(inspectDir, { recursive: true });
  const png = (rgb: Uint8Array): Promise<Buffer> => sharp(rgb, { raw: { width: SIZE, height: SIZE, channels: 3 } }).png().toBuffer();
  for (let i = 0; i < nTrain; i++) await writeFile(path.join(trainDir, `washer-${String(i + 1).padStart(3, '0')}.png`), await png(renderPart(1000 + i, null)));
  const defects: DemoLayout['defects'] = [];
  for (const [k, defect] of demoInspectionPlan(nGood, nBad).entries()) {
    const file = path.join(inspectDir, demoPartName(k));
    await writeFile(file, await png(renderPart(5000 + k, defect)));
    if (defect) defects.push({ file, defect });
  }
  return { trainDir, inspectDir, train: nTrain, inspect: nGood + nBad, defects };
}
