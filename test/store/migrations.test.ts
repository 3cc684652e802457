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
import {
  appendAudit,
  initProject,
  LATEST_VERSION,
  MIGRATIONS,
  runMigrations,
  userVersion,
  verifyAudit,
  type Migration,
} from '../../src-main/store/index';
import { mapModel, type ModelRow } from '../../src-main/store/models';
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

function names(db: Raw, type: 'index' | 'trigger' | 'table'): string[] {
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
  2: {
    before(db) {
      // A version-1 project as Kensa 0.1 left it: a ready PatchCore model with its bank size,
      // made active and audited with the row as it was (no detector, no facts), a refit of it
      // still building, and rows in the tables that reference models.
      initProject(db, 'Line 3', 'alice');
      db.transaction(() => {
        db.prepare(
          `INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size, fit_seconds, ep, status, created_at, created_by)
           VALUES (1, 'fit', 'mobilenetv2', ?, '{"coreset":{"ratio":0.1}}', 'models/v0001.kensa', ?, 1234, 2.5, 'cpu', 'ready', 't1', 'alice')`,
        ).run(H, sha('m1'));
        db.prepare('UPDATE project SET active_model_version = 1 WHERE id = 1').run();
        appendAudit(db, { actor: 'alice', kind: 'fit', entity: 'model', entityId: 1, payload: db.prepare('SELECT * FROM models WHERE version = 1').get() });
      })();
      db.prepare(`INSERT INTO images VALUES (1, 'a.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H);
      db.prepare(
        `INSERT INTO models (version, parent_version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by, added_image_ids) VALUES (2, 1, 'refit', 'mobilenetv2', ?, '{}', 'building', 't2', 'alice', '[1]')`,
      ).run(H);
      db.prepare(`INSERT INTO scores VALUES (1, 1, 2.5, 3.5, NULL, 't')`).run();
      db.transaction(() => {
        db.prepare(`INSERT INTO thresholds (model_version, value, set_by, reason, created_at) VALUES (1, 2.0, 'alice', 'first', 't')`).run();
        appendAudit(db, { actor: 'alice', kind: 'threshold', entity: 'threshold', entityId: 1, payload: db.prepare('SELECT * FROM thresholds WHERE id = 1').get() });
      })();
      expect(verifyAudit(db).problems).toEqual([]);
    },
    after(db) {
      // The old rows are all there, unchanged; the new columns are NULL on them.
      const row = db.prepare('SELECT * FROM models WHERE version = 1').get() as ModelRow;
      expect(row).toMatchObject({ version: 1, kind: 'fit', status: 'ready', bank_size: 1234, model_sha256: sha('m1'), fit_seconds: 2.5, ep: 'cpu', detector: null, facts: null });
      const m = mapModel(row);
      expect(m.detector).toBe('patchcore');
      expect(m.facts).toEqual({ bankSize: { label: 'Memory bank', value: 1234, unit: 'patches' } });
      const building = mapModel(db.prepare('SELECT * FROM models WHERE version = 2').get() as ModelRow);
      expect(building).toMatchObject({ status: 'building', kind: 'refit', parentVersion: 1, addedImageIds: [1], detector: 'patchcore', facts: {} });
      expect(db.prepare('SELECT active_model_version FROM project').pluck().get()).toBe(1);
      expect(db.prepare('SELECT count(*) FROM scores WHERE model_version = 1').pluck().get()).toBe(1);
      expect(db.prepare('SELECT count(*) FROM thresholds WHERE model_version = 1').pluck().get()).toBe(1);
      // The audit chain still verifies: the event recorded the row without the new columns,
      // which are NULL on it.
      const v = verifyAudit(db);
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);

      // The rebuilt table: STRICT, with its index, triggers and constraints.
      expect(tables(db).get('models')).toEqual({ strict: 1 });
      expect(tables(db).has('models_v2')).toBe(false);
      expect(names(db, 'index')).toContain('models_parent');
      expect(names(db, 'trigger')).toEqual(expect.arrayContaining(['models_frozen', 'models_no_delete']));
      expect(() => db.prepare('UPDATE models SET bank_size = 1 WHERE version = 1').run()).toThrow(/can no longer change/);
      expect(() => db.prepare('DELETE FROM models WHERE version = 1').run()).toThrow(/never deleted/);
      expect(() => db.prepare('DELETE FROM models WHERE version = 2').run()).toThrow(/never deleted/);

      const insert = (version: number, cols: { detector?: string | null; bank_size?: number | null; facts?: string | null; status?: string; parent?: number | null }) =>
        db
          .prepare(
            `INSERT INTO models (version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size, detector, facts, status, created_at, created_by)
             VALUES (?, ?, ?, 'bb', ?, '{}', 'models/x.kensa', ?, ?, ?, ?, ?, 't', 'alice')`,
          )
          .run(version, cols.parent ?? null, cols.parent ? 'refit' : 'fit', H, H, cols.bank_size ?? null, cols.detector ?? null, cols.facts ?? null, cols.status ?? 'ready');
      // A ready row needs a detector or a bank size: PaDiM has no bank.
      insert(3, { detector: 'padim', facts: '{"channels":{"label":"Channels","value":100}}' });
      expect(mapModel(db.prepare('SELECT * FROM models WHERE version = 3').get() as ModelRow)).toMatchObject({ detector: 'padim', facts: { channels: { value: 100 } } });
      expect(() => insert(4, {})).toThrow(/CHECK/);
      insert(4, { status: 'building' }); // building rows need neither
      // Detector ids, facts, the bank size and the parent are checked.
      expect(() => insert(5, { detector: 'efficientad' })).toThrow(/CHECK/);
      expect(() => insert(5, { detector: 'padim', facts: '[1]' })).toThrow(/CHECK/);
      expect(() => insert(5, { detector: 'padim', facts: 'not json' })).toThrow(/CHECK/);
      expect(() => insert(5, { detector: 'patchcore', bank_size: 0 })).toThrow(/CHECK/);
      expect(() => insert(5, { detector: 'padim', parent: 99 })).toThrow(/FOREIGN KEY/);
      insert(5, { detector: 'patchcore', bank_size: 10, parent: 1 });
      expect(() => db.prepare(`INSERT INTO scores VALUES (1, 42, 1.0, 1.0, NULL, 't')`).run()).toThrow(/FOREIGN KEY/);
    },
  },
  3: {
    before(db) {
      // A version-2 project: a ready PaDiM fit (audited, active), a PatchCore refit of a PatchCore
      // fit (audited), an image with a verdict.
      initProject(db, 'Line 4', 'alice');
      db.prepare(`INSERT INTO images VALUES (1, 'a.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H);
      db.transaction(() => {
        db.prepare(
          `INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, fit_seconds, ep, status, created_at, created_by, detector, facts)
           VALUES (1, 'fit', 'mobilenetv2', ?, '{}', 'models/v0001.kensa', ?, 2.5, 'cpu', 'ready', 't1', 'alice', 'padim', '{"channels":{"label":"Channels","value":100}}')`,
        ).run(H, sha('m1'));
        db.prepare('UPDATE project SET active_model_version = 1 WHERE id = 1').run();
        appendAudit(db, { actor: 'alice', kind: 'fit', entity: 'model', entityId: 1, payload: db.prepare('SELECT * FROM models WHERE version = 1').get() });
      })();
      db.transaction(() => {
        db.prepare(
          `INSERT INTO models (version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size, fit_seconds, ep, status, created_at, created_by, added_image_ids, detector, facts)
           VALUES (2, NULL, 'fit', 'mobilenetv2', ?, '{}', 'models/v0002.kensa', ?, 99, 1, 'cpu', 'ready', 't2', 'alice', '[]', 'patchcore', '{}')`,
        ).run(H, sha('m2'));
        db.prepare('UPDATE project SET active_model_version = 2 WHERE id = 1').run();
        appendAudit(db, { actor: 'alice', kind: 'fit', entity: 'model', entityId: 2, payload: db.prepare('SELECT * FROM models WHERE version = 2').get() });
      })();
      expect(verifyAudit(db).problems).toEqual([]);
    },
    after(db) {
      const row = db.prepare('SELECT * FROM models WHERE version = 1').get() as ModelRow;
      expect(row).toMatchObject({ detector: 'padim', verdict_ids: null });
      expect(mapModel(row)).toMatchObject({ detector: 'padim', verdictIds: [] });
      // Rows made before migration 3 were audited without verdict_ids: the chain still verifies.
      expect(verifyAudit(db).problems).toEqual([]);
      expect(tables(db).get('models')).toEqual({ strict: 1 });
      expect(tables(db).has('models_v3')).toBe(false);
      expect(names(db, 'trigger')).toEqual(expect.arrayContaining(['models_frozen', 'models_no_delete']));
      expect(() => db.prepare('UPDATE models SET ep = ? WHERE version = 1').run('cuda')).toThrow(/can no longer change/);
      const insert = (version: number, kind: string, parent: number | null, verdictIds: string | null, added = '[]') =>
        db
          .prepare(
            `INSERT INTO models (version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, detector, status, created_at, created_by, added_image_ids, verdict_ids)
             VALUES (?, ?, ?, 'bb', ?, '{}', 'models/x.kensa', ?, 'padim', 'ready', 't', 'alice', ?, ?)`,
          )
          .run(version, parent, kind, H, H, added, verdictIds);
      // A learning step: has a parent, may list the images and verdicts it learned from.
      insert(3, 'learn', 1, '[7,8]', '[1]');
      expect(mapModel(db.prepare('SELECT * FROM models WHERE version = 3').get() as ModelRow)).toMatchObject({ kind: 'learn', parentVersion: 1, verdictIds: [7, 8], addedImageIds: [1] });
      expect(() => insert(4, 'learn', null, '[]')).toThrow(/CHECK/); // a learning step needs its parent
      expect(() => insert(4, 'fit', null, '[1]')).toThrow(/CHECK/); // a fit learns from no verdicts
      expect(() => insert(4, 'refit', 1, '{"a":1}')).toThrow(/CHECK/); // verdict ids are a JSON array
      expect(() => insert(4, 'teach', 1, null)).toThrow(/CHECK/);
      insert(4, 'refit', 1, '[9]', '[1]');
    },
  },
  4: {
    before(db) {
      initProject(db, 'Line 4', 'alice');
      const img = db.prepare(`INSERT INTO images VALUES (?, ?, ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`);
      for (let i = 1; i <= 3; i++) img.run(i, `p${i}.png`, sha(`img${i}`));
      db.prepare(
        `INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, detector, status, created_at, created_by)
         VALUES (1, 'fit', 'bb', ?, '{}', 'models/v1.kensa', ?, 'padim', 'ready', 't', 'alice')`,
      ).run(H, H);
      const score = db.prepare(`INSERT INTO scores VALUES (?, 1, ?, 1, NULL, 't')`);
      score.run(1, 0.5);
      score.run(2, 2.5);
      score.run(3, 2.5);
    },
    after(db) {
      expect(names(db, 'index')).toContain('scores_rank');
      expect(db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').pluck().get('scores_rank')).toMatch(/\(model_version, score DESC, image_id\)/);
      // The rows are still there, and a keyset page walks the index (no sort of the whole queue).
      const page = `SELECT image_id FROM scores WHERE model_version = 1 AND (score < ? OR (score = ? AND image_id > ?)) ORDER BY score DESC, image_id LIMIT 10`;
      expect(db.prepare(page).pluck().all(2.5, 2.5, 2)).toEqual([3, 1]);
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${page}`).all(2.5, 2.5, 2) as { detail: string }[]).map((r) => r.detail).join('; ');
      expect(plan).toMatch(/scores_rank/);
      expect(plan).not.toMatch(/TEMP B-TREE/);
    },
  },
  5: {
    before(db) {
      initProject(db, 'Line 5', 'alice');
      const img = db.prepare(`INSERT INTO images VALUES (?, ?, ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`);
      for (let i = 1; i <= 2; i++) img.run(i, `p${i}.png`, sha(`img${i}`));
      db.prepare(
        `INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, detector, status, created_at, created_by)
         VALUES (1, 'fit', 'bb', ?, '{}', 'models/v1.kensa', ?, 'patchcore', 'ready', 't', 'alice')`,
      ).run(H, H);
      db.prepare(`INSERT INTO scores VALUES (1, 1, 0.5, 1, 'maps/v0001/1.png', 't')`).run();
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'good', 'alice', 't')`).run();
    },
    after(db) {
      for (const t of ['line_parts', 'line_outbox', 'line_cursors']) expect(names(db, 'table')).toContain(t);
      // Existing scores keep their rows: map size unknown, map kept whole.
      expect(db.prepare('SELECT map_file, map_bytes, map_kept FROM scores WHERE image_id = 1').get()).toEqual({ map_file: 'maps/v0001/1.png', map_bytes: null, map_kept: 'full' });
      expect(() => db.prepare(`UPDATE scores SET map_kept = 'half' WHERE image_id = 1`).run()).toThrow(/CHECK/);
      // A verdict on a part that did not come from the line adds nothing to the outbox ...
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'defect', 'bob', 't2')`).run();
      expect(db.prepare('SELECT count(*) FROM line_outbox').pluck().get()).toBe(0);
      // ... a verdict on a line part with a result does, in the same statement's transaction.
      db.prepare(`INSERT INTO line_parts (image_id, source, file, complete_at, claimed_at, scored_at, model_version) VALUES (2, '/in', 'a.png', 1, 2, 3, 1)`).run();
      db.prepare(`INSERT INTO scores VALUES (2, 1, 0.7, 1, NULL, 't', NULL, 'full')`).run();
      const v = db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (2, 'set', 'defect', 'bob', 't3') RETURNING id`).pluck().get();
      expect(db.prepare('SELECT image_id, event, verdict_id, at FROM line_outbox').all()).toEqual([{ image_id: 2, event: 'verdict', verdict_id: v, at: 't3' }]);
      expect(() => db.prepare(`INSERT INTO line_cursors VALUES ('fax', 0, 't')`).run()).toThrow(/CHECK/);
    },
  },
  6: {
    before(db) {
      initProject(db, 'Line 6', 'alice');
      db.prepare(`INSERT INTO images VALUES (1, 'p1.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(sha('img1'));
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'good', 'alice', 't')`).run();
    },
    after(db) {
      for (const t of ['accounts', 'signatures', 'confirmations']) expect(names(db, 'table')).toContain(t);
      for (const t of ['accounts_identity_frozen', 'accounts_no_delete', 'signatures_no_update', 'signatures_no_delete', 'confirmations_no_update', 'confirmations_no_delete']) {
        expect(names(db, 'trigger')).toContain(t);
      }
      // The verdicts are still there, and a confirmation refers to one.
      db.prepare(`INSERT INTO confirmations (verdict_id, image_id, confirmed_by, created_at) VALUES (1, 1, 'bob', 't')`).run();
      expect(() => db.prepare(`INSERT INTO confirmations (verdict_id, image_id, confirmed_by, created_at) VALUES (1, 1, 'carol', 't')`).run()).toThrow(/UNIQUE/);
      expect(() => db.prepare(`UPDATE confirmations SET confirmed_by = 'x'`).run()).toThrow(/append-only/);
      expect(() => db.prepare(`INSERT INTO accounts (name, printed_name, role, password_hash, public_key, private_key_enc, created_at, created_by) VALUES ('a', 'A', 'boss', 'scrypt$x', 'k', '{}', 't', 't')`).run()).toThrow(/CHECK/);
      expect(() => db.prepare(`INSERT INTO accounts (name, printed_name, role, password_hash, public_key, private_key_enc, created_at, created_by) VALUES ('a', 'A', 'reviewer', 'plain', 'k', '{}', 't', 't')`).run()).toThrow(/CHECK/);
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
