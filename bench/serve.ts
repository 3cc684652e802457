/**
 * `npm run bench:serve [-- --train N] [--parts N] [--clients C] [--rounds R]` — scoring through
 * `kensa serve` (the Open Inference Protocol server, started as a child process through the
 * real CLI) next to the in-process engine, on the same parts in the same run.
 *
 * A PatchCore model is fitted on bottle train/good (all of it, or the first N), in the
 * engine worker. The parts are bottle test images decoded ONCE to the model input size with
 * the engine's loader (a client's preprocessing, not timed). Then, one after the other so
 * they never share the CPU, in R rounds (default 2) that interleave the modes so a change in
 * the machine's load hits them alike, each round scoring N/R parts per mode:
 *   engine   Scorer.scoreRgb in this process, batch 1 and batch 8, sequential;
 *   served   Kensa's oip-client (binary tensors both ways, score + map) against `kensa serve`:
 *            batch 1 and batch 8 sequential, batch 1 asking for the score only (no 200 KB map
 *            per part on the wire), and C concurrent clients (default 4) at batch 1 (the
 *            server queues them and merges waiting requests into one runner call).
 * Per mode: parts/s (parts / wall time), and per-request latency p50 / p95 (a batch-8 request
 * is one latency for 8 parts). Each mode is warmed up first. The served scores are checked
 * against the engine's (largest relative difference printed). The last line is one JSON
 * object: per mode {partsPerSecond, p50Ms, p95Ms}, the serving overhead at batch 1
 * (served p50 − engine p50), maxRelScoreDiff, bank size, threads.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openScorer } from '../src-main/engine/detectors/registry';
import { listImages, loadImage } from '../src-main/engine/imaging/load';
import { loadModel } from '../src-main/engine/model-file';
import { defaultThreads } from '../src-main/engine/ort/session';
import { EngineClient } from '../src-main/jobs/engine-client';
import { infer } from '../src-main/services/serve/oip-client';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const repo = path.resolve(import.meta.dirname, '..');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const trainLimit = Number(arg('train', '0'));
const PARTS = Number(arg('parts', '48'));
const CLIENTS = Number(arg('clients', '4'));
const ROUNDS = Math.max(1, Number(arg('rounds', '2')));

interface Mode {
  mode: string;
  batch: number;
  clients: number;
  parts: number;
  seconds: number;
  latencies: number[];
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
};

/** Runs `jobs` requests over `clients` concurrent loops; each job scores `batch` parts. */
async function measure(mode: string, batch: number, clients: number, parts: number, run: (first: number, n: number) => Promise<void>): Promise<Mode> {
  const requests = Math.ceil(parts / batch);
  // Warm-up: two requests per client.
  await Promise.all(Array.from({ length: clients }, (_, c) => run(c * batch, batch).then(() => run(c * batch, batch))));
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const k = next++;
        if (k >= requests) return;
        const t = performance.now();
        await run(k * batch, batch);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { mode, batch, clients, parts: requests * batch, seconds: (performance.now() - t0) / 1000, latencies };
}

