/**
 * Schema migrations (src-main/store/migrations): one test per migration, each opening a
 * database at version N−1 (migrations applied by hand up to there), inserting
 * representative rows, migrating to N and checking the schema and that the rows survived;
 * plus the runner's own rules (versions 1..N in order, every migration has a test here, a
 * failing migration leaves the database at its old version).
 *
 * The same cases run on whichever engine this run tests: an SQLite FILE (`up`), or a fresh
 * PostgreSQL schema (`upPostgres`). What only SQLite has (STRICT tables, PRAGMA
 * application_id, EXPLAIN QUERY PLAN's text, integrity_check / foreign_key_check) is checked
 * there; PostgreSQL's counterparts are its catalogue (pg_tables, pg_indexes, pg_trigger),
 * kensa_meta's application id 'KENS', its type errors, and amcheck.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appendAudit,
  initProject,
  LATEST_VERSION,
  MIGRATIONS,
  runMigrations,
  userVersion,
  verifyAudit,
  type Db,
  type Migration,
} from '../../src-main/store/index';
import { asPg } from '../../src-main/store/dialect';
import { mapModel, type ModelRow } from '../../src-main/store/models';
import { ERR, IS_PG, integrityCheck, rawDb, rawReopen, sha, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** A raw connection: better-sqlite3's Database, or a PgDb with its surface. */
type Raw = Db;

interface MigrationCase {
  /** Rows to insert at version N−1. */
  before(db: Raw): void;
  /** Checks at version N: the new schema, and that the `before` rows are still there. */
  after(db: Raw): void;
}

/** The project's tables (PostgreSQL: without kensa_meta, where SQLite keeps PRAGMA user_version), with SQLite's STRICT flag. */
function tables(db: Raw): Map<string, { strict: number | null }> {
  const pg = asPg(db);
  if (pg) {
    const rows = db.prepare(`SELECT tablename FROM pg_tables WHERE schemaname = ? AND tablename <> 'kensa_meta'`).pluck().all(pg.schema) as string[];
    return new Map(rows.map((r) => [r, { strict: null }]));
  }
  const rows = db.prepare(`SELECT name, strict FROM pragma_table_list WHERE schema = 'main' AND name NOT LIKE 'sqlite_%'`).all() as {
    name: string;
    strict: number;
  }[];
  return new Map(rows.map((r) => [r.name, { strict: r.strict }]));
}

/** SQLite: the table exists and is STRICT. PostgreSQL (typed columns by nature): it exists. */
function expectStrict(db: Raw, table: string): void {
  const t = tables(db).get(table);
  expect(t, `${table} exists`).toBeDefined();
  if (!IS_PG) expect(t, `${table} is STRICT`).toEqual({ strict: 1 });
}

