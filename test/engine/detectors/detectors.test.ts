/**
 * Every detector through the seam, end to end on the tiny backbone and generated images
 * (smooth gradients with noise are good parts, the same with a bright square are defects):
 * fit → defects score above good parts → save → score again in a FRESH PROCESS (the CLI) →
 * identical scores; trained detectors are reproducible for a seed; bad input gets its own error.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KensaError } from '../../../src-main/engine/errors';
import { loadModel, saveModel } from '../../../src-main/engine/model-file';
import { inMemory, type FitOptions, type FitResult } from '../../../src-main/engine/detectors/pipeline';
import { fitModel, getDetector, listDetectors, openScorer, refitModel } from '../../../src-main/engine/detectors/registry';
import { EngineClient } from '../../../src-main/jobs/engine-client';
import { writeTinyBackbone } from '../../helpers/tiny-backbone';
import { makePart, writePart } from '../../helpers/parts';

const run = promisify(execFile);
const INPUT = 64;

let dir: string;
let tiny: string;
let train: string[];
let goods: string[];
let defects: string[];


/** Small settings so every detector fits in about a second on the tiny backbone. */
const SMALL: Record<string, Record<string, unknown>> = {
  patchcore: {},
  padim: { channels: 24 },
  'student-teacher': { students: 3, hidden: 32, epochs: 4, batchSize: 128, rowsPerEpoch: 2000 },
  autoencoder: { hidden: 32, bottleneck: 8, epochs: 6, batchSize: 128, rowsPerEpoch: 2000, projection: { steps: 5, stepSize: 0.05, lambda: 0.1, maxStep: 0.25 } },
  fusion: { members: ['patchcore', 'padim', 'autoencoder'], memberConfigs: { padim: { channels: 24 }, autoencoder: { hidden: 32, bottleneck: 8, epochs: 3, batchSize: 128, rowsPerEpoch: 2000 } } },
};

const opts = (detector: string, over: Partial<FitOptions> = {}): FitOptions & { detector: string } => ({
  detector,
  backbone: tiny,
  ep: 'cpu',
  input: { embedding: { width: INPUT, height: INPUT } },
  config: SMALL[detector]!,
  ...over,
});

async function scores(fit: FitResult, files: string[]): Promise<number[]> {
  const scorer = await openScorer(inMemory(fit), { backbone: tiny, ep: 'cpu' });
  try {
    const out: number[] = [];
    for (const f of files) out.push((await scorer.scoreFile(f)).score);
    return out;
  } finally {
    await scorer.release();
  }
}

