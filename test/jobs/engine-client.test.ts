/**
 * Engine jobs in the worker thread: progress arrives, the calling thread stays responsive,
 * cancel stops a fit and leaves no model file (and no temp file) behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listImages } from '../../src-main/engine/imaging/load';
import { loadModel } from '../../src-main/engine/model-file';
import { EngineClient } from '../../src-main/jobs/engine-client';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve(import.meta.dirname, '../../../shared'));
const train = path.join(shared, 'data', 'mvtec', 'bottle', 'train', 'good');
const have = existsSync(train) && existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING engine-client tests: ${train} missing (set KENSA_SHARED)`);

describe.skipIf(!have)('EngineClient (worker thread)', () => {
  let tmp: string;
  let files: string[];
  const engine = new EngineClient();

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-jobs-'));
    files = await listImages(train);
  });
  afterAll(async () => {
    await engine.terminate();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('fits off the calling thread, with progress, and writes a loadable model', async () => {
    const out = path.join(tmp, 'm.kensa');
    const phases = new Set<string>();
    // The event loop of this thread must keep ticking while the worker computes.
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 10);
    const job = engine.run({ kind: 'fit', files: files.slice(0, 40), out }, { onProgress: (p) => phases.add(p.phase) });
    const r = await job.result;
    clearInterval(timer);
    expect(r.kind).toBe('fit');
    expect(r.header.fit.images).toBe(40);
    expect([...phases]).toEqual(['features', 'coreset', 'neighbours', 'calibrate']);
    expect(maxGap).toBeLessThan(250);
    const m = await loadModel(out);
    expect(m.header.detector).toBe('patchcore');
    expect(m.header.id).toBe(r.header.id);
    expect(m.header.state.bankSize).toBe(r.header.state.bankSize);
    expect(m.header.state.bankSize).toBeGreaterThan(0);
    expect(m.arrays.bank!.length).toBe(Number(m.header.state.bankSize) * m.header.features.dim);
  });

  it('cancel during the coreset rejects with CANCELLED and writes nothing', async () => {
    const out = path.join(tmp, 'cancelled.kensa');
    let cancelled = false;
    const job = engine.run(
      { kind: 'fit', files: files.slice(0, 120), out },
      {
        onProgress: (p) => {
          if (p.phase === 'coreset' && !cancelled) {
            cancelled = true;
            job.cancel();
          }
        },
      },
    );
    await expect(job.result).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(cancelled).toBe(true);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp).filter((f) => f.includes('cancelled'))).toEqual([]);
    // The worker is still usable afterwards.
    const again = await engine.run({ kind: 'fit', files: files.slice(0, 10), out }).result;
    expect(again.header.fit.images).toBe(10);
    expect(existsSync(out)).toBe(true);
  });

  it('score job streams one item per file, errors included', async () => {
    const model = path.join(tmp, 'm.kensa');
    const items: { ok: boolean; file: string }[] = [];
    const r = await engine.run({ kind: 'score', model, files: [files[100]!, path.join(tmp, 'nope.png'), files[101]!] }, { onItem: (i) => items.push(i) }).result;
    expect(r.scored).toBe(2);
    expect(r.failed).toBe(1);
    expect(items.map((i) => i.ok)).toEqual([true, false, true]);
    expect(items[1]!.file).toContain('nope.png');
  });

  it('a stream job scores parts fed while it runs, in feed order, with the same scores as a score job, and writes their maps', async () => {
    const model = path.join(tmp, 'm.kensa');
    const parts = [files[100]!, files[101]!, path.join(tmp, 'nope.png'), files[102]!];
    const batch: { file: string; score: number }[] = [];
    await engine.run({ kind: 'score', model, files: parts }, { onItem: (i) => i.ok && batch.push({ file: i.file, score: i.score }) }).result;
    const items: { ok: boolean; file: string; score?: number; map?: string; mapBytes?: number }[] = [];
    const maps = path.join(tmp, 'stream-maps');
    const s = engine.stream({ kind: 'stream', model, maps: { dir: maps, max: 100 } }, { onItem: (i) => items.push(i) });
    s.feed([{ file: parts[0]!, map: 'a.png' }]); // fed before the model has loaded
    await new Promise((r) => setTimeout(r, 300));
    s.feed([{ file: parts[1]!, map: 'b.png' }, { file: parts[2]!, map: 'c.png' }]);
    await new Promise((r) => setTimeout(r, 300));
    s.feed([{ file: parts[3]! }]);
    s.end();
    const r = await s.result;
    expect(r).toMatchObject({ kind: 'stream', scored: 3, failed: 1 });
    expect(items.map((i) => [path.basename(i.file), i.ok])).toEqual(parts.map((f) => [path.basename(f), !f.endsWith('nope.png')]));
    const ok = items.filter((i) => i.ok);
    expect(ok.map((i) => i.score)).toEqual(batch.map((b) => b.score));
    expect(ok.map((i) => i.map)).toEqual(['a.png', 'b.png', undefined]);
    expect(readdirSync(maps).sort()).toEqual(['a.png', 'b.png']);
    expect(ok[0]!.mapBytes).toBeGreaterThan(1000);
  });

  it('a stream job that is cancelled while idle rejects with CANCELLED', async () => {
    const s = engine.stream({ kind: 'stream', model: path.join(tmp, 'm.kensa') });
    s.feed([{ file: files[103]! }]);
    await new Promise((r) => setTimeout(r, 1500));
    s.cancel();
    await expect(s.result).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
