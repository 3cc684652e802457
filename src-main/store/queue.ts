/**
 * The review queue in SQL: the inspect images under one model version, with their score, flag
 * and current verdict, read a page at a time (keyset pagination), filtered and counted in SQL.
 *
 * Order: scored parts by score, highest first, then the unscored ones; ties (and the unscored
 * parts) by image id, ascending. A cursor is the last item's (score, id): the next page is
 * every matching part strictly after it in that order.
 *
 * The rule a reader can rely on: the order depends only on the scores of the model version
 * and the image ids, never on verdicts. So while the scores stay as they are (no rescore, no
 * change of model), paging with cursors returns no part twice and skips no part that matches
 * the filter when its page is read — whatever verdicts are given between pages. With a filter
 * on the score alone ('all', 'flagged', 'passed') every part is returned exactly once; with a
 * filter on the verdict ('unreviewed', 'good', 'defect'), a part whose verdict changes moves
 * in or out of the filter, and it is returned if it matches when its place in the order is read.
 *
 * Indexes: scores_rank (model_version, score DESC, image_id) walks the scored parts in order
 * from a cursor (migration 4); images_role (role, id) walks the unscored ones; the current
 * verdict is the image's latest row, found through verdicts_image (image_id, id).
 */
import { asPg } from './dialect';
import { integer, invalid, oneOf } from './checks';
import { cached, readTx, type Db } from './db';
import { mapImage, type ImageRecord, type ImageRow } from './images';
import { mapVerdict, type Verdict, type VerdictRow } from './verdicts';

export const QUEUE_FILTERS = ['all', 'unreviewed', 'flagged', 'passed', 'good', 'defect'] as const;
export type QueueFilterName = (typeof QUEUE_FILTERS)[number];

export interface QueueRow {
  image: ImageRecord;
  score: number | null;
  flagged: boolean;
  verdict: Verdict | null;
}

/** Where a page ends: the last item's score (null for an unscored part) and image id. */
export interface QueueCursor {
  score: number | null;
  id: number;
}

export interface QueueScope {
  /** The model version whose scores order the queue; null: no model, every part unscored. */
  modelVersion: number | null;
  /** The threshold in force; null: nothing is flagged. */
  threshold: number | null;
}

export interface QueuePageOptions {
  filter?: QueueFilterName;
  after?: QueueCursor | null;
  /** 1..500, default 200. */
  limit?: number;
}

export const QUEUE_PAGE_DEFAULT = 200;
export const QUEUE_PAGE_MAX = 500;

export type QueueCounts = Record<QueueFilterName, number>;

/** Latest verdict row of image `i` (NULL verdict columns when none or when undone to unreviewed). */
const VERDICT_JOIN = `LEFT JOIN verdicts v ON v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = i.id)`;
const VERDICT_COLS = `v.id AS v_id, v.action AS v_action, v.verdict AS v_verdict, v.defect_type AS v_defect_type, v.regions AS v_regions,
  v.comment AS v_comment, v.reviewer AS v_reviewer, v.created_at AS v_created_at, v.model_version AS v_model_version,
  v.threshold AS v_threshold, v.score_shown AS v_score_shown, v.undoes AS v_undoes`;

type Row = ImageRow & {
  q_score: number | null;
  v_id: number | null;
  v_action: VerdictRow['action'] | null;
  v_verdict: VerdictRow['verdict'];
  v_defect_type: string | null;
  v_regions: string | null;
  v_comment: string | null;
  v_reviewer: string | null;
  v_created_at: string | null;
  v_model_version: number | null;
  v_threshold: number | null;
  v_score_shown: number | null;
  v_undoes: number | null;
};

