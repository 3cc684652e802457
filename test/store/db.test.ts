/**
 * The connection (src-main/store/db.ts): pragmas on open (WAL, foreign keys, synchronous
 * FULL, busy timeout), refusing a newer schema, a damaged file or a foreign SQLite file with
 * the right KensaError naming the file, read-only opening, and the write-transaction helper
 * (rollback on error, STORE_BUSY when another writer holds the lock).
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
import { copyDb, newProject, seedImages, tempDir } from './helpers/fixtures';

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
  it('creates a new file with WAL, foreign keys, synchronous FULL, busy timeout and the latest schema', () => {
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
    expect(again.pragma('journal_mode', { simple: true })).toBe('wal');
    closeProjectDb(again);
  });

  it('refuses a database written by a newer Kensa (user_version 999) with STORE_VERSION, leaving it untouched', () => {
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

  it('refuses a file of random bytes with STORE_CORRUPT naming the file', () => {
    const file = path.join(dir, 'random.kensa');
    writeFileSync(file, randomBytes(16384));
    const e = openError(file);
    expect(e.code).toBe('STORE_CORRUPT');
    expect(e.message).toContain(file);
    expect(e.file).toBe(file);
  });

  it('refuses truncated databases with STORE_CORRUPT naming the file', () => {
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

  it('refuses a database with a damaged page (found by quick_check) with STORE_CORRUPT naming the file', () => {
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

  it('refuses an SQLite file that is not a Kensa project', () => {
    const file = path.join(dir, 'other.sqlite');
    const raw = new Database(file);
    raw.exec('CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)');
    raw.close();
    const e = openError(file);
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/not a Kensa project/);
  });

  it('opens read-only: reads work, writes fail with a KensaError, a missing file is NOT_FOUND', () => {
    const { db, file } = newProject(dir);
    seedImages(db, 2);
    closeProjectDb(db);
    const ro = openProjectDb(file, { readonly: true });
    expect(listImages(ro)).toHaveLength(2);
    expect(() => seedImages(ro, 1, 'inspect', 'more')).toThrow(KensaError);
    closeProjectDb(ro);
    expect(openError(path.join(dir, 'missing.kensa'), { readonly: true }).code).toBe('NOT_FOUND');
  });

  it('read-only refuses a database that still needs migrating', () => {
    const file = path.join(dir, 'empty.kensa');
    new Database(file).close();
    expect(openError(file, { readonly: true }).code).toBe('STORE_VERSION');
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

  it('waits for another writer and gives STORE_BUSY when it holds the lock too long', () => {
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
