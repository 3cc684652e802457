/**
 * The ordered list of schema migrations and the runner that applies them.
 *
 * The schema version is SQLite's `PRAGMA user_version`. Each migration runs in its own
 * BEGIN IMMEDIATE transaction that also sets user_version, so a crash leaves the file at a
 * whole version, and two processes opening a fresh file at once do not both migrate (the
 * second re-reads user_version under the write lock and skips what the first did).
 *
 * Rules: versions are 1, 2, 3, ... in order; a shipped migration is never edited; each one
 * has a test in test/store/migrations.test.ts (open at N−1, insert rows, migrate, check).
 * Foreign-key enforcement is off while migrating (so a migration may rebuild a table), and
 * `PRAGMA foreign_key_check` must come back empty before each migration commits.
 */
import type Database from 'better-sqlite3';
import type { PgDb } from '../pg/pg-db';
import { asPg } from '../dialect';
import { KensaError } from '../../shared/errors';
import { migration0001 } from './0001-initial';
import { migration0002 } from './0002-detectors';
import { migration0003 } from './0003-learning';
import { migration0004 } from './0004-queue-index';
import { migration0005 } from './0005-line';
import { migration0006 } from './0006-accounts';
import { migration0007 } from './0007-stations';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
  /** The same step on PostgreSQL (see ./pg.ts for how the dialects map). */
  upPostgres(db: PgDb): void;
}

export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005, migration0006, migration0007];

/** The schema version this code writes and understands. */
export const LATEST_VERSION: number = MIGRATIONS.length === 0 ? 0 : MIGRATIONS[MIGRATIONS.length - 1].version;

export function userVersion(db: Database.Database): number {
  const pg = asPg(db);
  if (pg) return pgMeta(pg).version;
  return db.pragma('user_version', { simple: true }) as number;
}

/** PostgreSQL: the schema's `kensa_meta` (version and application id); absent on a new schema. */
export function pgMeta(db: PgDb): { version: number; appId: string | null; exists: boolean } {
  const exists = db.query(`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'kensa_meta'`, [db.schema]).rows[0][0] === 1;
  if (!exists) return { version: 0, appId: null, exists: false };
  const rows = db.query(`SELECT key, value FROM kensa_meta`, []).rows as [string, string][];
  const m = new Map(rows);
  return { version: Number(m.get('user_version') ?? 0), appId: m.get('application_id') ?? null, exists: true };
}

/**
 * Applies the pending migrations up to `target` (default: all), one IMMEDIATE transaction
 * each. Returns the version the database is at afterwards. (`migrations` is for tests of the
 * runner itself.) Foreign-key enforcement
 * is restored to what it was before.
 */
export function runMigrations(db: Database.Database, target: number = LATEST_VERSION, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  if (target > latest) throw new KensaError('INVALID_ARGUMENT', `no migration ${target} (latest is ${latest})`);
  if (userVersion(db) >= target) return userVersion(db);
  const pg = asPg(db);
  if (pg) {
    for (const m of migrations) {
      if (m.version > target) break;
      applyOnePg(pg, m);
    }
    return userVersion(db);
  }
  const fk = db.pragma('foreign_keys', { simple: true }) as number;
  db.pragma('foreign_keys = OFF'); // a no-op inside a transaction, so set it before
  try {
    for (const m of migrations) {
      if (m.version > target) break;
      applyOne(db, m);
    }
  } finally {
    db.pragma(`foreign_keys = ${fk ? 'ON' : 'OFF'}`);
  }
  return userVersion(db);
}

/** One migration in one IMMEDIATE transaction, re-checking user_version under the write lock. */
function applyOne(db: Database.Database, m: Migration): void {
  db.transaction(() => {
    const at = userVersion(db);
    if (at >= m.version) return; // another connection applied it while we waited for the lock
    if (at !== m.version - 1) {
      throw new KensaError('STORE_VERSION', `cannot apply migration ${m.version} (${m.name}) to a database at version ${at}`);
    }
    m.up(db);
    const violations = db.pragma('foreign_key_check') as unknown[];
    if (violations.length > 0) {
      throw new KensaError('STORE_CORRUPT', `migration ${m.version} (${m.name}) left ${violations.length} foreign-key violation(s)`);
    }
    db.pragma(`user_version = ${m.version}`);
  }).immediate();
}

/**
 * PostgreSQL: one migration in one transaction holding the project's write lock, with the
 * version re-read under it (two stations opening a new project at once migrate it once).
 * DDL is transactional in PostgreSQL, so a failed step leaves the schema at the version before.
 */
function applyOnePg(db: PgDb, m: Migration): void {
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS kensa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    const at = pgMeta(db).version;
    if (at >= m.version) return;
    if (at !== m.version - 1) {
      throw new KensaError('STORE_VERSION', `cannot apply migration ${m.version} (${m.name}) to a database at version ${at}`);
    }
    m.upPostgres(db);
    db.prepare(`INSERT INTO kensa_meta (key, value) VALUES ('application_id', 'KENS'), ('user_version', ?)
                ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(m.version));
  }).immediate();
}