/** Index, trigger or table names, sorted (PostgreSQL: from its catalogue, in the project's schema; user triggers only). */
function names(db: Raw, type: 'index' | 'trigger' | 'table'): string[] {
  const pg = asPg(db);
  if (pg) {
    const sql = {
      table: `SELECT tablename FROM pg_tables WHERE schemaname = ?`,
      index: `SELECT indexname FROM pg_indexes WHERE schemaname = ?`,
      trigger: `SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND NOT t.tgisinternal`,
    }[type];
    return (db.prepare(sql).pluck().all(pg.schema) as string[]).sort();
  }
  return (db.prepare(`SELECT name FROM sqlite_schema WHERE type = ? AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all(type) as string[]);
}

/** The whole schema as text, to compare before and after (PostgreSQL: columns, constraints, indexes, triggers, functions, kensa_meta). */
function schemaText(db: Raw): string[] {
  if (!IS_PG) return db.prepare('SELECT sql FROM sqlite_schema ORDER BY name').pluck().all() as string[];
  return db
    .prepare(
      `SELECT x FROM (
         SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS x
           FROM information_schema.columns WHERE table_schema = current_schema()
         UNION ALL SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = current_schema()::regnamespace
         UNION ALL SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
         UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal
         UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace
         UNION ALL SELECT 'meta ' || key || '=' || value FROM kensa_meta
       ) s ORDER BY x`,
    )
    .pluck()
    .all() as string[];
}

/** PostgreSQL's counterpart of STRICT refusing text in an INTEGER column. */
const NOT_AN_INTEGER = IS_PG ? /invalid input syntax for type bigint/ : /cannot store TEXT value in INTEGER/;

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
      for (const name of t.keys()) expectStrict(db, name);
      const guards = [
        'audit_events_chain',
        'audit_events_no_delete',
        'audit_events_no_update',
        'models_frozen',
        'models_no_delete',
        'thresholds_no_delete',
        'thresholds_no_update',
        'verdicts_no_delete',
        'verdicts_no_update',
      ];
      // PostgreSQL: a BEFORE TRUNCATE statement trigger beside each *_no_delete (TRUNCATE skips row triggers)
      const truncateGuards = IS_PG ? ['audit_events_no_truncate', 'models_no_truncate', 'thresholds_no_truncate', 'verdicts_no_truncate'] : [];
      expect(names(db, 'trigger')).toEqual([...guards, ...truncateGuards].sort());
      expect(names(db, 'index')).toEqual(
        expect.arrayContaining(['images_role', 'images_batch', 'scores_model', 'verdicts_image', 'thresholds_model', 'audit_events_entity', 'audit_events_kind']),
      );
      if (IS_PG) expect(db.prepare(`SELECT value FROM kensa_meta WHERE key = 'application_id'`).pluck().get()).toBe('KENS');
      else expect(db.pragma('application_id', { simple: true })).toBe(0x4b454e53);

      // representative rows go in and read back
      db.prepare(`INSERT INTO project VALUES (1, 'P', 't', '{"autoRefitAfter":null}', NULL)`).run();
      db.prepare(`INSERT INTO images VALUES (1, 'a.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H);
      db.prepare(`INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by) VALUES (1, 'fit', 'bb', ?, '{}', 'building', 't', 'alice')`).run(H);
      db.prepare(`INSERT INTO scores VALUES (1, 1, 2.5, 3.5, NULL, 't')`).run();
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'good', 'alice', 't')`).run();
      db.prepare(`INSERT INTO thresholds (model_version, value, set_by, reason, created_at) VALUES (1, 2.0, 'alice', 'first', 't')`).run();
      expect(db.prepare('SELECT score FROM scores').pluck().get()).toBe(2.5);

      // STRICT types (PostgreSQL: its column types) and CHECK constraints hold
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', ?, 'ten', 4, 4, 'png', 'inspect', 't', 'b')`).run(sha('b'))).toThrow(NOT_AN_INTEGER);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', ?, 10, 4, 4, 'png', 'test', 't', 'b')`).run(sha('b'))).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'b.png', 'not-a-sha', 10, 4, 4, 'png', 'inspect', 't', 'b')`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO images VALUES (2, 'a2.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(H)).toThrow(ERR.unique);
      expect(() => db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'maybe', 'alice', 't')`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO verdicts (image_id, action, verdict, defect_type, reviewer, created_at) VALUES (1, 'set', 'good', 'scratch', 'alice', 't')`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO thresholds (value, set_by, reason, created_at) VALUES (1.0, 'alice', '   ', 't')`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO project VALUES (2, 'Q', 't', '{}', NULL)`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by) VALUES (2, 'refit', 'bb', ?, '{}', 'building', 't', 'alice')`).run(H)).toThrow(ERR.check);
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
      expectStrict(db, 'models');
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
      expect(() => insert(4, {})).toThrow(ERR.check);
      insert(4, { status: 'building' }); // building rows need neither
      // Detector ids, facts, the bank size and the parent are checked.
      expect(() => insert(5, { detector: 'efficientad' })).toThrow(ERR.check);
      expect(() => insert(5, { detector: 'padim', facts: '[1]' })).toThrow(ERR.check);
      expect(() => insert(5, { detector: 'padim', facts: 'not json' })).toThrow(ERR.check);
      expect(() => insert(5, { detector: 'patchcore', bank_size: 0 })).toThrow(ERR.check);
      expect(() => insert(5, { detector: 'padim', parent: 99 })).toThrow(ERR.foreignKey);
      insert(5, { detector: 'patchcore', bank_size: 10, parent: 1 });
      expect(() => db.prepare(`INSERT INTO scores VALUES (1, 42, 1.0, 1.0, NULL, 't')`).run()).toThrow(ERR.foreignKey);
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
      expectStrict(db, 'models');
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
      expect(() => insert(4, 'learn', null, '[]')).toThrow(ERR.check); // a learning step needs its parent
      expect(() => insert(4, 'fit', null, '[1]')).toThrow(ERR.check); // a fit learns from no verdicts
      expect(() => insert(4, 'refit', 1, '{"a":1}')).toThrow(ERR.check); // verdict ids are a JSON array
      expect(() => insert(4, 'teach', 1, null)).toThrow(ERR.check);
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
      const definition = IS_PG
        ? db.prepare(`SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = ?`).pluck().get('scores_rank')
        : db.prepare('SELECT sql FROM sqlite_schema WHERE name = ?').pluck().get('scores_rank');
      expect(definition).toMatch(/\(model_version, score DESC, image_id\)/);
      // The rows are still there, and a keyset page walks the index (no sort of the whole queue).
      const page = `SELECT image_id FROM scores WHERE model_version = 1 AND (score < ? OR (score = ? AND image_id > ?)) ORDER BY score DESC, image_id LIMIT 10`;
      expect(db.prepare(page).pluck().all(2.5, 2.5, 2)).toEqual([3, 1]);
      if (IS_PG) {
        // On 3 rows PostgreSQL's planner rightly prefers a scan and a sort; with scans that
        // cannot give the order ruled out, the index serves the page in order without a Sort.
        const plan = db.transaction(() => {
          db.exec('SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off');
          return (db.prepare(`EXPLAIN ${page}`).pluck().all(2.5, 2.5, 2) as string[]).join('; ');
        })();
        expect(plan).toMatch(/Index (Only )?Scan using scores_rank/);
        expect(plan).not.toMatch(/Sort/);
      } else {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${page}`).all(2.5, 2.5, 2) as { detail: string }[]).map((r) => r.detail).join('; ');
        expect(plan).toMatch(/scores_rank/);
        expect(plan).not.toMatch(/TEMP B-TREE/);
      }
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
      expect(() => db.prepare(`UPDATE scores SET map_kept = 'half' WHERE image_id = 1`).run()).toThrow(ERR.check);
      // A verdict on a part that did not come from the line adds nothing to the outbox ...
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'defect', 'bob', 't2')`).run();
      expect(db.prepare('SELECT count(*) FROM line_outbox').pluck().get()).toBe(0);
      // ... a verdict on a line part with a result does, in the same statement's transaction.
      db.prepare(`INSERT INTO line_parts (image_id, source, file, complete_at, claimed_at, scored_at, model_version) VALUES (2, '/in', 'a.png', 1, 2, 3, 1)`).run();
      db.prepare(`INSERT INTO scores VALUES (2, 1, 0.7, 1, NULL, 't', NULL, 'full')`).run();
      const v = db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (2, 'set', 'defect', 'bob', 't3') RETURNING id`).pluck().get();
      expect(db.prepare('SELECT image_id, event, verdict_id, at FROM line_outbox').all()).toEqual([{ image_id: 2, event: 'verdict', verdict_id: v, at: 't3' }]);
      expect(() => db.prepare(`INSERT INTO line_cursors VALUES ('fax', 0, 't')`).run()).toThrow(ERR.check);
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
      expect(() => db.prepare(`INSERT INTO confirmations (verdict_id, image_id, confirmed_by, created_at) VALUES (1, 1, 'carol', 't')`).run()).toThrow(ERR.unique);
      expect(() => db.prepare(`UPDATE confirmations SET confirmed_by = 'x'`).run()).toThrow(/append-only/);
      expect(() => db.prepare(`INSERT INTO accounts (name, printed_name, role, password_hash, public_key, private_key_enc, created_at, created_by) VALUES ('a', 'A', 'boss', 'scrypt$x', 'k', '{}', 't', 't')`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO accounts (name, printed_name, role, password_hash, public_key, private_key_enc, created_at, created_by) VALUES ('a', 'A', 'reviewer', 'plain', 'k', '{}', 't', 't')`).run()).toThrow(ERR.check);
    },
  },
  7: {
    before(db) {
      initProject(db, 'Line 7', 'alice');
      db.prepare(`INSERT INTO images VALUES (1, 'p1.png', ?, 10, 4, 4, 'png', 'inspect', 't', 'b')`).run(sha('img1'));
      db.prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (1, 'set', 'good', 'alice', 't')`).run();
    },
    after(db) {
      for (const t of ['claims', 'station_locks', 'project_files']) {
        expect(names(db, 'table')).toContain(t);
        expectStrict(db, t);
      }
      for (const t of ['project_files_no_update', 'project_files_no_delete']) expect(names(db, 'trigger')).toContain(t);
      if (IS_PG) {
        // the change feed: a NOTIFY trigger on every table a station shows
        for (const t of ['verdicts_notify', 'claims_notify', 'thresholds_notify', 'models_notify', 'project_notify', 'station_locks_notify', 'confirmations_notify']) {
          expect(names(db, 'trigger')).toContain(t);
        }
      }
      // Where the files live, recorded once: beside kensa.db (SQLite) or a shared folder (PostgreSQL).
      const f = db.prepare('SELECT location, folder_uid FROM project_files').get() as { location: string; folder_uid: string };
      expect(f.location).toBe(IS_PG ? 'shared-folder' : 'project-folder');
      expect(f.folder_uid).toMatch(/^[0-9a-f]{32}$/);
      expect(() => db.prepare(`UPDATE project_files SET location = 'shared-folder'`).run()).toThrow(/recorded once/);
      expect(() => db.prepare(`INSERT INTO project_files VALUES (2, 'shared-folder', ?, 't')`).run('a'.repeat(32))).toThrow(ERR.check);
      // The old rows are there; a claim refers to a part, one per part; locks have known names.
      expect(db.prepare('SELECT count(*) FROM verdicts').pluck().get()).toBe(1);
      db.prepare(`INSERT INTO claims VALUES (1, 'station-1', 'alice', 1000, 2000)`).run();
      expect(() => db.prepare(`INSERT INTO claims VALUES (1, 'station-2', 'bob', 1000, 2000)`).run()).toThrow(ERR.unique);
      expect(() => db.prepare(`INSERT INTO claims VALUES (99, 'station-2', 'bob', 1000, 2000)`).run()).toThrow(ERR.foreignKey);
      expect(() => db.prepare(`INSERT INTO claims VALUES (1, 'station-2', 'bob', 2000, 1000)`).run()).toThrow(ERR.check);
      expect(() => db.prepare(`INSERT INTO station_locks VALUES ('everything', 's', 'alice', 'x', 1, 2)`).run()).toThrow(ERR.check);
      db.prepare(`INSERT INTO station_locks VALUES ('refit', 's', 'alice', 'refit of v1', 1, 2)`).run();
      // claims and locks are coordination, not records: they may be deleted
      expect(db.prepare('DELETE FROM claims').run().changes).toBe(1);
      expect(db.prepare('DELETE FROM station_locks').run().changes).toBe(1);
    },
  },
};