function mapRow(r: Row, threshold: number | null): QueueRow {
  const image = mapImage(r);
  const verdict =
    r.v_id !== null && r.v_verdict !== null
      ? mapVerdict({
          id: r.v_id,
          image_id: r.id,
          action: r.v_action!,
          verdict: r.v_verdict,
          defect_type: r.v_defect_type,
          regions: r.v_regions,
          comment: r.v_comment,
          reviewer: r.v_reviewer!,
          created_at: r.v_created_at!,
          model_version: r.v_model_version,
          threshold: r.v_threshold,
          score_shown: r.v_score_shown,
          undoes: r.v_undoes,
        })
      : null;
  const score = r.q_score;
  return { image, score, flagged: score !== null && threshold !== null && score >= threshold, verdict };
}

/** The SQL condition on the current verdict for a filter ('' when the filter does not look at it). */
function verdictCondition(f: QueueFilterName): string {
  switch (f) {
    case 'unreviewed':
      return 'AND v.verdict IS NULL';
    case 'good':
      return `AND v.verdict = 'good'`;
    case 'defect':
      return `AND v.verdict = 'defect'`;
    default:
      return '';
  }
}

function checkCursor(c: QueueCursor): QueueCursor {
  if (c === null || typeof c !== 'object') throw invalid('after must be a cursor { score, id }');
  const id = integer(c.id, 'after.id', 0);
  if (c.score !== null && (typeof c.score !== 'number' || !Number.isFinite(c.score))) throw invalid('after.score must be a finite number or null');
  return { score: c.score, id };
}

/**
 * One page of the queue: up to `limit` parts strictly after `after`, in queue order, that
 * match `filter`; `next` is the cursor of the last one, or null when no part is left.
 */
export function queuePage(db: Db, scope: QueueScope, opts: QueuePageOptions = {}): { items: QueueRow[]; next: QueueCursor | null } {
  const filter = oneOf(opts.filter ?? 'all', QUEUE_FILTERS, 'filter');
  const limit = integer(opts.limit ?? QUEUE_PAGE_DEFAULT, 'limit', 1);
  if (limit > QUEUE_PAGE_MAX) throw invalid(`limit must be at most ${QUEUE_PAGE_MAX}`);
  const after = opts.after ? checkCursor(opts.after) : null;
  const { modelVersion: m, threshold: t } = scope;
  const vcond = verdictCondition(filter);
  const items: QueueRow[] = [];

  // 1. The scored parts, by score desc then id (skipped when the cursor is already past them).
  if (m !== null && (after === null || after.score !== null) && !(filter === 'flagged' && t === null)) {
    const conds = ['s.model_version = @m', `i.role = 'inspect'`];
    if (after) conds.push('s.score <= @cs AND (s.score < @cs OR s.image_id > @cid)');
    if (filter === 'flagged') conds.push('s.score >= @t');
    if (filter === 'passed' && t !== null) conds.push('s.score < @t');
    const rows = db
      .prepare(
        `SELECT i.*, s.score AS q_score, ${VERDICT_COLS}
         FROM scores s JOIN images i ON i.id = s.image_id ${VERDICT_JOIN}
         WHERE ${conds.join(' AND ')} ${vcond}
         ORDER BY s.score DESC, s.image_id
         LIMIT @limit`,
      )
      .all({ m, cs: after?.score ?? null, cid: after?.id ?? 0, t, limit }) as Row[];
    for (const r of rows) items.push(mapRow(r, t));
  }

  // 2. Then the unscored parts, by id ('flagged' and 'passed' hold scored parts only).
  if (items.length < limit && filter !== 'flagged' && filter !== 'passed') {
    const afterId = after && after.score === null ? after.id : 0;
    const rows = db
      .prepare(
        `SELECT i.*, NULL AS q_score, ${VERDICT_COLS}
         FROM images i ${VERDICT_JOIN}
         WHERE i.role = 'inspect' AND i.id > @afterId
           ${m === null ? '' : 'AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.image_id = i.id AND s.model_version = @m)'}
           ${vcond}
         ORDER BY i.id
         LIMIT @rest`,
      )
      .all({ afterId, ...(m === null ? {} : { m }), rest: limit - items.length }) as Row[];
    for (const r of rows) items.push(mapRow(r, t));
  }

  const last = items.length === limit ? items[items.length - 1] : undefined;
  return { items, next: last ? { score: last.score, id: last.image.id } : null };
}

