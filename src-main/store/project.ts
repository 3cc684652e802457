/**
 * The project row (one per database, id = 1): its name, creation time, settings (JSON) and
 * the active model version. Creating the project and changing its settings are audited
 * ('project' events); the active version is changed by models.ts (completeModel,
 * rollbackModel), also audited.
 */
import { KensaError } from '../shared/errors';
import { appendAudit } from './audit';
import { integer, invalid, nowIso, personName, text } from './checks';
import { cached, writeTx, type Db } from './db';
import { canonicalJson, parseJson, redactSecrets, type JsonValue } from './json';
import { DEFAULT_LINE_SETTINGS, DEFAULT_RETENTION, type LineSettings, type RetentionSettings } from '../shared/line';
import { checkLineSettings, checkRetention, readLineSettings, readRetention } from './line-settings';

export interface ProjectSettings {
  /** Refit automatically once this many good verdicts on flagged parts are pending; null = only by hand. */
  autoRefitAfter: number | null;
  /** Reviewed defects needed before a zero-miss threshold is proposed (fewer: say so, propose nothing). */
  minDefectsForZeroMiss: number;
  /** Watched folders and where results go back to the line (shared/line.ts). */
  line: LineSettings;
  /** What is kept of passed parts' anomaly maps (shared/line.ts). */
  retention: RetentionSettings;
  /** Every action needs a signed-in account (name + password or PIN) with a role that may do it. */
  requireSignIn: boolean;
  /** A good verdict on a flagged part enters the bank only once a second reviewer confirms it. */
  fourEyes: boolean;
}

export const DEFAULT_SETTINGS: Readonly<ProjectSettings> = Object.freeze({
  autoRefitAfter: null,
  minDefectsForZeroMiss: 3,
  line: DEFAULT_LINE_SETTINGS,
  retention: DEFAULT_RETENTION,
  requireSignIn: false,
  fourEyes: false,
});

export interface Project {
  name: string;
  createdAt: string;
  settings: ProjectSettings;
  activeModelVersion: number | null;
}

export interface ProjectRow {
  id: number;
  name: string;
  created_at: string;
  /** Canonical JSON of the stored settings (unknown keys from newer Kensa versions are kept). */
  settings: string;
  active_model_version: number | null;
}

export function mapProject(r: ProjectRow): Project {
  return { name: r.name, createdAt: r.created_at, settings: parseSettings(r.settings), activeModelVersion: r.active_model_version };
}

/** Creates the project row (audited) or, when it exists already, returns it unchanged. */
export function initProject(db: Db, name: string, actor: string): Project {
  const projectName = text(name, 'project name', 200);
  const who = personName(actor, 'actor');
  return writeTx(db, () => {
    const existing = getProjectRow(db);
    if (existing) return mapProject(existing);
    const createdAt = nowIso();
    db.prepare('INSERT INTO project (id, name, created_at, settings, active_model_version) VALUES (1, ?, ?, ?, NULL)').run(
      projectName,
      createdAt,
      canonicalJson(DEFAULT_SETTINGS),
    );
    const row = getProjectRow(db) as ProjectRow;
    appendAudit(db, { actor: who, kind: 'project', entity: 'project', entityId: 1, payload: { action: 'init', project: row }, at: createdAt });
    return mapProject(row);
  });
}

export function getProject(db: Db): Project | null {
  const row = getProjectRow(db);
  return row ? mapProject(row) : null;
}

/** The project, or NOT_FOUND when initProject was never called on this database. */
export function requireProject(db: Db): Project {
  const p = getProject(db);
  if (!p) throw new KensaError('NOT_FOUND', `${db.name} has no project yet: create it first`, { file: db.name });
  return p;
}

/** Changes some settings (validated), audited as a 'project' event with the patch and the result. */
export function updateSettings(db: Db, patch: Partial<ProjectSettings>, actor: string): Project {
  const who = personName(actor, 'actor');
  const clean = validatePatch(patch);
  return writeTx(db, () => {
    const row = getProjectRow(db);
    if (!row) throw new KensaError('NOT_FOUND', `${db.name} has no project yet: create it first`, { file: db.name });
    const stored = parseJson(row.settings, 'project.settings') as Record<string, JsonValue>;
    const next = { ...DEFAULT_SETTINGS, ...stored, ...clean };
    const nextText = canonicalJson(next);
    db.prepare('UPDATE project SET settings = ? WHERE id = 1').run(nextText);
    appendAudit(db, { actor: who, kind: 'project', entity: 'project', entityId: 1, payload: redactSecrets({ action: 'settings', patch: clean, settings: next }) as JsonValue });
    return mapProject(getProjectRow(db) as ProjectRow);
  });
}

function getProjectRow(db: Db): ProjectRow | undefined {
  return cached(db, 'SELECT * FROM project WHERE id = 1').get() as ProjectRow | undefined;
}

function validatePatch(patch: Partial<ProjectSettings>): Partial<ProjectSettings> {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) throw invalid('settings patch must be an object');
  const out: Partial<ProjectSettings> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (key === 'autoRefitAfter') out.autoRefitAfter = value === null ? null : integer(value, 'autoRefitAfter', 1);
    else if (key === 'minDefectsForZeroMiss') out.minDefectsForZeroMiss = integer(value, 'minDefectsForZeroMiss', 1);
    else if (key === 'line') out.line = checkLineSettings(value);
    else if (key === 'retention') out.retention = checkRetention(value);
    else if (key === 'requireSignIn' || key === 'fourEyes') {
      if (typeof value !== 'boolean') throw invalid(`${key} must be true or false`);
      out[key] = value;
    }
    else throw invalid(`unknown project setting '${key}'`);
  }
  return out;
}

/** Stored settings over the defaults; a stored value of the wrong type falls back to the default. */
function parseSettings(textValue: string): ProjectSettings {
  const s = parseJson(textValue, 'project.settings') as Record<string, JsonValue>;
  const auto = s.autoRefitAfter;
  const min = s.minDefectsForZeroMiss;
  return {
    autoRefitAfter: auto === null || (typeof auto === 'number' && Number.isSafeInteger(auto) && auto >= 1) ? (auto ?? null) : DEFAULT_SETTINGS.autoRefitAfter,
    minDefectsForZeroMiss: typeof min === 'number' && Number.isSafeInteger(min) && min >= 1 ? min : DEFAULT_SETTINGS.minDefectsForZeroMiss,
    line: readLineSettings(s.line),
    retention: readRetention(s.retention),
    requireSignIn: s.requireSignIn === true,
    fourEyes: s.fourEyes === true,
  };
}

