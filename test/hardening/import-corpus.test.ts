/**
 * The malformed-input corpus (scripts/bad-corpus.ts, 100+ files) through a real project
 * import: every good file is imported, every bad one is listed with its specific error code
 * and its path, nothing crashes or hangs (a FIFO named .png included), and memory stays
 * bounded (a 12000×12000 decompression bomb under the pixel limit is decoded without
 * holding the whole image).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeBadCorpus } from '../../scripts/bad-corpus';
import { ProjectService } from '../../src-main/services/project-service';

describe('import of the malformed-input corpus', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-corpus-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('imports the good files and names every bad one with a specific reason', async () => {
    const dir = path.join(tmp, 'corpus');
    const expected = await makeBadCorpus(dir);
    expect(expected.size).toBeGreaterThanOrEqual(100);
    const svc = await ProjectService.create(path.join(tmp, 'project'), 'corpus', 'tester');
    const rss0 = process.memoryUsage().rss;
    let peak = rss0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const t0 = performance.now();
    const r = await svc.importImages([dir], 'inspect', 'tester');
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    svc.close();
    const errors = new Map(r.errors.map((e) => [path.relative(dir, e.path), e]));
    const mismatches: string[] = [];
    for (const [name, want] of expected) {
      const got = errors.get(name);
      if (want === 'ok') {
        if (got) mismatches.push(`${name}: expected to import, got ${got.code} ${got.message}`);
      } else if (!got) mismatches.push(`${name}: expected ${want}, but it was imported or not reported`);
      else if (got.code !== want) mismatches.push(`${name}: expected ${want}, got ${got.code} (${got.message})`);
      else expect(got.message).toContain(path.basename(name).slice(0, 20));
    }
    expect(mismatches).toEqual([]);
    // Good files: all imported (identical content under several names counts once).
    expect(r.added + r.existing).toBe([...expected.values()].filter((v) => v === 'ok').length);
    expect(r.errors.length).toBe([...expected.values()].filter((v) => v !== 'ok').length);
    console.log(`corpus: ${expected.size} files, ${r.added} added, ${r.existing} duplicates, ${r.errors.length} errors in ${seconds.toFixed(1)} s; RSS +${((peak - rss0) / 1e6).toFixed(0)} MB at peak`);
    expect(peak - rss0).toBeLessThan(1.5e9);
  }, 300_000);
});
