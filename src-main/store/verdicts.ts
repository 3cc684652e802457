/**
 * Verdicts: the QA reviewer's decision on a part (good / defect, with defect type, regions and
 * a comment). APPEND-ONLY (triggers refuse UPDATE and DELETE): a change is a new 'set' row, an
 * undo is a new 'undo' row, and the current verdict of an image is its latest row.
 *
 * Undo works as a stack of the image's 'set' rows: each 'set' pushes, each 'undo' pops the
 * top one (named in `undoes`) and copies the state of the new top (or NULLs: back to
 * unreviewed). So set good, set defect, undo → good, undo → unreviewed, undo → NOT_FOUND.
 *
 * Every row is audited ('verdict' event whose payload is the full row) in the same
 * transaction, so verifyAudit can show that no verdict was changed afterwards.
 */
import { KensaError } from '../shared/errors';
import { appendAudit } from './audit';
import { integer, invalid, nowIso, oneOf, optionalFinite, optionalInteger, optionalText, personName } from './checks';
import { cached, readTx, writeTx, type Db } from './db';
import { canonicalJson, parseJson, type JsonValue } from './json';
import { modelLineage } from './models';
import { touchReviewerInTx } from './reviewers';

export type VerdictValue = 'good' | 'defect';
export type VerdictAction = 'set' | 'undo';

export interface NewVerdict {
  imageId: number;
  verdict: VerdictValue;
  /** Only with verdict 'defect'. */
  defectType?: string | null;
  /** The marked regions (any JSON: boxes, polygons, ...), as drawn by the reviewer. */
  regions?: unknown;
  comment?: string | null;
  reviewer: string;
  /** The model whose score the reviewer saw. */
  modelVersion?: number | null;
  /** The threshold in force when the verdict was given. */
  threshold?: number | null;
  /** The score shown to the reviewer. */
  scoreShown?: number | null;
}

export interface Verdict {
  id: number;
  imageId: number;
  action: VerdictAction;
  /** null: back to unreviewed (after undoing the only verdict). */
  verdict: VerdictValue | null;
  defectType: string | null;
  regions: JsonValue | null;
  comment: string | null;
  reviewer: string;
  createdAt: string;
  modelVersion: number | null;
  threshold: number | null;
  scoreShown: number | null;
  /** For an undo: the id of the 'set' row it took back. */
  undoes: number | null;
}

export interface VerdictRow {
  id: number;
  image_id: number;
  action: VerdictAction;
  verdict: VerdictValue | null;
  defect_type: string | null;
  regions: string | null;
  comment: string | null;
  reviewer: string;
  created_at: string;
  model_version: number | null;
  threshold: number | null;
  score_shown: number | null;
  undoes: number | null;
}

export function mapVerdict(r: VerdictRow): Verdict {
  return {
    id: r.id,
    imageId: r.image_id,
    action: r.action,
    verdict: r.verdict,
    defectType: r.defect_type,
    regions: r.regions === null ? null : parseJson(r.regions, `verdicts.regions of verdict ${r.id}`),
    comment: r.comment,
    reviewer: r.reviewer,
    createdAt: r.created_at,
    modelVersion: r.model_version,
    threshold: r.threshold,
    scoreShown: r.score_shown,
    undoes: r.undoes,
  };
}

type VerdictFields = Omit<VerdictRow, 'id' | 'created_at'>;

/** Records one verdict (audited) and returns the new row. */
export function recordVerdict(db: Db, v: NewVerdict): Verdict {
  const clean = validate(v, 'verdict');
  return writeTx(db, () => insertAudited(db, clean, nowIso()));
}

/** Records several verdicts in ONE transaction: all of them or none. */
export function recordVerdicts(db: Db, items: readonly NewVerdict[]): Verdict[] {
  const clean = items.map((v, i) => validate(v, `verdicts[${i}]`));
  return writeTx(db, () => {
    const at = nowIso();
    return clean.map((f) => insertAudited(db, f, at));
  });
}

/**
 * Takes back the image's latest standing 'set' verdict: appends an 'undo' row carrying the
 * state before it (NULL verdict when there is none). NOT_FOUND when there is nothing to undo.
 */
export function undoVerdict(db: Db, imageId: number, reviewer: string): Verdict {
  const id = integer(imageId, 'imageId', 1);
  const who = personName(reviewer, 'reviewer');
  return writeTx(db, () => {
    const history = db.prepare('SELECT * FROM verdicts WHERE image_id = ? ORDER BY id').all(id) as VerdictRow[];
    const stack = standingSets(history);
    const undone = stack.pop();
    if (!undone) throw new KensaError('NOT_FOUND', `image ${id} has no verdict to undo`);
    const back = stack.at(-1) ?? null;
    return insertAudited(
      db,
      {
        image_id: id,
        action: 'undo',
        verdict: back?.verdict ?? null,
        defect_type: back?.defect_type ?? null,
        regions: back?.regions ?? null,
        comment: back?.comment ?? null,
        reviewer: who,
        model_version: back?.model_version ?? null,
        threshold: back?.threshold ?? null,
        score_shown: back?.score_shown ?? null,
        undoes: undone.id,
      },
      nowIso(),
    );
  });
}

/** The current verdict of every reviewed image (latest row per image, unreviewed ones left out). */
export function currentVerdicts(db: Db): Map<number, Verdict> {
  const rows = db
    .prepare(
      `SELECT v.* FROM verdicts v
       JOIN (SELECT image_id, max(id) AS id FROM verdicts GROUP BY image_id) latest ON latest.id = v.id
       WHERE v.verdict IS NOT NULL
       ORDER BY v.image_id`,
    )
    .all() as VerdictRow[];
  return new Map(rows.map((r) => [r.image_id, mapVerdict(r)]));
}

