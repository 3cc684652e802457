/**
 * Migration 2: models carry a detector id and its facts instead of a memory-bank size.
 *
 * Before this, every model was PatchCore and a ready row had to have a `bank_size`. Now:
 *   detector  TEXT NULL   'patchcore' | 'padim' | 'student-teacher' | 'autoencoder' | 'fusion';
 *                         NULL on rows made before migration 2 (they are PatchCore)
 *   facts     TEXT NULL   the detector's facts about the fitted model (JSON object: bank size,
 *                         epochs, …); NULL on rows made before migration 2
 *   bank_size             kept for rows that have it (PatchCore), no longer required
 *
 * New columns are NULL on old rows on purpose: the audit chain recorded those rows without
 * them, and verification matches a field the payload lacks with a NULL column. SQLite cannot
 * drop a CHECK constraint, so the table is rebuilt (the documented create-copy-drop-rename
 * procedure, foreign keys off while migrating) and its triggers and index are recreated.
 */
import type { Migration } from './index';
import { JSON_OBJECT_PG } from './pg';

const SHA256_CHECK = (col: string) => `length(${col}) = 64 AND ${col} NOT GLOB '*[^0-9a-f]*'`;

export const migration0002: Migration = {
  version: 2,
  name: 'detectors',
  up(db) {
    db.exec(`
      CREATE TABLE models_v2 (
        version         INTEGER PRIMARY KEY CHECK (version > 0),
        parent_version  INTEGER NULL REFERENCES models(version),
        kind            TEXT NOT NULL CHECK (kind IN ('fit', 'refit')),
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
        CHECK ((kind = 'refit') = (parent_version IS NOT NULL)),
        CHECK (kind = 'refit' OR added_image_ids = '[]'),
        CHECK (status <> 'ready' OR (model_file IS NOT NULL AND model_sha256 IS NOT NULL)),
        CHECK (status <> 'ready' OR detector IS NOT NULL OR bank_size IS NOT NULL),
        CHECK ((status = 'failed') = (failure IS NOT NULL))
      ) STRICT;
      INSERT INTO models_v2 (version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size,
                             fit_seconds, ep, status, failure, created_at, created_by, added_image_ids)
        SELECT version, parent_version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size,
               fit_seconds, ep, status, failure, created_at, created_by, added_image_ids FROM models;
      DROP TABLE models;
      ALTER TABLE models_v2 RENAME TO models;
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
        ADD COLUMN detector TEXT NULL CHECK (detector IS NULL OR detector IN ('patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion')),
        ADD COLUMN facts TEXT NULL CHECK (facts IS NULL OR ${JSON_OBJECT_PG('facts')}),
        DROP CONSTRAINT models_ready,
        ADD CONSTRAINT models_ready CHECK (status <> 'ready' OR (model_file IS NOT NULL AND model_sha256 IS NOT NULL)),
        ADD CONSTRAINT models_ready_bank CHECK (status <> 'ready' OR detector IS NOT NULL OR bank_size IS NOT NULL);
    `);
  },
};
