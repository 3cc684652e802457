/**
 * The queue in front of a model runner: requests wait in arrival order and run one batch at a
 * time; requests that wait together are merged into one runner call of up to `maxImages`
 * images (dynamic batching: one backbone call for several clients' parts), and each gets its
 * own slice of the scores and maps back.
 *
 * Guarantees: at most one runner call is in flight; a request is never split, and one larger
 * than `maxImages` runs alone; results are exactly the runner's for those pixels. Failures: a
 * full queue (`maxQueue` requests waiting) refuses at once with OipError 503; a failed runner
 * call rejects every request merged into it with the runner's error, and the queue goes on.
 */
import type { ModelRunner, RunnerOutput } from '../../engine/serving/contract';
import { OipError } from './protocol';

export interface BatcherOptions {
  /** Pixels per image × 3 (bytes of one image) and map values per image. */
  imageBytes: number;
  mapSize: number;
  /** Most images merged into one runner call (default 8). */
  maxImages?: number;
  /** Most requests waiting (not counting the running batch) before new ones are refused (default 64). */
  maxQueue?: number;
}

interface Waiting {
  rgb: Uint8Array;
  n: number;
  resolve: (o: RunnerOutput) => void;
  reject: (e: unknown) => void;
}

export class Batcher {
  private readonly queue: Waiting[] = [];
  private running = false;
  private idle: (() => void)[] = [];
  private readonly maxImages: number;
  private readonly maxQueue: number;
  /** Runner calls made and images scored (for tests and the bench). */
  readonly stats = { calls: 0, images: 0, largestBatch: 0 };

  constructor(
    private readonly runner: Pick<ModelRunner, 'infer'>,
    private readonly opts: BatcherOptions,
  ) {
    this.maxImages = opts.maxImages ?? 8;
    this.maxQueue = opts.maxQueue ?? 64;
  }

  /** Requests waiting or running. */
  get pending(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  submit(rgb: Uint8Array, n: number): Promise<RunnerOutput> {
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new OipError(503, `the server is busy: ${this.queue.length} requests are already waiting for the model; retry later`));
    }
    return new Promise<RunnerOutput>((resolve, reject) => {
      this.queue.push({ rgb, n, resolve, reject });
      this.pump();
    });
  }

  /** Resolves once nothing is waiting or running. */
  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private pump(): void {
    if (this.running) return;
    if (this.queue.length === 0) {
      for (const r of this.idle.splice(0)) r();
      return;
    }
    const batch = [this.queue.shift()!];
    let total = batch[0]!.n;
    while (this.queue.length > 0 && total + this.queue[0]!.n <= this.maxImages) {
      const next = this.queue.shift()!;
      batch.push(next);
      total += next.n;
    }
    this.running = true;
    void this.run(batch, total).finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async run(batch: Waiting[], total: number): Promise<void> {
    const { imageBytes, mapSize } = this.opts;
    let rgb: Uint8Array;
    if (batch.length === 1) rgb = batch[0]!.rgb;
    else {
      rgb = new Uint8Array(total * imageBytes);
      let o = 0;
      for (const w of batch) {
        rgb.set(w.rgb, o);
        o += w.rgb.length;
      }
    }
    this.stats.calls += 1;
    this.stats.images += total;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, total);
    let out: RunnerOutput;
    try {
      out = await this.runner.infer(rgb, total);
    } catch (e) {
      for (const w of batch) w.reject(e);
      return;
    }
    if (batch.length === 1) {
      batch[0]!.resolve(out);
      return;
    }
    let i = 0;
    for (const w of batch) {
      w.resolve({ scores: out.scores.slice(i, i + w.n), maps: out.maps.slice(i * mapSize, (i + w.n) * mapSize) });
      i += w.n;
    }
  }
}
