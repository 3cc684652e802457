/**
 * The line in the store (migration 5): parts that arrived through a watched folder, their
 * results, the outbox of results to send back to the line, and each sink's cursor.
 *
 * Two transactions per part, so a crash between any two steps loses nothing and scores
 * nothing twice:
 *   1. arrival   (addLinePart)    the image row (content-addressed: a file whose content is
 *                                 already a part is that part) + its line_parts row;
 *   2. result    (commitLineResult) the score, the part's result columns and the 'scored'
 *                                 outbox row, together. A part with a result is never scored
 *                                 again by the line (unscoredLineParts leaves it out).
 * A verdict on a line part adds a 'verdict' outbox row in its own transaction (a trigger).
 *
 * Disposition (what the line does with a part), in this order: a current verdict decides
 * (defect → reject, good → pass); else no threshold → review (nothing can be decided safely);
 * score < threshold → pass; a review band's upper end reached → reject; else review.
 */
import { KensaError } from '../shared/errors';
import type { Disposition, LineResult, LineWindowStats, SinkName } from '../shared/line';
import { addImages, type NewImage } from './images';
import { finite, integer, nowIso } from './checks';
import { cached, readTx, writeTx, type Db } from './db';

export interface NewLinePart {
  image: Omit<NewImage, 'role'>;
  /** The watched folder it came from. */
  source: string;
  /** The file name it arrived under. */
  file: string;
  /** Epoch ms when the file was seen complete. */
  completeAt: number;
  /** Epoch ms when it was claimed (moved out of the watched folder). */
  claimedAt: number;
}

/**
 * Records an arrived part (image + line row) in one transaction. Returns its image id and
 * whether it is new: a file whose content is already a part of this project is that part
 * (`duplicateOf` set), and is not scored or published again.
 */
export function addLinePart(db: Db, p: NewLinePart, actor: string): { imageId: number; duplicate: boolean } {
  return writeTx(db, () => {
    const day = new Date(p.claimedAt).toISOString().slice(0, 10);
    const r = addImages(db, `line:${day}`, [{ ...p.image, role: 'inspect' }], actor);
    const imageId = r.ids[0]!;
    const inserted = cached(
      db,
      `INSERT INTO line_parts (image_id, source, file, complete_at, claimed_at) VALUES (@imageId, @source, @file, @completeAt, @claimedAt)
       ON CONFLICT (image_id) DO NOTHING`,
    ).run({ imageId, source: p.source, file: p.file, completeAt: finite(p.completeAt, 'completeAt'), claimedAt: finite(p.claimedAt, 'claimedAt') });
    return { imageId, duplicate: r.added === 0 || inserted.changes === 0 };
  });
}

export interface LineResultInput {
  imageId: number;
  modelVersion: number;
  score: number;
  maxPatchScore: number;
  mapFile: string | null;
  mapBytes: number | null;
  threshold: number | null;
  reviewUpper: number | null;
  /** Epoch ms when the result is committed (now). */
  scoredAt: number;
  /** Which scorer produced it ('local' or an inference endpoint URL). */
  scorer: string;
}

/**
 * The score, the part's result and its 'scored' outbox row, in one transaction. Returns the
 * outbox seq, or null when the part already had a result (then nothing changes).
 */
export function commitLineResult(db: Db, r: LineResultInput): number | null {
  const imageId = integer(r.imageId, 'imageId', 1);
  return writeTx(db, () => {
    const part = cached(db, 'SELECT complete_at, scored_at FROM line_parts WHERE image_id = ?').get(imageId) as { complete_at: number; scored_at: number | null } | undefined;
    if (!part) throw new KensaError('NOT_FOUND', `part ${imageId} did not come from the line`);
    if (part.scored_at !== null) return null;
    cached(
      db,
      `INSERT INTO scores (image_id, model_version, score, max_patch_score, map_file, scored_at, map_bytes, map_kept)
       VALUES (@imageId, @m, @score, @maxPatch, @mapFile, @at, @mapBytes, 'full')
       ON CONFLICT (image_id, model_version) DO UPDATE SET score = excluded.score, max_patch_score = excluded.max_patch_score,
         map_file = excluded.map_file, scored_at = excluded.scored_at, map_bytes = excluded.map_bytes, map_kept = excluded.map_kept`,
    ).run({
      imageId,
      m: integer(r.modelVersion, 'modelVersion', 1),
      score: finite(r.score, 'score'),
      maxPatch: finite(r.maxPatchScore, 'maxPatchScore'),
      mapFile: r.mapFile,
      at: new Date(r.scoredAt).toISOString(),
      mapBytes: r.mapBytes,
    });
    cached(
      db,
      `UPDATE line_parts SET scored_at = @at, model_version = @m, threshold = @t, review_upper = @u, latency_ms = @lat, scorer = @scorer WHERE image_id = @imageId`,
    ).run({ imageId, at: r.scoredAt, m: r.modelVersion, t: r.threshold, u: r.reviewUpper, lat: Math.max(0, r.scoredAt - part.complete_at), scorer: r.scorer });
    const seq = cached(db, `INSERT INTO line_outbox (image_id, event, verdict_id, at) VALUES (?, 'scored', NULL, ?) RETURNING seq`).pluck().get(imageId, new Date(r.scoredAt).toISOString()) as number;
    return seq;
  });
}

