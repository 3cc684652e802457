/**
 * Migration 7: several stations on one project.
 *
 * - `claims`: the part a station is reviewing now (one row per part; the claim ends when the
 *   station releases it or when it expires: a station that died leaves a claim that runs
 *   out). Times are the DATABASE's clock in epoch ms, never a station's, so that stations
 *   whose clocks disagree still agree on whether a claim has expired.
 * - `station_locks`: one row per kind of project-wide change that must not run twice at
 *   once ('refit': a refit or learning step; 'threshold': a threshold change), held by a
 *   station with an expiry that the holder renews while it works.
 * - `project_files`: where the project's files (parts, anomaly maps, model files) live,
 *   written once: 'project-folder' (beside an SQLite kensa.db) or 'shared-folder' (the folder
 *   every station of a PostgreSQL project mounts, whose kensa-project.json carries the same
 *   folder_uid, so that a station pointed at the wrong folder is refused).
 * - PostgreSQL only: NOTIFY on the channel `kensa_<schema>` after every verdict, claim,
 *   threshold, model, project and lock change (delivered at commit), so that the other stations
 *   see them at once; SQLite stations (one machine) watch the file's data_version instead.
 *
 * Claims and locks are coordination, not records: they are not audited and may be deleted.
 */
import type { Migration } from './index';
import { pinned } from './pg';

