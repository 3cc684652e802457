/**
 * The audit hash chain (src-main/store/audit.ts). A chain of mixed events (project, import,
 * fit, refit, rollback, verdicts, undo, thresholds, settings) verifies with the head hash =
 * the last event's hash. Then, each in its own copy of the database file, tampering as an
 * auditor-bypassing user would (dropping the append-only trigger first) must make verify
 * fail and name the right place:
 *   (a) a verdict row's verdict edited           → that verdict's event seq
 *       (also done with the real sqlite3 CLI in a child process, when it is installed)
 *   (b) an audit event's payload edited          → that event's seq
 *   (c) a middle audit event deleted             → the seq where the chain breaks
 *   (d) a threshold's reason edited              → that threshold's event seq
 *   (e) a verdict row inserted without an event  → fails, naming the verdict row
 * and more: an event edited and re-hashed (caught by the next event's prev_hash), the active
 * model switched behind Kensa's back, a ready model's row edited, a model row slipped in.
 *
 * On PostgreSQL the copy is the project's schema dumped into a new database, and the edits
 * are made with psql as the superuser: with the guard trigger disabled (ALTER TABLE …
 * DISABLE TRIGGER, reported like a dropped one), dropped (DROP TRIGGER … ON), or bypassed for
 * the session (SET session_replication_role = replica, which leaves the triggers in place:
 * only the re-hash and the row comparison can catch that).
 */
