/**
 * Migration 1: the initial project schema (STRICT tables, CHECK constraints, append-only
 * triggers, indices). Shipped migrations are never edited: change the schema with a new
 * numbered file (and a test for it in test/store/migrations.test.ts).
 *
 * Tables: project (one row), reviewers, images, import_errors, models, scores, verdicts
 * (append-only), thresholds (append-only), audit_events (append-only hash chain).
 *
 * The append-only triggers stop ACCIDENTS (a bug, a hand-typed UPDATE in a debugging
 * session). They are not a security boundary: anyone with the sqlite3 CLI can DROP TRIGGER
 * and edit rows. What catches deliberate edits is `verifyAudit` (`kensa audit verify`),
 * which re-hashes the chain and compares every verdict, threshold and model row with the
 * audit event that recorded it.
 */
import type { Migration } from './index';
import { HEX64_PG, JSON_ARRAY_PG, JSON_OBJECT_PG, JSON_VALID_PG, pinned, refuse } from './pg';

/** 'KENS' in ASCII: marks the file as a Kensa project database (PRAGMA application_id). */
export const KENSA_APPLICATION_ID = 0x4b454e53;

const SHA256_CHECK = (col: string) => `length(${col}) = 64 AND ${col} NOT GLOB '*[^0-9a-f]*'`;

