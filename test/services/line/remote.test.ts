/**
 * The line scoring through an Open Inference Protocol endpoint (settings.scorer 'oip'): Kensa's
 * own server (services/serve) serving the project's model file. Parts dropped into the watched
 * folder get the same scores as the local engine gives them, each result names the endpoint,
 * and an endpoint that serves a model that is not one of the project's versions is refused.
 */
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from '../../../src-main/jobs/engine-client';
import { LineService } from '../../../src-main/services/line/line-service';
import type { ProjectService } from '../../../src-main/services/project-service';
import { serveModel, type ServedModelHandle } from '../../../src-main/services/serve/index';
import { bottleFiles, fittedProject, haveData, until } from './helpers';

if (!haveData) console.warn('SKIPPING remote line scorer tests: no bottle data / backbone in ../shared (set KENSA_SHARED)');


describe.skipIf(!haveData)('line scoring through an inference endpoint', () => {
  let tmp: string;
  let svc: ProjectService;
  let other: ProjectService;
  let server: ServedModelHandle;
  let stranger: ServedModelHandle;
  const engine = new EngineClient();

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-line-remote-'));
    svc = await fittedProject(path.join(tmp, 'project'));
    other = await fittedProject(path.join(tmp, 'other'), 12);
    server = await serveModel(svc.abs(svc.modelFile(1)), { port: 0, name: 'bottle' });
    stranger = await serveModel(other.abs(other.modelFile(1)), { port: 0, name: 'bottle' });
  }, 240_000);

  afterAll(async () => {
    await server?.close();
    await stranger?.close();
    await engine.terminate();
    svc?.close();
    other?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('scores parts through the endpoint with the engine’s scores, and names the endpoint in each result', async () => {
    const camera = path.join(tmp, 'camera');
    mkdirSync(camera);
    svc.updateSettings({ line: { ...svc.settings().line, enabled: true, folders: [{ path: camera, completion: 'rename', stableMs: 300 }], scorer: { kind: 'oip', url: server.url, model: 'bottle', token: null } } }, 'alice');
    const line = new LineService(svc, { engine, pollMs: 20 });
    await line.start();
    try {
      await until('the endpoint', () => line.status().state === 'running', 20_000);
      const parts = [...bottleFiles('test/good', 2), ...bottleFiles('test/broken_large', 2)];
      for (const [i, f] of parts.entries()) {
        copyFileSync(f, path.join(camera, `r${i}.png.part`));
        renameSync(path.join(camera, `r${i}.png.part`), path.join(camera, `r${i}.png`));
      }
      await until('4 results', () => line.status().totals.parts - line.status().totals.unscored === 4).catch((e: unknown) => { console.log(JSON.stringify(line.status(), null, 1).slice(0, 3000)); throw e; });
      expect(line.status().scorer).toBe(`${server.url}/v2/models/bottle`);
      const rows = svc.db.prepare('SELECT lp.file, lp.scorer, s.score, s.map_file FROM line_parts lp JOIN scores s ON s.image_id = lp.image_id AND s.model_version = lp.model_version ORDER BY lp.image_id').all() as { file: string; scorer: string; score: number; map_file: string | null }[];
      expect(rows.map((r) => r.scorer)).toEqual(Array(4).fill(`${server.url}/v2/models/bottle`));
      expect(rows.every((r) => r.map_file !== null)).toBe(true);
      // The same parts through the local engine: the same scores.
      const local: number[] = [];
      await engine.run({ kind: 'score', model: svc.abs(svc.modelFile(1)), files: parts }, { onItem: (i) => i.ok && local.push(i.score) }).result;
      rows.forEach((r, i) => expect(Math.abs(r.score - local[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(local[i]!))));
    } finally {
      await line.stop();
    }
  }, 120_000);

  it('an endpoint serving a model that is not one of the project’s versions is refused, with the reason', async () => {
    svc.updateSettings({ line: { ...svc.settings().line, scorer: { kind: 'oip', url: stranger.url, model: 'bottle', token: null } } }, 'alice');
    const line = new LineService(svc, { engine, pollMs: 20 });
    await line.start();
    try {
      await until('the refusal', () => /none of this project's versions/.test(line.status().message ?? ''), 20_000);
      expect(line.status().state).toBe('waiting-for-model');
    } finally {
      await line.stop();
    }
  }, 60_000);
});
