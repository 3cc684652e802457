/**
 * Test fixtures for the project store: temp folders holding real database FILES (or, when
 * KENSA_TEST_PG is set, fresh schemas in the test PostgreSQL cluster), seeded images and
 * models, copies of a database (closed first, so the WAL is checkpointed into it; on
 * PostgreSQL a pg_dump of the schema into a new database), edits behind Kensa's back with
 * psql, the engine's own integrity check, and a runner for the child-process scripts in this
 * folder.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import Database from 'better-sqlite3';
import { PgDb, parsePgLocator, redactLocator } from '../../../src-main/store/pg/pg-db';
import path from 'node:path';
import { asPg } from '../../../src-main/store/dialect';
import { pgBinDir, psql } from '../../helpers/pg-cluster';
import {
  addImages,
  beginModel,
  completeModel,
  initProject,
  openProjectDb,
  type Db,
  type ImageRole,
  type ModelRecord,
  type NewImage,
} from '../../../src-main/store/index';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');

/**
 * The engine this run tests: PostgreSQL when KENSA_TEST_PG holds a server URL (set by
 * vitest.pg.config.ts's global setup), SQLite otherwise. The same test files run on both.
 */
export const PG_URL: string | null = process.env.KENSA_TEST_PG ?? null;
export const ENGINE: 'sqlite' | 'postgres' = PG_URL ? 'postgres' : 'sqlite';
export const IS_PG = ENGINE === 'postgres';

let schemaSeq = 0;

/**
 * Where a test project's database lives: the file `dir/name` (SQLite), or a fresh schema in
 * the test cluster (PostgreSQL; `dir` still holds the project's files).
 */
export function projectLocator(dir: string, name = 'project.kensa'): string {
  if (!PG_URL) return path.join(dir, name);
  const schema = `t_${process.pid}_${Date.now().toString(36)}_${++schemaSeq}`;
  return `${PG_URL}?schema=${schema}`;
}

/** A raw connection (no migrations run) to a new test database, for the migration tests. */
export function rawDb(dir: string, name: string): { db: Db; locator: string } {
  const locator = projectLocator(dir, name);
  if (!IS_PG) return { db: new Database(locator) as unknown as Db, locator };
  const pg = new PgDb(parsePgLocator(locator, 5000));
  pg.exec(`CREATE SCHEMA ${pg.schema}`);
  return { db: pg as unknown as Db, locator };
}

/** Reopens a raw connection to `locator` (no migrations run). */
export function rawReopen(locator: string): Db {
  if (!IS_PG) return new Database(locator) as unknown as Db;
  return new PgDb(parsePgLocator(locator, 5000)) as unknown as Db;
}

/** Error texts of the two engines for the same constraint failures. */
export const ERR = {
  check: /CHECK|check constraint|invalid input syntax for type json/,
  unique: /UNIQUE|unique constraint/,
  foreignKey: /FOREIGN KEY|foreign key constraint/,
  notNull: /NOT NULL|not-null constraint/,
};

/** A fresh temp folder; `cleanup` removes it. */
export function tempDir(prefix = 'kensa-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sha(text: string | number): string {
  return createHash('sha256').update(String(text)).digest('hex');
}

export function newImages(n: number, role: ImageRole = 'inspect', tag = 'img'): NewImage[] {
  return Array.from({ length: n }, (_, i) => ({
    path: `${role}/${tag}-${i}.png`,
    sha256: sha(`${tag}-${role}-${i}`),
    bytes: 1000 + i,
    width: 64,
    height: 48,
    format: 'png',
    role,
  }));
}

/** Opens a new project database file in `dir`, with the project created. */
export function newProject(dir: string, name = 'project.kensa'): { db: Db; file: string } {
  const file = projectLocator(dir, name);
  const db = openProjectDb(file);
  initProject(db, 'Bottles line 3', 'alice');
  return { db, file };
}

export function seedImages(db: Db, n: number, role: ImageRole = 'inspect', tag = 'img'): number[] {
  return addImages(db, `batch-${tag}-${role}`, newImages(n, role, tag), 'alice').ids;
}

export const BACKBONE = { backboneId: 'mobilenetv2-fp32', backboneSha256: sha('backbone') };

/** A fit (or a refit of `parent`) taken to 'ready', which makes it the active version. */
export function readyModel(db: Db, parent?: number, addedImageIds: number[] = []): ModelRecord {
  const m = beginModel(
    db,
    parent === undefined
      ? { kind: 'fit', ...BACKBONE, config: { taps: ['b3', 'b6'], coresetRatio: 0.1 } }
      : { kind: 'refit', parentVersion: parent, ...BACKBONE, config: { taps: ['b3', 'b6'], coresetRatio: 0.1 }, addedImageIds },
    'alice',
  );
  return completeModel(db, m.version, { modelFile: `models/v${m.version}.kmodel`, modelSha256: sha(`model-${m.version}`), bankSize: 1234, fitSeconds: 12.5, ep: 'cpu' }, 'alice');
}

