/**
 * evaluateDataset on a small synthetic dataset in MVTec layout, with the tiny backbone:
 *   train/good/*.png, test/good/*.png, test/square/*.png, ground_truth/square/<name>_mask.png
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src-main/engine/core/random';
import { KensaError } from '../../src-main/engine/errors';
import { evaluateDataset } from '../../src-main/engine/eval';
import { writeTinyBackbone } from '../helpers/tiny-backbone';

const SIZE = 64;
let dir: string;
let root: string;
let tinyPath: string;

function image(seed: number, square?: [number, number, number]): Buffer {
  const rng = new Rng(seed);
  const raw = Buffer.alloc(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++)
      for (let c = 0; c < 3; c++) {
        let v = 80 + x + (c === 1 ? y : 0) + (rng.next() - 0.5) * 14;
        if (square && x >= square[0] && x < square[0] + square[2] && y >= square[1] && y < square[1] + square[2]) v = 245;
        raw[(y * SIZE + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return raw;
}

function mask(square: [number, number, number]): Buffer {
  const m = Buffer.alloc(SIZE * SIZE);
  for (let y = square[1]; y < square[1] + square[2]; y++) for (let x = square[0]; x < square[0] + square[2]; x++) m[y * SIZE + x] = 255;
  return m;
}

async function png(file: string, raw: Buffer, channels: 1 | 3 = 3): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(raw, { raw: { width: SIZE, height: SIZE, channels } }).png().toFile(file);
}

const SQUARES: [number, number, number][] = [
  [8, 8, 14],
  [40, 30, 14],
  [20, 44, 12],
];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-eval-'));
  tinyPath = writeTinyBackbone(dir, 1);
  root = path.join(dir, 'widget');
  for (let i = 0; i < 10; i++) await png(path.join(root, 'train', 'good', `${String(i).padStart(3, '0')}.png`), image(10 + i));
  for (let i = 0; i < 3; i++) await png(path.join(root, 'test', 'good', `${String(i).padStart(3, '0')}.png`), image(50 + i));
  for (const [i, sq] of SQUARES.entries()) {
    const name = String(i).padStart(3, '0');
    await png(path.join(root, 'test', 'square', `${name}.png`), image(80 + i, sq));
    // The last defect has no mask: it counts for image metrics only.
    if (i < 2) await png(path.join(root, 'ground_truth', 'square', `${name}_mask.png`), mask(sq), 1);
  }
  // An unreadable test image is reported, not fatal.
  await fs.writeFile(path.join(root, 'test', 'good', '999.png'), 'not a png');
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('evaluateDataset', () => {
  it('fits on train/good, scores every test image, and reports the metrics', async () => {
    const r = await evaluateDataset(root, { backbone: tinyPath, ep: 'cpu', input: { embedding: { width: SIZE, height: SIZE } } });
    expect(r.dataset).toBe(root);
    expect(r.counts).toEqual({ train: 10, good: 3, defect: 3, masks: 2 });
    expect(r.detector).toBe('patchcore');
    expect(r.features).toEqual({ dim: 40, grid: [8, 8] }); // 64 px input (not the 224 default) / stride 8
    // 10 images → 1 held out → 9 × 64 patches → coreset of round(0.1 · 576) = 58.
    expect(Object.fromEntries(r.facts.map((f) => [f.key, f.value]))).toEqual({ bankSize: 58, coreset: '10 %', dim: 40 });
    expect(r.images.map((i) => i.path)).toEqual(['test/good/000.png', 'test/good/001.png', 'test/good/002.png', 'test/square/000.png', 'test/square/001.png', 'test/square/002.png']);
    expect(r.images.map((i) => i.label)).toEqual(['good', 'good', 'good', 'defect', 'defect', 'defect']);
    expect(r.images.map((i) => i.defectType)).toEqual([null, null, null, 'square', 'square', 'square']);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.path).toBe('test/good/999.png');
    expect(r.errors[0]!.error.code).toBe('IMAGE_UNSUPPORTED_FORMAT');
    // Bright squares on smooth gradients: perfectly separable.
    expect(r.metrics.imageAuroc).toBe(1);
    expect(r.metrics.f1Max).toBe(1);
    expect(r.metrics.pixelAuroc).not.toBeNull();
    expect(r.metrics.pixelAuroc!).toBeGreaterThan(0.9);
    expect(r.metrics.pro).not.toBeNull();
    const good = r.images.filter((i) => i.label === 'good').map((i) => i.score);
    const bad = r.images.filter((i) => i.label === 'defect').map((i) => i.score);
    expect(r.metrics.zeroMissThreshold).toBe(Math.min(...bad));
    expect(Math.max(...good)).toBeLessThan(Math.min(...bad));
  });

  it('an unknown detector → UNKNOWN_DETECTOR', async () => {
    await expect(evaluateDataset(root, { backbone: tinyPath, ep: 'cpu', detector: 'no-such-detector' })).rejects.toMatchObject({
      code: 'UNKNOWN_DETECTOR',
      message: expect.stringContaining('no-such-detector'),
    });
  });

  it('a folder that is not in MVTec layout → DATASET_INVALID naming it', async () => {
    const flat = path.join(dir, 'flat');
    await fs.mkdir(flat, { recursive: true });
    const e = await evaluateDataset(flat, { backbone: tinyPath, ep: 'cpu' }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KensaError);
    expect((e as KensaError).code).toBe('DATASET_INVALID');
    expect((e as KensaError).message).toContain(flat);
  });
});
