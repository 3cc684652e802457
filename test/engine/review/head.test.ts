/**
 * The review head on generated parts where the answer is known (tiny backbone): good parts
 * are smooth gradients with noise; "bright" defects have a bright square, "dark" defects a dark
 * one. Learning from reviewed bright defects (with their squares as regions) and good parts:
 *   - unseen bright defects move further above the good parts than before;
 *   - no part's score ever goes down (the head only adds): a dark defect, a type nobody
 *     reviewed, keeps at least its unsupervised score;
 *   - the out-of-fold scores come from heads that never saw the part;
 *   - cells, masks and training rows follow their definitions.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inMemory, type FitResult } from '../../../src-main/engine/detectors/pipeline';
import { fitModel, learnModel, openScorer } from '../../../src-main/engine/detectors/registry';
import { cellCover, trainingRows, DEFAULT_REVIEW_HEAD, type ReviewedPart } from '../../../src-main/engine/review/head';
import { maskToInput, type ReviewedFile } from '../../../src-main/engine/review/learn';
import { KensaError } from '../../../src-main/engine/errors';
import { writeTinyBackbone } from '../../helpers/tiny-backbone';
import { makePart, PART_SIZE as SIZE, writePart } from '../../helpers/parts';

const INPUT = 64;
let dir: string;
let tiny: string;
let fit: FitResult;
const square = (i: number): [number, number, number] => [10 + ((i * 23) % 60), 12 + ((i * 37) % 58), 18];


function maskOf(sq: [number, number, number]): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(SIZE * SIZE);
  const [x0, y0, s] = sq;
  for (let y = y0; y < y0 + s; y++) for (let x = x0; x < x0 + s; x++) data[y * SIZE + x] = 1;
  return { width: SIZE, height: SIZE, data };
}


const parts: { reviewed: ReviewedFile[]; unseenGood: string[]; unseenBright: string[]; unseenDark: string[] } = { reviewed: [], unseenGood: [], unseenBright: [], unseenDark: [] };

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-review-head-'));
  tiny = writeTinyBackbone(dir, 1);
  const train = await Promise.all(Array.from({ length: 14 }, (_, i) => writePart(path.join(dir, `train_${i}.png`), makePart(100 + i))));
  fit = await fitModel(train, { backbone: tiny, ep: 'cpu', input: { embedding: { width: INPUT, height: INPUT }, calibrationShare: 0.3 } });
  let id = 1;
  for (let i = 0; i < 8; i++) parts.reviewed.push({ id: id++, file: await writePart(path.join(dir, `rg_${i}.png`), makePart(200 + i)), label: 0, defectType: null, mask: null });
  for (let i = 0; i < 8; i++) {
    const sq = square(i);
    // Faint bright squares: the unsupervised detector alone separates them only partly.
    parts.reviewed.push({ id: id++, file: await writePart(path.join(dir, `rb_${i}.png`), makePart(300 + i, { square: sq, value: 175 })), label: 1, defectType: 'bright', mask: maskOf(sq) });
  }
  for (let i = 0; i < 6; i++) parts.unseenGood.push(await writePart(path.join(dir, `ug_${i}.png`), makePart(400 + i)));
  for (let i = 0; i < 6; i++) parts.unseenBright.push(await writePart(path.join(dir, `ub_${i}.png`), makePart(500 + i, { square: square(i + 3), value: 175 })));
  for (let i = 0; i < 4; i++) parts.unseenDark.push(await writePart(path.join(dir, `ud_${i}.png`), makePart(600 + i, { square: square(i + 5), value: 15 })));
}, 300_000);

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function scores(model: Parameters<typeof openScorer>[0], files: string[]): Promise<number[]> {
  const s = await openScorer(model, { backbone: tiny, ep: 'cpu' });
  try {
    const out: number[] = [];
    for (const f of files) out.push((await s.scoreFile(f)).score);
    return out;
  } finally {
    await s.release();
  }
}

describe('the review head', () => {
  it('raises unseen defects of the reviewed type above the good parts more than before, and lowers no score', async () => {
    const learned = await learnModel(inMemory(fit), parts.reviewed, { backbone: tiny, ep: 'cpu' });
    expect(learned.header.review).toMatchObject({ defects: 8, goods: 8, defectsWithRegions: 8, defectTypes: ['bright'] });
    expect(learned.header.parentId).toBe(fit.header.id);
    const all = [...parts.unseenGood, ...parts.unseenBright, ...parts.unseenDark];
    const before = await scores(inMemory(fit), all);
    const after = await scores(inMemory(learned), all);
    // The head only adds: every score is at least the unsupervised one (a dark defect, never reviewed, included).
    after.forEach((a, i) => expect(a, path.basename(all[i]!)).toBeGreaterThanOrEqual(before[i]! - 1e-6));
    const g = (xs: number[]) => xs.slice(0, 6);
    const b = (xs: number[]) => xs.slice(6, 12);
    // Margin of the weakest bright defect over the strongest good part, in units of the good spread.
    const spread = fit.header.stats.imageScore.std;
    expect(spread).toBeGreaterThan(0);
    const marginBefore = (Math.min(...b(before)) - Math.max(...g(before))) / spread;
    const marginAfter = (Math.min(...b(after)) - Math.max(...g(after))) / spread;
    expect(marginAfter).toBeGreaterThan(marginBefore + 1);
    expect(Math.min(...b(after))).toBeGreaterThan(Math.max(...g(after)));
  });

  it('out-of-fold scores: one per reviewed part, from heads that did not see it', async () => {
    const ids = parts.reviewed.map((p) => p.id);
    const folds = [ids.filter((_, i) => i % 2 === 0), ids.filter((_, i) => i % 2 === 1)];
    const learned = await learnModel(inMemory(fit), parts.reviewed, { backbone: tiny, ep: 'cpu', folds });
    expect(learned.outOfFold.map((s) => s.id).sort((a, c) => a - c)).toEqual([...ids].sort((a, c) => a - c));
    // In-sample scores of the final head separate its own training parts at least as well as out-of-fold ones do.
    const inSample = await scores(inMemory(learned), parts.reviewed.map((p) => p.file));
    const oof = new Map(learned.outOfFold.map((s) => [s.id, s.score]));
    const gap = (xs: number[]) => Math.min(...xs.slice(8)) - Math.max(...xs.slice(0, 8));
    expect(gap(inSample)).toBeGreaterThanOrEqual(gap(ids.map((id) => oof.get(id)!)) - 1e-6);
  });

  it('needs reviewed defects and good parts: a specific CONFLICT otherwise', async () => {
    const goodsOnly = parts.reviewed.filter((p) => p.label === 0);
    const e = await learnModel(inMemory(fit), goodsOnly, { backbone: tiny, ep: 'cpu' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KensaError);
    expect((e as KensaError).code).toBe('CONFLICT');
    expect((e as KensaError).message).toMatch(/no reviewed defects/);
  });
});

describe('review head steps', () => {
  it('cellCover: the share of each grid cell inside the mask', () => {
    // 4×4 mask, 2×2 grid: the top-left cell fully inside, the top-right cell half inside.
    const m = Uint8Array.from([1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(cellCover(m, 4, 4, [2, 2]))).toEqual([1, 0.5, 0, 0]);
  });

  it('maskToInput follows the resize policy (stretch, crop, pad)', () => {
    // 4×2 mask with the right half set.
    const mask = { width: 4, height: 2, data: Uint8Array.from([0, 0, 1, 1, 0, 0, 1, 1]) };
    expect(Array.from(maskToInput(mask, 2, 2, 'stretch'))).toEqual([0, 1, 0, 1]);
    // crop: the centre 2×2 of the 4×2 mask (columns 1–2) → left 0, right 1
    expect(Array.from(maskToInput(mask, 2, 2, 'crop'))).toEqual([0, 1, 0, 1]);
    // pad to 4×4: the mask fills rows 1–2, right half set
    expect(Array.from(maskToInput(mask, 4, 4, 'pad'))).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0]);
  });

  it('trainingRows: region cells are positives, cells outside the dilated region and good parts are negatives; no region → hottest patches', () => {
    const grid: [number, number] = [3, 3];
    const feats = new Float32Array(9);
    const cover = Float32Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]);
    const hot = Float32Array.from([0, 0, 9, 0, 0, 0, 0, 0, 8]);
    const ps: ReviewedPart[] = [
      { label: 1, defectType: 'x', feats, unsupervised: hot, cover },
      { label: 1, defectType: 'x', feats, unsupervised: hot, cover: null },
      { label: 0, defectType: null, feats, unsupervised: hot, cover: null },
    ];
    const r = trainingRows(ps, grid, { ...DEFAULT_REVIEW_HEAD, hottest: 2 });
    expect(r.pos).toEqual([{ part: 0, patch: 4 }, { part: 1, patch: 2 }, { part: 1, patch: 8 }]);
    // The centre cell's 3×3 neighbourhood covers the whole 3×3 grid: no negatives from part 0.
    expect(r.neg.filter((n) => n.part === 0)).toEqual([]);
    expect(r.neg.filter((n) => n.part === 2).length).toBe(9);
  });
});
