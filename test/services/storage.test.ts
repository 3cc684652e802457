/**
 * Storage and the retention policy (src-main/services/storage.ts) on a real project: real
 * maps from the real engine; the policy reduces only passed, unreviewed parts' maps (to a
 * readable preview, or drops them), never a flagged or a reviewed part's map; a size budget
 * takes the oldest first; the usage figures add up to what is on disk.
 */
import { readFileSync, rmSync, statSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMapPng } from '../../src-main/engine/imaging/mapfile';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { mapScaleMax, type ProjectService } from '../../src-main/services/project-service';
import { applyRetention, storageUsage } from '../../src-main/services/storage';
import { bottleFiles, fittedProject, haveData } from './line/helpers';

if (!haveData) console.warn('SKIPPING storage tests: no bottle data / backbone in ../shared (set KENSA_SHARED)');

describe.skipIf(!haveData)('storage and retention', () => {
  let tmp: string;
  let svc: ProjectService;
  let max: number;
  const engine = new EngineClient();
  type Row = { image_id: number; score: number; map_file: string | null; map_bytes: number | null; map_kept: string; scored_at: string };
  const rows = (): Row[] => svc.db.prepare('SELECT image_id, score, map_file, map_bytes, map_kept, scored_at FROM scores WHERE model_version = 1 ORDER BY image_id').all() as Row[];

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-storage-'));
    svc = await fittedProject(path.join(tmp, 'project'));
    await svc.importImages([...bottleFiles('test/good', 8), ...bottleFiles('test/broken_large', 4)], 'inspect', 'alice');
    await svc.score(engine);
    max = mapScaleMax((await svc.loadModelFile(1)).header.stats.colourScale.high);
    // Half the parts pass, half are flagged.
    const sorted = rows().map((r) => r.score).sort((a, b) => a - b);
    svc.setThreshold((sorted[5]! + sorted[6]!) / 2, 'storage test: half pass', 'alice');
  }, 180_000);

  afterAll(async () => {
    await engine.terminate();
    svc?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('measures the maps (also those written before their size was recorded) and adds them up', async () => {
    svc.db.prepare('UPDATE scores SET map_bytes = NULL').run(); // as after migration 5
    const u = await storageUsage(svc);
    const onDisk = rows().reduce((a, r) => a + statSync(svc.abs(r.map_file!)).size, 0);
    expect(rows().every((r) => r.map_bytes !== null)).toBe(true);
    expect(u.maps.flagged.bytes + u.maps.reviewed.bytes + u.maps.passed.full.bytes + u.maps.passed.preview.bytes).toBe(onDisk);
    expect(u.maps.flagged.parts + u.maps.passed.full.parts).toBe(12);
    expect(u.bytesPerMap.full).toBeGreaterThan(10_000);
    expect(u.dueNow).toBe(0); // no policy yet
  });

  it('reduces passed, unreviewed maps to previews; flagged and reviewed maps stay byte for byte', async () => {
    const t = svc.threshold()!.value;
    const passed = rows().filter((r) => r.score < t);
    const flagged = rows().filter((r) => r.score >= t);
    expect(passed.length).toBeGreaterThanOrEqual(3);
    expect(flagged.length).toBeGreaterThanOrEqual(1);
    const reviewed = passed[0]!;
    svc.verdict({ imageId: reviewed.image_id, verdict: 'good' }, 'alice');
    const keep = new Map([...flagged, reviewed].map((r) => [r.image_id, readFileSync(svc.abs(r.map_file!))]));
    const before = new Map(passed.map((r) => [r.image_id, readMapPng(svc.abs(r.map_file!), max)]));

    svc.updateSettings({ retention: { passedMapDays: 0, passedMapAction: 'downsample', budgetMb: null } }, 'alice');
    expect((await storageUsage(svc)).dueNow).toBe(passed.length - 1);
    const run = await applyRetention(svc, Date.now() + 1000);
    expect(run).toMatchObject({ reduced: passed.length - 1, dropped: 0, failed: [] });
    expect(run.freedBytes).toBeGreaterThan(0);

    for (const [id, bytes] of keep) expect(readFileSync(svc.abs(rows().find((r) => r.image_id === id)!.map_file!)).equals(bytes)).toBe(true);
    for (const r of rows().filter((x) => x.score < t && x.image_id !== reviewed.image_id)) {
      expect(r.map_kept).toBe('preview');
      expect(r.map_bytes).toBeLessThan(6000);
      const small = await readMapPng(svc.abs(r.map_file!), max);
      expect(Math.max(small.width, small.height)).toBeLessThanOrEqual(64);
      // The preview is the same map, smaller: its mean is within a 256-level step of the original's.
      const big = await before.get(r.image_id)!;
      const mean = (m: Float32Array): number => m.reduce((a, v) => a + v, 0) / m.length;
      expect(Math.abs(mean(small.map) - mean(big.map))).toBeLessThan(max / 255 + 1e-3);
    }
    const u = await storageUsage(svc);
    expect(u.maps.passed.preview.parts).toBe(passed.length - 1);
    expect(u.maps.reviewed.parts).toBe(1);
    expect(u.dueNow).toBe(0); // previews are not reduced again
    expect((await applyRetention(svc, Date.now() + 1000)).reduced).toBe(0);
  });

  it("'drop' with a size budget removes the oldest passed maps first until the maps fit, and never a flagged one", async () => {
    const t = svc.threshold()!.value;
    const flaggedBytes = rows().filter((r) => r.score >= t).reduce((a, r) => a + (r.map_bytes ?? 0), 0);
    svc.updateSettings({ retention: { passedMapDays: null, passedMapAction: 'drop', budgetMb: 1 } }, 'alice');
    // 1 MB holds everything here: nothing is due.
    expect((await storageUsage(svc)).dueNow).toBe(0);
    // A budget below the flagged maps' size drops every passed, unreviewed map and stops there.
    expect(flaggedBytes).toBeLessThan(1024 * 1024);
    svc.db.prepare(`UPDATE scores SET map_bytes = map_bytes + 1048576 WHERE image_id = (SELECT max(image_id) FROM scores WHERE score >= ?)`).run(t);
    const run = await applyRetention(svc);
    expect(run.dropped).toBeGreaterThan(0);
    const after = rows();
    for (const r of after.filter((x) => x.score >= t)) expect(r.map_kept).toBe('full');
    for (const r of after.filter((x) => x.map_kept === 'none')) {
      expect(r.map_file).toBeNull();
      expect(r.score).toBeLessThan(t);
    }
    expect(svc.db.prepare(`SELECT count(*) FROM scores s WHERE s.map_kept = 'none' AND EXISTS (SELECT 1 FROM verdicts v WHERE v.image_id = s.image_id)`).pluck().get()).toBe(0);
  });
});
