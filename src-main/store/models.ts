/**
 * Model versions: each fit (from training images) or refit (a parent's memory bank plus the
 * patches of good verdicts on flagged parts) is a numbered, immutable version. Lifecycle:
 * beginModel inserts 'building' (not audited: nothing exists yet), then completeModel makes
 * it 'ready', audits a 'fit'/'refit' event with the full row and makes it the active version,
 * or failModel marks it 'failed'. A ready or failed row never changes again (a trigger
 * refuses it). rollbackModel makes an earlier ready version active again (audited).
 */
import { KensaError } from '../shared/errors';
import { appendAudit } from './audit';
import { finite, integer, invalid, nowIso, oneOf, personName, sha256, text } from './checks';
import { cached, writeTx, type Db } from './db';
import { canonicalJson, parseJson, type JsonValue } from './json';

export type ModelKind = 'fit' | 'refit' | 'learn';
export type ModelStatus = 'building' | 'ready' | 'failed';

export interface NewModel {
  kind: ModelKind;
  /** The detector that fits this version (default 'patchcore'); a refit keeps its parent's. */
  detector?: string;
  /** Required for a refit (the version whose bank it extends); must be absent for a fit. */
  parentVersion?: number | null;
  backboneId: string;
  backboneSha256: string;
  /** The fit configuration (taps, coreset ratio, image size, ...): a JSON object. */
  config: Record<string, unknown>;
  /** Refit/learn only: the images (good verdicts on flagged parts; every reviewed part) this version learns from. */
  addedImageIds?: readonly number[];
  /** Refit/learn only: the verdict rows it learns from (the trace from a score back to the reviews). */
  verdictIds?: readonly number[];
}

/** One fact a detector states about a fitted model ("Memory bank: 12,345 patches"). */
export interface ModelFact {
  label: string;
  value: number | string;
  unit?: string;
}

export interface ModelCompletion {
  modelFile: string;
  modelSha256: string;
  /** The detector's facts about the fitted model, by key (bank size, epochs, …); default: the bank size when given. */
  facts?: Record<string, ModelFact>;
  /** PatchCore only: the memory-bank size (kept in its column for older readers). */
  bankSize?: number | null;
  fitSeconds: number;
  /** The ONNX Runtime execution provider that built it (e.g. 'cpu', 'cuda'). */
  ep: string;
}

export interface ModelRecord {
  version: number;
  parentVersion: number | null;
  kind: ModelKind;
  backboneId: string;
  backboneSha256: string;
  config: JsonValue;
  modelFile: string | null;
  modelSha256: string | null;
  /** The detector ('patchcore' for versions made before detectors had a seam). */
  detector: string;
  /** The detector's facts, by key (bank size, epochs, …); for rows made before migration 2, the bank size. */
  facts: Record<string, ModelFact>;
  fitSeconds: number | null;
  ep: string | null;
  status: ModelStatus;
  failure: string | null;
  createdAt: string;
  createdBy: string;
  addedImageIds: number[];
  /** The verdicts a refit or learning step learned from ([] for fits and versions made before migration 3). */
  verdictIds: number[];
}

export interface ModelRow {
  version: number;
  parent_version: number | null;
  kind: ModelKind;
  backbone_id: string;
  backbone_sha256: string;
  config: string;
  model_file: string | null;
  model_sha256: string | null;
  bank_size: number | null;
  detector: string | null;
  facts: string | null;
  fit_seconds: number | null;
  ep: string | null;
  status: ModelStatus;
  failure: string | null;
  created_at: string;
  created_by: string;
  added_image_ids: string;
  verdict_ids: string | null;
}

export function mapModel(r: ModelRow): ModelRecord {
  return {
    version: r.version,
    parentVersion: r.parent_version,
    kind: r.kind,
    backboneId: r.backbone_id,
    backboneSha256: r.backbone_sha256,
    config: parseJson(r.config, `models.config of version ${r.version}`),
    modelFile: r.model_file,
    modelSha256: r.model_sha256,
    detector: r.detector ?? 'patchcore',
    facts:
      r.facts !== null
        ? (parseJson(r.facts, `models.facts of version ${r.version}`) as unknown as Record<string, ModelFact>)
        : r.bank_size !== null
          ? { bankSize: { label: 'Memory bank', value: r.bank_size, unit: 'patches' } }
          : {},
    fitSeconds: r.fit_seconds,
    ep: r.ep,
    status: r.status,
    failure: r.failure,
    createdAt: r.created_at,
    createdBy: r.created_by,
    addedImageIds: parseJson(r.added_image_ids, `models.added_image_ids of version ${r.version}`) as number[],
    verdictIds: r.verdict_ids == null ? [] : (parseJson(r.verdict_ids, `models.verdict_ids of version ${r.version}`) as number[]),
  };
}