import { execFileSync } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  GENESIS_HASH,
  assertAuditOk,
  auditHash,
  auditHead,
  canonicalJson,
  closeProjectDb,
  listAudit,
  openProjectDb,
  recordVerdict,
  rollbackModel,
  setThreshold,
  undoVerdict,
  updateSettings,
  verifyAudit,
  type AuditEvent,
  type Verdict,
} from '../../src-main/store/index';
import { IS_PG, copyDb, newProject, pgExec, rawReopen, readyModel, seedImages, sha, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
let file: string;
let events: AuditEvent[];
let verdicts: Verdict[];
let headHash: string;

/** Builds one project with a chain of mixed events and closes it; each test works on a copy. */
beforeAll(() => {
  ({ dir, cleanup } = tempDir());
  const p = newProject(dir);
  file = p.file;
  const db = p.db;
  const ids = seedImages(db, 8);
  const v1 = readyModel(db);
  setThreshold(db, { modelVersion: v1.version, value: 2.0, margin: 0.1, marginKind: 'absolute', setBy: 'alice', reason: 'zero-miss on 5 defects minus margin' });
  verdicts = [];
  for (const [i, id] of ids.entries()) {
    verdicts.push(
      recordVerdict(db, {
        imageId: id,
        verdict: i % 2 ? 'good' : 'defect',
        defectType: i % 2 ? null : 'scratch',
        regions: i % 2 ? null : [{ x: i, y: i, w: 3, h: 3 }],
        comment: `part ${i}`,
        reviewer: i < 4 ? 'alice' : 'bob',
        modelVersion: v1.version,
        threshold: 2.0,
        scoreShown: 1.5 + i * 0.25,
      }),
    );
  }
  undoVerdict(db, ids[0], 'alice');
  const v2 = readyModel(db, v1.version, [ids[3], ids[5]]);
  setThreshold(db, { modelVersion: v2.version, value: 2.2, reviewUpper: 3.0, setBy: 'bob', reason: 'refit shifted the scores' });
  rollbackModel(db, v1.version, 'alice', 'v2 flags too little');
  updateSettings(db, { autoRefitAfter: 20 }, 'alice');
  events = listAudit(db);
  headHash = events[events.length - 1].hash;
  closeProjectDb(db);
});
afterAll(() => cleanup());

let copies = 0;
/**
 * A fresh copy of the project database, edited without Kensa's code, as someone with an SQL
 * tool would. SQLite: plain better-sqlite3 on the copied file (`sqlite` is run with exec(), or
 * gets the connection). PostgreSQL: `pg` run by psql as the superuser in the copy's schema.
 */
function tamper(sqlite: string | ((raw: Database.Database) => void), pg: string): string {
  const copy = copyDb(file, `tampered-${++copies}.kensa`);
  if (IS_PG) {
    pgExec(copy, pg);
    return copy;
  }
  const raw = new Database(copy);
  if (typeof sqlite === 'string') raw.exec(sqlite);
  else sqlite(raw);
  raw.close();
  return copy;
}

/** PostgreSQL: the statements run with every trigger bypassed for the session (no schema change). */
const BYPASS = 'SET session_replication_role = replica;';
const lit = (s: string): string => `'${s.replace(/'/g, "''")}'`;

function verifyFile(f: string) {
  const db = openProjectDb(f);
  try {
    return verifyAudit(db);
  } finally {
    closeProjectDb(db);
  }
}

function seqOf(kind: string, entityId: string | number): number {
  const e = events.find((x) => x.kind === kind && x.entityId === String(entityId));
  if (!e) throw new Error(`no ${kind} event for ${entityId}`);
  return e.seq;
}

const haveSqlite3Cli = (() => {
  try {
    execFileSync('sqlite3', ['-version'], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
})();
if (!haveSqlite3Cli) console.warn('sqlite3 CLI not installed: the tamper test with the real CLI is skipped (apt-get install sqlite3)');

describe('an untouched chain', () => {
  it('verifies, with the head hash = the last event hash and events numbered 1..N', () => {
    const v = verifyFile(file);
    expect(v).toMatchObject({ ok: true, events: events.length, headHash, firstBad: null, problems: [] });
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(new Set(events.map((e) => e.kind))).toEqual(new Set(['project', 'import', 'fit', 'refit', 'threshold', 'verdict', 'rollback']));
  });

  it('links each event to the one before with sha256(prev_hash + "\\n" + canonical JSON)', () => {
    let prev = GENESIS_HASH;
    for (const e of events) {
      expect(e.prevHash).toBe(prev);
      const body = canonicalJson({ seq: e.seq, at: e.at, actor: e.actor, kind: e.kind, entity: e.entity, entityId: e.entityId, payload: e.payload });
      expect(e.hash).toBe(sha(`${prev}\n${body}`));
      expect(auditHash(prev, e)).toBe(e.hash);
      prev = e.hash;
    }
  });

  it('a verdict event carries the full verdict row', () => {
    const v = verdicts[2];
    const e = events.find((x) => x.kind === 'verdict' && x.entityId === String(v.id));
    expect(e?.actor).toBe(v.reviewer);
    expect(e?.payload).toMatchObject({ id: v.id, image_id: v.imageId, action: 'set', verdict: 'defect', defect_type: 'scratch', comment: 'part 2', reviewer: 'alice', threshold: 2, score_shown: 2 });
  });

  it('assertAuditOk passes and returns the verification', () => {
    const db = openProjectDb(copyDb(file, 'assert-ok.kensa'));
    expect(assertAuditOk(db).headHash).toBe(auditHead(db)?.hash);
    closeProjectDb(db);
  });
});

describe('tampering is detected', () => {
  it('(a) a verdict edited after dropping the trigger → fails at that verdict event', () => {
    const target = verdicts[3]; // a 'good' verdict
    expect(target.verdict).toBe('good');
    const f = tamper(
      `DROP TRIGGER verdicts_no_update; UPDATE verdicts SET verdict = 'defect' WHERE id = ${target.id}`,
      `ALTER TABLE verdicts DISABLE TRIGGER verdicts_no_update; UPDATE verdicts SET verdict = 'defect' WHERE id = ${target.id}`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(seqOf('verdict', target.id));
    expect(v.firstBad?.reason).toMatch(new RegExp(`verdict ${target.id} no longer matches.*verdict changed`));
    // a disabled trigger (PostgreSQL) is reported like a dropped one
    expect(v.problems.some((p) => /verdicts_no_update was dropped/.test(p.reason))).toBe(true);

    const db = openProjectDb(f);
    expect(() => assertAuditOk(db)).toThrow(KensaError);
    try {
      assertAuditOk(db);
    } catch (e) {
      expect((e as KensaError).code).toBe('AUDIT_BROKEN');
      expect((e as KensaError).message).toContain(`event ${seqOf('verdict', target.id)}`);
    }
    closeProjectDb(db);
  });

  // The sqlite3 CLI works on SQLite files; the PostgreSQL counterpart (psql) follows.
  it.skipIf(IS_PG || !haveSqlite3Cli)('(a) with the real sqlite3 CLI in a child process → fails at that verdict event', () => {
    const target = verdicts[5]; // a 'good' verdict
    expect(target.verdict).toBe('good');
    const f = copyDb(file, 'cli-tampered.kensa');
    // Without dropping the trigger the CLI cannot change it ...
    expect(() => execFileSync('sqlite3', [f, `UPDATE verdicts SET verdict = 'defect' WHERE id = ${target.id};`], { stdio: 'pipe' })).toThrow(/append-only/);
    // ... with it dropped, it can; verify catches it.
    execFileSync('sqlite3', [f, `DROP TRIGGER verdicts_no_update; UPDATE verdicts SET verdict = 'defect', comment = 'looked bad' WHERE id = ${target.id};`], {
      stdio: 'pipe',
    });
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(seqOf('verdict', target.id));
    expect(v.firstBad?.reason).toMatch(/comment, verdict changed/);
  });

  it.runIf(IS_PG)('(a) with psql in a child process → fails at that verdict event', () => {
    const target = verdicts[5]; // a 'good' verdict
    expect(target.verdict).toBe('good');
    const f = copyDb(file, 'psql-tampered.kensa');
    // With the guard in place not even the superuser can change it, nor empty the table ...
    expect(() => pgExec(f, `UPDATE verdicts SET verdict = 'defect' WHERE id = ${target.id}`)).toThrow(/append-only/);
    expect(() => pgExec(f, `DELETE FROM verdicts WHERE id = ${target.id}`)).toThrow(/append-only/);
    expect(() => pgExec(f, `TRUNCATE verdicts CASCADE`)).toThrow(/append-only/);
    expect(() => pgExec(f, `UPDATE audit_events SET actor = 'mallory'`)).toThrow(/append-only/);
    expect(() => pgExec(f, `TRUNCATE audit_events`)).toThrow(/append-only/);
    expect(() => pgExec(f, `UPDATE thresholds SET reason = 'x'`)).toThrow(/append-only/);
    expect(() => pgExec(f, `TRUNCATE thresholds CASCADE`)).toThrow(/append-only/);
    expect(verifyFile(f).ok).toBe(true);
    // ... with it dropped, it can; verify catches it.
    pgExec(f, `DROP TRIGGER verdicts_no_update ON verdicts; UPDATE verdicts SET verdict = 'defect', comment = 'looked bad' WHERE id = ${target.id}`);
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(seqOf('verdict', target.id));
    expect(v.firstBad?.reason).toMatch(/comment, verdict changed/);
    expect(v.problems.some((p) => /verdicts_no_update was dropped/.test(p.reason))).toBe(true);
  });

  it.runIf(IS_PG)('a disabled guard trigger (TRUNCATE guards included) is reported, even with no row edited yet', () => {
    const f = tamper(
      '',
      `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_delete; ALTER TABLE models DISABLE TRIGGER models_frozen;
       ALTER TABLE verdicts DISABLE TRIGGER verdicts_no_truncate`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.reason)).toEqual([
      'the guard trigger audit_events_no_delete was dropped: the database was edited outside Kensa',
      'the guard trigger models_frozen was dropped: the database was edited outside Kensa',
      'the guard trigger verdicts_no_truncate was dropped: the database was edited outside Kensa',
    ]);
    // enabled again: all is well
    pgExec(f, 'ALTER TABLE audit_events ENABLE TRIGGER ALL; ALTER TABLE models ENABLE TRIGGER ALL; ALTER TABLE verdicts ENABLE TRIGGER ALL');
    expect(verifyFile(f).ok).toBe(true);
  });

  it('(b) an audit event payload edited → fails at that event', () => {
    const target = events.find((e) => e.kind === 'verdict' && (e.payload as { verdict?: string }).verdict === 'defect' && e.seq > 5) as AuditEvent;
    const edited = { ...(target.payload as Record<string, unknown>), verdict: 'good', defect_type: null };
    const f = tamper(
      (raw) => {
        raw.exec('DROP TRIGGER audit_events_no_update');
        raw.prepare('UPDATE audit_events SET payload = ? WHERE seq = ?').run(JSON.stringify(edited), target.seq);
      },
      `${BYPASS} UPDATE audit_events SET payload = ${lit(JSON.stringify(edited))} WHERE seq = ${target.seq}`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(target.seq);
    expect(v.firstBad?.reason).toMatch(/was edited: its hash does not match/);
  });

  it('an event edited AND re-hashed → the chain breaks at the next event', () => {
    const target = events.find((e) => e.kind === 'threshold') as AuditEvent;
    const payload = { ...(target.payload as Record<string, unknown>), value: 5 };
    const rehashed = auditHash(target.prevHash, { ...target, payload });
    const f = tamper(
      (raw) => {
        raw.exec('DROP TRIGGER audit_events_no_update');
        raw.prepare('UPDATE audit_events SET payload = ?, hash = ? WHERE seq = ?').run(canonicalJson(payload), rehashed, target.seq);
      },
      `${BYPASS} UPDATE audit_events SET payload = ${lit(canonicalJson(payload))}, hash = ${lit(rehashed)} WHERE seq = ${target.seq}`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    // the threshold row no longer matches the (re-hashed) event at target.seq, and the next event's prev_hash is wrong
    expect(v.firstBad?.seq).toBe(target.seq);
    expect(v.problems.map((p) => p.seq)).toContain(target.seq + 1);
    expect(v.problems.find((p) => p.seq === target.seq + 1)?.reason).toMatch(/prev_hash is not the hash of event/);
  });

  it('(c) a middle audit event deleted → fails where the chain breaks', () => {
    const middle = events[Math.floor(events.length / 2)];
    const f = tamper(`DROP TRIGGER audit_events_no_delete; DELETE FROM audit_events WHERE seq = ${middle.seq}`, `${BYPASS} DELETE FROM audit_events WHERE seq = ${middle.seq}`);
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.events).toBe(events.length - 1);
    expect(v.firstBad?.seq).toBe(middle.seq + 1);
    expect(v.firstBad?.reason).toMatch(new RegExp(`breaks before event ${middle.seq + 1}: event ${middle.seq} is missing`));
  });

  it('(c) events renumbered to hide the gap → the chain breaks at the first renumbered one', () => {
    const middle = events[Math.floor(events.length / 2)];
    const f = tamper(
      `DROP TRIGGER audit_events_no_delete; DROP TRIGGER audit_events_no_update;
       DELETE FROM audit_events WHERE seq = ${middle.seq};
       UPDATE audit_events SET seq = seq - 1 WHERE seq > ${middle.seq};`,
      `${BYPASS}
       DELETE FROM audit_events WHERE seq = ${middle.seq};
       UPDATE audit_events SET seq = seq - 1 WHERE seq > ${middle.seq};`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(middle.seq);
  });

  it('(d) a threshold reason edited → fails at that threshold event', () => {
    const db = openProjectDb(copyDb(file, 'read.kensa'), { readonly: true });
    const t = db.prepare('SELECT id FROM thresholds ORDER BY id LIMIT 1').pluck().get() as number;
    closeProjectDb(db);
    const f = tamper(
      `DROP TRIGGER thresholds_no_update; UPDATE thresholds SET reason = 'approved by QA manager' WHERE id = ${t}`,
      `${BYPASS} UPDATE thresholds SET reason = 'approved by QA manager' WHERE id = ${t}`,
    );
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(seqOf('threshold', t));
    expect(v.firstBad?.reason).toMatch(/threshold \d+ no longer matches .*reason changed/);
  });

  it('(e) a verdict row inserted without an audit event → fails, naming the row', () => {
    let id = 0;
    const f = tamper(
      (raw) => {
        const r = raw
          .prepare(`INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (?, 'set', 'good', 'alice', '2024-01-01T00:00:00.000Z')`)
          .run(verdicts[2].imageId);
        id = Number(r.lastInsertRowid);
      },
      `INSERT INTO verdicts (image_id, action, verdict, reviewer, created_at) VALUES (${verdicts[2].imageId}, 'set', 'good', 'alice', '2024-01-01T00:00:00.000Z')`,
    );
    if (IS_PG) {
      // an INSERT needs no trigger bypassed; the new row's id is the largest
      const raw = rawReopen(f);
      id = raw.prepare('SELECT max(id) FROM verdicts').pluck().get() as number;
      raw.close();
      expect(id).toBeGreaterThan(Math.max(...verdicts.map((v) => v.id)));
    }
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad).toEqual({ seq: null, reason: `verdict ${id} has no audit event (the row was added behind Kensa's back)` });
  });

  it('a verdict row deleted → fails at its event', () => {
    const target = verdicts[7];
    const f = tamper(`DROP TRIGGER verdicts_no_delete; DELETE FROM verdicts WHERE id = ${target.id}`, `${BYPASS} DELETE FROM verdicts WHERE id = ${target.id}`);
    const v = verifyFile(f);
    expect(v.firstBad?.seq).toBe(seqOf('verdict', target.id));
    expect(v.firstBad?.reason).toMatch(/missing from the database/);
  });

  it('the active model switched behind Kensa\'s back → fails at the rollback event', () => {
    const f = tamper(`UPDATE project SET active_model_version = 2`, `UPDATE project SET active_model_version = 2`);
    const v = verifyFile(f);
    expect(v.ok).toBe(false);
    expect(v.firstBad?.seq).toBe(events.find((e) => e.kind === 'rollback')?.seq);
    expect(v.firstBad?.reason).toMatch(/active model version is 2/);
  });

  it('project settings changed behind Kensa\'s back → fails at the settings event', () => {
    const edit = `UPDATE project SET settings = '{"autoRefitAfter":1,"minDefectsForZeroMiss":3}'`;
    const f = tamper(edit, edit);
    const v = verifyFile(f);
    expect(v.firstBad?.seq).toBe(events[events.length - 1].seq);
    expect(v.firstBad?.reason).toMatch(/settings/);
  });

  it('a ready model edited → fails at its fit event; a ready model slipped in → fails naming it', () => {
    let f = tamper(`DROP TRIGGER models_frozen; UPDATE models SET bank_size = 99999 WHERE version = 1`, `${BYPASS} UPDATE models SET bank_size = 99999 WHERE version = 1`);
    let v = verifyFile(f);
    expect(v.firstBad?.seq).toBe(seqOf('fit', 1));
    expect(v.firstBad?.reason).toMatch(/model 1 no longer matches .*bank_size changed/);

    const insert = `INSERT INTO models (version, kind, backbone_id, backbone_sha256, config, model_file, model_sha256, bank_size, status, created_at, created_by)
           VALUES (3, 'fit', 'x', ${lit(sha('b'))}, '{}', 'm.kmodel', ${lit(sha('m'))}, 10, 'ready', 't', 'mallory')`;
    f = tamper(insert, insert);
    v = verifyFile(f);
    expect(v.firstBad).toEqual({ seq: null, reason: `model 3 has no audit event (the row was added behind Kensa's back)` });
  });

  it('the database itself refuses to append an event that breaks the chain', () => {
    const f = copyDb(file, 'append.kensa');
    const raw = rawReopen(f);
    const n = events.length;
    const insert = raw.prepare(`INSERT INTO audit_events VALUES (?, 't', 'mallory', 'verdict', 'verdict', '1', '{}', ?, ?)`);
    expect(() => insert.run(n + 2, headHash, sha('x'))).toThrow(/seq must follow/);
    expect(() => insert.run(n + 1, sha('not the head'), sha('x'))).toThrow(/prev_hash must be its hash/);
    raw.close();
  });
});
