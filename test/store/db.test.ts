/**
 * The connection (src-main/store/db.ts): pragmas on open (WAL, foreign keys, synchronous
 * FULL, busy timeout), refusing a newer schema, a damaged file or a foreign SQLite file with
 * the right KensaError naming the file, read-only opening, and the write-transaction helper
 * (rollback on error, STORE_BUSY when another writer holds the lock).
 *
 * On PostgreSQL (vitest.pg.config.ts) the same properties where they exist there: a new
 * schema with the latest version and 'KENS' in kensa_meta, lock_timeout 5 s, a newer or
 * foreign schema refused, read-only sessions, STORE_BUSY while another connection holds the
 * project's write lock; instead of damaged files (the server's storage is not Kensa's to
 * check), an unreachable server, a missing database and a refused login.
 */
import { closeSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  LATEST_VERSION,
  appendAudit,
  closeProjectDb,
  getProject,
  listImages,
  openProjectDb,
  recordVerdict,
  userVersion,
  writeTx,
} from '../../src-main/store/index';
import { asPg } from '../../src-main/store/dialect';
import { MIGRATIONS, runMigrations } from '../../src-main/store/migrations/index';
import { IS_PG, PG_URL, copyDb, labelOf, newProject, projectLocator, rawDb, rawReopen, seedImages, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

function openError(file: string, opts?: { readonly?: boolean }): KensaError {
  try {
    openProjectDb(file, opts).close();
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return e as KensaError;
  }
  throw new Error(`${file} opened without an error`);
}

/** A project file with some content, closed, for the damage tests. */
function populatedFile(): string {
  const { db, file } = newProject(dir);
  const ids = seedImages(db, 300);
  for (const id of ids.slice(0, 150)) recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice', comment: 'x'.repeat(100) });
  closeProjectDb(db);
  return file;
}

describe('openProjectDb', () => {
  // SQLite's connection settings (PRAGMAs); the PostgreSQL counterpart follows.
  it.skipIf(IS_PG)('creates a new file with WAL, foreign keys, synchronous FULL, busy timeout and the latest schema', () => {
    const file = path.join(dir, 'new.kensa');
    const db = openProjectDb(file);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(userVersion(db)).toBe(LATEST_VERSION);
    expect(db.pragma('application_id', { simple: true })).toBe(0x4b454e53);
    // foreign keys are enforced
    expect(() => db.prepare('INSERT INTO scores (image_id, model_version, score, max_patch_score, map_file, scored_at) VALUES (999, 999, 1.0, 1.0, NULL, ?)').run('t')).toThrow(/FOREIGN KEY/);
    closeProjectDb(db);
    closeProjectDb(db); // closing twice is harmless
  });

  it('reopens an existing project with its data and without migrating again', () => {
    const { db, file } = newProject(dir);
    seedImages(db, 3);
    closeProjectDb(db);
    const again = openProjectDb(file);
    expect(getProject(again)?.name).toBe('Bottles line 3');
    expect(listImages(again)).toHaveLength(3);
    expect(userVersion(again)).toBe(LATEST_VERSION);
    if (!IS_PG) expect(again.pragma('journal_mode', { simple: true })).toBe('wal');
    closeProjectDb(again);
  });

  it.runIf(IS_PG)('PostgreSQL: creates a new schema with the latest schema version, KENS, lock_timeout 5 s and foreign keys', () => {
    const file = projectLocator(dir, 'new.kensa');
    const db = openProjectDb(file);
    const pg = asPg(db)!;
    expect(userVersion(db)).toBe(LATEST_VERSION);
    expect(db.prepare(`SELECT value FROM kensa_meta WHERE key = 'application_id'`).pluck().get()).toBe('KENS');
    expect(db.prepare('SHOW lock_timeout').pluck().get()).toBe('5s');
    expect(db.prepare('SELECT current_schema()').pluck().get()).toBe(pg.schema);
    expect(db.prepare(`SELECT count(*) FROM pg_tables WHERE schemaname = ?`).pluck().get(pg.schema)).toBeGreaterThan(9);
    // foreign keys are enforced, and map to the same KensaError as on SQLite
    expect(() => db.prepare('INSERT INTO scores (image_id, model_version, score, max_patch_score, map_file, scored_at) VALUES (999, 999, 1.0, 1.0, NULL, ?)').run('t')).toThrow(/foreign key constraint/);
    expect(() => writeTx(db, () => db.prepare('INSERT INTO scores (image_id, model_version, score, max_patch_score, map_file, scored_at) VALUES (999, 999, 1.0, 1.0, NULL, ?)').run('t'))).toThrow(
      expect.objectContaining({ code: 'NOT_FOUND' }),
    );
    closeProjectDb(db);
    closeProjectDb(db); // closing twice is harmless
  });

  // SQLite's PRAGMA user_version; the PostgreSQL counterpart (kensa_meta) follows.
  it.skipIf(IS_PG)('refuses a database written by a newer Kensa (user_version 999) with STORE_VERSION, leaving it untouched', () => {
    const file = path.join(dir, 'future.kensa');
    const raw = new Database(file);
    raw.pragma('user_version = 999');
    raw.exec('CREATE TABLE something_new (x INTEGER) STRICT');
    raw.close();
    const before = readFileSync(file);
    const e = openError(file);
    expect(e.code).toBe('STORE_VERSION');
    expect(e.message).toMatch(/update Kensa/);
    expect(e.message).toContain(file);
    expect(e.file).toBe(file);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it.runIf(IS_PG)('PostgreSQL: refuses a schema written by a newer Kensa (version 999) with STORE_VERSION, leaving it untouched', () => {
    const { db: raw, locator } = rawDb(dir, 'future');
    raw.exec(`CREATE TABLE kensa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO kensa_meta VALUES ('application_id', 'KENS'), ('user_version', '999');
      CREATE TABLE something_new (x BIGINT)`);
    const snapshot = () => raw.prepare(`SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = current_schema()`).pluck().get() + JSON.stringify(raw.prepare('SELECT * FROM kensa_meta ORDER BY key').all());
    const before = snapshot();
    const e = openError(locator);
    expect(e.code).toBe('STORE_VERSION');
    expect(e.message).toMatch(/update Kensa/);
    expect(e.message).toContain(labelOf(locator));
    expect(e.message).not.toContain(new URL(PG_URL!).password);
    expect(e.file).toBe(labelOf(locator));
    expect(snapshot()).toBe(before);
    raw.close();
  });

  // Damaged files: SQLite only (a PostgreSQL server keeps its own storage; what a station can
  // meet there instead is an unreachable server, a missing database, a refused login: below).
  it.skipIf(IS_PG)('refuses a file of random bytes with STORE_CORRUPT naming the file', () => {
    const file = path.join(dir, 'random.kensa');
    writeFileSync(file, randomBytes(16384));
    const e = openError(file);
    expect(e.code).toBe('STORE_CORRUPT');
    expect(e.message).toContain(file);
    expect(e.file).toBe(file);
  });

  it.skipIf(IS_PG)('refuses truncated databases with STORE_CORRUPT naming the file', () => {
    const file = populatedFile();
    const size = statSync(file).size;
    for (const cut of [50, 4096, Math.floor(size / 2), size - 4096]) {
      const copy = copyDb(file, `truncated-${cut}.kensa`);
      truncateSync(copy, cut);
      const e = openError(copy);
      expect(e.code, `truncated to ${cut} bytes`).toBe('STORE_CORRUPT');
      expect(e.message).toContain(copy);
    }
  });

  it.skipIf(IS_PG)('refuses a database with a damaged page (found by quick_check) with STORE_CORRUPT naming the file', () => {
    const file = populatedFile();
    const copy = copyDb(file, 'damaged.kensa');
    const pageSize = 4096;
    const fd = openSync(copy, 'r+');
    writeSync(fd, randomBytes(pageSize), 0, pageSize, pageSize * 9); // page 10: an index or table page, not the header
    closeSync(fd);
    const e = openError(copy);
    expect(e.code).toBe('STORE_CORRUPT');
    expect(e.message).toContain(copy);
  });

  it.runIf(IS_PG)('PostgreSQL: an unreachable server, a missing database and a wrong password are refused with the right code, without the password', () => {
    const u = new URL(PG_URL!);
    const with_ = (edit: (x: URL) => void): string => {
      const x = new URL(PG_URL!);
      edit(x);
      x.searchParams.set('schema', 'kensa_test');
      return x.toString();
    };
    const unreachable = openError(with_((x) => (x.port = '1')));
    expect(unreachable.code).toBe('STORE_UNAVAILABLE');
    const missing = openError(with_((x) => (x.pathname = '/no_such_database')));
    expect(missing.code).toBe('NOT_FOUND');
    const login = openError(with_((x) => (x.password = 'wrong-password')));
    expect(login.code).toBe('STORE_UNAVAILABLE');
    for (const e of [unreachable, missing, login]) {
      expect(e.message).not.toContain(u.password);
      expect(e.message).not.toContain('wrong-password');
    }
    const bad = openError('postgres://kensa@127.0.0.1:1/db?schema=Not-A-Schema');
    expect(bad.code).toBe('INVALID_ARGUMENT');
  });

  // An SQLite file of another application; the PostgreSQL counterpart (a schema holding other tables) follows.
  it.skipIf(IS_PG)('refuses an SQLite file that is not a Kensa project', () => {
    const file = path.join(dir, 'other.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
    raw.close();
    const e = openError(file);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/not a Kensa project/);
  });

  it.runIf(IS_PG)('PostgreSQL: refuses a schema that holds other tables, or another application\'s kensa_meta', () => {
    const { db: raw, locator } = rawDb(dir, 'other');
    raw.exec('CREATE TABLE customers (id BIGINT PRIMARY KEY, name TEXT)');
    const e = openError(locator);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/not a Kensa project/);
    expect(raw.prepare(`SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).pluck().get()).toBe(1); // nothing added
    raw.exec(`CREATE TABLE kensa_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL); INSERT INTO kensa_meta VALUES ('application_id', 'ACME'), ('user_version', '1')`);
    expect(openError(locator).message).toMatch(/not a Kensa project/);
    raw.close();
  });

  it('opens read-only: reads work, writes fail with a KensaError, a missing file is NOT_FOUND', () => {
    const { db, file } = newProject(dir);
    seedImages(db, 2);
    closeProjectDb(db);
    const ro = openProjectDb(file, { readonly: true });
    expect(listImages(ro)).toHaveLength(2);
    expect(() => seedImages(ro, 1, 'inspect', 'more')).toThrow(KensaError);
    try {
      seedImages(ro, 1, 'inspect', 'more');
    } catch (e) {
      expect((e as KensaError).code).toBe('INVALID_ARGUMENT');
      expect((e as KensaError).message).toMatch(/read-only/);
    }
    // not even outside Kensa's transactions
    expect(() => ro.prepare('DELETE FROM images').run()).toThrow(/read-only|readonly/);
    closeProjectDb(ro);
    const again = openProjectDb(file);
    expect(listImages(again)).toHaveLength(2);
    closeProjectDb(again);
    expect(openError(projectLocator(dir, 'missing.kensa'), { readonly: true }).code).toBe('NOT_FOUND');
  });

  // An empty SQLite file (version 0); an empty PostgreSQL schema is no project at all (NOT_FOUND,
  // above). Both engines: a database at an older version, below.
  it.skipIf(IS_PG)('read-only refuses a database that still needs migrating', () => {
    const file = path.join(dir, 'empty.kensa');
    new Database(file).close();
    expect(openError(file, { readonly: true }).code).toBe('STORE_VERSION');
  });

  it('read-only refuses a database at an older schema version, and leaves it there', () => {
    const { db: raw, locator } = rawDb(dir, 'older.kensa');
    runMigrations(raw, LATEST_VERSION - 1);
    raw.close();
    const e = openError(locator, { readonly: true });
    expect(e.code).toBe('STORE_VERSION');
    expect(e.message).toMatch(/needs upgrading/);
    const again = rawReopen(locator);
    expect(userVersion(again)).toBe(MIGRATIONS[MIGRATIONS.length - 2].version);
    again.close();
  });
});

describe('writeTx', () => {
  it('rolls back everything when the function throws', () => {
    const { db } = newProject(dir);
    const [id] = seedImages(db, 1);
    expect(() =>
      writeTx(db, () => {
        recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice' });
        throw new KensaError('CANCELLED', 'stop');
      }),
    ).toThrow(/stop/);
    expect(db.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(0);
    expect(db.prepare(`SELECT count(*) FROM audit_events WHERE kind = 'verdict'`).pluck().get()).toBe(0);
    closeProjectDb(db);
  });

  it.runIf(IS_PG)('PostgreSQL: waits for another connection holding the project write lock, STORE_BUSY after lock_timeout', () => {
    const { db, file } = newProject(dir);
    const [id] = seedImages(db, 1);
    const other = openProjectDb(file);
    const timeOne = (): { ms: number; err: unknown } => {
      const t0 = Date.now();
      try {
        recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice' });
        return { ms: Date.now() - t0, err: null };
      } catch (e) {
        return { ms: Date.now() - t0, err: e };
      }
    };
    // The project write lock as Kensa takes it (BEGIN + the advisory lock), held by another
    // connection while this one tries to write: the default lock_timeout (5 s), then STORE_BUSY.
    let r = other.transaction(timeOne)();
    expect(r.ms).toBeGreaterThanOrEqual(4900);
    expect((r.err as KensaError).code).toBe('STORE_BUSY');
    // The same with the lock held by a plain session (psql or any client: the lock is the
    // documented advisory lock keyed by the schema), and a shorter timeout.
    asPg(db)!.exec('SET lock_timeout = 300');
    const raw = rawReopen(file);
    raw.exec(`BEGIN; SELECT pg_advisory_xact_lock(${0x4b45}, hashtext('${asPg(db)!.schema}'))`);
    r = timeOne();
    expect(r.ms).toBeGreaterThanOrEqual(250);
    expect((r.err as KensaError).code).toBe('STORE_BUSY');
    raw.exec('ROLLBACK');
    raw.close();
    // Reads are not blocked by a writer.
    other.transaction(() => expect(db.prepare('SELECT count(*) FROM images').pluck().get()).toBe(1))();
    closeProjectDb(other);
    expect(timeOne().err).toBeNull();
    expect(db.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(1);
    closeProjectDb(db);
  });

  // SQLite's BEGIN IMMEDIATE and busy_timeout; the PostgreSQL counterpart (the advisory write lock) is above.
  it.skipIf(IS_PG)('waits for another writer and gives STORE_BUSY when it holds the lock too long', () => {
    const { db, file } = newProject(dir);
    const [id] = seedImages(db, 1);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    db.pragma('busy_timeout = 200'); // keep the test short
    const t0 = Date.now();
    let err: unknown;
    try {
      recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice' });
    } catch (e) {
      err = e;
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect((err as KensaError).code).toBe('STORE_BUSY');
    other.exec('ROLLBACK');
    other.close();
    expect(recordVerdict(db, { imageId: id, verdict: 'good', reviewer: 'alice' }).verdict).toBe('good');
    closeProjectDb(db);
  });

  it('appendAudit refuses to run outside a transaction', () => {
    const { db } = newProject(dir);
    expect(() => appendAudit(db, { actor: 'alice', kind: 'project', entity: 'project', entityId: 1, payload: {} })).toThrow(/inside the transaction/);
    closeProjectDb(db);
  });
});