export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  up(db) {
    db.exec(`
      CREATE TABLE project (
        id                   INTEGER PRIMARY KEY CHECK (id = 1),
        name                 TEXT NOT NULL CHECK (length(trim(name)) > 0),
        created_at           TEXT NOT NULL,
        settings             TEXT NOT NULL CHECK (json_valid(settings) AND json_type(settings) = 'object'),
        active_model_version INTEGER NULL REFERENCES models(version)
      ) STRICT;

      CREATE TABLE reviewers (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80 AND name = trim(name)),
        created_at   TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE images (
        id           INTEGER PRIMARY KEY,
        path         TEXT NOT NULL CHECK (length(path) > 0),
        sha256       TEXT NOT NULL CHECK (${SHA256_CHECK('sha256')}),
        bytes        INTEGER NOT NULL CHECK (bytes >= 0),
        width        INTEGER NOT NULL CHECK (width > 0),
        height       INTEGER NOT NULL CHECK (height > 0),
        format       TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('train', 'inspect')),
        imported_at  TEXT NOT NULL,
        import_batch TEXT NOT NULL,
        UNIQUE (sha256, role)
      ) STRICT;
      CREATE INDEX images_role ON images (role, id);
      CREATE INDEX images_batch ON images (import_batch);

      CREATE TABLE import_errors (
        id           INTEGER PRIMARY KEY,
        import_batch TEXT NOT NULL,
        path         TEXT NOT NULL,
        code         TEXT NOT NULL,
        message      TEXT NOT NULL,
        at           TEXT NOT NULL
      ) STRICT;
      CREATE INDEX import_errors_batch ON import_errors (import_batch, id);

      CREATE TABLE models (
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
        CHECK ((kind = 'refit') = (parent_version IS NOT NULL)),
        CHECK (kind = 'refit' OR added_image_ids = '[]'),
        CHECK (status <> 'ready' OR (model_file IS NOT NULL AND model_sha256 IS NOT NULL AND bank_size IS NOT NULL)),
        CHECK ((status = 'failed') = (failure IS NOT NULL))
      ) STRICT;
      CREATE INDEX models_parent ON models (parent_version);

      CREATE TABLE scores (
        image_id        INTEGER NOT NULL REFERENCES images(id),
        model_version   INTEGER NOT NULL REFERENCES models(version),
        score           REAL NOT NULL,
        max_patch_score REAL NOT NULL,
        map_file        TEXT NULL,
        scored_at       TEXT NOT NULL,
        PRIMARY KEY (image_id, model_version)
      ) STRICT;
      CREATE INDEX scores_model ON scores (model_version, image_id);

      CREATE TABLE verdicts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id      INTEGER NOT NULL REFERENCES images(id),
        action        TEXT NOT NULL CHECK (action IN ('set', 'undo')),
        verdict       TEXT NULL CHECK (verdict IN ('good', 'defect')),
        defect_type   TEXT NULL,
        regions       TEXT NULL CHECK (regions IS NULL OR json_valid(regions)),
        comment       TEXT NULL,
        reviewer      TEXT NOT NULL CHECK (length(reviewer) > 0),
        created_at    TEXT NOT NULL,
        model_version INTEGER NULL REFERENCES models(version),
        threshold     REAL NULL,
        score_shown   REAL NULL,
        undoes        INTEGER NULL REFERENCES verdicts(id),
        CHECK (action = 'undo' OR (verdict IS NOT NULL AND undoes IS NULL)),
        CHECK (action = 'set' OR undoes IS NOT NULL),
        CHECK (defect_type IS NULL OR verdict = 'defect')
      ) STRICT;
      CREATE INDEX verdicts_image ON verdicts (image_id, id);

      CREATE TABLE thresholds (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        model_version INTEGER NULL REFERENCES models(version),
        value         REAL NOT NULL,
        margin        REAL NULL CHECK (margin IS NULL OR margin >= 0),
        margin_kind   TEXT NULL CHECK (margin_kind IN ('absolute', 'spread')),
        review_upper  REAL NULL CHECK (review_upper IS NULL OR review_upper > value),
        set_by        TEXT NOT NULL CHECK (length(set_by) > 0),
        reason        TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        created_at    TEXT NOT NULL,
        CHECK ((margin IS NULL) = (margin_kind IS NULL))
      ) STRICT;
      CREATE INDEX thresholds_model ON thresholds (model_version, id);

      CREATE TABLE audit_events (
        seq       INTEGER PRIMARY KEY CHECK (seq > 0),
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL CHECK (length(actor) > 0),
        kind      TEXT NOT NULL,
        entity    TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        payload   TEXT NOT NULL CHECK (json_valid(payload)),
        prev_hash TEXT NOT NULL CHECK (${SHA256_CHECK('prev_hash')}),
        hash      TEXT NOT NULL CHECK (${SHA256_CHECK('hash')})
      ) STRICT;
      CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);
      CREATE INDEX audit_events_kind ON audit_events (kind, seq);

      -- Append-only, enforced by the database (see the note at the top of this file).
      CREATE TRIGGER verdicts_no_update BEFORE UPDATE ON verdicts
        BEGIN SELECT RAISE(ABORT, 'verdicts are append-only: record a new verdict or an undo instead'); END;
      CREATE TRIGGER verdicts_no_delete BEFORE DELETE ON verdicts
        BEGIN SELECT RAISE(ABORT, 'verdicts are append-only: record an undo instead of deleting'); END;
      CREATE TRIGGER thresholds_no_update BEFORE UPDATE ON thresholds
        BEGIN SELECT RAISE(ABORT, 'thresholds are append-only: set a new threshold instead'); END;
      CREATE TRIGGER thresholds_no_delete BEFORE DELETE ON thresholds
        BEGIN SELECT RAISE(ABORT, 'thresholds are append-only: set a new threshold instead'); END;
      CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events are append-only'); END;
      CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
        BEGIN SELECT RAISE(ABORT, 'audit_events are append-only'); END;
      -- The chain: seq 1, 2, 3, ... with no gaps, each linked to the hash before it.
      CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
        WHEN NEW.seq <> (SELECT coalesce(max(seq), 0) + 1 FROM audit_events)
          OR NEW.prev_hash <> coalesce((SELECT hash FROM audit_events WHERE seq = NEW.seq - 1), '${'0'.repeat(64)}')
        BEGIN SELECT RAISE(ABORT, 'audit_events: seq must follow the last event and prev_hash must be its hash'); END;
      -- A model is written once while it is built; after that it is history.
      CREATE TRIGGER models_no_delete BEFORE DELETE ON models
        BEGIN SELECT RAISE(ABORT, 'models are never deleted: roll back to another version instead'); END;
      CREATE TRIGGER models_frozen BEFORE UPDATE ON models WHEN OLD.status <> 'building'
        BEGIN SELECT RAISE(ABORT, 'a ready or failed model can no longer change'); END;
    `);
    db.pragma(`application_id = ${KENSA_APPLICATION_ID}`);
  },

  upPostgres(db) {
    db.exec(`
      CREATE FUNCTION kensa_refuse() RETURNS trigger LANGUAGE plpgsql ${pinned(db)} AS $fn$
      BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
      END $fn$;

      CREATE TABLE models (
        version         BIGINT PRIMARY KEY CHECK (version > 0),
        parent_version  BIGINT NULL REFERENCES models(version),
        kind            TEXT NOT NULL CONSTRAINT models_kind CHECK (kind IN ('fit', 'refit')),
        backbone_id     TEXT NOT NULL,
        backbone_sha256 TEXT NOT NULL CHECK (${HEX64_PG('backbone_sha256')}),
        config          TEXT NOT NULL CHECK (${JSON_VALID_PG('config')}),
        model_file      TEXT NULL,
        model_sha256    TEXT NULL CHECK (model_sha256 IS NULL OR ${HEX64_PG('model_sha256')}),
        bank_size       BIGINT NULL CHECK (bank_size IS NULL OR bank_size > 0),
        fit_seconds     DOUBLE PRECISION NULL CHECK (fit_seconds IS NULL OR fit_seconds >= 0),
        ep              TEXT NULL,
        status          TEXT NOT NULL CHECK (status IN ('building', 'ready', 'failed')),
        failure         TEXT NULL,
        created_at      TEXT NOT NULL,
        created_by      TEXT NOT NULL,
        added_image_ids TEXT NOT NULL DEFAULT '[]' CHECK (${JSON_ARRAY_PG('added_image_ids')}),
        CONSTRAINT models_parent_kind CHECK ((kind = 'refit') = (parent_version IS NOT NULL)),
        CONSTRAINT models_added_kind CHECK (kind = 'refit' OR added_image_ids = '[]'),
        CONSTRAINT models_ready CHECK (status <> 'ready' OR (model_file IS NOT NULL AND model_sha256 IS NOT NULL AND bank_size IS NOT NULL)),
        CHECK ((status = 'failed') = (failure IS NOT NULL))
      );
      CREATE INDEX models_parent ON models (parent_version);

      CREATE TABLE project (
        id                   BIGINT PRIMARY KEY CHECK (id = 1),
        name                 TEXT NOT NULL CHECK (length(trim(name)) > 0),
        created_at           TEXT NOT NULL,
        settings             TEXT NOT NULL CHECK (${JSON_OBJECT_PG('settings')}),
        active_model_version BIGINT NULL REFERENCES models(version)
      );

      CREATE TABLE reviewers (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 80 AND name = trim(name)),
        created_at   TEXT NOT NULL,
        last_seen_at TEXT NOT NULL
      );

      CREATE TABLE images (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        path         TEXT NOT NULL CHECK (length(path) > 0),
        sha256       TEXT NOT NULL CHECK (${HEX64_PG('sha256')}),
        bytes        BIGINT NOT NULL CHECK (bytes >= 0),
        width        BIGINT NOT NULL CHECK (width > 0),
        height       BIGINT NOT NULL CHECK (height > 0),
        format       TEXT NOT NULL,
        role         TEXT NOT NULL CHECK (role IN ('train', 'inspect')),
        imported_at  TEXT NOT NULL,
        import_batch TEXT NOT NULL,
        UNIQUE (sha256, role)
      );
      CREATE INDEX images_role ON images (role, id);
      CREATE INDEX images_batch ON images (import_batch);

      CREATE TABLE import_errors (
        id           BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        import_batch TEXT NOT NULL,
        path         TEXT NOT NULL,
        code         TEXT NOT NULL,
        message      TEXT NOT NULL,
        at           TEXT NOT NULL
      );
      CREATE INDEX import_errors_batch ON import_errors (import_batch, id);

      CREATE TABLE scores (
        image_id        BIGINT NOT NULL REFERENCES images(id),
        model_version   BIGINT NOT NULL REFERENCES models(version),
        score           DOUBLE PRECISION NOT NULL,
        max_patch_score DOUBLE PRECISION NOT NULL,
        map_file        TEXT NULL,
        scored_at       TEXT NOT NULL,
        PRIMARY KEY (image_id, model_version)
      );
      CREATE INDEX scores_model ON scores (model_version, image_id);

      CREATE TABLE verdicts (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        image_id      BIGINT NOT NULL REFERENCES images(id),
        action        TEXT NOT NULL CHECK (action IN ('set', 'undo')),
        verdict       TEXT NULL CHECK (verdict IN ('good', 'defect')),
        defect_type   TEXT NULL,
        regions       TEXT NULL CHECK (regions IS NULL OR ${JSON_VALID_PG('regions')}),
        comment       TEXT NULL,
        reviewer      TEXT NOT NULL CHECK (length(reviewer) > 0),
        created_at    TEXT NOT NULL,
        model_version BIGINT NULL REFERENCES models(version),
        threshold     DOUBLE PRECISION NULL,
        score_shown   DOUBLE PRECISION NULL,
        undoes        BIGINT NULL REFERENCES verdicts(id),
        CHECK (action = 'undo' OR (verdict IS NOT NULL AND undoes IS NULL)),
        CHECK (action = 'set' OR undoes IS NOT NULL),
        CHECK (defect_type IS NULL OR verdict = 'defect')
      );
      CREATE INDEX verdicts_image ON verdicts (image_id, id);

      CREATE TABLE thresholds (
        id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        model_version BIGINT NULL REFERENCES models(version),
        value         DOUBLE PRECISION NOT NULL,
        margin        DOUBLE PRECISION NULL CHECK (margin IS NULL OR margin >= 0),
        margin_kind   TEXT NULL CHECK (margin_kind IN ('absolute', 'spread')),
        review_upper  DOUBLE PRECISION NULL CHECK (review_upper IS NULL OR review_upper > value),
        set_by        TEXT NOT NULL CHECK (length(set_by) > 0),
        reason        TEXT NOT NULL CHECK (length(trim(reason)) > 0),
        created_at    TEXT NOT NULL,
        CHECK ((margin IS NULL) = (margin_kind IS NULL))
      );
      CREATE INDEX thresholds_model ON thresholds (model_version, id);

      CREATE TABLE audit_events (
        seq       BIGINT PRIMARY KEY CHECK (seq > 0),
        at        TEXT NOT NULL,
        actor     TEXT NOT NULL CHECK (length(actor) > 0),
        kind      TEXT NOT NULL,
        entity    TEXT NOT NULL,
        entity_id TEXT NOT NULL,
        payload   TEXT NOT NULL CHECK (${JSON_VALID_PG('payload')}),
        prev_hash TEXT NOT NULL CHECK (${HEX64_PG('prev_hash')}),
        hash      TEXT NOT NULL CHECK (${HEX64_PG('hash')})
      );
      CREATE INDEX audit_events_entity ON audit_events (entity, entity_id);
      CREATE INDEX audit_events_kind ON audit_events (kind, seq);

      ${refuse('verdicts_no_update', 'verdicts', 'UPDATE', 'verdicts are append-only: record a new verdict or an undo instead')}
      ${refuse('verdicts_no_delete', 'verdicts', 'DELETE', 'verdicts are append-only: record an undo instead of deleting')}
      ${refuse('thresholds_no_update', 'thresholds', 'UPDATE', 'thresholds are append-only: set a new threshold instead')}
      ${refuse('thresholds_no_delete', 'thresholds', 'DELETE', 'thresholds are append-only: set a new threshold instead')}
      ${refuse('audit_events_no_update', 'audit_events', 'UPDATE', 'audit_events are append-only')}
      ${refuse('audit_events_no_delete', 'audit_events', 'DELETE', 'audit_events are append-only')}

      CREATE FUNCTION kensa_audit_chain() RETURNS trigger LANGUAGE plpgsql ${pinned(db)} AS $fn$
      BEGIN
        IF NEW.seq <> (SELECT coalesce(max(seq), 0) + 1 FROM audit_events)
           OR NEW.prev_hash <> coalesce((SELECT hash FROM audit_events WHERE seq = NEW.seq - 1), repeat('0', 64)) THEN
          RAISE EXCEPTION 'audit_events: seq must follow the last event and prev_hash must be its hash' USING ERRCODE = 'restrict_violation';
        END IF;
        RETURN NEW;
      END $fn$;
      CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION kensa_audit_chain();

      ${refuse('models_no_delete', 'models', 'DELETE', 'models are never deleted: roll back to another version instead')}
      ${refuse('models_frozen', 'models', 'UPDATE', 'a ready or failed model can no longer change', "OLD.status <> 'building'")}
    `);
  },
};
