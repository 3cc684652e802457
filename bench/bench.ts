/**
 * `npm run bench` — engine speed and memory on this machine, all figures from ONE run:
 *
 *   - GEMM rate: ONNX Runtime MatMul [784×1024]·[1024×8192] (the same MLAS kernels the
 *     engine uses), median of repeats → GFLOP/s
 *   - fit: 50, 100 and 200 good images (MVTec bottle train/good) at a 10 % coreset, with the
 *     phase split; the 100→200 ratio shows how cost grows with images (2.0 = linear)
 *   - score: every bottle test image, one at a time (decode, backbone, head = PatchCore's NN
 *     search, map), medians
 *   - floor: (backbone MACs + NN MACs) · 2 / GEMM rate — the time the arithmetic alone needs
 *   - peak RSS of the process
 *
 *   - one row per detector (bench/detector-run.ts, each in its own process so peak RSS is its
 *     own): fit seconds for 200 good parts, ms/part, peak RSS, and the floor (backbone + the
 *     detector's own MACs at the GEMM rate)
 *
 * The last line is one JSON object (scoreMsPerImage, fitSeconds200, peakRssMb,
 * floorMsPerImage, …). Data: $KENSA_SHARED/data/mvtec/bottle (default ../shared).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadBackbone } from '../src-main/engine/backbone/backbone';
import { countBackboneMacs } from '../src-main/engine/backbone/macs';
import { listImages } from '../src-main/engine/imaging/load';
import { loadModel, saveModel } from '../src-main/engine/model-file';
import { inMemory, type FitResult } from '../src-main/engine/detectors/pipeline';
import { fitModel, openScorer, refitModel } from '../src-main/engine/detectors/registry';
import type { Progress } from '../src-main/engine/detectors/types';
import { defaultThreads } from '../src-main/engine/ort/session';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;
const dataset = path.join(shared, 'data', 'mvtec', 'bottle');
if (!existsSync(dataset)) {
  console.error(`bench: ${dataset} not found; set KENSA_SHARED to the folder holding data/ and models/`);
  process.exit(1);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, d = 1): string => x.toFixed(d);

async function gemmRate(): Promise<number> {
  const M = 784;
  const K = 1024;
  const N = 8192;
  const { GraphBuilder, DType } = await import('../src-main/engine/ort/onnx-builder');
  const g = new GraphBuilder('gemm');
  g.input('a', DType.FLOAT, [M, K]);
  g.input('b', DType.FLOAT, [K, N]);
  g.op1('MatMul', ['a', 'b'], {}, 'c');
  g.output('c', DType.FLOAT, [M, N]);
  const s = await ort.InferenceSession.create(g.toModel(), { intraOpNumThreads: defaultThreads(), extra: { session: { intra_op: { allow_spinning: '0' } } } });
  const a = new ort.Tensor('float32', new Float32Array(M * K).map(() => Math.random()), [M, K]);
  const b = new ort.Tensor('float32', new Float32Array(K * N).map(() => Math.random()), [K, N]);
  for (let i = 0; i < 3; i++) await s.run({ a, b });
  const ts: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t = performance.now();
    await s.run({ a, b });
    ts.push(performance.now() - t);
  }
  await s.release();
  return (2 * M * K * N) / (median(ts) / 1000) / 1e9;
}

interface FitRun {
  images: number;
  seconds: number;
  phases: Record<string, number>;
  bank: number;
  patches: number;
}

/** PatchCore's bank size and patch count, from its header state. */
const bankOf = (f: { header: { state: Record<string, unknown> } }): { size: number; patches: number } => ({
  size: Number(f.header.state.bankSize),
  patches: Number(f.header.state.patchesBeforeCoreset),
});

async function timedFit(files: string[]): Promise<{ run: FitRun; fit: FitResult }> {
  const phases: Record<string, number> = {};
  let phase = '';
  let since = performance.now();
  const t0 = since;
  const onProgress = (p: Progress): void => {
    if (p.phase !== phase) {
      const now = performance.now();
      if (phase) phases[phase] = (phases[phase] ?? 0) + (now - since) / 1000;
      phase = p.phase;
      since = now;
    }
  };
  const fit = await fitModel(files, { detector: 'patchcore', onProgress, config: { coreset: { ratio: 0.1 } } });
  const end = performance.now();
  if (phase) phases[phase] = (phases[phase] ?? 0) + (end - since) / 1000;
  return { run: { images: files.length, seconds: (end - t0) / 1000, phases, bank: bankOf(fit).size, patches: bankOf(fit).patches }, fit };
}

