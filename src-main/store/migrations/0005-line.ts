/**
 * Migration 5: the line (parts that arrive through watched folders and results that go back)
 * and what the project keeps of each anomaly map.
 *
 *   line_parts     one row per part that came through a watched folder: where from, the file
 *                  name it arrived under, when it was complete (epoch ms), when its result was
 *                  committed, with which model version / threshold, and the latency between
 *   line_outbox    results to send back to the line, in order (seq). A 'scored' row is written
 *                  in the scoring transaction; a 'verdict' row by a trigger in the verdict's
 *                  own transaction. So nothing can be published that is not in the database.
 *   line_cursors   per sink (json, csv, mqtt, opcua): the last seq it has delivered
 *   scores.map_bytes / scores.map_kept
 *                  the stored map's size and whether it is whole ('full'), a small preview
 *                  ('preview') or gone ('none') under the retention policy
 */
import type { Migration } from './index';

export const migration0005: Migration = {
  version: 5,
  name: 'line',
  up(db) {
    db.exec(`
      CREATE TABLE line_parts (
        image_id      INTEGER PRIMARY KEY REFERENCES images(id),
        source        TEXT NOT NULL,
        file          TEXT NOT NULL CHECK (length(file) > 0),
        complete_at   REAL NOT NULL,
        claimed_at    REAL NOT NULL,
        scored_at     REAL NULL,
        model_version INTEGER NULL REFERENCES models(version),
        threshold     REAL NULL,
        review_upper  REAL NULL,
        latency_ms    REAL NULL CHECK (latency_ms IS NULL OR latency_ms >= 0),
        scorer        TEXT NULL,
        CHECK ((scored_at IS NULL) = (model_version IS NULL))
      ) STRICT;
      CREATE INDEX line_parts_scored ON line_parts (scored_at);

      CREATE TABLE line_outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id   INTEGER NOT NULL REFERENCES images(id),
        event      TEXT NOT NULL CHECK (event IN ('scored', 'verdict')),
        verdict_id INTEGER NULL REFERENCES verdicts(id),
        at         TEXT NOT NULL,
        CHECK ((event = 'verdict') = (verdict_id IS NOT NULL))
      ) STRICT;

      -- A verdict (or an undo) on a part whose line result is out goes out again.
      CREATE TRIGGER line_outbox_verdict AFTER INSERT ON verdicts
        WHEN EXISTS (SELECT 1 FROM line_parts WHERE image_id = NEW.image_id AND scored_at IS NOT NULL)
        BEGIN
          INSERT INTO line_outbox (image_id, event, verdict_id, at) VALUES (NEW.image_id, 'verdict', NEW.id, NEW.created_at);
        END;

      CREATE TABLE line_cursors (
        sink       TEXT PRIMARY KEY CHECK (sink IN ('json', 'csv', 'mqtt', 'opcua')),
        seq        INTEGER NOT NULL CHECK (seq >= 0),
        updated_at TEXT NOT NULL
      ) STRICT;

      ALTER TABLE scores ADD COLUMN map_bytes INTEGER NULL CHECK (map_bytes IS NULL OR map_bytes >= 0);
      ALTER TABLE scores ADD COLUMN map_kept TEXT NOT NULL DEFAULT 'full' CHECK (map_kept IN ('full', 'preview', 'none'));
    `);
  },
};