/** Every part of the queue, in queue order (for reports, tuning and benches inside main). */
export function queueAll(db: Db, scope: QueueScope): QueueRow[] {
  const out: QueueRow[] = [];
  let after: QueueCursor | null = null;
  do {
    const page = queuePage(db, scope, { after, limit: QUEUE_PAGE_MAX });
    out.push(...page.items);
    after = page.next;
  } while (after !== null);
  return out;
}

/** One part as the queue shows it, or null when there is no inspect image with that id. */
export function queueRow(db: Db, scope: QueueScope, imageId: number): QueueRow | null {
  const row = db
    .prepare(
      `SELECT i.*, ${scope.modelVersion === null ? 'NULL' : '(SELECT s.score FROM scores s WHERE s.image_id = i.id AND s.model_version = @m)'} AS q_score,
         ${VERDICT_COLS}
       FROM images i ${VERDICT_JOIN}
       WHERE i.id = @id AND i.role = 'inspect'`,
    )
    .get({ id: integer(imageId, 'imageId', 1), ...(scope.modelVersion === null ? {} : { m: scope.modelVersion }) }) as Row | undefined;
  return row ? mapRow(row, scope.threshold) : null;
}

/**
 * How many parts each filter holds. Three small reads instead of a pass over every part, so a
 * count costs milliseconds at 100,000 parts (it runs after every verdict):
 *   - the inspect images, counted on images_role;
 *   - the parts scored and flagged under the version, counted on the scores index (flagged: a
 *     range from the threshold up), less the few scores of train images (a train image may be
 *     scored by an evaluation; it is never in the queue);
 *   - the current verdicts of inspect images, from each image's latest verdict row.
 * unreviewed = all − good − defect; passed = scored − flagged.
 */
export function queueCounts(db: Db, scope: QueueScope): QueueCounts {
  const { modelVersion: m, threshold: t } = scope;
  const all = cached(db, `SELECT count(*) AS n FROM images WHERE role = 'inspect'`).get() as { n: number };
  let scored = 0;
  let flagged = 0;
  if (m !== null) {
    const s = cached(db, 'SELECT count(*) AS n FROM scores WHERE model_version = @m').get({ m }) as { n: number };
    const ts = cached(
      db,
      `SELECT count(*) AS n, coalesce(sum(CASE WHEN CAST(@t AS REAL) IS NOT NULL AND s.score >= @t THEN 1 ELSE 0 END), 0) AS f
       FROM images i CROSS JOIN scores s ON s.image_id = i.id AND s.model_version = @m WHERE i.role = 'train'`,
    ).get({ m, t }) as { n: number; f: number };
    scored = s.n - ts.n;
    if (t !== null) {
      const f = cached(db, 'SELECT count(*) AS n FROM scores WHERE model_version = @m AND score >= @t').get({ m, t }) as { n: number };
      flagged = f.n - ts.f;
    }
  }
  const v = cached(
    db,
    `SELECT coalesce(sum(CASE WHEN v.verdict = 'good' THEN 1 ELSE 0 END), 0) AS good, coalesce(sum(CASE WHEN v.verdict = 'defect' THEN 1 ELSE 0 END), 0) AS defect
     FROM (SELECT max(id) AS id FROM verdicts GROUP BY image_id) latest
     JOIN verdicts v ON v.id = latest.id
     WHERE (SELECT i.role FROM images i WHERE i.id = v.image_id) = 'inspect'`,
  ).get() as { good: number; defect: number }; // the role by primary key per judged part: no pass over every image
  return { all: all.n, unreviewed: all.n - v.good - v.defect, flagged, passed: scored - flagged, good: v.good, defect: v.defect };
}

