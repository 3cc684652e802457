/**
 * The engine worker thread: runs fit / score / eval jobs off the caller's thread, posts
 * progress and per-image results, and honours cancel (an AbortSignal checked between units
 * of work). A cancelled fit writes nothing: the model file is only written, atomically,
 * after the fit has completed.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parentPort } from 'node:worker_threads';
import { toSerializedError } from '../engine/errors';
import { evaluateDataset } from '../engine/eval';
import { fitWithin, writeHeatmapOverlay } from '../engine/imaging/heatmap';
import { loadImage } from '../engine/imaging/load';
import { loadModel, saveModel } from '../engine/model-file';
import { writeMapPng } from '../engine/imaging/mapfile';
import { fitModel, learnModel, openScorer, refitModel } from '../engine/detectors/registry';
import type { Progress } from '../engine/detectors/types';
import type { EvalJob, FitJob, LearnJob, FromWorker, JobResult, RefitJob, ScoreItem, ScoreJob, StreamItem, StreamJob, ToWorker } from './protocol';
import { decodeOne, type Decoded } from '../engine/detectors/pipeline';

const port = parentPort;
if (!port) throw new Error('engine-worker must run in a worker thread');

const running = new Map<number, AbortController>();
/** Stream jobs' inboxes: fed items wait here until the scorer takes them. */
const streams = new Map<number, { push(items: StreamItem[]): void; end(): void }>();

function post(msg: FromWorker): void {
  port!.postMessage(msg);
}

/** Progress, at most every 100 ms per phase change or on the last step. */
function progressPoster(id: number): (p: Progress) => void {
  let last = 0;
  let phase = '';
  return (p) => {
    const now = performance.now();
    if (p.phase !== phase || p.done === p.total || now - last > 100) {
      phase = p.phase;
      last = now;
      post({ type: 'progress', id, progress: p });
    }
  };
}

async function runFit(id: number, job: FitJob, signal: AbortSignal): Promise<JobResult> {
  const fit = await fitModel(job.files, {
    signal,
    onProgress: progressPoster(id),
    ...(job.detector === undefined ? {} : { detector: job.detector }),
    ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
    ...(job.input === undefined ? {} : { input: job.input }),
    ...(job.config === undefined ? {} : { config: job.config }),
    ...(job.ep === undefined ? {} : { ep: job.ep }),
    ...(job.baseDir === undefined ? {} : { baseDir: job.baseDir }),
  });
  if (signal.aborted) throw new Error('cancelled');
  await saveModel(job.out, fit.header, fit.arrays);
  return { kind: 'fit', out: job.out, header: fit.header, skipped: fit.skipped };
}

async function runRefit(id: number, job: RefitJob, signal: AbortSignal): Promise<JobResult> {
  const parent = await loadModel(job.model);
  const fit = await refitModel(parent, job.files, {
    signal,
    onProgress: progressPoster(id),
    ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
    ...(job.ep === undefined ? {} : { ep: job.ep }),
    ...(job.baseDir === undefined ? {} : { baseDir: job.baseDir }),
  });
  if (signal.aborted) throw new Error('cancelled');
  await saveModel(job.out, fit.header, fit.arrays);
  return { kind: 'refit', out: job.out, header: fit.header, skipped: fit.skipped };
}

async function runLearn(id: number, job: LearnJob, signal: AbortSignal): Promise<JobResult> {
  const parent = await loadModel(job.model);
  const r = await learnModel(parent, job.reviewed, {
    signal,
    onProgress: progressPoster(id),
    ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
    ...(job.ep === undefined ? {} : { ep: job.ep }),
    ...(job.config === undefined ? {} : { config: job.config }),
    ...(job.folds === undefined ? {} : { folds: job.folds }),
  });
  if (signal.aborted) throw new Error('cancelled');
  await saveModel(job.out, r.header, r.arrays);
  return { kind: 'learn', out: job.out, header: r.header, skipped: r.skipped, outOfFold: r.outOfFold };
}

