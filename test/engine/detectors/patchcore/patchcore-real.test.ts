/**
 * PatchCore with the real MobileNetV2 backbone on a few MVTec AD "bottle" images (shared folder;
 * skipped when it is absent). A small fit (16 training images) must already tell broken bottles
 * from good ones, and put the anomaly map's mass inside the ground-truth masks.
 */
import { describe, it, expect } from 'vitest';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { coresetSize, DEFAULT_CORESET } from '../../../../src-main/engine/coreset';
import { loadMask } from '../../../../src-main/engine/imaging/mask';
import { inMemory } from '../../../../src-main/engine/detectors/pipeline';
import { fitModel, openScorer } from '../../../../src-main/engine/detectors/registry';
import { realBackbonePath, sharedDir } from '../../../helpers/tiny-backbone';

const backbone = realBackbonePath();
const bottle = path.join(sharedDir(), 'data', 'mvtec', 'bottle');
const have = existsSync(backbone) && existsSync(path.join(bottle, 'train', 'good'));
const name = (i: number): string => `${String(i).padStart(3, '0')}.png`;

describe('PatchCore on MVTec bottle with MobileNetV2', () => {
  it.skipIf(!have)(`broken bottles score above good ones; maps are hot inside the masks (needs ${backbone} and ${bottle})`, async () => {
    const train = Array.from({ length: 16 }, (_, i) => path.join(bottle, 'train', 'good', name(i * 13)));
    const fit = await fitModel(train, { detector: 'patchcore', backbone, ep: 'cpu', input: { calibrationShare: 0.2 } });
    expect(fit.header.detector).toBe('patchcore');
    expect(fit.header.features.grid).toEqual([28, 28]); // 224 / 8
    expect(fit.header.taps.map((t) => t.stride)).toEqual([8, 16]);
    expect(fit.header.fit.calibrationImages).toBe(3); // round(16 · 0.2)
    // 13 images × 28² patches, coreset 10 %.
    expect(fit.header.state).toEqual({ bankSize: coresetSize(13 * 784, DEFAULT_CORESET), patchesBeforeCoreset: 13 * 784 });
    const scorer = await openScorer(inMemory(fit), { backbone, ep: 'cpu' });
    try {
      const good = [0, 7, 14].map((i) => path.join(bottle, 'test', 'good', name(i)));
      const broken = [0, 5, 10].map((i) => path.join(bottle, 'test', 'broken_large', name(i)));
      const gs: number[] = [];
      for (const f of good) gs.push((await scorer.scoreFile(f)).score);
      for (const f of broken) {
        const r = await scorer.scoreFile(f);
        expect(r.score, path.basename(f)).toBeGreaterThan(Math.max(...gs));
        const m = await loadMask(path.join(bottle, 'ground_truth', 'broken_large', path.basename(f, '.png') + '_mask.png'), r.width, r.height);
        let inS = 0;
        let inN = 0;
        let outS = 0;
        let outN = 0;
        for (let p = 0; p < m.length; p++) {
          if (m[p]) {
            inS += r.map[p]!;
            inN += 1;
          } else {
            outS += r.map[p]!;
            outN += 1;
          }
        }
        expect(inN).toBeGreaterThan(0);
        expect(inS / inN, path.basename(f)).toBeGreaterThan(2 * (outS / outN));
      }
    } finally {
      await scorer.release();
    }
  });
});