/** The scored parts of the queue as columns (tuning at scale: no object per part). */
export interface ScoredQueue {
  /** Image ids, in queue order (score desc, then id). */
  ids: Float64Array;
  /** Score of each part under the version. */
  scores: Float64Array;
  /** Current verdict of each part: 0 unreviewed, 1 good, 2 defect. */
  verdicts: Uint8Array;
  /** Defect type of the parts whose current verdict is a defect, by index (null: none given). */
  defectTypes: Map<number, string | null>;
}

export const VERDICT_CODE = { good: 1, defect: 2 } as const;

/**
 * Every part scored under `modelVersion`, in queue order, with its current verdict, as typed
 * columns: one walk of the scores index, one read of the current verdicts.
 */
export function scoredQueue(db: Db, modelVersion: number): ScoredQueue {
  return readTx(db, () => {
    const train = new Set(
      cached(db, `SELECT s.image_id FROM images i CROSS JOIN scores s ON s.image_id = i.id AND s.model_version = ? WHERE i.role = 'train'`)
        .pluck()
        .all(modelVersion) as number[],
    );
    const current = new Map<number, { verdict: 'good' | 'defect'; defectType: string | null }>();
    const vrows = cached(
      db,
      `SELECT v.image_id, v.verdict, v.defect_type FROM (SELECT max(id) AS id FROM verdicts GROUP BY image_id) latest
       JOIN verdicts v ON v.id = latest.id WHERE v.verdict IS NOT NULL`,
    ).all() as { image_id: number; verdict: 'good' | 'defect'; defect_type: string | null }[];
    for (const r of vrows) current.set(r.image_id, { verdict: r.verdict, defectType: r.defect_type });
    // Two single-column reads in the same order (one array per row would cost more than the walk).
    const [allIds, allScores] = scoreColumnsInOrder(db, modelVersion);
    const n = allIds.length - train.size;
    const ids = new Float64Array(n);
    const scores = new Float64Array(n);
    const verdicts = new Uint8Array(n);
    const defectTypes = new Map<number, string | null>();
    let i = 0;
    for (let k = 0; k < allIds.length; k++) {
      const id = allIds[k]!;
      if (train.has(id)) continue;
      ids[i] = id;
      scores[i] = allScores[k]!;
      const v = current.get(id);
      if (v) {
        verdicts[i] = VERDICT_CODE[v.verdict];
        if (v.verdict === 'defect') defectTypes.set(i, v.defectType);
      }
      i++;
    }
    return { ids, scores, verdicts, defectTypes };
  });
}

/**
 * Image ids and scores of a version, in queue order, as two arrays. PostgreSQL: one
 * aggregated string (100,000 rows as rows cost ~0.5 s through the connection; as one text
 * value each, a few ms). Scores print in their shortest exact form, so they read back equal.
 */
function scoreColumnsInOrder(db: Db, modelVersion: number): [number[], number[]] {
  if (asPg(db)) {
    const text = cached(
      db,
      // ORDER BY inside the aggregate: the only order PostgreSQL guarantees an aggregate keeps.
      `SELECT coalesce(string_agg(image_id::text || ':' || score::text, ',' ORDER BY score DESC, image_id), '') FROM scores WHERE model_version = ?`,
    )
      .pluck()
      .get(modelVersion) as string;
    const pairs = text === '' ? [] : text.split(',');
    const ids = new Array<number>(pairs.length);
    const scores = new Array<number>(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      const p = pairs[i]!;
      const k = p.indexOf(':');
      ids[i] = Number(p.slice(0, k));
      scores[i] = Number(p.slice(k + 1));
    }
    return [ids, scores];
  }
  return [
    cached(db, 'SELECT image_id FROM scores WHERE model_version = ? ORDER BY score DESC, image_id').pluck().all(modelVersion) as number[],
    cached(db, 'SELECT score FROM scores WHERE model_version = ? ORDER BY score DESC, image_id').pluck().all(modelVersion) as number[],
  ];
}
