/**
 * Migration 3: model versions that learn from the review, and the trace of what they learned.
 *
 *   kind 'learn'   a version made from a parent by training a head on the reviewed parts
 *                  (engine/review): it has a parent, and is NOT made active when it completes:
 *                  a person previews what it changes and accepts it (an audited activation)
 *   verdict_ids    TEXT NULL, JSON array: the verdict rows (ids) a refit or learning step learned
 *                  from, so an auditor can trace any score back to the reviews that shaped it;
 *                  NULL on rows made before migration 3 (their audited payload lacks the column)
 *
 * The CHECKs that tie kind, parent and added images change, so the table is rebuilt as in
 * migration 2 (create, copy, drop, rename; triggers and index recreated).
 */
import type { Migration } from './index';
import { JSON_ARRAY_PG } from './pg';

const SHA256_CHECK = (col: string) => `length(${col}) = 64 AND ${col} NOT GLOB '*[^0-9a-f]*'`;

export const migration0003: Migration = {
  version: 3,
  name: 'learning',
  up(db) {
    db.exec(`
      CREATE TABLE models_v3 (
        version         INTEGER PRIMARY KEY CHECK (version > 0),
        parent_version  INTEGER NULL REFERENCES models(version),
        kind            TEXT NOT NULL CHECK (kind IN ('fit', 'refit', 'learn')),
        backbone_id     TEXT NOT NULL,
        backbone_sha256 TEXT NOT NULL CHECK (${SHA256_CHECK('backbone_sha256')}),
        config          TEXT NOT NULL CHECK (json_valid(config)),
        model_file      TEXT NULL,
        model_sha256    TEXT NULL CHECK (model_sha256 IS NULL OR (${SHA256_CHECK('model_sha256')})),
        bank_size       INTEGER NULL CHECK (bank_size IS NULL OR bank_size > 0),
        fit_seconds     REAL NULL CHECK (fit_seconds IS NULL OR fit_seconds >= 0),
        ep              TEXT NULL,
        status          TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
        failure         TEXT NULL,
        created_at      TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        added_image_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(added_image_ids) AND json_type(added_image_ids) = 'array'),
        detector        TEXT NULL CHECK (detector IS NULL OR detector IN ('patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion')),
        facts           TEXT NULL CHECK (facts IS NULL OR (json_valid(facts) AND json_type(facts) = 'object')),
        verdict_ids     TEXT NULL CHECK (verdict_ids IS NULL OR (json_valid(verdict_ids) AND json_type(verdict_ids) = 'array')),
        CHECK ((kind IN ('refit', 'learn')) = (parent_version IS NOT NULL)),
        CHECK (kind IN ('refit', 'learn') OR added_image_ids = '[]'),
        CHECK (kind IN ('refit', 'learn') OR verdict_ids IS NULL),
        CHECK (status <> 'ready' OR (model_file IS NOT NULL AND model_sha256 IS NOT NULL)),
        CHECK (status <> 'ready' OR detector IS NOT NULL OR bank_size IS NOT NULL),
        CHECK ((status = 'failed') = (failure IS NOT NULL))
      ) STRICT;
      INSERT INTO models_v3 (version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size,
                             fit_seconds, ep, status, failure, created_at, created_by, added_image_ids, detector, facts)
        SELECT version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size,
               fit_seconds, ep, status, failure, created_at, created_by, added_image_ids, detector, facts FROM models;
      DROP TABLE models;
      ALTER TABLE models_v3 RENAME TO models;
      CREATE INDEX models_parent ON models (parent_version);
      CREATE TRIGGER models_no_delete BEFORE DELETE ON models
        BEGIN SELECT RAISE(ABORT, 'models are never deleted: roll back to another version instead'); END;
      CREATE TRIGGER models_frozen BEFORE UPDATE ON models WHEN OLD.status <> 'building'
        BEGIN SELECT RAISE(ABORT, 'a ready or failed model can no longer change'); END;
    `);
  },
  upPostgres(db) {
    db.exec(`
      ALTER TABLE models
        ADD COLUMN verdict_ids TEXT NULL CHECK (verdict_ids IS NULL OR ${JSON_ARRAY_PG('verdict_ids')}),
        DROP CONSTRAINT models_kind,
        ADD CONSTRAINT models_kind CHECK (kind IN ('fit', 'refit', 'learn')),
        DROP CONSTRAINT models_parent_kind,
        ADD CONSTRAINT models_parent_kind CHECK ((kind IN ('refit', 'learn')) = (parent_version IS NOT NULL)),
        DROP CONSTRAINT models_added_kind,
        ADD CONSTRAINT models_added_kind CHECK (kind IN ('refit', 'learn') OR added_image_ids = '[]'),
        ADD CONSTRAINT models_verdicts_kind CHECK (kind IN ('refit', 'learn') OR verdict_ids IS NULL);
    `);
  },
};
