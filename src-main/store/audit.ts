/**
 * The audit trail: an append-only hash chain of events (audit_events), and its verifier.
 *
 * Each event is hashed over the one before it:
 *   hash = sha256(prev_hash + '\n' + canonicalJson({ seq, at, actor, kind, entity, entityId, payload }))
 * with prev_hash of event 1 = 64 zeros. seq runs 1, 2, 3, ... with no gaps. Editing an event
 * changes its hash; removing one leaves a gap or a prev_hash that no longer matches; an
 * auditor who keeps the head hash (it is printed on every signed report) also sees events cut
 * off the end.
 *
 * The chain alone cannot see a verdict row edited behind its back, so the events carry the
 * rows they record and verifyAudit cross-checks them:
 * - 'verdict'   payload = the full verdicts row (snake_case columns, as stored)
 * - 'threshold' payload = the full thresholds row
 * - 'fit' / 'refit' / 'learn' payload = the full models row as it became 'ready' (ready rows are
 *               frozen); a 'learn' version does not become active by itself
 * - 'rollback' / 'activate' payload = { from_version, to_version, reason } (activate: a person
 *               accepted a version that was never active, e.g. a learning step)
 * - 'project'   payload = { action: 'init', project: <row> } | { action: 'settings', patch, settings }
 * - 'import'    payload = { import_batch, added, existing, added_ids } (not cross-checked)
 * Every verdict, threshold and ready model row must equal (through its row digest) the payload
 * of exactly one event, and the project row must equal what its events say (name, settings,
 * active model version). A row edited with the sqlite3 CLI after dropping the append-only
 * triggers therefore fails verification naming the event that recorded it, and a row slipped
 * in without an event fails naming the row. A dropped guard trigger is reported too.
 *
 * A column added to an audited table by a later migration: older payloads do not have it,
 * and a missing payload field matches a NULL column (a migration that backfills a non-NULL
 * value must say how verification treats older rows).
 */
import { dialectOf, schemaTables, schemaTriggers } from './dialect';
import { KensaError } from '../shared/errors';
import { invalid, nowIso, text } from './checks';
import { cached, readTx, type Db } from './db';
import { canonicalJson, redactSecrets, sha256Hex, type JsonValue } from './json';
import { mapSignature, signatureValid, type SignatureRow } from './signatures';

export const GENESIS_HASH = '0'.repeat(64);

/** The kinds Kensa writes; the chain itself accepts any non-empty kind. */
export type AuditKind = 'verdict' | 'threshold' | 'fit' | 'refit' | 'learn' | 'rollback' | 'activate' | 'import' | 'project' | 'account' | 'signature' | 'confirm' | 'store';

export interface AuditEventInput {
  actor: string;
  /** One of AuditKind for what Kensa writes; any non-empty text is accepted. */
  kind: string;
  entity: string;
  entityId: string | number;
  /** Any JSON-able value; stored (and hashed) as canonical JSON. */
  payload: unknown;
  /** Defaults to now; pass the row's own timestamp so row and event agree. */
  at?: string;
}

export interface AuditEvent {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  entity: string;
  entityId: string;
  payload: JsonValue;
  prevHash: string;
  hash: string;
}

export interface AuditEventRow {
  seq: number;
  at: string;
  actor: string;
  kind: string;
  entity: string;
  entity_id: string;
  payload: string;
  prev_hash: string;
  hash: string;
}

export interface AuditProblem {
  /** The event where verification fails; null for a row that has no event at all. */
  seq: number | null;
  reason: string;
}

export interface AuditVerification {
  ok: boolean;
  /** Number of events in the chain. */
  events: number;
  /** The stored hash of the last event (null when there are none). */
  headHash: string | null;
  /** The first problem: lowest seq first, rows without any event last. */
  firstBad: AuditProblem | null;
  /** Every problem found, in the same order (at most 100). */
  problems: AuditProblem[];
}

/** The hash of one event given the hash before it. */
export function auditHash(
  prevHash: string,
  e: { seq: number; at: string; actor: string; kind: string; entity: string; entityId: string; payload: unknown },
): string {
  const body = canonicalJson({ seq: e.seq, at: e.at, actor: e.actor, kind: e.kind, entity: e.entity, entityId: e.entityId, payload: e.payload });
  return sha256Hex(`${prevHash}\n${body}`);
}