/** Line parts that arrived but have no result yet (a crash or a stop between the two steps), oldest first. */
export function unscoredLineParts(db: Db): { imageId: number; path: string; sha256: string; file: string; completeAt: number }[] {
  return db
    .prepare(
      `SELECT lp.image_id AS imageId, i.path, i.sha256, lp.file, lp.complete_at AS completeAt
       FROM line_parts lp JOIN images i ON i.id = lp.image_id WHERE lp.scored_at IS NULL ORDER BY lp.claimed_at, lp.image_id`,
    )
    .all() as { imageId: number; path: string; sha256: string; file: string; completeAt: number }[];
}

/** The disposition rule (see the top of this file) as SQL over v (current verdict), s (score), lp (line part). */
const DISPOSITION_SQL = `CASE
  WHEN v.verdict = 'defect' THEN 'reject'
  WHEN v.verdict = 'good' THEN 'pass'
  WHEN lp.threshold IS NULL THEN 'review'
  WHEN s.score < lp.threshold THEN 'pass'
  WHEN lp.review_upper IS NOT NULL AND s.score >= lp.review_upper THEN 'reject'
  ELSE 'review' END`;

export function disposition(score: number, threshold: number | null, reviewUpper: number | null, verdict: 'good' | 'defect' | null): Disposition {
  if (verdict === 'defect') return 'reject';
  if (verdict === 'good') return 'pass';
  if (threshold === null) return 'review';
  if (score < threshold) return 'pass';
  if (reviewUpper !== null && score >= reviewUpper) return 'reject';
  return 'review';
}

interface OutboxRow {
  seq: number;
  event: 'scored' | 'verdict';
  at: string;
  image_id: number;
  path: string;
  sha256: string;
  file: string;
  score: number;
  scored_at: number;
  model_version: number;
  detector: string | null;
  threshold: number | null;
  review_upper: number | null;
  latency_ms: number | null;
  verdict: 'good' | 'defect' | null;
  reviewer: string | null;
  v_threshold: number | null;
}

/**
 * Outbox rows after `afterSeq`, as results (without the station, which the publisher adds).
 * A 'verdict' event carries the verdict of THAT row (an undo carries what it restored), so
 * the line sees each change in order even when several land between two reads.
 */
export function outboxAfter(db: Db, afterSeq: number, limit = 100): Omit<LineResult, 'station'>[] {
  const rows = cached(
    db,
    `SELECT o.seq, o.event, o.at, o.image_id, i.path, i.sha256, lp.file, s.score, lp.scored_at, lp.model_version, m.detector,
            lp.threshold, lp.review_upper, lp.latency_ms,
            CASE WHEN o.event = 'verdict' THEN v.verdict ELSE NULL END AS verdict,
            CASE WHEN o.event = 'verdict' AND v.verdict IS NOT NULL THEN v.reviewer ELSE NULL END AS reviewer,
            v.threshold AS v_threshold
     FROM line_outbox o
     JOIN images i ON i.id = o.image_id
     JOIN line_parts lp ON lp.image_id = o.image_id
     JOIN scores s ON s.image_id = o.image_id AND s.model_version = lp.model_version
     LEFT JOIN models m ON m.version = lp.model_version
     LEFT JOIN verdicts v ON v.id = o.verdict_id
     WHERE o.seq > @after ORDER BY o.seq LIMIT @limit`,
  ).all({ after: afterSeq, limit }) as OutboxRow[];
  return rows.map((r) => {
    const threshold = r.event === 'verdict' && r.v_threshold !== null ? r.v_threshold : r.threshold;
    return {
      seq: r.seq,
      event: r.event,
      partId: r.image_id,
      file: r.file,
      storedPath: r.path,
      sha256: r.sha256,
      score: r.score,
      disposition: disposition(r.score, threshold, r.review_upper, r.verdict),
      verdict: r.verdict,
      reviewer: r.reviewer,
      modelVersion: r.model_version,
      detector: r.detector ?? 'patchcore',
      threshold,
      reviewUpper: r.review_upper,
      scoredAt: new Date(r.scored_at).toISOString(),
      at: r.at,
      latencyMs: r.event === 'scored' ? r.latency_ms : null,
    };
  });
}

export function lastOutboxSeq(db: Db): number {
  return (cached(db, 'SELECT coalesce(max(seq), 0) FROM line_outbox').pluck().get() as number) ?? 0;
}