async function main(): Promise<void> {
  if (!existsSync(bottle)) throw new Error(`bottle data not found at ${bottle} (set KENSA_SHARED)`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-bench-serve-'));
  const modelFile = path.join(tmp, 'bottle.kensa');
  const engine = new EngineClient();
  let server: ReturnType<typeof spawn> | null = null;
  try {
    let train = await listImages(path.join(bottle, 'train', 'good'));
    if (trainLimit > 0) train = train.slice(0, trainLimit);
    let t0 = performance.now();
    const fit = await engine.run({ kind: 'fit', files: train, out: modelFile }).result;
    await engine.terminate();
    const bankSize = Number(fit.header.state.bankSize);
    const load = (): string => os.loadavg().map((x) => x.toFixed(1)).join(' ');
    console.log(`load average before the fit: ${load()} on ${os.availableParallelism()} CPUs (other work on the machine shows up in every number below)`);
    console.log(`fitted patchcore on ${train.length} bottle train/good images in ${((performance.now() - t0) / 1000).toFixed(1)} s: bank ${bankSize} × ${fit.header.features.dim} (${fit.header.fit.ep}, ${defaultThreads()} threads)`);

    // Parts: bottle test images, decoded once (cycled to PARTS + warm-up).
    const model = await loadModel(modelFile);
    const { width: W, height: H } = model.header.config.embedding;
    const px = W * H * 3;
    const tests = (await listImages(path.join(bottle, 'test'), { recursive: true })).sort();
    const total = Math.max(PARTS, 8 * CLIENTS) + 8 * CLIENTS;
    const pixels = new Uint8Array(total * px);
    t0 = performance.now();
    for (let i = 0; i < total; i++) pixels.set((await loadImage(tests[i % tests.length]!, { width: W, height: H, resize: model.header.config.resize })).rgb, i * px);
    console.log(`decoded ${tests.length} bottle test images to ${W}×${H} (${((performance.now() - t0) / Math.min(total, tests.length)).toFixed(1)} ms each, not timed below); ${PARTS} parts per mode`);
    const slice = (first: number, n: number): Uint8Array => pixels.slice((first % (total - n + 1)) * px, ((first % (total - n + 1)) + n) * px);

    // kensa serve, as a user starts it (idle while the engine is measured).
    server = spawn(process.execPath, [path.join(repo, 'bin', 'kensa.mjs'), 'serve', modelFile, '--port', '0', '--ep', 'cpu', '--json'], { cwd: repo, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    server.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    server.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    t0 = performance.now();
    while (!out.includes('\n')) {
      if (server.exitCode !== null) throw new Error(`kensa serve exited ${server.exitCode}: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const info = JSON.parse(out.split('\n')[0]!) as { url: string; model: string };
    console.log(`kensa serve ready in ${((performance.now() - t0) / 1000).toFixed(1)} s at ${info.url}/v2/models/${info.model}`);

    const engineScores = new Map<number, number>();
    const servedScores = new Map<number, number>();
    const scorer = await openScorer(model, { ep: 'cpu' });
    const engineRun = (b: number) => async (first: number, n: number): Promise<void> => {
      const r = await scorer.scoreRgb(slice(first, n), n);
      if (b === 1) engineScores.set(first % (total - n + 1), r[0]!.score);
    };
    const call = (maps: boolean) => async (first: number, n: number): Promise<void> => {
      const r = await infer(info.url, info.model, { data: slice(first, n), n, h: H, w: W }, { maps });
      if (n === 1) servedScores.set(first % (total - n + 1), r.scores[0]!);
    };
    const specs: { mode: string; batch: number; clients: number; run: (first: number, n: number) => Promise<void> }[] = [
      { mode: 'engine (in-process)', batch: 1, clients: 1, run: engineRun(1) },
      { mode: 'kensa serve (OIP)', batch: 1, clients: 1, run: call(true) },
      { mode: 'kensa serve (OIP), score only', batch: 1, clients: 1, run: call(false) },
      { mode: 'kensa serve (OIP)', batch: 1, clients: CLIENTS, run: call(true) },
      { mode: 'engine (in-process)', batch: 8, clients: 1, run: engineRun(8) },
      { mode: 'kensa serve (OIP)', batch: 8, clients: 1, run: call(true) },
    ];
    // Rounds interleave the modes, so a change in the machine's load hits them alike.
    const modes: Mode[] = specs.map((m) => ({ mode: m.mode, batch: m.batch, clients: m.clients, parts: 0, seconds: 0, latencies: [] }));
    try {
      for (let round = 0; round < ROUNDS; round++) {
        for (const [i, m] of specs.entries()) {
          const r = await measure(m.mode, m.batch, m.clients, Math.ceil(PARTS / ROUNDS), m.run);
          modes[i]!.parts += r.parts;
          modes[i]!.seconds += r.seconds;
          modes[i]!.latencies.push(...r.latencies);
        }
      }
    } finally {
      await scorer.release();
    }

    let maxRel = 0;
    for (const [k, s] of servedScores) {
      const e = engineScores.get(k);
      if (e !== undefined) maxRel = Math.max(maxRel, Math.abs(s - e) / Math.abs(e));
    }

    server.kill('SIGINT');
    const code = await new Promise<number>((r) => server!.on('close', (c) => r(c ?? -1)));
    server = null;

    console.log('');
    console.log('| path | batch | clients | parts | parts/s | p50 ms/request | p95 ms/request | ms/part |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const m of modes) {
      const pps = m.parts / m.seconds;
      console.log(`| ${m.mode} | ${m.batch} | ${m.clients} | ${m.parts} | ${pps.toFixed(2)} | ${pct(m.latencies, 0.5).toFixed(1)} | ${pct(m.latencies, 0.95).toFixed(1)} | ${(1000 / pps).toFixed(1)} |`);
    }
    console.log('');
    console.log(`load average at the end: ${load()}`);
    console.log(`served vs engine scores (batch 1, same parts): max relative difference ${maxRel.toExponential(2)}; kensa serve exited ${code} on SIGINT`);
    const key = (m: Mode): string => `${m.mode.startsWith('engine') ? 'engine' : 'served'}B${m.batch}${m.clients > 1 ? `x${m.clients}` : ''}${m.mode.includes('score only') ? 'ScoreOnly' : ''}`;
    const summary: Record<string, unknown> = {};
    for (const m of modes) summary[key(m)] = { partsPerSecond: Number((m.parts / m.seconds).toFixed(2)), p50Ms: Number(pct(m.latencies, 0.5).toFixed(1)), p95Ms: Number(pct(m.latencies, 0.95).toFixed(1)) };
    const p50 = (k: string): number => (summary[k] as { p50Ms: number }).p50Ms;
    console.log(
      JSON.stringify({
        ...summary,
        overheadB1P50Ms: Number((p50('servedB1') - p50('engineB1')).toFixed(1)),
        maxRelScoreDiff: maxRel,
        trainImages: train.length,
        bankSize,
        threads: defaultThreads(),
        loadAverage: os.loadavg()[0],
        parts: PARTS,
        clients: CLIENTS,
      }),
    );
  } finally {
    if (server) server.kill('SIGKILL');
    await engine.terminate();
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
