/**
 * Runs engine jobs in a worker thread (./engine-worker.ts) so the calling thread (the CLI's
 * event loop, Electron's main process) never blocks on seconds of ONNX work.
 *
 *   const engine = new EngineClient();
 *   const job = engine.run({ kind: 'fit', files, out }, { onProgress });
 *   job.cancel();            // the worker stops at its next check; no model file is written
 *   const result = await job.result;   // rejects with a KensaError (code CANCELLED, …)
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KensaError } from '../engine/errors';
import type { FromWorker, JobResult, JobSpec, ResultOf, ScoreItem, ScoreSummary, StreamItem, StreamJob, ToWorker } from './protocol';

export interface JobHandlers {
  onProgress?: (p: { phase: string; done: number; total: number }) => void;
  onItem?: (item: ScoreItem) => void;
}

export interface JobHandle<R = JobResult> {
  id: number;
  result: Promise<R>;
  cancel(): void;
}

/** The worker entry: compiled JS next to this module when bundled, the TS bootstrap in source. */
function workerEntry(): URL {
  const compiled = new URL('./engine-worker.js', import.meta.url);
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(compiled))) return compiled;
  return new URL('./worker-bootstrap.mjs', import.meta.url);
}

export class EngineClient {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: JobResult) => void; reject: (e: Error) => void; handlers: JobHandlers }>();

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerEntry());
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (e) => this.failAll(new KensaError('INVALID_ARGUMENT', `engine worker crashed: ${e.message}`)));
    w.on('exit', (code) => {
      this.worker = null;
      if (this.pending.size > 0) this.failAll(new KensaError('INVALID_ARGUMENT', `engine worker exited (code ${code})`));
    });
    this.worker = w;
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private onMessage(m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    switch (m.type) {
      case 'progress':
        p.handlers.onProgress?.(m.progress);
        break;
      case 'item':
        p.handlers.onItem?.(m.item);
        break;
      case 'done':
        this.pending.delete(m.id);
        p.resolve(m.result);
        break;
      case 'error':
        this.pending.delete(m.id);
        p.reject(KensaError.fromJSON(m.error));
        break;
    }
  }

  run<J extends JobSpec>(job: J, handlers: JobHandlers = {}): JobHandle<ResultOf<J>> {
    const w = this.ensure();
    const id = this.nextId++;
    const result = new Promise<JobResult>((resolve, reject) => this.pending.set(id, { resolve, reject, handlers }));
    w.postMessage({ type: 'start', id, job } satisfies ToWorker);
    return {
      id,
      result: result as Promise<ResultOf<J>>,
      cancel: () => this.worker?.postMessage({ type: 'cancel', id } satisfies ToWorker),
    };
  }

  /**
   * Starts a stream job (protocol.ts StreamJob): `feed` parts while it runs, each comes back
   * through handlers.onItem in feed order; `end` lets it finish what was fed and resolve.
   */
  stream(job: StreamJob, handlers: JobHandlers = {}): JobHandle<ScoreSummary> & { feed(items: StreamItem[]): void; end(): void } {
    const h = this.run(job, handlers);
    return {
      ...h,
      feed: (items) => this.worker?.postMessage({ type: 'feed', id: h.id, items } satisfies ToWorker),
      end: () => this.worker?.postMessage({ type: 'end', id: h.id } satisfies ToWorker),
    };
  }

  /** Stops the worker (pending jobs reject). */
  async terminate(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}
