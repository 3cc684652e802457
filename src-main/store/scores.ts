/**
 * Image scores per model version: the raw PatchCore image score (Eq. 7, true L2 distance,
 * never normalised), the largest patch score, and the anomaly-map file. Derived data that a
 * rescore can recompute, so it is written insert-or-replace and not audited.
 */
import { KensaError } from '../shared/errors';
import { finite, integer, invalid, nowIso, optionalText } from './checks';
import { readTx, writeTx, type Db } from './db';

export interface NewScore {
  imageId: number;
  score: number;
  maxPatchScore: number;
  /** The anomaly map, relative to the project folder; null when none was written. */
  mapFile?: string | null;
}

export interface ScoreRecord {
  imageId: number;
  modelVersion: number;
  score: number;
  maxPatchScore: number;
  mapFile: string | null;
  scoredAt: string;
}

export interface ScoreRow {
  image_id: number;
  model_version: number;
  score: number;
  max_patch_score: number;
  map_file: string | null;
  scored_at: string;
}

export function mapScore(r: ScoreRow): ScoreRecord {
  return { imageId: r.image_id, modelVersion: r.model_version, score: r.score, maxPatchScore: r.max_patch_score, mapFile: r.map_file, scoredAt: r.scored_at };
}

/** Stores a batch of scores for one model version in one transaction (insert or replace). */
export function putScores(db: Db, modelVersion: number, rows: readonly NewScore[]): number {
  integer(modelVersion, 'modelVersion', 1);
  const clean = rows.map((r, i) => {
    if (r === null || typeof r !== 'object') throw invalid(`scores[${i}] must be an object`);
    return {
      image_id: integer(r.imageId, `scores[${i}].imageId`, 1),
      score: finite(r.score, `scores[${i}].score`),
      max_patch_score: finite(r.maxPatchScore, `scores[${i}].maxPatchScore`),
      map_file: optionalText(r.mapFile, `scores[${i}].mapFile`, 4096),
    };
  });
  return writeTx(db, () => {
    if (!db.prepare('SELECT 1 FROM models WHERE version = ?').get(modelVersion)) {
      throw new KensaError('NOT_FOUND', `model version ${modelVersion} does not exist`);
    }
    const at = nowIso();
    const insert = db.prepare(
      `INSERT INTO scores (image_id, model_version, score, max_patch_score, map_file, scored_at)
       VALUES (@image_id, @model_version, @score, @max_patch_score, @map_file, @at)
       ON CONFLICT (image_id, model_version) DO UPDATE SET score = excluded.score, max_patch_score = excluded.max_patch_score,
         map_file = excluded.map_file, scored_at = excluded.scored_at, map_bytes = NULL, map_kept = 'full'`,
    );
    for (const r of clean) insert.run({ ...r, model_version: modelVersion, at });
    return clean.length;
  });
}

/** Every score of one model version, by image id. */
export function scoresFor(db: Db, modelVersion: number): ScoreRecord[] {
  return (db.prepare('SELECT * FROM scores WHERE model_version = ? ORDER BY image_id').all(modelVersion) as ScoreRow[]).map(mapScore);
}

/**
 * Every score of one model version as two columns, by image id (ascending): no object per
 * row, for figures over 100,000 parts. A part's score is found with a binary search in `ids`.
 */
export function scoreColumns(db: Db, modelVersion: number): { ids: Float64Array; scores: Float64Array } {
  return readTx(db, () => {
    const ids = db.prepare('SELECT image_id FROM scores WHERE model_version = ? ORDER BY image_id').pluck().all(modelVersion) as number[];
    const scores = db.prepare('SELECT score FROM scores WHERE model_version = ? ORDER BY image_id').pluck().all(modelVersion) as number[];
    return { ids: Float64Array.from(ids), scores: Float64Array.from(scores) };
  });
}

export function getScore(db: Db, imageId: number, modelVersion: number): ScoreRecord | null {
  const row = db.prepare('SELECT * FROM scores WHERE image_id = ? AND model_version = ?').get(imageId, modelVersion) as ScoreRow | undefined;
  return row ? mapScore(row) : null;
}
