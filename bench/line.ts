/**
 * `npm run bench:line [-- --detector ID] [--seconds S] [--rates 10,15,20,25,30] [--preload N]` — the line at a
 * steady pace. A project fits the detector (default PatchCore) on bottle train/good; its line
 * watches a folder ('rename' completion: the bench writes each part as NAME.part and renames
 * it, as a camera does) with the CSV log on. For each rate, parts are dropped at that pace
 * for S seconds (default 20); every part's content is unique (a bottle test image with its
 * own tEXt chunk), so none is a duplicate. Measured per rate:
 *   - throughput: results published per second over the window;
 *   - backlog: parts dropped but not yet published when the window ends, and its growth
 *     (second half minus first half of the window);
 *   - latency from file complete (the rename) to result published (an in-process sink that
 *     the publisher hands results to after the commit, like every other sink), p50 / p95.
 * A rate is sustained when throughput ≥ 97 % of it and the backlog does not grow (≤ 1 s of
 * parts at the end). The last line is one JSON object: sustainedPartsPerSecond, p50LatencyMs,
 * p95LatencyMs (at the highest sustained rate), detector, rates[]. With --preload N the project
 * holds N scored parts (bench/scale-gen.ts) before the line starts, so the line is measured at scale.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pngChunk } from '../src-main/engine/imaging/png';
import { EngineClient } from '../src-main/jobs/engine-client';
import { LineService } from '../src-main/services/line/line-service';
import type { LineResult, ResultSink, SinkStatus } from '../src-main/services/line/types';
import { ProjectService } from '../src-main/services/project-service';
import { generateScaleProject } from './scale-gen';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const detector = arg('detector', 'patchcore');
const seconds = Number(arg('seconds', '20'));
/** Parts already in the project before the line starts (bench/scale-gen.ts), to measure the line at scale. */
const preload = Number(arg('preload', '0'));
const rates = arg('rates', '10,15,20,25,30')
  .split(',')
  .map(Number)
  .filter((r) => r > 0);

/** A sink that records when each result was handed over (after the commit, in seq order). */
class TimingSink implements ResultSink {
  readonly name = 'json' as const;
  readonly published = new Map<string, number>();
  start(): Promise<void> {
    return Promise.resolve();
  }
  deliver(r: LineResult): Promise<void> {
    if (r.event === 'scored') this.published.set(r.file, Date.now());
    return Promise.resolve();
  }
  status(): SinkStatus {
    return { name: 'json', ready: true, lastError: null, target: 'bench timing' };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The same PNG with one more tEXt chunk before IEND: a different file, the same picture. */
function uniquePng(png: Buffer, tag: string): Buffer {
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), pngChunk('tEXt', Buffer.from(`kensa-bench\0${tag}`, 'latin1')), png.subarray(iend)]);
}

function quantile(xs: number[], q: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
}