async function runScore(id: number, job: ScoreJob, signal: AbortSignal): Promise<JobResult> {
  const model = await loadModel(job.model);
  const scorer = await openScorer(model, {
    ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
    ...(job.ep === undefined ? {} : { ep: job.ep }),
  });
  if (job.heatmapsDir) await mkdir(job.heatmapsDir, { recursive: true });
  if (job.maps) await mkdir(job.maps.dir, { recursive: true });
  const index = new Map(job.files.map((f, i) => [f, i]));
  let scored = 0;
  let failed = 0;
  try {
    for await (const o of scorer.scoreFiles(job.files, { signal, onProgress: progressPoster(id) })) {
      let item: ScoreItem;
      if (o.ok) {
        const r = o.result;
        item = { ok: true, file: r.file, score: r.score, maxPatchScore: r.maxPatchScore, imageWidth: r.imageWidth, imageHeight: r.imageHeight, sha256: r.sha256, timing: r.timing };
        if (job.maps) {
          const name = job.maps.names[index.get(r.file) ?? -1];
          if (name) {
            item.mapBytes = await writeMapPng(path.join(job.maps.dir, name), r.map, r.width, r.height, job.maps.max);
            item.map = name;
          }
        }
        if (job.heatmapsDir) {
          const size = fitWithin(r.imageWidth, r.imageHeight, 1024);
          const image = await loadImage(r.file, { ...size, resize: 'stretch' });
          const out = path.join(job.heatmapsDir, `${path.basename(r.file, path.extname(r.file))}.heatmap.png`);
          await writeHeatmapOverlay(out, { rgb: image.rgb, ...size }, r.map, r.width, r.height, model.header.stats.colourScale);
          item.heatmap = out;
        }
        scored += 1;
      } else {
        item = { ok: false, file: o.file, error: o.error };
        failed += 1;
      }
      post({ type: 'item', id, item });
    }
  } finally {
    await scorer.release();
  }
  return { kind: 'score', model: job.model, ep: scorer.ep, scored, failed };
}

/**
 * A stream job (protocol.ts StreamJob): the scorer is opened once; fed items are scored in
 * feed order. The next item is decoded (sharp, on libuv's threads) while the current one runs
 * through ORT, so decode time hides behind inference when parts come back to back.
 */
