/**
 * Crash safety: a child process doing real work on a project (import, fit, score, verdict
 * batches, refit, report export) is killed with SIGKILL at random moments, 50+ times. After every kill the
 * project opens, `PRAGMA integrity_check` is ok, the audit chain verifies, every verdict the
 * child acknowledged is in the database, and the active model file loads and matches its
 * recorded checksum.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../src-main/engine/core/random';
import { writeDemoImages } from '../../src-main/services/demo';
import { EngineClient } from '../../src-main/jobs/engine-client';
import { ProjectService } from '../../src-main/services/project-service';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const have = existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING kill -9 test: no backbone in ${shared}/models (set KENSA_SHARED)`);
const KILLS = Number(process.env.KENSA_KILLS ?? 50);

/** Runs one child; once it reports `start`, kills it after `killAfterMs` (null: let it finish). */
function runAndKill(dir: string, op: string, seed: number, killAfterMs: number | null): Promise<{ acked: number[]; finished: boolean; workMs: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'helpers', 'chaos-child.ts'), dir, op, String(seed)], {
      cwd: repo,
      env: { ...process.env, KENSA_SHARED: shared },
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer === undefined && killAfterMs !== null && out.includes('start\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const lines = out.split('\n');
      const acked = lines.filter((l) => l.startsWith('ack verdict ')).map((l) => Number(l.slice('ack verdict '.length)));
      const doneLine = lines.find((l) => l.startsWith('done '));
      const finished = doneLine !== undefined;
      if (signal === null && code !== 0 && !finished) reject(new Error(`child ${op} failed (${code}): ${err.slice(-500)}`));
      else resolve({ acked, finished, workMs: doneLine ? Number(doneLine.slice(5)) : null });
    });
  });
}

describe.skipIf(!have)('kill -9 at random points', () => {
  let tmp: string;
  let dir: string;

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-kill9-'));
    dir = path.join(tmp, 'project');
    const svc = await ProjectService.create(dir, 'chaos', 'chaos');
    const layout = await writeDemoImages(dir, { train: 24, goodInspect: 10, defective: 6 });
    await svc.importImages([layout.trainDir], 'train', 'chaos');
    await svc.importImages([layout.inspectDir], 'inspect', 'chaos');
    const engine = new EngineClient();
    await svc.fit(engine, {}, 'chaos');
    await svc.score(engine);
    await engine.terminate();
    svc.close();
  }, 300_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it(`survives ${KILLS} SIGKILLs in the middle of import, fit, score, verdict batches, refits and report exports`, async () => {
    const rng = new Rng(2026);
    const ops = ['verdicts', 'refit', 'import', 'fit', 'score', 'report'];
    const acked: number[] = [];
    const tally: Record<string, { killed: number; finished: number }> = {};
    // How long each kind of work takes here, measured by one uninterrupted run each.
    const workMs: Record<string, number> = {};
    for (const op of ops) {
      const r = await runAndKill(dir, op, 1000, null);
      acked.push(...r.acked);
      workMs[op] = Math.max(50, r.workMs ?? 1000);
    }
    let killed = 0;
    let runs = 0;
    for (let k = 0; killed < KILLS && k < KILLS * 3; k++) {
      runs += 1;
      const op = ops[k % ops.length]!;
      // Kill at a random moment of the work (uniform over its measured duration).
      const delay = rng.int(workMs[op]!);
      const r = await runAndKill(dir, op, k + 1, delay);
      acked.push(...r.acked);
      tally[op] ??= { killed: 0, finished: 0 };
      tally[op][r.finished ? 'finished' : 'killed'] += 1;
      if (!r.finished) killed += 1;
      const svc = ProjectService.open(dir);
      try {
        expect((svc.db.pragma('integrity_check') as { integrity_check: string }[])[0]!.integrity_check).toBe('ok');
        const audit = svc.verifyAudit();
        expect(audit.ok, JSON.stringify(audit.firstBad)).toBe(true);
        if (acked.length > 0) {
          const present = new Set((svc.db.prepare('SELECT id FROM verdicts').all() as { id: number }[]).map((x) => x.id));
          const lost = acked.filter((id) => !present.has(id));
          expect(lost, `after kill ${k + 1} (${op})`).toEqual([]);
        }
        const active = svc.activeModel();
        expect(active).not.toBeNull();
        const m = await svc.loadModelFile(active!.version);
        expect(m.header.detector).toBe(active!.detector);
        expect(m.arrays.bank).toBeInstanceOf(Float32Array);
        expect(m.arrays.bank!.length).toBe(Number(m.header.state.bankSize) * m.header.features.dim);
        expect(m.arrays.bank!.length).toBeGreaterThan(0);
        // Reports are written whole or not at all.
        const exports = path.join(dir, 'exports');
        for (const f of existsSync(exports) ? readdirSync(exports).filter((x) => x.endsWith('.pdf')) : []) {
          const pdf = readFileSync(path.join(exports, f));
          expect(pdf.subarray(0, 5).toString('latin1'), f).toBe('%PDF-');
          expect(pdf.subarray(-1024).toString('latin1'), f).toContain('%%EOF');
        }
      } finally {
        svc.close();
      }
    }
    console.log(`kill -9: ${runs} runs, ${killed} killed mid-way (${JSON.stringify(tally)}), work ms ${JSON.stringify(workMs)}, ${acked.length} acknowledged verdicts, 0 lost`);
    expect(killed).toBe(KILLS);
  }, 1_200_000);
});
