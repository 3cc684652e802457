/**
 * The `.kensa` runner and the Scorer path under it (`Scorer.scoreRgb`): pixels already at the
 * input size, in a batch, score exactly as `scoreFile` scores each file alone, for a detector
 * that reads only features (PatchCore) and one that also reads the pixels (student–teacher);
 * the runner's contract carries the model's facts. Tiny backbone, generated parts: no shared
 * folder needed.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitModel, openScorer } from '../../../src-main/engine/detectors/registry';
import { loadImage } from '../../../src-main/engine/imaging/load';
import { loadModel, saveModel } from '../../../src-main/engine/model-file';
import { KensaModelRunner } from '../../../src-main/engine/serving/kensa-model';
import { makePart, writePart } from '../../helpers/parts';
import { writeTinyBackbone } from '../../helpers/tiny-backbone';

const SIZE = 64;
let dir: string;
let tiny: string;
let parts: string[];
const models: Record<string, string> = {};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-serving-'));
  tiny = writeTinyBackbone(dir, 1);
  const train = await Promise.all(Array.from({ length: 8 }, (_, i) => writePart(path.join(dir, `train_${i}.png`), makePart(100 + i))));
  parts = await Promise.all([
    writePart(path.join(dir, 'good.png'), makePart(500)),
    writePart(path.join(dir, 'defect.png'), makePart(600, [40, 40, 18])),
    writePart(path.join(dir, 'good2.png'), makePart(501)),
  ]);
  const configs: Record<string, Record<string, unknown>> = { patchcore: {}, 'student-teacher': { students: 3, hidden: 16, epochs: 2, batchSize: 128, rowsPerEpoch: 1000 } };
  for (const [detector, config] of Object.entries(configs)) {
    const fit = await fitModel(train, { detector, backbone: tiny, ep: 'cpu', input: { embedding: { width: SIZE, height: SIZE } }, config });
    models[detector] = path.join(dir, `${detector}.kensa`);
    await saveModel(models[detector]!, fit.header, fit.arrays);
  }
}, 120_000);

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function pixelsOf(files: string[]): Promise<Uint8Array> {
  const out = new Uint8Array(files.length * SIZE * SIZE * 3);
  for (const [i, f] of files.entries()) out.set((await loadImage(f, { width: SIZE, height: SIZE })).rgb, i * SIZE * SIZE * 3);
  return out;
}

describe.each(['patchcore', 'student-teacher'])('%s', (detector) => {
  it('scoreRgb on a batch = scoreFile on each file alone', async () => {
    const scorer = await openScorer(await loadModel(models[detector]!), { backbone: tiny, ep: 'cpu' });
    try {
      const batch = await scorer.scoreRgb(await pixelsOf(parts), parts.length);
      expect(batch).toHaveLength(3);
      for (const [i, f] of parts.entries()) {
        const alone = await scorer.scoreFile(f);
        expect(Math.abs(batch[i]!.score - alone.score)).toBeLessThanOrEqual(1e-5 * Math.abs(alone.score));
        let worst = 0;
        for (let k = 0; k < alone.map.length; k++) worst = Math.max(worst, Math.abs(batch[i]!.map[k]! - alone.map[k]!));
        expect(worst).toBeLessThanOrEqual(1e-5 * Math.abs(alone.score));
      }
      await expect(scorer.scoreRgb(new Uint8Array(10), 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/10 bytes is not 1 image\(s\) of 64×64×3 \(12288 bytes\)/) });
      await expect(scorer.scoreRgb(new Uint8Array(0), 0)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    } finally {
      await scorer.release();
    }
  });

  it('the runner: its contract, and [N] scores + [N, H, W] maps equal to the scorer', async () => {
    const runner = await KensaModelRunner.open(models[detector]!, { backbone: tiny, ep: 'cpu' });
    const scorer = await openScorer(await loadModel(models[detector]!), { backbone: tiny, ep: 'cpu' });
    try {
      const c = runner.contract;
      expect(c).toMatchObject({ name: detector, version: '1', platform: 'kensa', width: SIZE, height: SIZE, resize: 'stretch', ep: 'cpu', source: models[detector] });
      expect(c.parameters).toMatchObject({ detector, input_width: SIZE, input_height: SIZE, resize: 'stretch', blur_sigma: 4 });
      expect(typeof c.parameters.colour_scale_high).toBe('number');
      expect(c.parameters.threshold).toBeUndefined(); // a .kensa file holds none
      const rgb = await pixelsOf(parts);
      const out = await runner.infer(rgb, 3);
      expect(out.scores).toHaveLength(3);
      expect(out.maps).toHaveLength(3 * SIZE * SIZE);
      const ref = await scorer.scoreRgb(rgb, 3);
      for (let i = 0; i < 3; i++) {
        expect(out.scores[i]).toBe(Math.fround(ref[i]!.score));
        expect(Array.from(out.maps.subarray(i * SIZE * SIZE, (i + 1) * SIZE * SIZE))).toEqual(Array.from(ref[i]!.map));
      }
      expect(out.scores[1]!).toBeGreaterThan(out.scores[0]!);
    } finally {
      await Promise.all([runner.release(), scorer.release()]);
    }
  });
});