async function runStream(id: number, job: StreamJob, signal: AbortSignal): Promise<JobResult> {
  // The inbox exists before the first await: items fed while the model loads wait in it.
  const queue: { item: StreamItem; decoded: Promise<Decoded>; t0: number }[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  const poke = (): void => {
    wake?.();
    wake = null;
  };
  streams.set(id, {
    push(items) {
      // Decoding starts when an item comes near the front (at most two in flight).
      for (const item of items) queue.push({ item, decoded: null as unknown as Promise<Decoded>, t0: 0 });
      poke();
    },
    end() {
      ended = true;
      poke();
    },
  });
  signal.addEventListener('abort', poke);
  let scorer: Awaited<ReturnType<typeof openScorer>>;
  let cfg: Parameters<typeof decodeOne>[1];
  try {
    const model = await loadModel(job.model);
    scorer = await openScorer(model, {
      ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
      ...(job.ep === undefined ? {} : { ep: job.ep }),
    });
    cfg = model.header.config;
    if (job.maps) await mkdir(job.maps.dir, { recursive: true });
  } catch (e) {
    streams.delete(id);
    throw e;
  }
  const start = (i: number): void => {
    const q = queue[i];
    if (q && q.t0 === 0) {
      q.t0 = performance.now();
      q.decoded = decodeOne(q.item.file, cfg);
    }
  };
  let scored = 0;
  let failed = 0;
  let posted: Promise<void> = Promise.resolve();
  try {
    for (;;) {
      if (signal.aborted) throw new Error('cancelled');
      if (queue.length === 0) {
        if (ended) break;
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      start(0);
      start(1);
      const q = queue[0]!;
      const d = await q.decoded;
      queue.shift();
      start(1);
      let item: ScoreItem;
      let mapWrite: Promise<number> | null = null;
      if (d.error) {
        item = { ok: false, file: d.file, error: d.error };
        failed += 1;
      } else {
        try {
          const r = await scorer.scoreDecoded(d, performance.now() - q.t0);
          item = { ok: true, file: r.file, score: r.score, maxPatchScore: r.maxPatchScore, imageWidth: r.imageWidth, imageHeight: r.imageHeight, sha256: r.sha256, timing: r.timing };
          // The map is encoded and written while the next part is scored; the item is posted
          // once its map is on disk (posts stay in feed order: each waits for the one before).
          if (job.maps && q.item.map) {
            mapWrite = writeMapPng(path.join(job.maps.dir, q.item.map), r.map, r.width, r.height, job.maps.max);
            mapWrite.catch(() => undefined); // handled in the post chain below (not an unhandled rejection meanwhile)
          }
          scored += 1;
        } catch (e) {
          item = { ok: false, file: d.file, error: toSerializedError(e) };
          failed += 1;
        }
      }
      const map = q.item.map;
      const done = item;
      posted = posted.then(async () => {
        if (mapWrite && done.ok) {
          try {
            done.mapBytes = await mapWrite;
            done.map = map;
          } catch (e) {
            post({ type: 'item', id, item: { ok: false, file: done.file, error: toSerializedError(e) } });
            return;
          }
        }
        post({ type: 'item', id, item: done });
      });
    }
    await posted;
  } finally {
    streams.delete(id);
    await scorer.release();
  }
  return { kind: 'stream', model: job.model, ep: scorer.ep, scored, failed };
}

async function runEval(id: number, job: EvalJob, signal: AbortSignal): Promise<JobResult> {
  const report = await evaluateDataset(job.dataset, {
    signal,
    onProgress: progressPoster(id),
    ...(job.detector === undefined ? {} : { detector: job.detector }),
    ...(job.backbone === undefined ? {} : { backbone: job.backbone }),
    ...(job.input === undefined ? {} : { input: job.input }),
    ...(job.config === undefined ? {} : { config: job.config }),
    ...(job.ep === undefined ? {} : { ep: job.ep }),
    ...(job.modelOut === undefined ? {} : { onFit: (fit) => saveModel(job.modelOut!, fit.header, fit.arrays) }),
  });
  return { kind: 'eval', report };
}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'cancel') {
    running.get(msg.id)?.abort();
    return;
  }
  if (msg.type === 'feed') {
    streams.get(msg.id)?.push(msg.items);
    return;
  }
  if (msg.type === 'end') {
    streams.get(msg.id)?.end();
    return;
  }
  const ctl = new AbortController();
  running.set(msg.id, ctl);
  const { job } = msg;
  const work =
    job.kind === 'fit'
      ? runFit(msg.id, job, ctl.signal)
      : job.kind === 'refit'
        ? runRefit(msg.id, job, ctl.signal)
        : job.kind === 'learn'
          ? runLearn(msg.id, job, ctl.signal)
          : job.kind === 'score'
            ? runScore(msg.id, job, ctl.signal)
            : job.kind === 'stream'
              ? runStream(msg.id, job, ctl.signal)
              : runEval(msg.id, job, ctl.signal);
  work
    .then((result) => post({ type: 'done', id: msg.id, result }))
    .catch((e: unknown) => {
      const error = ctl.signal.aborted ? { name: 'KensaError' as const, code: 'CANCELLED' as const, message: 'cancelled by the user', file: undefined } : toSerializedError(e);
      post({ type: 'error', id: msg.id, error });
    })
    .finally(() => running.delete(msg.id));
});
