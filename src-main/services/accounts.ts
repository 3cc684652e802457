/**
 * Who may do what, and the records a signature covers.
 *
 * Roles are ranked reviewer < approver < administrator. With the project setting
 * `requireSignIn`, every action needs a signed-in account whose role reaches the action's
 * minimum (below); without it, the name picker stays and nothing is checked (one person, one
 * station). Signing always needs the signer's password again, whatever the setting.
 *
 * What a signature's content hash is, per record kind (the hash is computed here, from the
 * database, never taken from the caller):
 *   threshold   the digest of the threshold row (store rowDigest: canonical JSON, sha256)
 *   activation  the hash of the audit event that made a model version active (fit, refit,
 *               rollback or activate), whose payload names the version
 *   report      the sha256 of the report's data (services/report-signing.ts reportDataHash)
 */
import { KensaError } from '../shared/errors';
import { rowDigest, type Account, type Db, type Meaning, type RecordKind, type Role } from '../store/index';

export type Action = 'verdict' | 'confirm' | 'fit' | 'score' | 'refit' | 'learn' | 'report' | 'threshold' | 'activate' | 'line' | 'settings' | 'accounts';

const RANK: Record<Role, number> = { reviewer: 0, approver: 1, administrator: 2 };

/** The least role that may take each action when sign-in is required. */
export const MIN_ROLE: Record<Action, Role> = {
  verdict: 'reviewer',
  confirm: 'reviewer',
  fit: 'reviewer',
  score: 'reviewer',
  refit: 'reviewer',
  learn: 'reviewer',
  report: 'reviewer',
  threshold: 'approver',
  activate: 'approver',
  line: 'approver',
  settings: 'administrator',
  accounts: 'administrator',
};

const ACTION_LABEL: Record<Action, string> = {
  verdict: 'give verdicts',
  confirm: 'confirm verdicts',
  fit: 'fit models',
  score: 'score parts',
  refit: 'refit models',
  learn: 'learn from the review',
  report: 'export reports',
  threshold: 'change the threshold',
  activate: 'change the active model',
  line: 'change the line settings',
  settings: 'change the project settings',
  accounts: 'manage accounts',
};

/** The least role that may sign with each meaning. */
export const SIGN_ROLE: Record<Meaning, Role> = { reviewed: 'reviewer', approved: 'approver', responsible: 'approver' };

export function roleAllows(role: Role, least: Role): boolean {
  return RANK[role] >= RANK[least];
}

/**
 * Checks an action against the signed-in account (when the project asks for sign-in) and
 * answers who it is recorded as. FORBIDDEN names the action and the role it needs.
 */
export function authorize(requireSignIn: boolean, signedIn: Account | null, action: Action, fallbackName: () => string): string {
  if (!requireSignIn) return signedIn?.name ?? fallbackName();
  if (!signedIn) throw new KensaError('FORBIDDEN', `this project asks for sign-in: sign in to ${ACTION_LABEL[action]}`);
  const least = MIN_ROLE[action];
  if (!roleAllows(signedIn.role, least)) throw new KensaError('FORBIDDEN', `${signedIn.name} is a ${signedIn.role}: only an ${least === 'approver' ? 'approver or administrator' : least} may ${ACTION_LABEL[action]}`);
  return signedIn.name;
}

/** The content hash a signature of `kind`/`id` covers (see the top of this file). */
export function recordContentHash(db: Db, kind: Exclude<RecordKind, 'report'>, id: string): { contentHash: string; what: string } {
  if (kind === 'threshold') {
    const row = db.prepare('SELECT * FROM thresholds WHERE id = ?').get(Number(id));
    if (!row) throw new KensaError('NOT_FOUND', `no threshold ${id}`);
    const t = row as { value: number; model_version: number | null };
    return { contentHash: rowDigest(row), what: `threshold ${t.value} (${t.model_version === null ? 'any model' : `v${t.model_version}`})` };
  }
  const ev = db.prepare(`SELECT seq, kind, hash, payload FROM audit_events WHERE seq = ? AND kind IN ('fit', 'refit', 'rollback', 'activate')`).get(Number(id)) as
    | { seq: number; kind: string; hash: string; payload: string }
    | undefined;
  if (!ev) throw new KensaError('NOT_FOUND', `audit event ${id} did not make a model version active`);
  const p = JSON.parse(ev.payload) as { version?: number; to_version?: number };
  return { contentHash: ev.hash, what: `activation of v${p.to_version ?? p.version} (${ev.kind}, audit event ${ev.seq})` };
}

/** The audit event that made `version` active most recently (what an activation signature covers). */
export function activationEvent(db: Db, version: number): number | null {
  const rows = db.prepare(`SELECT seq, kind, payload FROM audit_events WHERE kind IN ('fit', 'refit', 'rollback', 'activate') ORDER BY seq DESC`).all() as { seq: number; kind: string; payload: string }[];
  for (const r of rows) {
    const p = JSON.parse(r.payload) as { version?: number; to_version?: number };
    if ((p.to_version ?? p.version) === version) return r.seq;
  }
  return null;
}
