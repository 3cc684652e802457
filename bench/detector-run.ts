/**
 * One detector's row of `npm run bench`, in its own process so that its peak RSS is its own:
 * fit on 200 good bottle images (train/good), score every bottle test image one at a time;
 * prints one JSON line { detector, fitSeconds, msPerPart, peakRssMb, floorMsPerImage }.
 * The floor is the arithmetic the detector needs (backbone + its own MACs) at `--gflops`.
 * Usage: node bin/run-ts.mjs bench/detector-run.ts ID GFLOPS
 */
import path from 'node:path';
import { loadBackbone } from '../src-main/engine/backbone/backbone';
import { countBackboneMacs } from '../src-main/engine/backbone/macs';
import { inMemory } from '../src-main/engine/detectors/pipeline';
import { fitModel, openScorer } from '../src-main/engine/detectors/registry';
import { listImages } from '../src-main/engine/imaging/load';
import type { ModelHeader } from '../src-main/engine/model-types';

const [id, gflopsArg] = process.argv.slice(2);
const gflops = Number(gflopsArg);
const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
const dataset = path.join(shared, 'data', 'mvtec', 'bottle');

/** Multiply–accumulates of the detector's own work per image (beyond the backbone). */
function headMacs(h: Pick<ModelHeader, 'detector' | 'detectorConfig' | 'state' | 'features'>): number {
  const P = h.features.grid[0] * h.features.grid[1];
  const D = h.features.dim;
  const c = h.detectorConfig as Record<string, unknown>;
  switch (h.detector) {
    case 'patchcore':
      return P * Number(h.state.bankSize) * D;
    case 'padim': {
      const d = Number(h.state.channels);
      return P * (d * d + d);
    }
    case 'student-teacher': {
      const H = Number(c.hidden);
      const M = Number(c.students);
      return P * 768 * 768 + M * P * (768 * H + H * H + H * D); // window im2col (one-hot conv) + students
    }
    case 'autoencoder': {
      const H = Number(c.hidden);
      const k = Number(c.bottleneck);
      const T = Number((c.projection as { steps: number }).steps);
      return 3 * T * P * (D * H + H * k + k * H + H * D); // forward + backward per projection step
    }
    case 'fusion': {
      const members = (h.state.members ?? []) as { id: ModelHeader['detector']; config: Record<string, unknown>; state: Record<string, unknown> }[];
      return members.reduce((s, m) => s + headMacs({ detector: m.id, detectorConfig: m.config, state: m.state, features: h.features }), 0);
    }
  }
}

const train = (await listImages(path.join(dataset, 'train', 'good'))).slice(0, 200);
const tests = await listImages(path.join(dataset, 'test'), { recursive: true });
const t0 = performance.now();
const fit = await fitModel(train, { detector: id!, baseDir: dataset });
const fitSeconds = (performance.now() - t0) / 1000;
const scorer = await openScorer(inMemory(fit));
for (const f of tests.slice(0, 3)) await scorer.scoreFile(f);
const ms: number[] = [];
for (const f of tests) {
  const t = performance.now();
  await scorer.scoreFile(f);
  ms.push(performance.now() - t);
}
await scorer.release();
ms.sort((a, b) => a - b);
const h = fit.header;
const backbone = await loadBackbone(h.backbone.id);
const bbMacs = await countBackboneMacs(backbone.model, backbone.file, h.taps.map((t) => t.name), h.config.embedding.width, h.config.embedding.height);
const macs = bbMacs + headMacs(h);
console.log(
  JSON.stringify({
    detector: id,
    fitSeconds: Number(fitSeconds.toFixed(2)),
    msPerPart: Number(ms[Math.floor(ms.length / 2)]!.toFixed(2)),
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    floorMsPerImage: Number((((2 * macs) / (gflops * 1e9)) * 1000).toFixed(2)),
    macs,
  }),
);