/** Inserts a new version in status 'building' and returns it (its version number is max + 1). */
export function beginModel(db: Db, m: NewModel, actor: string): ModelRecord {
  const who = personName(actor, 'actor');
  const kind = oneOf(m.kind, ['fit', 'refit', 'learn'] as const, 'kind');
  const detector = oneOf(m.detector ?? 'patchcore', ['patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion'] as const, 'detector');
  const backboneId = text(m.backboneId, 'backboneId', 200);
  const backboneSha256 = sha256(m.backboneSha256, 'backboneSha256');
  if (m.config === null || typeof m.config !== 'object' || Array.isArray(m.config)) throw invalid('config must be a JSON object');
  const config = canonicalJson(m.config);
  const parent = m.parentVersion ?? null;
  const added = [...new Set((m.addedImageIds ?? []).map((id, i) => integer(id, `addedImageIds[${i}]`, 1)))].sort((a, b) => a - b);
  if (kind === 'fit' && parent !== null) throw invalid('a fit starts from scratch: it has no parent version (use a refit)');
  if (kind === 'fit' && added.length > 0) throw invalid('addedImageIds belong to a refit, not a fit');
  if (kind !== 'fit' && parent === null) throw invalid(`a ${kind} needs the parent version it starts from`);
  const verdictIds = [...new Set((m.verdictIds ?? []).map((id, i) => integer(id, `verdictIds[${i}]`, 1)))].sort((a, b) => a - b);
  if (kind === 'fit' && verdictIds.length > 0) throw invalid('verdictIds belong to a refit or learning step, not a fit');
  return writeTx(db, () => {
    if (parent !== null) {
      const p = getModelRow(db, parent);
      if (!p) throw new KensaError('NOT_FOUND', `parent model version ${parent} does not exist`);
      if (p.status !== 'ready') throw new KensaError('CONFLICT', `parent model version ${parent} is ${p.status}, not ready`);
      if ((p.detector ?? 'patchcore') !== detector) throw invalid(`a ${kind} keeps its parent's detector (${p.detector ?? 'patchcore'})`);
      if (p.backbone_id !== backboneId || p.backbone_sha256 !== backboneSha256) {
        throw invalid(`a refit must use its parent's backbone (${p.backbone_id}, sha256 ${p.backbone_sha256.slice(0, 12)}…)`);
      }
    }
    if (verdictIds.length > 0) {
      const known = countExisting(db, 'verdicts', 'id', verdictIds);
      if (known !== verdictIds.length) throw new KensaError('NOT_FOUND', `${verdictIds.length - known} of the verdicts learned from do not exist`);
    }
    if (added.length > 0) {
      const known = countExisting(db, 'images', 'id', added);
      if (known !== added.length) throw new KensaError('NOT_FOUND', `${added.length - known} of the added images do not exist`);
    }
    const row = db
      .prepare(
        `INSERT INTO models (version, parent_version, kind, backbone_id, backbone_sha256, config, status, created_at, created_by, added_image_ids, detector, verdict_ids)
         VALUES ((SELECT coalesce(max(version), 0) + 1 FROM models), ?, ?, ?, ?, ?, 'building', ?, ?, ?, ?, ?)
         RETURNING *`,
      )
      .get(parent, kind, backboneId, backboneSha256, config, nowIso(), who, JSON.stringify(added), detector, kind === 'fit' ? null : JSON.stringify(verdictIds)) as ModelRow;
    return mapModel(row);
  });
}

/**
 * Marks a building version ready, records the 'fit'/'refit' audit event (payload = the full
 * row) and makes it the project's active version, in one transaction.
 */
export function completeModel(db: Db, version: number, done: ModelCompletion, actor: string): ModelRecord {
  const who = personName(actor, 'actor');
  const modelFile = text(done.modelFile, 'modelFile', 4096);
  const modelSha256 = sha256(done.modelSha256, 'modelSha256');
  const bankSize = done.bankSize === undefined || done.bankSize === null ? null : integer(done.bankSize, 'bankSize', 1);
  const factsIn = done.facts ?? (bankSize !== null ? { bankSize: { label: 'Memory bank', value: bankSize, unit: 'patches' } } : {});
  if (factsIn === null || typeof factsIn !== 'object' || Array.isArray(factsIn)) throw invalid('facts must be a JSON object');
  const facts = canonicalJson(factsIn as Record<string, unknown>);
  const fitSeconds = finite(done.fitSeconds, 'fitSeconds');
  if (fitSeconds < 0) throw invalid('fitSeconds must not be negative');
  const ep = text(done.ep, 'ep', 100);
  return writeTx(db, () => {
    requireBuilding(db, version);
    if (!db.prepare('SELECT 1 FROM project WHERE id = 1').get()) throw new KensaError('NOT_FOUND', `${db.name} has no project yet: create it first`);
    db.prepare(
      `UPDATE models SET status = 'ready', model_file = ?, model_sha256 = ?, bank_size = ?, facts = ?, fit_seconds = ?, ep = ? WHERE version = ?`,
    ).run(modelFile, modelSha256, bankSize, facts, fitSeconds, ep, version);
    const row = getModelRow(db, version) as ModelRow;
    // A learning step waits for a person to accept it (activateModel); fits and refits take over at once.
    if (row.kind !== 'learn') db.prepare('UPDATE project SET active_model_version = ? WHERE id = 1').run(version);
    appendAudit(db, { actor: who, kind: row.kind, entity: 'model', entityId: version, payload: row });
    return mapModel(row);
  });
}

