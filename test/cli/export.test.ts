/**
 * `kensa export` as a user runs it (a child process of bin/kensa.mjs), on the shared
 * MobileNetV2 and real bottle images: a bare model with --parts and --threshold; a refusal
 * (exit 1, the worst part named); usage errors (exit 2); and a model inside a project, whose
 * reviewed parts and threshold in force the export takes (a reviewed defect that would pass
 * refuses the export).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { kensa as runKensa, type CliRun } from '../helpers/kensa-cli';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { ProjectService } from '../../src-main/services/project-service';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const fp32 = path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx');
const haveData = existsSync(bottle) && existsSync(fp32);
if (!haveData) console.warn(`SKIPPING kensa export CLI tests: ${bottle} or ${fp32} missing (set KENSA_SHARED)`);



const kensa = (args: string[]): Promise<CliRun> => runKensa(args, { timeoutMs: 300_000 });

const files = (sub: string, n: number): string[] =>
  readdirSync(path.join(bottle, sub))
    .sort()
    .slice(0, n)
    .map((f) => path.join(bottle, sub, f));

let tmp: string;
let model: string;
let parts: string;

beforeAll(async () => {
  if (!haveData) return;
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-cli-export-'));
  model = path.join(tmp, 'bottle.kensa');
  const fit = await kensa(['fit', ...files('train/good', 10), '--out', model, '--quiet']);
  expect(fit.code, fit.stderr).toBe(0);
  parts = path.join(tmp, 'parts');
  mkdirSync(parts);
  for (const f of [...files('test/good', 2), ...files('test/broken_large', 2)]) copyFileSync(f, path.join(parts, `${path.basename(path.dirname(f))}-${path.basename(f)}`));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveData)('kensa export', () => {
  it('exports a bare model with --parts and --threshold, printing the parity summary', async () => {
    const out = path.join(tmp, 'export');
    const r = await kensa(['export', model, '--out', out, '--parts', parts, '--threshold', '3', '--name', 'bottle-line3', '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/parity: 4 of 4 parts scored by both Kensa engine Scorer on onnxruntime-node .* and onnxruntime-web .*wasm/);
    expect(r.stdout).toMatch(/max \|Δscore\| \d\.\d\de-\d+ .*tolerance/);
    expect(r.stdout).toContain('threshold 3 (option): 0 verdict changes, no reviewed defects among the parts');
    for (const f of ['bottle-line3.onnx', 'bottle-line3.kensa-export.json', 'parity.json', 'kserve-inferenceservice.yaml', 'model_repository/bottle-line3/config.pbtxt', 'model_repository/bottle-line3/1/model.onnx']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    const sidecar = JSON.parse(readFileSync(path.join(out, 'bottle-line3.kensa-export.json'), 'utf8'));
    expect(sidecar.decision).toMatchObject({ threshold: 3, source: 'option' });
    expect(sidecar.model.file).toBe('bottle.kensa');
  });

  it('refuses (exit 1) when parity fails, naming the worst part; usage errors exit 2', async () => {
    const r = await kensa(['export', model, '--out', path.join(tmp, 'strict'), '--parts', parts, '--tolerance', '1e-12', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kensa: error: export refused: score differs by .* on .*parts\/(good|broken_large)-\d+\.png .*report: .*parity\.json\n$/);
    expect(readdirSync(path.join(tmp, 'strict'))).toEqual(['parity.json']);

    const noOut = await kensa(['export', model, '--parts', parts]);
    expect(noOut.code).toBe(2);
    expect(noOut.stderr).toContain('export needs --out DIR');
    const noParts = await kensa(['export', model, '--out', path.join(tmp, 'x')]);
    expect(noParts.code).toBe(2);
    expect(noParts.stderr).toContain('export needs parts for its parity check: --parts FOLDER');
  });

  it('a model in a project: its reviewed parts and the threshold in force; a reviewed defect that would pass refuses the export', async () => {
    const engine = new EngineClient();
    const dir = path.join(tmp, 'project');
    const svc = await ProjectService.create(dir, 'Export line', 'alice');
    try {
      await svc.importImages(files('train/good', 10), 'train', 'alice');
      const inspect = await svc.importImages([...files('test/good', 2), ...files('test/broken_large', 2)], 'inspect', 'alice');
      const m = await svc.fit(engine, {}, 'alice');
      inspect.ids.forEach((id, i) => svc.verdict({ imageId: id, verdict: i < 2 ? 'good' : 'defect', ...(i < 2 ? {} : { defectType: 'broken_large' }) }, 'bob'));
      svc.setThreshold(1e6, 'test: a threshold that passes every part', 'alice');
      const file = path.join(dir, 'models', `v${String(m.version).padStart(4, '0')}.kensa`);
      const refused = await kensa(['export', file, '--out', path.join(tmp, 'project-export'), '--quiet']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/export refused: reviewed defect .*broken_large\/000\.png would pass at the threshold in force \(1\.000e\+6\)/);
      svc.setThreshold(0, 'test: flag every part', 'alice');
      const ok = await kensa(['export', file, '--out', path.join(tmp, 'project-export'), '--quiet']);
      expect(ok.stderr).toBe('');
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain('parity: 4 of 4 parts');
      expect(ok.stdout).toContain('threshold 0 (project): 0 verdict changes, 0 of 2 reviewed defects passing');
      const sidecar = JSON.parse(readFileSync(path.join(tmp, 'project-export', `${path.basename(file, '.kensa')}.kensa-export.json`), 'utf8'));
      expect(sidecar.model.version).toBe(m.version);
      expect(sidecar.decision).toMatchObject({ threshold: 0, source: 'project' });
    } finally {
      svc.close();
      await engine.terminate();
    }
  });
});