async function main(): Promise<void> {
  if (!existsSync(bottle)) throw new Error(`bench:line needs ${bottle} (set KENSA_SHARED)`);
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-bench-line-'));
  const camera = path.join(tmp, 'camera');
  mkdirSync(camera);
  const fitEngine = new EngineClient();
  const lineEngine = new EngineClient();
  try {
    let svc: ProjectService;
    if (preload > 0) {
      const t = performance.now();
      await generateScaleProject({ dir: path.join(tmp, 'project'), parts: preload, engine: fitEngine });
      console.log(`project preloaded with ${preload} scored parts in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      svc = ProjectService.open(path.join(tmp, 'project'));
    } else {
      svc = await ProjectService.create(path.join(tmp, 'project'), 'bench:line', 'bench');
    }
    const train = readdirSync(path.join(bottle, 'train', 'good')).sort().map((f) => path.join(bottle, 'train', 'good', f));
    await svc.importImages(train, 'train', 'bench');
    const t0 = performance.now();
    const m = await svc.fit(fitEngine, { detector }, 'bench');
    console.log(`fitted ${m.detector} v${m.version} on ${train.length} images in ${((performance.now() - t0) / 1000).toFixed(1)} s (${m.ep})`);
    await fitEngine.terminate();
    svc.updateSettings(
      {
        line: {
          ...svc.settings().line,
          station: 'bench',
          enabled: true,
          maxInFlight: 64,
          folders: [{ path: camera, completion: 'rename', stableMs: 500 }],
          outputs: { ...svc.settings().line.outputs, csv: { enabled: true, file: 'line/results.csv' } },
        },
      },
      'bench',
    );
    const pool = readdirSync(path.join(bottle, 'test'))
      .flatMap((d) => readdirSync(path.join(bottle, 'test', d)).map((f) => path.join(bottle, 'test', d, f)))
      .sort()
      .map((f) => readFileSync(f));
    const timing = new TimingSink();
    const line = new LineService(svc, { engine: lineEngine, sinks: [timing], pollMs: 20 });
    await line.start();

    // Warm-up: the worker loads the model and the backbone on the first part.
    let n = 0;
    const drop = (): { name: string; at: number } => {
      const name = `part-${String(n).padStart(6, '0')}.png`;
      const body = uniquePng(pool[n % pool.length]!, String(n));
      n += 1;
      writeFileSync(path.join(camera, `${name}.part`), body);
      renameSync(path.join(camera, `${name}.part`), path.join(camera, name));
      return { name, at: Date.now() };
    };
    const warm = Array.from({ length: 8 }, drop);
    while (!warm.every((w) => timing.published.has(w.name))) await new Promise((r) => setTimeout(r, 20));

    const rows: { rate: number; dropped: number; published: number; throughput: number; backlogEnd: number; backlogGrowth: number; p50: number | null; p95: number | null; sustained: boolean }[] = [];
    for (const rate of rates) {
      const drops: { name: string; at: number }[] = [];
      const start = Date.now();
      const total = Math.round(rate * seconds);
      let midBacklog = 0;
      for (let i = 0; i < total; i++) {
        const due = start + (i * 1000) / rate;
        const wait = due - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        drops.push(drop());
        if (i === Math.floor(total / 2)) midBacklog = drops.filter((d) => !timing.published.has(d.name)).length;
      }
      const end = Date.now();
      const inWindow = drops.filter((d) => (timing.published.get(d.name) ?? Infinity) <= end);
      const backlogEnd = drops.length - inWindow.length;
      const throughput = inWindow.length / ((end - start) / 1000);
      const sustained = throughput >= 0.97 * rate && backlogEnd <= Math.max(2, rate) && backlogEnd - midBacklog <= Math.max(2, rate / 2);
      // Let the backlog drain before the next rate.
      while (!drops.every((d) => timing.published.has(d.name))) await new Promise((r) => setTimeout(r, 20));
      const all = drops.map((d) => timing.published.get(d.name)! - d.at);
      rows.push({ rate, dropped: drops.length, published: inWindow.length, throughput, backlogEnd, backlogGrowth: backlogEnd - midBacklog, p50: quantile(all, 0.5), p95: quantile(all, 0.95), sustained });
      const r = rows.at(-1)!;
      console.log(
        `rate ${String(rate).padStart(3)}/s: ${r.published}/${r.dropped} published in the window, ${throughput.toFixed(1)}/s; backlog at end ${backlogEnd} (growth ${r.backlogGrowth}); latency p50 ${r.p50} ms, p95 ${r.p95} ms — ${sustained ? 'sustained' : 'NOT sustained'}`,
      );
    }
    await line.stop();
    const best = rows.filter((r) => r.sustained).at(-1) ?? null;
    console.log('');
    console.log('| offered parts/s | throughput | backlog at end | p50 ms | p95 ms | sustained |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.rate} | ${r.throughput.toFixed(1)} | ${r.backlogEnd} | ${r.p50} | ${r.p95} | ${r.sustained ? 'yes' : 'no'} |`);
    const csvRows = readFileSync(path.join(svc.dir, 'line', 'results.csv'), 'utf8').trim().split(/\r?\n/).length - 1;
    console.log(`CSV log rows: ${csvRows} (parts: ${n})`);
    svc.close();
    console.log(
      JSON.stringify({
        detector,
        preloadedParts: preload,
        sustainedPartsPerSecond: best?.rate ?? 0,
        p50LatencyMs: best?.p50 ?? null,
        p95LatencyMs: best?.p95 ?? null,
        rates: rows.map((r) => ({ rate: r.rate, throughput: Number(r.throughput.toFixed(2)), backlogEnd: r.backlogEnd, p50LatencyMs: r.p50, p95LatencyMs: r.p95, sustained: r.sustained })),
      }),
    );
  } finally {
    await fitEngine.terminate();
    await lineEngine.terminate();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