async function main(): Promise<void> {
  console.log(`Kensa bench — ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${defaultThreads()} ORT threads, node ${process.version}`);
  const gflops = await gemmRate();
  console.log(`GEMM (ORT MatMul 784×1024·1024×8192): ${fmt(gflops)} GFLOP/s`);

  const train = await listImages(path.join(dataset, 'train', 'good'));
  if (train.length < 200) throw new Error(`bench needs 200 training images, ${dataset} has ${train.length}`);
  const tests = (await listImages(path.join(dataset, 'test'), { recursive: true })).filter((f) => !f.includes(`${path.sep}ground_truth${path.sep}`));

  // Fit at three sizes (the 200-image fit is the model used for scoring).
  const runs: FitRun[] = [];
  let fit200: FitResult | null = null;
  let fit100: FitResult | null = null;
  for (const n of [50, 100, 200]) {
    const r = await timedFit(train.slice(0, n));
    runs.push(r.run);
    if (n === 200) fit200 = r.fit;
    if (n === 100) fit100 = r.fit;
  }
  // Refit: the 100-image model extended with 50 more good parts (as after a review batch).
  const tRefit = performance.now();
  const refit = await refitModel(inMemory(fit100!, '(bench)'), train.slice(100, 150));
  const refitSeconds = (performance.now() - tRefit) / 1000;
  console.log('\nfit (10 % coreset)   images  patches    bank   features  coreset  neighbours  calibrate   total s');
  for (const r of runs) {
    const p = (k: string): string => fmt(r.phases[k] ?? 0).padStart(8);
    console.log(`${''.padEnd(20)} ${String(r.images).padStart(6)} ${String(r.patches).padStart(8)} ${String(r.bank).padStart(7)} ${p('features')}   ${p('coreset')} ${p('neighbours').padStart(10)} ${p('calibrate').padStart(10)} ${fmt(r.seconds, 2).padStart(9)}`);
  }
  const r100 = runs[1]!;
  const r200 = runs[2]!;
  const growth = r200.seconds / r100.seconds;
  console.log(`cost growth 100 → 200 images: ×${fmt(growth, 2)} (×2.00 = linear; the coreset's second stage grows with bank² until the bank reaches its size limit)`);
  // Past the bank size limit (20,000 patches), every phase is linear in the number of images.
  let growthAtCap: number | null = null;
  const magnetic = path.join(shared, 'data', 'magnetic_tile', 'train', 'good');
  if (existsSync(magnetic)) {
    const mt = await listImages(magnetic);
    if (mt.length >= 600) {
      const a = (await timedFit(mt.slice(0, 300))).run;
      const b = (await timedFit(mt.slice(0, 600))).run;
      growthAtCap = b.seconds / a.seconds;
      console.log(`magnetic_tile, bank at its limit: fit 300 images ${fmt(a.seconds, 1)} s (bank ${a.bank}), 600 images ${fmt(b.seconds, 1)} s (bank ${b.bank}): ×${fmt(growthAtCap, 2)}`);
    }
  }
  console.log(`refit: 100-image model + 50 new good parts: ${fmt(refitSeconds, 2)} s (bank ${bankOf(fit100!).size} → ${bankOf(refit).size})`);

  // Save + reload through the model file, as a user would.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kensa-bench-'));
  const file = path.join(dir, 'bottle.kensa');
  await saveModel(file, fit200!.header, fit200!.arrays);
  const model = await loadModel(file);
  const scorer = await openScorer(model);

  // Score: one image at a time, as the line does.
  for (const f of tests.slice(0, 5)) await scorer.scoreFile(f); // warm-up
  const per = { total: [] as number[], decode: [] as number[], backbone: [] as number[], head: [] as number[], map: [] as number[] };
  for (const f of tests) {
    const t = performance.now();
    const r = await scorer.scoreFile(f);
    per.total.push(performance.now() - t);
    per.decode.push(r.timing.decodeMs);
    per.backbone.push(r.timing.backboneMs);
    per.head.push(r.timing.headMs);
    per.map.push(r.timing.mapMs);
  }
  await scorer.release();
  rmSync(dir, { recursive: true, force: true });

  // Floor: the arithmetic of backbone + NN search at the measured GEMM rate.
  const h = model.header;
  const backbone = await loadBackbone(h.backbone.id);
  const backboneMacs = await countBackboneMacs(backbone.model, backbone.file, h.taps.map((t) => t.name), h.config.embedding.width, h.config.embedding.height);
  const bank = bankOf(model).size;
  const patches = h.features.grid[0] * h.features.grid[1];
  const nnMacs = patches * bank * h.features.dim;
  const floorMs = ((2 * (backboneMacs + nnMacs)) / (gflops * 1e9)) * 1000;
  const scoreMs = median(per.total);

  console.log(`\nscore (${tests.length} images, bank ${bank}×${h.features.dim}, ${patches} patches/image, ep ${h.fit.ep})`);
  console.log(`  median ms/image: total ${fmt(scoreMs)} = decode ${fmt(median(per.decode))} + backbone ${fmt(median(per.backbone))} + head (NN search) ${fmt(median(per.head))} + map ${fmt(median(per.map))}`);
  console.log(`  MACs/image: backbone ${fmt(backboneMacs / 1e6)} M + NN ${fmt(nnMacs / 1e6)} M → floor ${fmt(floorMs)} ms at ${fmt(gflops)} GFLOP/s (total is ×${fmt(scoreMs / floorMs, 2)} the floor)`);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(`  peak RSS of the whole run (largest: the 600-image fit): ${fmt(peakRssMb, 0)} MB`);
  console.log(
    `targets: score ≤ 60 ms/image → ${scoreMs <= 60 ? 'met' : 'MISSED'}; fit 200 ≤ 30 s → ${r200.seconds <= 30 ? 'met' : 'MISSED'}; refit 50 ≤ 5 s → ${refitSeconds <= 5 ? 'met' : 'MISSED'}`,
  );

  // One row per detector, each in its own process.
  const { execFileSync } = await import('node:child_process');
  const { DETECTOR_IDS } = await import('../src-main/engine/model-types');
  const detectors: { detector: string; fitSeconds: number; msPerPart: number; peakRssMb: number; floorMsPerImage: number }[] = [];
  console.log('\ndetector          fit 200 s   ms/part   floor ms   peak RSS MB');
  for (const id of DETECTOR_IDS) {
    const out = execFileSync(process.execPath, ['bin/run-ts.mjs', 'bench/detector-run.ts', id, String(gflops)], { encoding: 'utf8', env: process.env, maxBuffer: 1 << 24 });
    const row = JSON.parse(out.trim().split('\n').pop()!) as (typeof detectors)[number];
    detectors.push(row);
    console.log(`${id.padEnd(17)} ${fmt(row.fitSeconds).padStart(9)} ${fmt(row.msPerPart).padStart(9)} ${fmt(row.floorMsPerImage).padStart(10)} ${String(row.peakRssMb).padStart(13)}`);
  }
  const trained = detectors.filter((d) => d.detector === 'student-teacher' || d.detector === 'autoencoder');
  console.log(`targets: trained detectors fit 200 parts ≤ 120 s → ${trained.every((d) => d.fitSeconds <= 120) ? 'met' : 'MISSED'}; default detector ≤ 50 ms/part → ${(detectors.find((d) => d.detector === 'patchcore')?.msPerPart ?? Infinity) <= 50 ? 'met' : 'MISSED'}`);

  const summary = {
    scoreMsPerImage: Number(fmt(scoreMs, 2)),
    scoreSplitMs: { decode: Number(fmt(median(per.decode), 2)), backbone: Number(fmt(median(per.backbone), 2)), head: Number(fmt(median(per.head), 2)), map: Number(fmt(median(per.map), 2)) },
    fitSeconds200: Number(fmt(r200.seconds, 2)),
    fitSeconds100: Number(fmt(r100.seconds, 2)),
    fitSeconds50: Number(fmt(runs[0]!.seconds, 2)),
    fitGrowth100to200: Number(fmt(growth, 3)),
    fitGrowth300to600AtBankLimit: growthAtCap === null ? null : Number(fmt(growthAtCap, 3)),
    refitSeconds50: Number(fmt(refitSeconds, 2)),
    bank200: r200.bank,
    peakRssMb: Math.round(peakRssMb),
    floorMsPerImage: Number(fmt(floorMs, 2)),
    gemmGflops: Number(fmt(gflops, 1)),
    backboneMacs,
    nnMacs,
    detectors,
  };
  console.log(JSON.stringify(summary));
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${(e as Error).message}`);
  process.exit(1);
});