/**
 * A database at version `v` (migrations applied by hand): an SQLite FILE with foreign keys
 * on as Kensa runs it, or a new PostgreSQL schema. `file` is its locator.
 */
function fileAt(v: number): { db: Raw; file: string } {
  const { db, locator: file } = rawDb(dir, `at-${v}.kensa`);
  if (!IS_PG) db.pragma('journal_mode = WAL');
  runMigrations(db, v);
  if (!IS_PG) db.pragma('foreign_keys = ON');
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
    // reopen the database (as a new session would) and apply this one migration
    const again = rawReopen(file);
    expect(runMigrations(again, version)).toBe(migration.version);
    if (!IS_PG) again.pragma('foreign_keys = ON');
    c.after(again);
    expect(userVersion(again)).toBe(migration.version);
    expect(integrityCheck(again)).toBe('ok');
    if (!IS_PG) expect(again.pragma('foreign_key_check')).toEqual([]); // PostgreSQL enforces foreign keys at every statement
    again.close();
  });
});

describe('runner', () => {
  it('applies nothing to an up-to-date database', () => {
    const { db } = fileAt(LATEST_VERSION);
    const schema = schemaText(db);
    expect(schema.length).toBeGreaterThan(20);
    expect(runMigrations(db)).toBe(LATEST_VERSION);
    expect(schemaText(db)).toEqual(schema);
    db.close();
  });

  it('a migration that fails leaves the file at the previous version with none of its changes', () => {
    const { db, file } = fileAt(LATEST_VERSION);
    const schema = schemaText(db);
    const broken: Migration = {
      version: LATEST_VERSION + 1,
      name: 'broken',
      up(d) {
        d.exec('CREATE TABLE half_done (x INTEGER) STRICT');
        d.exec('DROP TRIGGER verdicts_no_update');
        throw new Error('boom');
      },
      upPostgres(d) {
        // DDL is transactional in PostgreSQL: all of this is rolled back with the migration
        d.exec('CREATE TABLE half_done (x BIGINT); DROP TRIGGER verdicts_no_update ON verdicts');
        throw new Error('boom');
      },
    };
    expect(() => runMigrations(db, LATEST_VERSION + 1, [...MIGRATIONS, broken])).toThrow(/boom/);
    expect(userVersion(db)).toBe(LATEST_VERSION);
    expect(tables(db).has('half_done')).toBe(false);
    expect(names(db, 'trigger')).toContain('verdicts_no_update');
    expect(schemaText(db)).toEqual(schema);
    if (!IS_PG) expect(db.pragma('foreign_keys', { simple: true })).toBe(1); // restored
    db.close();
    // as another session sees it
    const again = rawReopen(file);
    expect(userVersion(again)).toBe(LATEST_VERSION);
    expect(tables(again).has('half_done')).toBe(false);
    again.close();
  });

  it('refuses to migrate to a version it does not know', () => {
    const { db } = fileAt(0);
    expect(() => runMigrations(db, LATEST_VERSION + 1)).toThrow(/no migration/);
    db.close();
  });
});