/**
 * The latest verdict row of every image with one, as the table stood before `end` (an ISO
 * instant, exclusive; null: now): a set, or an undo (whose verdict may be null: back to
 * unreviewed). By image id. One read, however many images the project holds. (The CAST gives
 * PostgreSQL the parameter's type, which a bare `@end IS NULL` leaves undetermined there.)
 */
export function verdictsAsOf(db: Db, end: string | null): Verdict[] {
  const rows = cached(
    db,
    `SELECT v.* FROM (SELECT max(id) AS id FROM verdicts WHERE CAST(@end AS TEXT) IS NULL OR created_at < @end GROUP BY image_id) latest
     JOIN verdicts v ON v.id = latest.id
     ORDER BY v.image_id`,
  ).all({ end }) as VerdictRow[];
  return rows.map(mapVerdict);
}

/** The image's current verdict, or null when it is unreviewed. */
export function currentVerdict(db: Db, imageId: number): Verdict | null {
  const row = db.prepare('SELECT * FROM verdicts WHERE image_id = ? ORDER BY id DESC LIMIT 1').get(imageId) as VerdictRow | undefined;
  return row && row.verdict !== null ? mapVerdict(row) : null;
}

/** Every row for the image, oldest first (sets and undos). */
export function verdictHistory(db: Db, imageId: number): Verdict[] {
  return (db.prepare('SELECT * FROM verdicts WHERE image_id = ? ORDER BY id').all(imageId) as VerdictRow[]).map(mapVerdict);
}

/**
 * The good verdicts pending for a refit of `modelVersion`: images whose CURRENT verdict is
 * 'good', that were flagged when reviewed (score_shown >= threshold in force; verdicts given
 * without a score or a threshold do not count), and whose patches are not yet in the bank of
 * `modelVersion`, i.e. not in the added_image_ids of it or of any ready ancestor. (A version
 * rolled back away from does not count: its added images are pending again for a refit of
 * the version rolled back to.) Oldest image first.
 */
export function goodVerdictsSince(db: Db, modelVersion: number): Verdict[] {
  return readTx(db, () => {
    const absorbed = absorbedImages(db, modelVersion);
    // Only the current verdicts that are good and were flagged when given are read (not every verdict).
    const rows = cached(
      db,
      `SELECT v.* FROM (SELECT max(id) AS id FROM verdicts GROUP BY image_id) latest
       JOIN verdicts v ON v.id = latest.id
       WHERE v.verdict = 'good' AND v.score_shown IS NOT NULL AND v.threshold IS NOT NULL AND v.score_shown >= v.threshold
       ORDER BY v.image_id`,
    ).all() as VerdictRow[];
    return rows.filter((r) => !absorbed.has(r.image_id)).map(mapVerdict);
  });
}

/** Images whose patches are in the bank of `modelVersion`: the added_image_ids of it and of its ready ancestors. */
export function absorbedImages(db: Db, modelVersion: number): Set<number> {
  const absorbed = new Set<number>();
  for (const m of modelLineage(db, modelVersion)) if (m.status === 'ready') for (const id of m.addedImageIds) absorbed.add(id);
  return absorbed;
}

/** The 'set' rows still standing after replaying the history's undos, oldest first. */
function standingSets(history: readonly VerdictRow[]): VerdictRow[] {
  const stack: VerdictRow[] = [];
  for (const r of history) {
    if (r.action === 'set') stack.push(r);
    else stack.pop();
  }
  return stack;
}

function validate(v: NewVerdict, where: string): VerdictFields {
  if (v === null || typeof v !== 'object') throw invalid(`${where} must be an object`);
  const verdict = oneOf(v.verdict, ['good', 'defect'] as const, `${where}.verdict`);
  const defectType = optionalText(v.defectType, `${where}.defectType`, 200);
  if (defectType !== null && verdict !== 'defect') throw invalid(`${where}.defectType is only for a 'defect' verdict`);
  return {
    image_id: integer(v.imageId, `${where}.imageId`, 1),
    action: 'set',
    verdict,
    defect_type: defectType,
    regions: v.regions === undefined || v.regions === null ? null : canonicalJson(v.regions),
    comment: optionalText(v.comment, `${where}.comment`),
    reviewer: personName(v.reviewer, `${where}.reviewer`),
    model_version: optionalInteger(v.modelVersion, `${where}.modelVersion`, 1),
    threshold: optionalFinite(v.threshold, `${where}.threshold`),
    score_shown: optionalFinite(v.scoreShown, `${where}.scoreShown`),
    undoes: null,
  };
}

/** Inserts one row and its audit event; the caller holds the write transaction. */
function insertAudited(db: Db, f: VerdictFields, at: string): Verdict {
  if (!cached(db, 'SELECT 1 FROM images WHERE id = ?').get(f.image_id)) throw new KensaError('NOT_FOUND', `image ${f.image_id} does not exist`);
  if (f.model_version !== null && !cached(db, 'SELECT 1 FROM models WHERE version = ?').get(f.model_version)) {
    throw new KensaError('NOT_FOUND', `model version ${f.model_version} does not exist`);
  }
  touchReviewerInTx(db, f.reviewer, at);
  const row = cached(
    db,
    `INSERT INTO verdicts (image_id, action, verdict, defect_type, regions, comment, reviewer, created_at, model_version, threshold, score_shown, undoes)
     VALUES (@image_id, @action, @verdict, @defect_type, @regions, @comment, @reviewer, @created_at, @model_version, @threshold, @score_shown, @undoes)
     RETURNING *`,
  ).get({ ...f, created_at: at }) as VerdictRow;
  appendAudit(db, { actor: f.reviewer, kind: 'verdict', entity: 'verdict', entityId: row.id, payload: row, at });
  return mapVerdict(row);
}
