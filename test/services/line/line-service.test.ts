/**
 * The line end to end (src-main/services/line/line-service.ts) with the real engine, a real
 * project database and real files: parts dropped into a watched folder are claimed, stored,
 * scored once and published (CSV log, JSON beside the part); a bad file and a duplicate go to
 * quarantine with their reason; a verdict on a line part goes out again with the disposition
 * it made; a file still being written when it is claimed is read only once it has settled.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from '../../../src-main/jobs/engine-client';
import { LineService } from '../../../src-main/services/line/line-service';
import type { ProjectService } from '../../../src-main/services/project-service';
import { listImportErrors, verifyAudit } from '../../../src-main/store/index';
import { bottleFiles, fittedProject, haveData, until } from './helpers';

if (!haveData) console.warn('SKIPPING line service tests: no bottle data / backbone in ../shared (set KENSA_SHARED)');


function parseCsv(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

describe.skipIf(!haveData)('line service', () => {
  let tmp: string;
  let svc: ProjectService;
  let watched: string;
  const engine = new EngineClient();
  let line: LineService | null = null;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-line-'));
    svc = await fittedProject(path.join(tmp, 'project'));
    watched = path.join(tmp, 'camera');
    mkdirSync(watched);
    svc.updateSettings(
      {
        line: {
          ...svc.settings().line,
          station: 'cell-1',
          enabled: true,
          folders: [{ path: watched, completion: 'rename', stableMs: 300 }],
          outputs: { ...svc.settings().line.outputs, csv: { enabled: true, file: 'line/results.csv' }, json: { enabled: true, mode: 'beside', dir: null } },
        },
      },
      'alice',
    );
  }, 120_000);

  afterAll(async () => {
    await line?.stop();
    await engine.terminate();
    svc?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('scores each dropped part once, in arrival order, and publishes after the commit; bad files and duplicates go to quarantine', async () => {
    line = new LineService(svc, { engine, pollMs: 20 });
    await line.start();
    const parts = [...bottleFiles('test/good', 4), ...bottleFiles('test/broken_large', 4)];
    for (const [i, f] of parts.entries()) {
      // The camera writes under a temporary name, then renames (rename mode).
      const tmpName = path.join(watched, `part-${i}.png.part`);
      copyFileSync(f, tmpName);
      renameSync(tmpName, path.join(watched, `part-${i}.png`));
    }
    writeFileSync(path.join(watched, 'garbage.png'), 'this is not an image');
    copyFileSync(parts[0]!, path.join(watched, 'resent.png')); // same content as part-0
    await until('8 results', () => line!.status().totals.parts === 8 && line!.status().quarantined.length === 2);
    expect(await line.drained()).toBe(true);

    const st = line.status();
    expect(st).toMatchObject({ state: 'running', station: 'cell-1', modelVersion: 1, inFlight: 0, backPressure: false });
    expect(st.totals.unscored).toBe(0);
    expect(st.totals.pass + st.totals.review + st.totals.reject).toBe(8);
    expect(st.lastMinute.latencyP50Ms).not.toBeNull();
    expect(readdirSync(watched)).toEqual([]);
    expect(readdirSync(line.inboxDir)).toEqual([]);

    // Stored once each, in arrival order, with their score under v1.
    const rows = svc.db.prepare(`SELECT lp.file, i.path, s.score, s.map_bytes FROM line_parts lp JOIN images i ON i.id = lp.image_id JOIN scores s ON s.image_id = lp.image_id AND s.model_version = 1 ORDER BY lp.image_id`).all() as { file: string; path: string; score: number; map_bytes: number }[];
    expect(rows.map((r) => r.file)).toEqual(parts.map((_, i) => `part-${i}.png`));
    for (const r of rows) {
      expect(existsSync(svc.abs(r.path))).toBe(true);
      expect(r.map_bytes).toBeGreaterThan(1000);
    }
    // Defects score higher than the good parts (the real model at work).
    expect(Math.min(...rows.slice(4).map((r) => r.score))).toBeGreaterThan(Math.max(...rows.slice(0, 4).map((r) => r.score)));

    // Quarantine: the file and its reason beside it, and an import error in the database.
    const qdir = path.join(svc.dir, 'line', 'quarantine');
    const qfiles = readdirSync(qdir, { recursive: true }).map(String).filter((f) => f.endsWith('.error.json'));
    const reasons = qfiles.map((f) => JSON.parse(readFileSync(path.join(qdir, f), 'utf8')) as { file: string; code: string; message: string });
    expect(reasons.map((r) => [r.file, r.code]).sort()).toEqual([
      ['garbage.png', 'IMAGE_UNSUPPORTED_FORMAT'],
      ['resent.png', 'CONFLICT'],
    ]);
    expect(reasons.find((r) => r.file === 'resent.png')!.message).toMatch(/same content as part #\d+/);
    expect(listImportErrors(svc.db, 'line:quarantine')).toHaveLength(2);

    // The CSV log: one row per result, in seq order; the JSON beside each stored part.
    const csv = parseCsv(readFileSync(path.join(svc.dir, 'line', 'results.csv'), 'utf8'));
    const header = csv[0]!;
    const col = (name: string): number => header.indexOf(name);
    expect(csv.slice(1).map((r) => Number(r[col('seq')]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(csv.slice(1).map((r) => r[col('file')])).toEqual(parts.map((_, i) => `part-${i}.png`));
    const t = svc.threshold()!.value;
    for (const [i, r] of csv.slice(1).entries()) {
      expect(Number(r[col('score')])).toBeCloseTo(rows[i]!.score, 5);
      expect(r[col('disposition')]).toBe(rows[i]!.score < t ? 'pass' : 'review');
      expect(r[col('station')]).toBe('cell-1');
    }
    const json = JSON.parse(readFileSync(`${svc.abs(rows[5]!.path)}.result.json`, 'utf8')) as { partId: number; score: number; event: string };
    expect(json).toMatchObject({ event: 'scored' });
    expect(json.score).toBeCloseTo(rows[5]!.score, 5);
  }, 120_000);

  it("a reviewer's verdict on a line part goes out again, with the disposition it made", async () => {
    const flagged = svc.db.prepare(`SELECT lp.image_id AS id FROM line_parts lp JOIN scores s ON s.image_id = lp.image_id AND s.model_version = 1 ORDER BY s.score DESC LIMIT 1`).get() as { id: number };
    svc.verdict({ imageId: flagged.id, verdict: 'defect', defectType: 'broken' }, 'bob');
    line!.kick();
    expect(await line!.drained()).toBe(true);
    const csv = parseCsv(readFileSync(path.join(svc.dir, 'line', 'results.csv'), 'utf8'));
    const header = csv[0]!;
    const last = csv.at(-1)!;
    expect(last[header.indexOf('event')]).toBe('verdict');
    expect(last[header.indexOf('verdict')]).toBe('defect');
    expect(last[header.indexOf('disposition')]).toBe('reject');
    expect(last[header.indexOf('reviewer')]).toBe('bob');
    expect(Number(last[header.indexOf('partId')])).toBe(flagged.id);
    const stored = svc.db.prepare('SELECT path FROM images WHERE id = ?').pluck().get(flagged.id) as string;
    expect(JSON.parse(readFileSync(`${svc.abs(stored)}.result.json`, 'utf8'))).toMatchObject({ event: 'verdict', verdict: 'defect', disposition: 'reject' });
    expect(verifyAudit(svc.db).ok).toBe(true);
  }, 60_000);

  it('a file replaced while it is being taken is read only once it has settled (the last content is scored)', async () => {
    await line!.stop();
    svc.updateSettings({ line: { ...svc.settings().line, folders: [{ path: watched, completion: 'stable', stableMs: 200 }] } }, 'alice');
    line = new LineService(svc, { engine, pollMs: 20 });
    await line.start();
    const before = line.status().totals.parts;
    // Written in place in pieces (a slow network share), then replaced by a second, different image.
    const target = path.join(watched, 'replaced.png');
    const first = readFileSync(bottleFiles('test/good', 1, 10)[0]!);
    writeFileSync(target, first.subarray(0, 5000));
    await new Promise((r) => setTimeout(r, 80));
    appendFileSync(target, first.subarray(5000));
    await new Promise((r) => setTimeout(r, 80));
    const second = readFileSync(bottleFiles('test/good', 1, 11)[0]!);
    writeFileSync(`${target}.tmp`, second);
    renameSync(`${target}.tmp`, target);
    await until('the part', () => line!.status().totals.parts === before + 1);
    expect(await line.drained()).toBe(true);
    const row = svc.db.prepare(`SELECT i.sha256, i.bytes FROM line_parts lp JOIN images i ON i.id = lp.image_id WHERE lp.file = 'replaced.png'`).get() as { sha256: string; bytes: number };
    expect(row.bytes).toBe(second.length);
    expect(line.status().quarantined.filter((q) => q.file.includes('replaced'))).toEqual([]);
  }, 60_000);
});
