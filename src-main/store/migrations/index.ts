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
import { KensaError } from '../../shared/errors';
import { migration0001 } from './0001-initial';
import { migration0002 } from './0002-detectors';
import { migration0003 } from './0003-learning';
import { migration0004 } from './0004-queue-index';
import { migration0005 } from './0005-line';
import { migration0006 } from './0006-accounts';

export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
}

export const MIGRATIONS: readonly Migration[] = [migration0001, migration0002, migration0003, migration0004, migration0005, migration0006];

/** The schema version this code writes and understands. */
export const LATEST_VERSION: number = MIGRATIONS.length === 0 ? 0 : MIGRATIONS[MIGRATIONS.length - 1].version;

export function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
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
