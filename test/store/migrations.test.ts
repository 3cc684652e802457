/**
 * Schema migrations (src-main/store/migrations): one test per migration, each opening a
 * database FILE at version N−1 (migrations applied by hand up to there), inserting
 * representative rows, migrating to N and checking the schema and that the rows survived;
 * plus the runner's own rules (versions 1..N in order, every migration has a test here, a
 * failing migration leaves the file at its old version).
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LATEST_VERSION, MIGRATIONS, runMigrations, userVersion, type Migration } from '../../src-main/store/index';
import { sha, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

type Raw = Database.Database;

interface MigrationCase {
  /** Rows to insert at version N−1. */
  before(db: Raw): void;
  /** Checks at version N: the new schema, and that the `before` rows are still there. */
  after(db: Raw): void;
}

function tables(db: Raw): Map<string, { strict: number }> {
  const rows = db.prepare(`SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'`).all() as {
    name: string;
    strict: number;
  }[];
  return new Map(rows.map((r) => [r.name, { strict: r.strict }]));
}

function names(db: Raw, type: 'index' | 'trigger'): string[] {
  return (db.prepare(`SELECT name FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all(type) as string[]);
}

const H = sha('x');

/** One entry per migration version. Adding a migration without adding its case fails below. */
const CASES: Record<number, MigrationCase> = {
  1: {
    before() {
      // version 0 is an empty file: nothing to carry over.
    },
    after(db) {
      const t = tables(db);
      expect([...t.keys()].sort()).toEqual(['audit_events', 'images', 'import_errors', 'models', 'project', 'reviewers', 'scores', 'thresholds', 'verdicts']);
      for (const [name, { strict }] of t) expect(strict, `${name} is STRICT`).toBe(1);
      expect(names(db, 'trigger')).toEqual([
        'audit_events_chain',
        'audit_events_no_delete',
        'audit_events_no_update',
        'models_frozen',
        'models_no_delete',
        'thresholds_no_delete',
        'thresholds_no_update',
        'verdicts_no_delete',
        'verdicts_no_update',
      ]);
      expect(names(db, 'index')).toEqual(
        expect.arrayContaining(['images_role', 'images_batch', 'scores_model', 'verdicts_image', 'thresholds_model', 'audit_events_entity', 'audit_events_kind']),
      );
      expect(db.pragma('application_id', { simple: true })).toBe(0x4b454e53);

      // representative rows go in and read back
      db.prepare(`INSERT INTO project VALUES (1, 'P', 't', '{"autoRefitAfter":null}', NULL)`).run();
      db.prepare(`INSERT INTO images VALUES (1, 'a.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H);
      db.prepare(`INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by) VALUES (1, 'fit', 'bb', ?, '{}', 'building', 't', 'alice')`).run(H);
      db.prepare(`INSERT INTO scores VALUES (1, 1, 2.5, 3.5, NULL, 't')`).run();
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'good', 'alice', 't')`).run();
      db.prepare(`INSERT INTO thresholds (model_version, value, set_by, reason, created_at) VALUES (1, 2.0, 'alice', 'first', 't')`).run();
      expect(db.prepare('SELECT score FROM scores').pluck().get()).toBe(2.5);

      // STRICT types and CHECK constraints hold
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', ?, 'ten', 4, 4, 'png', 'inspect', 't', 'b')`).run(sha('b'))).toThrow(/cannot store TEXT value in INTEGER/);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', ?, 10, 4, 4, 'png', 'test', 't', 'b')`).run(sha('b'))).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', 'not-a-sha', 10, 4, 4, 'png', 'inspect', 't', 'b')`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'a2.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H)).toThrow(/UNIQUE/);
      expect(() => db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'maybe', 'alice', 't')`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO verdicts (image_id, action, verdict, defect_type, reviewer, created_at) VALUES (1, 'set', 'good', 'scratch', 'alice', 't')`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO thresholds (value, set_by, reason, created_at) VALUES (1.0, 'alice', '   ', 't')`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO project VALUES (2, 'Q', 't', '{}', NULL)`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by) VALUES (2, 'refit', 'bb', ?, '{}', 'building', 't', 'alice')`).run(H)).toThrow(/CHECK/);
      // append-only
      expect(() => db.prepare(`UPDATE verdicts SET verdict = 'defect'`).run()).toThrow(/append-only/);
      expect(() => db.prepare(`DELETE FROM thresholds`).run()).toThrow(/append-only/);
    },
  },
};

/** A database FILE at version `v` (migrations applied by hand), foreign keys on as Kensa runs it. */
function fileAt(v: number): { db: Raw; file: string } {
  const file = path.join(dir, `at-${v}.kensa`);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  runMigrations(db, v);
  db.pragma('foreign_keys = ON');
  expect(userVersion(db)).toBe(v);
  return { db, file };
}

describe('migration list', () => {
  it('numbers migrations 1..N in order, with names', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_VERSION).toBe(MIGRATIONS.length);
    for (const m of MIGRATIONS) expect(m.name).toMatch(/^[a-z0-9-]+$/);
  });

  it('has a test case for every migration', () => {
    expect(Object.keys(CASES).map(Number)).toEqual(MIGRATIONS.map((m) => m.version));
  });
});

describe.each(MIGRATIONS.map((m) => [m.version, m.name, m] as const))('migration %i (%s)', (version, _name, migration: Migration) => {
  it('migrates a database at the previous version, keeping its rows', () => {
    const c = CASES[version];
    const { db, file } = fileAt(version - 1);
    c.before(db);
    db.close();
    // reopen the file (as a new session would) and apply this one migration
    const again = new Database(file);
    expect(runMigrations(again, version)).toBe(migration.version);
    again.pragma('foreign_keys = ON');
    c.after(again);
    expect(again.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(again.pragma('foreign_key_check')).toEqual([]);
    again.close();
  });
});

describe('runner', () => {
  it('applies nothing to an up-to-date database', () => {
    const { db } = fileAt(LATEST_VERSION);
    const schema = db.prepare('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all();
    expect(runMigrations(db)).toBe(LATEST_VERSION);
    expect(db.prepare('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all()).toEqual(schema);
    db.close();
  });

  it('a migration that fails leaves the file at the previous version with none of its changes', () => {
    const { db } = fileAt(LATEST_VERSION);
    const broken: Migration = {
      version: LATEST_VERSION + 1,
      name: 'broken',
      up(d) {
        d.exec('CREATE TABLE half_done (x INTEGER) STRICT');
        throw new Error('boom');
      },
    };
    expect(() => runMigrations(db, LATEST_VERSION + 1, [...MIGRATIONS, broken])).toThrow(/boom/);
    expect(userVersion(db)).toBe(LATEST_VERSION);
    expect(tables(db).has('half_done')).toBe(false);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1); // restored
    db.close();
  });

  it('refuses to migrate to a version it does not know', () => {
    const { db } = fileAt(0);
    expect(() => runMigrations(db, LATEST_VERSION + 1)).toThrow(/no migration/);
    db.close();
  });
});