let copySeq = 0;

/**
 * A copy of a CLOSED project database, to edit without touching the original.
 * SQLite: the file (no -wal left behind) copied to `name` in the same folder.
 * PostgreSQL: the project's schema dumped (pg_dump) into a new database of the test cluster,
 * under the same schema name (so the functions' pinned search_path still fits); the returned
 * locator points there (`name` is not used).
 */
export function copyDb(file: string, name: string): string {
  if (!IS_PG) {
    const to = path.join(path.dirname(file), name);
    copyFileSync(file, to);
    return to;
  }
  const from = new URL(file);
  const schema = from.searchParams.get('schema') ?? 'kensa';
  const database = `c_${process.pid}_${++copySeq}`;
  psql(file, `CREATE DATABASE ${database}`);
  const bin = pgBinDir() as string;
  const env = { ...process.env, PGPASSWORD: decodeURIComponent(from.password) };
  const conn = ['-h', from.hostname, '-p', from.port, '-U', decodeURIComponent(from.username)];
  const dump = execFileSync(path.join(bin, 'pg_dump'), [...conn, '-d', from.pathname.slice(1), '-n', schema, '--no-owner'], { env, stdio: 'pipe', maxBuffer: 1 << 28 });
  execFileSync(path.join(bin, 'psql'), [...conn, '-d', database, '-v', 'ON_ERROR_STOP=1', '-q', '-f', '-'], { env, input: dump, stdio: 'pipe' });
  const to = new URL(file);
  to.pathname = `/${database}`;
  return to.toString();
}

/**
 * PostgreSQL: runs `sql` with psql (a child process, the cluster's superuser, as someone
 * editing the database behind Kensa's back would) in the locator's schema; returns psql's
 * unaligned output (-At).
 */
export function pgExec(locator: string, sql: string): string {
  const schema = new URL(locator).searchParams.get('schema') ?? 'kensa';
  return psql(locator, `SET search_path TO "${schema}"; ${sql}`);
}

/** How messages and KensaError.file name a database: the file, or the URL without its password. */
export function labelOf(locator: string): string {
  return IS_PG ? redactLocator(locator) : locator;
}

/**
 * The engine's own check of the stored data: SQLite's PRAGMA integrity_check; PostgreSQL:
 * amcheck over the project schema (every B-tree index against its table, every table's heap).
 * 'ok', or the problems found.
 */
export function integrityCheck(db: Db): string {
  const pg = asPg(db);
  if (!pg) return db.pragma('integrity_check', { simple: true }) as string;
  pg.exec('CREATE EXTENSION IF NOT EXISTS amcheck SCHEMA public');
  const problems: string[] = [];
  const rels = pg.query(
    `SELECT c.oid::regclass::text, c.relkind, coalesce(a.amname, '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = $1 AND c.relkind IN ('r', 'i') ORDER BY 1`,
    [pg.schema],
  ).rows as [string, string, string][];
  for (const [rel, kind, am] of rels) {
    try {
      if (kind === 'r') {
        for (const r of pg.query(`SELECT blkno, offnum, msg FROM public.verify_heapam($1::regclass)`, [rel]).rows) problems.push(`${rel}: ${r.join(' ')}`);
      } else if (am === 'btree') {
        pg.query(`SELECT public.bt_index_check($1::regclass, true)`, [rel]);
      }
    } catch (e) {
      problems.push(`${rel}: ${(e as Error).message}`);
    }
  }
  return problems.length === 0 ? 'ok' : problems.join('; ');
}

/** Starts `node --import tsx test/store/helpers/<script> args…` from the repo root. */
export function spawnScript(script: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'store', 'helpers', script), ...args], {
    cwd: repoRoot,
    stdio: 'pipe',
  });
}

/** Collects a child's stdout as lines; `onLine` sees each as it arrives. */
export function lines(child: ChildProcessWithoutNullStreams, onLine: (line: string) => void = () => {}): { all: string[]; stderr: () => string } {
  const all: string[] = [];
  let partial = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      all.push(l);
      onLine(l);
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { all, stderr: () => err };
}

export function exited(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}

/** Resolves when `pred()` holds (checked every 5 ms), rejects naming `what` after `timeoutMs`. */
export function waitFor(pred: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) resolve();
      else if (Date.now() - t0 > timeoutMs) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}