/** Marks a building version failed, with the reason (not audited: a failed model was never used). */
export function failModel(db: Db, version: number, reason: string): ModelRecord {
  const why = text(reason, 'reason');
  return writeTx(db, () => {
    requireBuilding(db, version);
    db.prepare(`UPDATE models SET status = 'failed', failure = ? WHERE version = ?`).run(why, version);
    return mapModel(getModelRow(db, version) as ModelRow);
  });
}

/**
 * Makes an earlier (or later) ready version the active one again; audited 'rollback', or
 * 'activate' when a person accepts a version that was never active (a learning step, a choice
 * from the comparison).
 */
export function rollbackModel(db: Db, toVersion: number, actor: string, reason: string, eventKind: 'rollback' | 'activate' = 'rollback'): ModelRecord {
  const who = personName(actor, 'actor');
  const why = text(reason, 'reason');
  return writeTx(db, () => {
    const row = getModelRow(db, toVersion);
    if (!row) throw new KensaError('NOT_FOUND', `model version ${toVersion} does not exist`);
    if (row.status !== 'ready') throw new KensaError('CONFLICT', `model version ${toVersion} is ${row.status}: only a ready version can be made active`);
    const project = db.prepare('SELECT active_model_version FROM project WHERE id = 1').get() as { active_model_version: number | null } | undefined;
    if (!project) throw new KensaError('NOT_FOUND', `${db.name} has no project yet: create it first`);
    if (project.active_model_version === toVersion) throw new KensaError('CONFLICT', `model version ${toVersion} is already the active version`);
    db.prepare('UPDATE project SET active_model_version = ? WHERE id = 1').run(toVersion);
    appendAudit(db, {
      actor: who,
      kind: eventKind,
      entity: 'model',
      entityId: toVersion,
      payload: { from_version: project.active_model_version, to_version: toVersion, reason: why },
    });
    return mapModel(row);
  });
}

/** All versions, oldest first. */
export function listModels(db: Db): ModelRecord[] {
  return (db.prepare('SELECT * FROM models ORDER BY version').all() as ModelRow[]).map(mapModel);
}

export function getModel(db: Db, version: number): ModelRecord | null {
  const row = getModelRow(db, version);
  return row ? mapModel(row) : null;
}

/** The project's active version, or null before the first fit completes. */
export function getActiveModel(db: Db): ModelRecord | null {
  const row = cached(db, 'SELECT m.* FROM models m JOIN project p ON p.active_model_version = m.version WHERE p.id = 1').get() as
    | ModelRow
    | undefined;
  return row ? mapModel(row) : null;
}

/** The version and its ancestors through parent_version, newest first (NOT_FOUND if it does not exist). */
export function modelLineage(db: Db, version: number): ModelRecord[] {
  const rows = db
    .prepare(
      `WITH RECURSIVE lineage(v, depth) AS (
         SELECT version, 0 FROM models WHERE version = ?
         UNION ALL
         SELECT m.parent_version, lineage.depth + 1 FROM models m JOIN lineage ON m.version = lineage.v
         WHERE m.parent_version IS NOT NULL
       )
       SELECT models.* FROM lineage JOIN models ON models.version = lineage.v ORDER BY lineage.depth`,
    )
    .all(version) as ModelRow[];
  if (rows.length === 0) throw new KensaError('NOT_FOUND', `model version ${version} does not exist`);
  return rows.map(mapModel);
}

function getModelRow(db: Db, version: number): ModelRow | undefined {
  return db.prepare('SELECT * FROM models WHERE version = ?').get(version) as ModelRow | undefined;
}

function requireBuilding(db: Db, version: number): ModelRow {
  const row = getModelRow(db, version);
  if (!row) throw new KensaError('NOT_FOUND', `model version ${version} does not exist`);
  if (row.status !== 'building') throw new KensaError('CONFLICT', `model version ${version} is already ${row.status}`);
  return row;
}

/** How many of `ids` (distinct) exist as `table.col`, in chunks of bound parameters (both engines). */
function countExisting(db: Db, table: 'verdicts' | 'images', col: 'id', ids: readonly number[]): number {
  const distinct = [...new Set(ids)];
  let n = 0;
  for (let i = 0; i < distinct.length; i += 500) {
    const chunk = distinct.slice(i, i + 500);
    n += db.prepare(`SELECT count(*) FROM ${table} WHERE ${col} IN (${chunk.map(() => '?').join(', ')})`).pluck().get(...chunk) as number;
  }
  return n;
}
