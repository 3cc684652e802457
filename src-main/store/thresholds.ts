/**
 * Decision thresholds per model version: the value a score must reach to flag a part, the
 * safety margin it was derived with, and an optional upper threshold for a pass / review /
 * reject band. APPEND-ONLY like verdicts: changing a threshold adds a row (with who and why),
 * the current threshold of a version is its latest row, and each row is audited
 * ('threshold' event with the full row) in the same transaction.
 */
import { KensaError } from '../shared/errors';
import { appendAudit } from './audit';
import { finite, invalid, nowIso, oneOf, optionalInteger, personName, text } from './checks';
import { cached, writeTx, type Db } from './db';

export type MarginKind = 'absolute' | 'spread';

export interface NewThreshold {
  /** The model whose raw scores the value is in; null for a threshold not tied to a version. */
  modelVersion: number | null;
  value: number;
  /** The safety margin subtracted when the value was derived (e.g. from the zero-miss threshold). */
  margin?: number | null;
  /** 'absolute': margin in score units; 'spread': a fraction of the good-score spread. Required with a margin. */
  marginKind?: MarginKind | null;
  /** Scores in [value, reviewUpper) go to review, at or above reviewUpper are rejected. */
  reviewUpper?: number | null;
  setBy: string;
  /** Why it was changed: required, shown in the audit trail. */
  reason: string;
}

export interface Threshold {
  id: number;
  modelVersion: number | null;
  value: number;
  margin: number | null;
  marginKind: MarginKind | null;
  reviewUpper: number | null;
  setBy: string;
  reason: string;
  createdAt: string;
}

export interface ThresholdRow {
  id: number;
  model_version: number | null;
  value: number;
  margin: number | null;
  margin_kind: MarginKind | null;
  review_upper: number | null;
  set_by: string;
  reason: string;
  created_at: string;
}

export function mapThreshold(r: ThresholdRow): Threshold {
  return {
    id: r.id,
    modelVersion: r.model_version,
    value: r.value,
    margin: r.margin,
    marginKind: r.margin_kind,
    reviewUpper: r.review_upper,
    setBy: r.set_by,
    reason: r.reason,
    createdAt: r.created_at,
  };
}

/** Sets a new threshold (audited). An empty reason, or a margin without its kind, is INVALID_ARGUMENT. */
export function setThreshold(db: Db, t: NewThreshold): Threshold {
  if (t === null || typeof t !== 'object') throw invalid('threshold must be an object');
  if (typeof t.reason !== 'string' || t.reason.trim().length === 0) throw invalid('a threshold change needs a reason');
  const reason = text(t.reason, 'reason');
  const setBy = personName(t.setBy, 'setBy');
  const modelVersion = optionalInteger(t.modelVersion, 'modelVersion', 1);
  const value = finite(t.value, 'value');
  const margin = t.margin === undefined || t.margin === null ? null : finite(t.margin, 'margin');
  const marginKind = t.marginKind === undefined || t.marginKind === null ? null : oneOf(t.marginKind, ['absolute', 'spread'] as const, 'marginKind');
  if ((margin === null) !== (marginKind === null)) throw invalid('margin and marginKind go together: give both or neither');
  if (margin !== null && margin < 0) throw invalid('margin must not be negative');
  const reviewUpper = t.reviewUpper === undefined || t.reviewUpper === null ? null : finite(t.reviewUpper, 'reviewUpper');
  if (reviewUpper !== null && reviewUpper <= value) throw invalid(`reviewUpper (${reviewUpper}) must be above the threshold (${value})`);
  return writeTx(db, () => {
    if (modelVersion !== null && !db.prepare('SELECT 1 FROM models WHERE version = ?').get(modelVersion)) {
      throw new KensaError('NOT_FOUND', `model version ${modelVersion} does not exist`);
    }
    const at = nowIso();
    const row = db
      .prepare(
        `INSERT INTO thresholds (model_version, value, margin, margin_kind, review_upper, set_by, reason, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      )
      .get(modelVersion, value, margin, marginKind, reviewUpper, setBy, reason, at) as ThresholdRow;
    appendAudit(db, { actor: setBy, kind: 'threshold', entity: 'threshold', entityId: row.id, payload: row, at });
    return mapThreshold(row);
  });
}

/**
 * The threshold in force for a model version: its latest row (no fallback to another
 * version's: scores of different versions are not on the same scale). `modelVersion`
 * omitted: the active model's version; null: the thresholds not tied to a version.
 */
export function currentThreshold(db: Db, modelVersion?: number | null): Threshold | null {
  const version =
    modelVersion !== undefined
      ? modelVersion
      : ((cached(db, 'SELECT active_model_version FROM project WHERE id = 1').pluck().get() as number | null | undefined) ?? null);
  const row = cached(db, 'SELECT * FROM thresholds WHERE model_version IS ? ORDER BY id DESC LIMIT 1').get(version) as ThresholdRow | undefined;
  return row ? mapThreshold(row) : null;
}

/** Every threshold change, oldest first; optionally only those of one model version. */
export function thresholdHistory(db: Db, modelVersion?: number | null): Threshold[] {
  const rows =
    modelVersion === undefined
      ? db.prepare('SELECT * FROM thresholds ORDER BY id').all()
      : db.prepare('SELECT * FROM thresholds WHERE model_version IS ? ORDER BY id').all(modelVersion);
  return (rows as ThresholdRow[]).map(mapThreshold);
}
