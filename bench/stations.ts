/**
 * `npm run bench:stations [-- --parts N] [--stations 1,2,4]` — several review stations on one
 * project, on each engine: SQLite (one file, one machine) and PostgreSQL (a throwaway
 * cluster on loopback, as test/helpers/pg-cluster.ts makes it). Measured in one run:
 *   - one verdict through the store (recordVerdict, one write transaction), p50 / p95, alone;
 *   - K station processes (test/store/helpers/station.ts: claim the next part nobody holds,
 *     verdict, release, 2 ms pause) working through N flagged parts together: parts/s, and
 *     how long after one station acknowledged a verdict another station had read it (the
 *     change feed: LISTEN/NOTIFY on PostgreSQL, the change stamp polled every 500 ms on
 *     SQLite), p50 / p95 / max.
 * The last line is one JSON object with every figure.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { closeProjectDb, initProject, openProjectDb, putScores, recordVerdict } from '../src-main/store/index';
import { startPgCluster, PG_PASSWORD } from '../test/helpers/pg-cluster';
import { readyModel, seedImages, tempDir } from '../test/store/helpers/fixtures';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const PARTS = Number(arg('parts', '2000'));
const STATIONS = arg('stations', '1,2,4').split(',').map(Number);
const repo = path.resolve(import.meta.dirname, '..');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(2));
};

let n = 0;
function project(dir: string, pgUrl: string | null): { file: string; version: number; ids: number[] } {
  n += 1;
  const file = pgUrl ? `${pgUrl}?schema=bench_${n}` : path.join(dir, `bench-${n}.kensa`);
  const db = openProjectDb(file);
  initProject(db, `bench ${n}`, 'alice');
  const ids = seedImages(db, PARTS);
  const version = readyModel(db).version;
  db.transaction(() => putScores(db, version, ids.map((id, i) => ({ imageId: id, score: ((i * 7919) % PARTS) / (PARTS / 10), maxPatchScore: 1 }))))();
  closeProjectDb(db);
  return { file, version, ids };
}

async function stationsRun(file: string, version: number, k: number): Promise<{ seconds: number; partsPerSecond: number; delay: { p50: number; p95: number; max: number; n: number } }> {
  const kids = Array.from({ length: k }, (_, i) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/store/helpers/station.ts'), file, `station-${i + 1}`, `reviewer-${i + 1}`, String(version), '5000', '2'], {
      cwd: repo,
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, PGPASSWORD: PG_PASSWORD },
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    const done = new Promise<void>((r) => child.on('exit', () => r()));
    return { child, lines, done };
  });
  while (!kids.every((c) => c.lines.includes('"ready"'))) await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  for (const c of kids) c.child.stdin!.end('go\n');
  await Promise.all(kids.map((c) => c.done));
  const seconds = (performance.now() - t0) / 1000;
  const parsed = kids.map((c) => c.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { ack?: number; seen?: number; at: number }));
  const ackAt = new Map(parsed.flat().filter((l) => l.ack !== undefined).map((l) => [l.ack!, l.at]));
  const delays = parsed.flat().filter((l) => l.seen !== undefined && ackAt.has(l.seen)).map((l) => Math.max(0, l.at - ackAt.get(l.seen!)!));
  return { seconds: Number(seconds.toFixed(2)), partsPerSecond: Number((PARTS / seconds).toFixed(1)), delay: { p50: pct(delays, 50), p95: pct(delays, 95), max: Math.max(0, ...delays), n: delays.length } };
}

const cluster = await startPgCluster();
const tmp = tempDir('kensa-bench-stations-');
const results: Record<string, unknown>[] = [];
try {
  for (const engine of ['sqlite', 'postgres'] as const) {
    const pgUrl = engine === 'postgres' ? cluster.url() : null;
    // one station alone: verdict latency through the store
    {
      const p = project(path.join(tmp.dir), pgUrl);
      const db = openProjectDb(p.file);
      const ms: number[] = [];
      for (const id of p.ids.slice(0, 500)) {
        const t = performance.now();
        recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice' });
        ms.push(performance.now() - t);
      }
      closeProjectDb(db);
      const row = { engine, what: 'recordVerdict alone', n: ms.length, p50Ms: pct(ms, 50), p95Ms: pct(ms, 95) };
      console.log(JSON.stringify(row));
      results.push(row);
    }
    for (const k of STATIONS) {
      const p = project(path.join(tmp.dir), pgUrl);
      const r = await stationsRun(p.file, p.version, k);
      const row = { engine, what: `${k} station(s), ${PARTS} parts`, stations: k, ...r };
      console.log(JSON.stringify(row));
      results.push(row);
    }
  }
} finally {
  cluster.stop();
  tmp.cleanup();
}
console.log(JSON.stringify({ bench: 'stations', parts: PARTS, results }));
