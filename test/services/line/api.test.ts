/**
 * The line and storage namespaces of the API (services/workstation/handlers/line.ts,
 * storage.ts), driven as the transports drive them: settings checked with the field named,
 * the line started and stopped by `line.configure`, a verdict on a line part published again,
 * the line stopped with the project and started again when the project is reopened.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StorageUsageData } from '../../../src-main/shared/api';
import type { LineSettings, LineStatus } from '../../../src-main/shared/line';
import { createWorkstation, type Workstation } from '../../../src-main/services/workstation';
import { bottleFiles, fittedProject, haveData, until } from './helpers';
import { apiOf } from '../../helpers/workstation-api';

if (!haveData) console.warn('SKIPPING line API tests: no bottle data / backbone in ../shared (set KENSA_SHARED)');

describe.skipIf(!haveData)('line.* and storage.* through the workstation', () => {
  let tmp: string;
  let dir: string;
  let camera: string;
  let ws: Workstation;

  const { ok, err } = apiOf(() => ws);
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-line-api-'));
    dir = path.join(tmp, 'project');
    camera = path.join(tmp, 'camera');
    mkdirSync(camera);
    (await fittedProject(dir)).close();
    ws = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config') });
  }, 120_000);

  afterAll(async () => {
    await ws?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('without a project: no status; settings and storage say so', async () => {
    expect(await ok('line.status')).toBeNull();
    expect(await err('line.settings')).toMatchObject({ code: 'NOT_FOUND' });
    expect(await err('storage.usage')).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('settings are checked with the field named; the line cannot start without a folder', async () => {
    await ok('projects.open', { dir });
    await ok('app.setReviewer', { name: 'Line Lead' });
    expect((await ok<LineStatus>('line.status')).state).toBe('off');
    expect((await err('line.configure', { settings: 'on' })).message).toMatch(/"settings" must be an object/);
    expect((await err('line.configure', { settings: { station: 'a/b' } })).message).toMatch(/line.station must not contain/);
    expect((await err('line.configure', { settings: { maxInFlight: 0 } })).message).toMatch(/line.maxInFlight must be at least 1/);
    expect((await err('line.configure', { settings: { outputs: { mqtt: { url: 'ftp://x' } } } })).message).toMatch(/mqtt.url must look like/);
    expect((await err('line.configure', { settings: { enabled: true } })).message).toMatch(/add a watched folder/);
    expect((await err('storage.configure', { retention: { budgetMb: -5 } })).message).toMatch(/retention.budgetMb must be at least 1/);
    expect((await ok<LineSettings>('line.settings')).enabled).toBe(false);
  });

  it('line.configure starts the line; parts are scored; a verdict goes out again; storage adds up', async () => {
    const st = await ok<LineStatus>('line.configure', {
      settings: { enabled: true, station: 'cell-2', folders: [{ path: camera, completion: 'rename' }], outputs: { csv: { enabled: true } } },
    });
    expect(st).toMatchObject({ state: 'running', station: 'cell-2' });
    for (const [i, f] of [...bottleFiles('test/good', 3), ...bottleFiles('test/broken_small', 2)].entries()) {
      copyFileSync(f, path.join(camera, `p${i}.png.part`));
      renameSync(path.join(camera, `p${i}.png.part`), path.join(camera, `p${i}.png`));
    }
    await until('5 results', async () => {
      const s = await ok<LineStatus>('line.status');
      return s.totals.parts - s.totals.unscored === 5 && s.sinks[0]?.delivered === 5;
    });
    const top = (await ok<{ items: { imageId: number; name: string }[] }>('review.queue', { limit: 1 })).items[0]!;
    await ok('review.verdict', { imageId: top.imageId, verdict: 'defect', defectType: 'broken' });
    await until('the verdict row', async () => readFileSync(path.join(dir, 'line', 'results.csv'), 'utf8').trim().split(/\r?\n/).length === 7);
    const last = readFileSync(path.join(dir, 'line', 'results.csv'), 'utf8').trim().split(/\r?\n/).at(-1)!;
    expect(last).toContain(',verdict,');
    expect(last).toContain(',reject,');
    const u = await ok<StorageUsageData>('storage.usage');
    expect(u.maps.flagged.parts + u.maps.reviewed.parts + u.maps.passed.full.parts).toBe(5);
    expect(u.totalBytes).toBeGreaterThan(u.images.bytes);
  }, 120_000);

  it('the line stops with the project and starts again when it is reopened', async () => {
    await ok('projects.close');
    expect(await ok('line.status')).toBeNull();
    await ok('projects.open', { dir });
    expect((await ok<LineStatus>('line.status')).state).toBe('running');
    const off = await ok<LineStatus>('line.configure', { settings: { enabled: false } });
    expect(off.state).toBe('off');
    expect(off.totals.parts).toBe(5); // what came through before is still counted
  }, 60_000);
});