export const migration0007: Migration = {
  version: 7,
  name: 'stations',
  up(db) {
    db.exec(`
      CREATE TABLE claims (
        image_id   INTEGER PRIMARY KEY REFERENCES images(id),
        station    TEXT NOT NULL CHECK (length(station) BETWEEN 1 AND 80),
        reviewer   TEXT NOT NULL CHECK (length(reviewer) > 0),
        claimed_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        CHECK (expires_at > claimed_at)
      ) STRICT;
      CREATE INDEX claims_station ON claims (station);

      CREATE TABLE station_locks (
        name        TEXT PRIMARY KEY CHECK (name IN ('refit', 'threshold')),
        station     TEXT NOT NULL CHECK (length(station) BETWEEN 1 AND 80),
        holder      TEXT NOT NULL CHECK (length(holder) > 0),
        purpose     TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        expires_at  REAL NOT NULL,
        CHECK (expires_at > acquired_at)
      ) STRICT;

      CREATE TABLE project_files (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        location    TEXT NOT NULL CHECK (location IN ('project-folder', 'shared-folder')),
        folder_uid  TEXT NOT NULL CHECK (length(folder_uid) = 32),
        recorded_at TEXT NOT NULL
      ) STRICT;
      INSERT INTO project_files VALUES (1, 'project-folder', lower(hex(randomblob(16))), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
      CREATE TRIGGER project_files_no_update BEFORE UPDATE ON project_files
        BEGIN SELECT RAISE(ABORT, 'where the project''s files live is recorded once'); END;
      CREATE TRIGGER project_files_no_delete BEFORE DELETE ON project_files
        BEGIN SELECT RAISE(ABORT, 'where the project''s files live is recorded once'); END;
    `);
  },
  upPostgres(db) {
    const channel = `kensa_${db.schema}`;
    db.exec(`
      CREATE TABLE claims (
        image_id   BIGINT PRIMARY KEY REFERENCES images(id),
        station    TEXT NOT NULL CHECK (length(station) BETWEEN 1 AND 80),
        reviewer   TEXT NOT NULL CHECK (length(reviewer) > 0),
        claimed_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        CHECK (expires_at > claimed_at)
      );
      CREATE INDEX claims_station ON claims (station);

      CREATE TABLE station_locks (
        name        TEXT PRIMARY KEY CHECK (name IN ('refit', 'threshold')),
        station     TEXT NOT NULL CHECK (length(station) BETWEEN 1 AND 80),
        holder      TEXT NOT NULL CHECK (length(holder) > 0),
        purpose     TEXT NOT NULL,
        acquired_at DOUBLE PRECISION NOT NULL,
        expires_at  DOUBLE PRECISION NOT NULL,
        CHECK (expires_at > acquired_at)
      );

      CREATE TABLE project_files (
        id          BIGINT PRIMARY KEY CHECK (id = 1),
        location    TEXT NOT NULL CHECK (location IN ('project-folder', 'shared-folder')),
        folder_uid  TEXT NOT NULL CHECK (length(folder_uid) = 32),
        recorded_at TEXT NOT NULL
      );
      INSERT INTO project_files VALUES (1, 'shared-folder', md5(random()::text || clock_timestamp()::text), to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'));
      CREATE TRIGGER project_files_no_update BEFORE UPDATE ON project_files FOR EACH ROW EXECUTE FUNCTION kensa_refuse('where the project''s files live is recorded once');
      CREATE TRIGGER project_files_no_delete BEFORE DELETE ON project_files FOR EACH ROW EXECUTE FUNCTION kensa_refuse('where the project''s files live is recorded once');

      -- Change feed: one NOTIFY per changed row, with the fields a station needs to react.
      CREATE FUNCTION kensa_notify() RETURNS trigger LANGUAGE plpgsql ${pinned(db)} AS $fn$
      DECLARE
        r jsonb := CASE WHEN TG_OP = 'DELETE' THEN to_jsonb(OLD) ELSE to_jsonb(NEW) END;
        p jsonb := jsonb_build_object('t', TG_TABLE_NAME, 'op', lower(TG_OP));
        k text;
      BEGIN
        -- Row changes carry the database clock (latency measurements); statement-level ones do
        -- not, so that PostgreSQL folds the identical notices of one transaction into one.
        IF TG_LEVEL = 'ROW' THEN
          p := p || jsonb_build_object('ms', round(extract(epoch FROM clock_timestamp()) * 1000));
        END IF;
        FOREACH k IN ARRAY coalesce(TG_ARGV, ARRAY[]::text[]) LOOP
          p := p || jsonb_build_object(k, r -> k);
        END LOOP;
        PERFORM pg_notify('${channel}', p::text);
        RETURN NULL;
      END $fn$;
      CREATE TRIGGER verdicts_notify AFTER INSERT ON verdicts FOR EACH ROW EXECUTE FUNCTION kensa_notify('id', 'image_id', 'action', 'verdict', 'reviewer', 'created_at');
      CREATE TRIGGER confirmations_notify AFTER INSERT ON confirmations FOR EACH ROW EXECUTE FUNCTION kensa_notify('verdict_id', 'image_id', 'confirmed_by');
      CREATE TRIGGER claims_notify AFTER INSERT OR UPDATE OR DELETE ON claims FOR EACH ROW EXECUTE FUNCTION kensa_notify('image_id', 'station', 'reviewer', 'expires_at');
      CREATE TRIGGER thresholds_notify AFTER INSERT ON thresholds FOR EACH ROW EXECUTE FUNCTION kensa_notify('id', 'model_version', 'value', 'set_by');
      CREATE TRIGGER models_notify AFTER INSERT OR UPDATE ON models FOR EACH ROW EXECUTE FUNCTION kensa_notify('version', 'status', 'kind');
      CREATE TRIGGER project_notify AFTER UPDATE ON project FOR EACH ROW EXECUTE FUNCTION kensa_notify('active_model_version');
      CREATE TRIGGER station_locks_notify AFTER INSERT OR UPDATE OR DELETE ON station_locks FOR EACH ROW EXECUTE FUNCTION kensa_notify('name', 'station', 'holder', 'purpose');
      CREATE TRIGGER images_notify AFTER INSERT ON images FOR EACH STATEMENT EXECUTE FUNCTION kensa_notify();
      CREATE TRIGGER scores_notify AFTER INSERT OR UPDATE ON scores FOR EACH STATEMENT EXECUTE FUNCTION kensa_notify();
    `);
  },
};
