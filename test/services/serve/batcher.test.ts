/**
 * The queue in front of the runner: one call at a time, waiting requests merged up to the
 * batch limit in arrival order, each getting its own slice back; a full queue answers 503; a
 * failed call fails only the requests in it.
 */
import { describe, expect, it } from 'vitest';
import type { RunnerOutput } from '../../../src-main/engine/serving/contract';
import { Batcher } from '../../../src-main/services/serve/batcher';
import { OipError } from '../../../src-main/services/serve/protocol';

const IMAGE = 3; // 1×1 RGB
const MAP = 2;

/** A runner whose score for an image is its first byte, and whose map is [byte, -byte]. */
function fakeRunner(opts: { failOn?: number } = {}) {
  const calls: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void) | null = null;
  const gate = { hold: false };
  return {
    calls,
    gate,
    get maxInFlight() {
      return maxInFlight;
    },
    open(): void {
      release?.();
    },
    async infer(rgb: Uint8Array, n: number): Promise<RunnerOutput> {
      calls.push(n);
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (gate.hold) await new Promise<void>((r) => (release = r));
      await new Promise((r) => setTimeout(r, 5));
      inFlight -= 1;
      if (opts.failOn !== undefined && Array.from({ length: n }, (_, i) => rgb[i * IMAGE]).includes(opts.failOn)) throw new Error('boom');
      const scores = new Float32Array(n);
      const maps = new Float32Array(n * MAP);
      for (let i = 0; i < n; i++) {
        scores[i] = rgb[i * IMAGE]!;
        maps[i * MAP] = rgb[i * IMAGE]!;
        maps[i * MAP + 1] = -rgb[i * IMAGE]!;
      }
      return { scores, maps };
    },
  };
}

const images = (...firstBytes: number[]): Uint8Array => Uint8Array.from(firstBytes.flatMap((b) => [b, 0, 0]));

describe('Batcher', () => {
  it('merges waiting requests (≤ maxImages) and hands each its own slice, in order', async () => {
    const runner = fakeRunner();
    runner.gate.hold = true;
    const b = new Batcher(runner, { imageBytes: IMAGE, mapSize: MAP, maxImages: 4 });
    const first = b.submit(images(1), 1); // runs alone, held
    const rest = [b.submit(images(2, 3), 2), b.submit(images(4), 1), b.submit(images(5, 6), 2), b.submit(images(7), 1)];
    runner.gate.hold = false;
    await new Promise((r) => setTimeout(r, 1));
    runner.open();
    const out = await Promise.all([first, ...rest]);
    expect(runner.calls).toEqual([1, 3, 3]); // [1] · [2,3]+[4] · [5,6]+[7]
    expect(runner.maxInFlight).toBe(1);
    expect(out.map((o) => Array.from(o.scores))).toEqual([[1], [2, 3], [4], [5, 6], [7]]);
    expect(Array.from(out[3]!.maps)).toEqual([5, -5, 6, -6]);
    expect(b.stats).toEqual({ calls: 3, images: 7, largestBatch: 3 });
    await b.drained();
    expect(b.pending).toBe(0);
  });

  it('a request larger than maxImages runs alone, whole', async () => {
    const runner = fakeRunner();
    const b = new Batcher(runner, { imageBytes: IMAGE, mapSize: MAP, maxImages: 2 });
    const out = await b.submit(images(1, 2, 3, 4, 5), 5);
    expect(runner.calls).toEqual([5]);
    expect(Array.from(out.scores)).toEqual([1, 2, 3, 4, 5]);
  });

  it('a full queue refuses with 503 at once; the queue goes on', async () => {
    const runner = fakeRunner();
    runner.gate.hold = true;
    const b = new Batcher(runner, { imageBytes: IMAGE, mapSize: MAP, maxImages: 1, maxQueue: 2 });
    const running = b.submit(images(1), 1);
    const waiting = [b.submit(images(2), 1), b.submit(images(3), 1)];
    const e = await b.submit(images(4), 1).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OipError);
    expect((e as OipError).status).toBe(503);
    expect((e as OipError).message).toMatch(/busy: 2 requests are already waiting/);
    runner.gate.hold = false;
    runner.open();
    expect((await Promise.all([running, ...waiting])).map((o) => o.scores[0])).toEqual([1, 2, 3]);
  });

  it('a failed call fails the requests merged into it, not the next ones', async () => {
    const runner = fakeRunner({ failOn: 9 });
    runner.gate.hold = true;
    const b = new Batcher(runner, { imageBytes: IMAGE, mapSize: MAP, maxImages: 2 });
    const a = b.submit(images(1), 1);
    const bad = [b.submit(images(9), 1), b.submit(images(2), 1)];
    const later = b.submit(images(3), 1);
    runner.gate.hold = false;
    runner.open();
    expect((await a).scores[0]).toBe(1);
    await expect(bad[0]).rejects.toThrow('boom');
    await expect(bad[1]).rejects.toThrow('boom');
    expect((await later).scores[0]).toBe(3);
  });
});