/** The last seq a sink has delivered (0: none yet). */
export function sinkCursor(db: Db, sink: SinkName): number {
  return (cached(db, 'SELECT seq FROM line_cursors WHERE sink = ?').pluck().get(sink) as number | undefined) ?? 0;
}

/** Moves a sink's cursor forward (never back). */
export function advanceSinkCursor(db: Db, sink: SinkName, seq: number): void {
  writeTx(db, () => {
    cached(
      db,
      `INSERT INTO line_cursors (sink, seq, updated_at) VALUES (@sink, @seq, @at)
       ON CONFLICT (sink) DO UPDATE SET seq = CASE WHEN excluded.seq > line_cursors.seq THEN excluded.seq ELSE line_cursors.seq END, updated_at = excluded.updated_at`,
    ).run({ sink, seq: integer(seq, 'seq', 0), at: nowIso() });
  });
}

/** A sink that is switched on starts at the end of the outbox: it does not replay history. */
export function startSinkAtEnd(db: Db, sink: SinkName): void {
  writeTx(db, () => {
    cached(db, `INSERT INTO line_cursors (sink, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (sink) DO NOTHING`).run(sink, lastOutboxSeq(db), nowIso());
  });
}

/** A line part with its score under the version that scored it (lp, s). */
const SCORED_PARTS = `line_parts lp JOIN scores s ON s.image_id = lp.image_id AND s.model_version = lp.model_version`;
/** The part has no current verdict (its latest verdict row is none, or an undo back to none). */
const UNREVIEWED = `NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = lp.image_id) AND v.verdict IS NOT NULL)`;

/** Line parts with a result (scored after `since`, epoch ms; null: all), by current disposition. */
function dispositionCounts(db: Db, since: number | null): Record<Disposition, number> {
  const rows = cached(
    db,
    `SELECT ${DISPOSITION_SQL} AS d, count(*) AS n
     FROM ${SCORED_PARTS}
     LEFT JOIN verdicts v ON v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = lp.image_id)
     WHERE lp.scored_at > @since GROUP BY d`,
  ).all({ since: since ?? -1 }) as { d: Disposition; n: number }[];
  const by = { pass: 0, review: 0, reject: 0 } as Record<Disposition, number>;
  for (const r of rows) by[r.d] = r.n;
  return by;
}

/** Line parts flagged when scored (after `since`; null: all) and still without a verdict. */
function flaggedUnreviewed(db: Db, since: number | null): number {
  return cached(db, `SELECT count(*) FROM ${SCORED_PARTS} WHERE lp.scored_at > @since AND (lp.threshold IS NULL OR s.score >= lp.threshold) AND ${UNREVIEWED}`)
    .pluck()
    .get({ since: since ?? -1 }) as number;
}

/** Counts and rates of line parts whose result came in the last `windowMs` before `now` (epoch ms). */
export function lineWindowStats(db: Db, now: number, windowMs: number): LineWindowStats {
  return readTx(db, () => {
    const since = now - windowMs;
    const by = dispositionCounts(db, since);
    const lat = cached(db, 'SELECT latency_ms FROM line_parts WHERE scored_at > ? ORDER BY latency_ms').pluck().all(since) as number[];
    const q = (p: number): number | null => (lat.length === 0 ? null : lat[Math.min(lat.length - 1, Math.floor(p * (lat.length - 1) + 0.5))]!);
    const flagged = cached(db, `SELECT count(*) FROM ${SCORED_PARTS} WHERE lp.scored_at > @since AND (lp.threshold IS NULL OR s.score >= lp.threshold)`).pluck().get({ since }) as number;
    const reviewed = cached(db, `SELECT count(*) FROM verdicts v JOIN line_parts lp ON lp.image_id = v.image_id WHERE v.created_at > ? AND v.action = 'set'`)
      .pluck()
      .get(new Date(since).toISOString()) as number;
    const minutes = windowMs / 60_000;
    return {
      ...by,
      partsPerMinute: (by.pass + by.review + by.reject) / minutes,
      latencyP50Ms: q(0.5),
      latencyP95Ms: q(0.95),
      reviewBacklog: flaggedUnreviewed(db, since),
      reviewedPerMinute: reviewed / minutes,
      flaggedPerMinute: flagged / minutes,
    };
  });
}

/** Line parts by current disposition, over all time, and the unreviewed flagged ones (the backlog). */
export function lineTotals(db: Db): { parts: number; pass: number; review: number; reject: number; unscored: number; backlog: number } {
  return readTx(db, () => {
    const by = dispositionCounts(db, null);
    const unscored = cached(db, 'SELECT count(*) FROM line_parts WHERE scored_at IS NULL').pluck().get() as number;
    return { parts: by.pass + by.review + by.reject + unscored, ...by, unscored, backlog: flaggedUnreviewed(db, null) };
  });
}