/** sha256 of a row's canonical JSON: what "this row equals that payload" compares. */
export function rowDigest(row: unknown): string {
  return sha256Hex(canonicalJson(row));
}

/**
 * Appends one event to the chain. Call it inside the transaction of the write it records (so
 * both commit or neither does); it refuses to run outside one.
 */
export function appendAudit(db: Db, e: AuditEventInput): AuditEvent {
  if (!db.inTransaction) throw invalid('appendAudit must run inside the transaction of the write it records');
  const actor = text(e.actor, 'audit actor', 200);
  const kind = text(e.kind, 'audit kind', 50);
  const entity = text(e.entity, 'audit entity', 50);
  const entityId = text(String(e.entityId), 'audit entity id', 200);
  const payloadText = canonicalJson(e.payload);
  const payload = JSON.parse(payloadText) as JsonValue;
  const at = e.at ?? nowIso();
  const last = cached(db, 'SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
  const seq = (last?.seq ?? 0) + 1;
  const prevHash = last?.hash ?? GENESIS_HASH;
  const hash = auditHash(prevHash, { seq, at, actor, kind, entity, entityId, payload });
  cached(db, 'INSERT INTO audit_events (seq, at, actor, kind, entity, entity_id, payload, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(seq, at, actor, kind, entity, entityId, payloadText, prevHash, hash);
  return { seq, at, actor, kind, entity, entityId, payload, prevHash, hash };
}

export function mapAuditEvent(r: AuditEventRow): AuditEvent {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    kind: r.kind,
    entity: r.entity,
    entityId: r.entity_id,
    payload: JSON.parse(r.payload) as JsonValue,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export interface ListAuditOptions {
  afterSeq?: number;
  limit?: number;
  kind?: string;
  entity?: string;
  entityId?: string | number;
}

/** Events in seq order, optionally filtered and paged. */
export function listAudit(db: Db, opts: ListAuditOptions = {}): AuditEvent[] {
  const where: string[] = ['seq > @afterSeq'];
  const params: Record<string, unknown> = { afterSeq: opts.afterSeq ?? 0, limit: opts.limit ?? -1 };
  if (opts.kind !== undefined) {
    where.push('kind = @kind');
    params.kind = opts.kind;
  }
  if (opts.entity !== undefined) {
    where.push('entity = @entity');
    params.entity = opts.entity;
  }
  if (opts.entityId !== undefined) {
    where.push('entity_id = @entityId');
    params.entityId = String(opts.entityId);
  }
  const rows = db.prepare(`SELECT * FROM audit_events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT @limit`).all(params) as AuditEventRow[];
  return rows.map(mapAuditEvent);
}

/** The last event's seq and hash (what a signed report quotes), or null for an empty chain. */
export function auditHead(db: Db): { seq: number; hash: string } | null {
  return (db.prepare('SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined) ?? null;
}

/** verifyAudit, throwing AUDIT_BROKEN (naming the first bad event) when it fails. */
export function assertAuditOk(db: Db): AuditVerification {
  const v = verifyAudit(db);
  if (!v.ok && v.firstBad) {
    const at = v.firstBad.seq === null ? '' : ` at event ${v.firstBad.seq}`;
    throw new KensaError('AUDIT_BROKEN', `the audit trail of ${db.name} fails verification${at}: ${v.firstBad.reason}`, { file: db.name });
  }
  return v;
}

const MAX_PROBLEMS = 100;

/** The triggers that keep the audited tables append-only (migration 1); a missing one is reported. */
export const GUARD_TRIGGERS = [
  'verdicts_no_update',
  'verdicts_no_delete',
  'thresholds_no_update',
  'thresholds_no_delete',
  'audit_events_no_update',
  'audit_events_no_delete',
  'audit_events_chain',
  'models_no_delete',
  'models_frozen',
  'signatures_no_update',
  'signatures_no_delete',
  'confirmations_no_update',
  'confirmations_no_delete',
  'accounts_identity_frozen',
  'accounts_no_delete',
] as const;

/** The guard triggers on tables that later migrations added (checked once the table exists). */
const GUARD_TABLE: Partial<Record<(typeof GUARD_TRIGGERS)[number], string>> = {
  signatures_no_update: 'signatures',
  signatures_no_delete: 'signatures',
  confirmations_no_update: 'confirmations',
  confirmations_no_delete: 'confirmations',
  accounts_identity_frozen: 'accounts',
  accounts_no_delete: 'accounts',
};

interface Recorded {
  seq: number;
  payload: JsonValue;
}

/**
 * Walks the chain in seq order (re-hashing each event, checking seq has no gaps and each
 * prev_hash is the hash before it) and cross-checks the verdict, threshold, model and project
 * rows against the events that recorded them. Reads one consistent snapshot.
 */
export function verifyAudit(db: Db): AuditVerification {
  return readTx(db, () => {
    const problems: AuditProblem[] = [];
    const verdictEvents = new Map<string, Recorded>();
    const thresholdEvents = new Map<string, Recorded>();
    const modelEvents = new Map<string, Recorded>();
    const signatureEvents = new Map<string, Recorded>();
    const confirmEvents = new Map<string, Recorded>();
    /** Each account's public key as its creation event recorded it. */
    const accountKeys = new Map<string, string>();
    const project = new ProjectExpectation();

    let prevSeq = 0;
    let prevHash = GENESIS_HASH;
    let events = 0;
    for (const r of db.prepare('SELECT * FROM audit_events ORDER BY seq').iterate() as IterableIterator<AuditEventRow>) {
      events++;
      if (r.seq !== prevSeq + 1) {
        const missing = r.seq === prevSeq + 2 ? `event ${prevSeq + 1} is` : `events ${prevSeq + 1}–${r.seq - 1} are`;
        problems.push({ seq: r.seq, reason: `the chain breaks before event ${r.seq}: ${missing} missing` });
      } else if (r.prev_hash !== prevHash) {
        problems.push({
          seq: r.seq,
          reason: `the chain breaks at event ${r.seq}: its prev_hash is not the hash of event ${prevSeq} (an earlier event was removed, replaced or re-hashed)`,
        });
      }
      prevSeq = r.seq;
      prevHash = r.hash;

      let payload: JsonValue;
      try {
        payload = JSON.parse(r.payload) as JsonValue;
      } catch {
        problems.push({ seq: r.seq, reason: `event ${r.seq} was edited: its payload is not valid JSON` });
        continue;
      }
      const expected = auditHash(r.prev_hash, { seq: r.seq, at: r.at, actor: r.actor, kind: r.kind, entity: r.entity, entityId: r.entity_id, payload });
      if (expected !== r.hash) problems.push({ seq: r.seq, reason: `event ${r.seq} (${r.kind} ${r.entity} ${r.entity_id}) was edited: its hash does not match its content` });

      const rec = { seq: r.seq, payload };
      const remember = (map: Map<string, Recorded>, what: string) => {
        const earlier = map.get(r.entity_id);
        if (earlier) problems.push({ seq: r.seq, reason: `${what} ${r.entity_id} is recorded twice (events ${earlier.seq} and ${r.seq})` });
        else map.set(r.entity_id, rec);
      };
      if (r.kind === 'verdict') remember(verdictEvents, 'verdict');
      else if (r.kind === 'threshold') remember(thresholdEvents, 'threshold');
      else if (r.kind === 'fit' || r.kind === 'refit') {
        remember(modelEvents, 'model');
        project.activeFrom(rec, (payload as { version?: unknown } | null)?.version);
      } else if (r.kind === 'learn') remember(modelEvents, 'model'); // not active until accepted
      else if (r.kind === 'rollback' || r.kind === 'activate') project.activeFrom(rec, (payload as { to_version?: unknown } | null)?.to_version);
      else if (r.kind === 'project') project.apply(rec);
      else if (r.kind === 'signature') remember(signatureEvents, 'signature');
      else if (r.kind === 'confirm') remember(confirmEvents, 'confirmation');
      else if (r.kind === 'account') {
        const a = (payload as { action?: unknown; account?: { public_key?: unknown } } | null) ?? null;
        if (a?.action === 'create' && typeof a.account?.public_key === 'string') accountKeys.set(r.entity_id, a.account.public_key);
      }
    }

    crossCheck(db, 'verdict', 'SELECT * FROM verdicts ORDER BY id', 'id', verdictEvents, () => true, problems);
    crossCheck(db, 'threshold', 'SELECT * FROM thresholds ORDER BY id', 'id', thresholdEvents, () => true, problems);
    crossCheck(db, 'model', 'SELECT * FROM models ORDER BY version', 'version', modelEvents, (row) => row.status === 'ready', problems);
    const tables = schemaTables(db);
    if (tables.has('signatures')) {
      // migration 6 and later
      crossCheck(db, 'signature', 'SELECT * FROM signatures ORDER BY id', 'id', signatureEvents, () => true, problems);
      crossCheck(db, 'confirmation', 'SELECT * FROM confirmations ORDER BY id', 'id', confirmEvents, () => true, problems);
      checkSignatures(db, accountKeys, problems);
    }
    project.check(db, problems);
    const triggers = schemaTriggers(db);
    for (const t of GUARD_TRIGGERS) {
      const table = GUARD_TABLE[t];
      if (table !== undefined && !tables.has(table)) continue; // a table a later migration adds
      if (!triggers.has(t)) problems.push({ seq: null, reason: `the guard trigger ${t} was dropped: the database was edited outside Kensa` });
    }
    if (dialectOf(db) === 'postgres') {
      // PostgreSQL: each `<table>_no_delete` guard has a `<table>_no_truncate` statement trigger
      // beside it (TRUNCATE skips row triggers), checked the same way.
      for (const t of GUARD_TRIGGERS) {
        if (!t.endsWith('_no_delete')) continue;
        const table = t.slice(0, -'_no_delete'.length);
        const guard = `${table}_no_truncate`;
        if (tables.has(table) && !triggers.has(guard)) problems.push({ seq: null, reason: `the guard trigger ${guard} was dropped: the database was edited outside Kensa` });
      }
    }

    problems.sort((a, b) => (a.seq === null ? (b.seq === null ? 0 : 1) : b.seq === null ? -1 : a.seq - b.seq)); // stable: same seq keeps order
    const head = auditHead(db);
    return {
      ok: problems.length === 0,
      events,
      headHash: head?.hash ?? null,
      firstBad: problems[0] ?? null,
      problems: problems.slice(0, MAX_PROBLEMS),
    };
  });
}

type Row = Record<string, unknown>;

/**
 * Every signature must verify (Ed25519 over its own fields) under the key its account was
 * created with, and every account must still hold the key its creation event recorded.
 */
function checkSignatures(db: Db, accountKeys: Map<string, string>, problems: AuditProblem[]): void {
  for (const a of db.prepare('SELECT id, name, public_key FROM accounts').iterate() as IterableIterator<{ id: number; name: string; public_key: string }>) {
    const recorded = accountKeys.get(String(a.id));
    if (recorded === undefined) problems.push({ seq: null, reason: `account ${a.name} has no audit event (added behind Kensa's back)` });
    else if (recorded !== a.public_key) problems.push({ seq: null, reason: `account ${a.name}'s public key is not the one recorded when it was created` });
  }
  for (const r of db.prepare('SELECT * FROM signatures ORDER BY id').iterate() as IterableIterator<SignatureRow>) {
    const s = mapSignature(r);
    if (!signatureValid(s)) problems.push({ seq: null, reason: `signature ${r.id} (${r.signer}, ${r.meaning}, ${r.record_kind} ${r.record_id}) does not verify` });
    else if (accountKeys.get(String(r.account_id)) !== r.public_key) problems.push({ seq: null, reason: `signature ${r.id} was not made with the key of account ${r.account_id} (${r.signer})` });
  }
}

/**
 * Compares every row of one audited table with the event that recorded it. `needsEvent`
 * says which rows must have one (all verdicts and thresholds; models once 'ready').
 */
function crossCheck(
  db: Db,
  what: string,
  sql: string,
  key: string,
  recorded: Map<string, Recorded>,
  needsEvent: (row: Row) => boolean,
  problems: AuditProblem[],
): void {
  for (const row of db.prepare(sql).iterate() as IterableIterator<Row>) {
    const id = String(row[key]);
    const ev = recorded.get(id);
    if (!ev) {
      if (needsEvent(row)) problems.push({ seq: null, reason: `${what} ${id} has no audit event (the row was added behind Kensa's back)` });
      continue;
    }
    recorded.delete(id);
    const diff = differingFields(row, ev.payload);
    if (diff.length > 0) {
      problems.push({ seq: ev.seq, reason: `${what} ${id} no longer matches its audit event ${ev.seq}: ${diff.join(', ')} changed` });
    }
  }
  for (const [id, ev] of recorded) {
    problems.push({ seq: ev.seq, reason: `${what} ${id} recorded by event ${ev.seq} is missing from the database` });
  }
}

/**
 * The fields where a row and a recorded payload differ ([] when their row digests agree).
 * A field the payload lacks matches a NULL column (columns added by later migrations).
 */
export function differingFields(row: Row, payload: JsonValue): string[] {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return ['(the whole row: the payload is not a row)'];
  const normalised: Row = {};
  for (const [k, v] of Object.entries(row)) if (!(v === null && !(k in payload))) normalised[k] = v;
  if (rowDigest(normalised) === rowDigest(payload)) return [];
  const keys = new Set([...Object.keys(normalised), ...Object.keys(payload)]);
  return [...keys].filter((k) => canonicalJson(normalised[k] ?? null) !== canonicalJson(payload[k] ?? null)).sort();
}

/** What the project row should hold according to the events, and which event said so. */
class ProjectExpectation {
  private init: { seq: number; row: Row } | null = null;
  private settings: { seq: number; value: JsonValue } | null = null;
  private active: { seq: number; value: unknown } | null = null;

  apply(ev: Recorded): void {
    const p = ev.payload as { action?: unknown; project?: unknown; settings?: unknown } | null;
    if (p?.action === 'init' && p.project && typeof p.project === 'object') {
      this.init = { seq: ev.seq, row: p.project as Row };
      const s = (p.project as Row).settings;
      this.settings = { seq: ev.seq, value: typeof s === 'string' ? safeParse(s) : null };
      this.active = { seq: ev.seq, value: (p.project as Row).active_model_version ?? null };
    } else if (p?.action === 'settings') {
      this.settings = { seq: ev.seq, value: (p.settings ?? null) as JsonValue };
    }
  }

  activeFrom(ev: Recorded, version: unknown): void {
    this.active = { seq: ev.seq, value: version ?? null };
  }

  check(db: Db, problems: AuditProblem[]): void {
    const row = db.prepare('SELECT * FROM project WHERE id = 1').get() as Row | undefined;
    if (!row) {
      if (this.init) problems.push({ seq: this.init.seq, reason: `the project row recorded by event ${this.init.seq} is missing from the database` });
      return;
    }
    if (!this.init) {
      problems.push({ seq: null, reason: 'the project row has no audit event (it was added behind Kensa\'s back)' });
      return;
    }
    const init = this.init;
    for (const k of ['name', 'created_at'] as const) {
      if (canonicalJson(row[k]) !== canonicalJson(init.row[k] ?? null)) {
        problems.push({ seq: init.seq, reason: `the project row no longer matches its audit event ${init.seq}: ${k} changed` });
      }
    }
    const settings = typeof row.settings === 'string' ? safeParse(row.settings) : null;
    if (this.settings && canonicalJson(redactSecrets(settings) as JsonValue) !== canonicalJson(this.settings.value)) {
      problems.push({ seq: this.settings.seq, reason: `the project settings no longer match audit event ${this.settings.seq}` });
    }
    if (this.active && (row.active_model_version ?? null) !== this.active.value) {
      problems.push({
        seq: this.active.seq,
        reason: `the active model version is ${String(row.active_model_version)} but audit event ${this.active.seq} made it ${String(this.active.value)}`,
      });
    }
  }
}

function safeParse(s: string): JsonValue {
  try {
    return JSON.parse(s) as JsonValue;
  } catch {
    return `(invalid JSON) ${s}`;
  }
}