const fits = new Map<string, FitResult>();

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-detectors-'));
  tiny = writeTinyBackbone(dir, 1);
  await fs.mkdir(path.join(dir, 'train'), { recursive: true });
  train = await Promise.all(Array.from({ length: 14 }, (_, i) => writePart(path.join(dir, 'train', `${i}.png`), makePart(100 + i))));
  goods = await Promise.all(Array.from({ length: 4 }, (_, i) => writePart(path.join(dir, `good_${i}.png`), makePart(500 + i))));
  defects = await Promise.all(
    ([[54, 18, 21], [12, 60, 21], [40, 40, 18], [66, 66, 21]] as [number, number, number][]).map((d, i) => writePart(path.join(dir, `defect_${i}.png`), makePart(600 + i, d))),
  );
  for (const d of listDetectors()) fits.set(d.id, await fitModel(train, opts(d.id)));
}, 300_000);

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('every detector', () => {
  it('the registry has the five detectors, patchcore first', () => {
    expect(listDetectors().map((d) => d.id)).toEqual(['patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion']);
  });

  for (const id of ['patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion']) {
    describe(id, () => {
      it('records its id, features and good-part statistics from held-out parts', () => {
        const h = fits.get(id)!.header;
        expect(h.detector).toBe(id);
        expect(h.features.grid).toEqual([8, 8]);
        expect(h.fit.calibrationImages).toBeGreaterThan(0);
        expect(h.stats.images).toBe(h.fit.calibrationImages);
        expect(h.stats.colourScale.high).toBeGreaterThan(h.stats.colourScale.low);
        expect(getDetector(id).facts({ ...h, sections: [] }).length).toBeGreaterThan(0);
      });

      it('scores every defect above every good part', async () => {
        const g = await scores(fits.get(id)!, goods);
        const d = await scores(fits.get(id)!, defects);
        expect(Math.min(...d)).toBeGreaterThan(Math.max(...g));
      });

      it('saves, loads in a fresh process (the CLI) and scores identically', async () => {
        const file = path.join(dir, `${id}.kensa`);
        await saveModel(file, fits.get(id)!.header, fits.get(id)!.arrays);
        const loaded = await loadModel(file);
        expect(loaded.header.detector).toBe(id);
        const here = await scores(fits.get(id)!, [...goods, ...defects]);
        const { stdout } = await run(process.execPath, ['bin/kensa.mjs', 'score', file, ...goods, ...defects, '--json', '--backbone', tiny, '--ep', 'cpu'], { cwd: process.cwd() });
        const there = (JSON.parse(stdout) as { results: { score: number }[] }).results.map((r) => r.score);
        expect(there).toEqual(here);
      });
    });
  }

  it('trained detectors are reproducible: the same seed gives identical sections', async () => {
    for (const id of ['student-teacher', 'autoencoder']) {
      const again = await fitModel(train, opts(id));
      const a = fits.get(id)!.arrays;
      expect(Object.keys(again.arrays).sort()).toEqual(Object.keys(a).sort());
      for (const k of Object.keys(a)) expect(Buffer.from(again.arrays[k]!.buffer).equals(Buffer.from(a[k]!.buffer)), `${id} section ${k}`).toBe(true);
    }
  });

  it('fusion beats or matches its weakest member on the defect/good margin', async () => {
    const f = await scores(fits.get('fusion')!, [...goods, ...defects]);
    expect(Math.min(...f.slice(4))).toBeGreaterThan(Math.max(...f.slice(0, 4)));
  });
});

describe('bad input', () => {
  it('an unknown detector id is UNKNOWN_DETECTOR naming the known ones', async () => {
    const e = await fitModel(train, opts('patchcore', { detector: 'isolation-forest' } as never)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KensaError);
    expect((e as KensaError).code).toBe('UNKNOWN_DETECTOR');
    expect((e as KensaError).message).toMatch(/isolation-forest.*patchcore, padim, student-teacher, autoencoder, fusion/);
  });

  it('refitting a detector that cannot refit is REFIT_UNSUPPORTED, for every such detector', async () => {
    for (const id of ['padim', 'student-teacher', 'autoencoder', 'fusion']) {
      const e = await refitModel(inMemory(fits.get(id)!), goods, { backbone: tiny, ep: 'cpu' }).catch((x: unknown) => x);
      expect((e as KensaError).code, id).toBe('REFIT_UNSUPPORTED');
    }
  });

  it('bad detector settings are INVALID_ARGUMENT before any work', async () => {
    await expect(fitModel(train, opts('student-teacher', { config: { students: 2 } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(fitModel(train, opts('padim', { config: { shrinkage: 2 } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(fitModel(train, opts('fusion', { config: { members: ['padim', 'fusion'] } }))).rejects.toMatchObject({ code: 'UNKNOWN_DETECTOR' });
  });

  it('a training run cancelled halfway is CANCELLED and writes no model file', async () => {
    const engine = new EngineClient();
    try {
      const out = path.join(dir, 'cancelled.kensa');
      let cancelled = false;
      const job = engine.run(
        { kind: 'fit', detector: 'student-teacher', files: train, out, backbone: tiny, ep: 'cpu', input: { embedding: { width: INPUT, height: INPUT } }, config: { ...SMALL['student-teacher'], epochs: 200 } },
        {
          onProgress: (p) => {
            if (p.phase === 'train' && p.done > 5 && !cancelled) {
              cancelled = true;
              job.cancel();
            }
          },
        },
      );
      await expect(job.result).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(cancelled).toBe(true);
      expect(existsSync(out)).toBe(false);
      expect((await fs.readdir(dir)).filter((f) => f.includes('cancelled'))).toEqual([]);
    } finally {
      await engine.terminate();
    }
  });
});
