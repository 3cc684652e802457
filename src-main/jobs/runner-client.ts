/**
 * A ModelRunner (engine/serving/contract.ts) that lives in a worker thread
 * (./runner-worker.ts), so its caller's event loop (an HTTP server) stays responsive while
 * ONNX Runtime computes.
 *
 *   const runner = await RunnerClient.open('part.kensa');   // or an export folder
 *   const { scores, maps } = await runner.infer(rgb, n);   // uint8 [n, H, W, 3]
 *   await runner.release();                                 // releases the model, ends the thread
 *
 * `infer` calls run one at a time in call order (the worker queues them). The pixels are
 * handed to the worker without a copy when `rgb` owns its whole ArrayBuffer (the caller's
 * array is then detached), else copied. Failures: open rejects with the runner's KensaError
 * (MODEL_NOT_FOUND, MODEL_INVALID, …); a failed run rejects that call only; a crashed or
 * stopped thread rejects every pending call with INFERENCE_SERVER.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KensaError } from '../engine/errors';
import type { ModelContract, ModelRunner, RunnerOptions, RunnerOutput } from '../engine/serving/contract';
import type { FromRunner, ToRunner } from './runner-protocol';

/** The worker entry: compiled JS next to this module when bundled, the TS bootstrap in source. */
function workerEntry(): URL {
  const compiled = new URL('./runner-worker.js', import.meta.url);
  if (import.meta.url.endsWith('.js') && existsSync(fileURLToPath(compiled))) return compiled;
  return new URL('./runner-bootstrap.mjs', import.meta.url);
}

interface Pending {
  resolve: (o: RunnerOutput) => void;
  reject: (e: Error) => void;
}

export class RunnerClient implements ModelRunner {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped: KensaError | null = null;
  private closed: Promise<void> | null = null;
  private onClosed: (() => void) | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly contract: ModelContract,
  ) {
    worker.on('message', (m: FromRunner) => this.onMessage(m));
    worker.on('error', (e) => this.stop(`the model runner thread crashed: ${e.message}`));
    worker.on('exit', (code) => this.stop(`the model runner thread exited (code ${code})`));
  }

  /** Starts the worker and opens `target` in it (a .kensa file or an export folder). */
  static async open(target: string, options: RunnerOptions = {}): Promise<RunnerClient> {
    const worker = new Worker(workerEntry());
    // Only this function's own listeners are removed afterwards: Worker keeps internal ones
    // (its message port is started and ref'd through 'newListener').
    let onError: (e: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    let onMessage: (m: FromRunner) => void = () => undefined;
    const off = (): void => {
      worker.off('error', onError);
      worker.off('exit', onExit);
      worker.off('message', onMessage);
    };
    try {
      const contract = await new Promise<ModelContract>((resolve, reject) => {
        onError = reject;
        onExit = (code) => reject(new KensaError('INFERENCE_SERVER', `the model runner thread exited while opening ${target} (code ${code})`));
        onMessage = (m) => {
          if (m.type === 'opened') resolve(m.contract);
          else if (m.type === 'error') reject(KensaError.fromJSON(m.error));
          else reject(new KensaError('INFERENCE_SERVER', `the model runner thread answered ${m.type} to open`));
        };
        worker.on('error', onError);
        worker.on('exit', onExit);
        worker.on('message', onMessage);
        worker.postMessage({ type: 'open', target, options } satisfies ToRunner);
      });
      off();
      return new RunnerClient(worker, contract);
    } catch (e) {
      off();
      await worker.terminate();
      throw e;
    }
  }

  infer(rgb: Uint8Array, n: number): Promise<RunnerOutput> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    const owned = rgb.byteOffset === 0 && rgb.byteLength === rgb.buffer.byteLength && rgb.buffer instanceof ArrayBuffer;
    const data = owned ? rgb : rgb.slice();
    return new Promise<RunnerOutput>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'infer', id, rgb: data, n } satisfies ToRunner, [data.buffer as ArrayBuffer]);
    });
  }

  /** Calls waiting for the worker (running or queued). */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Lets queued calls finish, releases the model and ends the thread. Idempotent. */
  release(): Promise<void> {
    if (!this.closed) {
      this.closed = (async () => {
        if (!this.stopped) {
          const done = new Promise<void>((r) => (this.onClosed = r));
          this.worker.postMessage({ type: 'close' } satisfies ToRunner);
          await Promise.race([done, new Promise((r) => setTimeout(r, 10_000).unref())]);
        }
        this.stop('the model runner was closed');
        await this.worker.terminate();
      })();
    }
    return this.closed;
  }

  private onMessage(m: FromRunner): void {
    if (m.type === 'closed') {
      this.onClosed?.();
      return;
    }
    if (m.type === 'opened' || m.id === null) return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.type === 'result') p.resolve({ scores: m.scores, maps: m.maps });
    else p.reject(KensaError.fromJSON(m.error));
  }

  private stop(why: string): void {
    if (!this.stopped) this.stopped = new KensaError('INFERENCE_SERVER', why);
    for (const p of this.pending.values()) p.reject(this.stopped);
    this.pending.clear();
  }
}
