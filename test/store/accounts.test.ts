/**
 * Accounts, electronic signatures and second reviews in the store (accounts.ts,
 * signatures.ts): slow salted password hashes, a private key that only the password opens,
 * signatures that bind signer, meaning and record (moving one to another record or editing
 * the record breaks it), the audit check that catches edits made behind Kensa's back, and
 * four eyes (a second person confirms a good verdict).
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  authenticate,
  changePassword,
  confirmVerdict,
  createAccount,
  listAudit,
  openProjectDb,
  putScores,
  recordVerdict,
  signRecord,
  signatureValid,
  signaturesFor,
  updateAccount,
  verifyAudit,
  awaitingSecondReview,
  type Db,
} from '../../src-main/store/index';
import { IS_PG, newProject, pgExec, readyModel, seedImages, sha, tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;
let file: string;

beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  ({ db, file } = newProject(t.dir));
});

afterEach(() => {
  if (db.open) db.close();
  cleanup();
});

describe('accounts', () => {
  it('keeps a slow salted hash and an encrypted key; a wrong password says nothing about the name', () => {
    const a = createAccount(db, { name: 'alice', printedName: 'Alice Adams', role: 'approver', password: 'correct horse' }, 'admin');
    expect(a).toMatchObject({ name: 'alice', printedName: 'Alice Adams', role: 'approver', disabledAt: null });
    const row = db.prepare('SELECT password_hash, private_key_enc FROM accounts').get() as { password_hash: string; private_key_enc: string };
    expect(row.password_hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(row.password_hash).not.toContain('correct horse');
    expect(row.private_key_enc).not.toContain('PRIVATE KEY');
    expect(authenticate(db, 'alice', 'correct horse').account.name).toBe('alice');
    expect(() => authenticate(db, 'alice', 'wrong horse')).toThrow(/the name or the password is wrong/);
    expect(() => authenticate(db, 'nobody', 'correct horse')).toThrow(/the name or the password is wrong/);
    expect(() => createAccount(db, { name: 'bob', printedName: 'Bob', role: 'reviewer', password: '12345' }, 'admin')).toThrow(/PIN must have at least 6 digits/);
    expect(() => createAccount(db, { name: 'bob', printedName: 'Bob', role: 'reviewer', password: 'short' }, 'admin')).toThrow(/at least 8 characters/);
    expect(() => createAccount(db, { name: 'alice', printedName: 'A', role: 'reviewer', password: '123456' }, 'admin')).toThrow(/exists already/);
    // The audit log records the account without its secrets.
    const ev = JSON.stringify(listAudit(db, { kind: 'account' }));
    expect(ev).toContain('Alice Adams');
    expect(ev).not.toContain('scrypt$');
    expect(ev).not.toContain('"ct"');
  });

  it('a new password re-encrypts the same key; signatures made before still verify', () => {
    createAccount(db, { name: 'alice', printedName: 'Alice Adams', role: 'approver', password: 'first password' }, 'admin');
    const s1 = signRecord(db, { recordKind: 'report', recordId: 'r1', contentHash: sha('report 1'), meaning: 'approved' }, 'alice', 'first password');
    changePassword(db, 'alice', 'first password', '246810');
    expect(() => authenticate(db, 'alice', 'first password')).toThrow();
    const s2 = signRecord(db, { recordKind: 'report', recordId: 'r2', contentHash: sha('report 2'), meaning: 'approved' }, 'alice', '246810');
    expect(s2.publicKey).toBe(s1.publicKey);
    expect(signatureValid(s1) && signatureValid(s2)).toBe(true);
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('the last administrator cannot be disabled; a disabled account cannot sign in', () => {
    createAccount(db, { name: 'root', printedName: 'R. Oot', role: 'administrator', password: 'admin password' }, 'setup');
    createAccount(db, { name: 'rita', printedName: 'Rita', role: 'reviewer', password: 'rita password' }, 'root');
    expect(() => updateAccount(db, 'root', { disabled: true }, 'root')).toThrow(/last administrator/);
    updateAccount(db, 'rita', { disabled: true }, 'root');
    expect(() => authenticate(db, 'rita', 'rita password')).toThrow(/disabled/);
    expect(() => db.prepare(`UPDATE accounts SET public_key = 'x' WHERE name = 'rita'`).run()).toThrow(/never change/);
    expect(() => db.prepare(`DELETE FROM accounts WHERE name = 'rita'`).run()).toThrow(/never deleted/);
  });
});

describe('signatures', () => {
  beforeEach(() => {
    createAccount(db, { name: 'alice', printedName: 'Alice Adams', role: 'approver', password: 'alice password' }, 'admin');
    createAccount(db, { name: 'bob', printedName: 'Bob Brown', role: 'reviewer', password: 'bob password' }, 'admin');
  });

  it('binds signer, meaning and record; a signature moved to another record or edited fails', () => {
    const s = signRecord(db, { recordKind: 'threshold', recordId: '7', contentHash: sha('threshold row 7'), meaning: 'approved' }, 'alice', 'alice password');
    expect(s).toMatchObject({ signer: 'alice', printedName: 'Alice Adams', meaning: 'approved', recordKind: 'threshold', recordId: '7' });
    expect(signatureValid(s)).toBe(true);
    expect(signatureValid({ ...s, recordId: '8' })).toBe(false); // swapped onto another record
    expect(signatureValid({ ...s, contentHash: sha('threshold row 7, edited') })).toBe(false);
    expect(signatureValid({ ...s, meaning: 'reviewed' })).toBe(false);
    expect(signatureValid({ ...s, printedName: 'Mallory' })).toBe(false);
    expect(() => signRecord(db, { recordKind: 'threshold', recordId: '7', contentHash: sha('x'), meaning: 'approved' }, 'alice', 'bob password')).toThrow(/AUTH|password/);
    expect(signaturesFor(db, 'threshold', '7')).toHaveLength(1);
    expect(() => db.prepare('DELETE FROM signatures').run()).toThrow(/append-only/);
    expect(verifyAudit(db).ok).toBe(true);
  });

  // The sqlite3 CLI edits an SQLite file; the PostgreSQL counterpart (psql) follows.
  it.skipIf(IS_PG)('the audit check names a signature edited with the sqlite3 CLI (triggers dropped first)', () => {
    const have = spawnSync('sqlite3', ['-version']).status === 0;
    if (!have) return void console.warn('SKIPPING: sqlite3 CLI not installed');
    signRecord(db, { recordKind: 'report', recordId: 'Q3', contentHash: sha('q3'), meaning: 'responsible' }, 'alice', 'alice password');
    db.close();
    const r = spawnSync('sqlite3', [file, `DROP TRIGGER signatures_no_update; UPDATE signatures SET record_id = 'Q4';`]);
    expect(r.status).toBe(0);
    db = openProjectDb(file);
    const v = verifyAudit(db);
    expect(v.ok).toBe(false);
    const reasons = v.problems.map((p) => p.reason).join('\n');
    expect(reasons).toMatch(/signature 1 no longer matches its audit event/);
    expect(reasons).toMatch(/signature 1 .* does not verify/);
    expect(reasons).toMatch(/guard trigger signatures_no_update was dropped/);
  });

  it.runIf(IS_PG)('PostgreSQL: the audit check names a signature edited with psql (its guard trigger disabled first)', () => {
    signRecord(db, { recordKind: 'report', recordId: 'Q3', contentHash: sha('q3'), meaning: 'responsible' }, 'alice', 'alice password');
    db.close();
    // The guard refuses the edit even to the superuser ...
    expect(() => pgExec(file, `UPDATE signatures SET record_id = 'Q4'`)).toThrow(/append-only/);
    // ... until it is disabled.
    pgExec(file, `ALTER TABLE signatures DISABLE TRIGGER signatures_no_update; UPDATE signatures SET record_id = 'Q4'`);
    db = openProjectDb(file);
    const v = verifyAudit(db);
    expect(v.ok).toBe(false);
    const reasons = v.problems.map((p) => p.reason).join('\n');
    expect(reasons).toMatch(/signature 1 no longer matches its audit event/);
    expect(reasons).toMatch(/signature 1 .* does not verify/);
    expect(reasons).toMatch(/guard trigger signatures_no_update was dropped/);
  });
});

describe('four eyes', () => {
  it('a second person confirms a good verdict on a flagged part; the reviewer cannot confirm their own', () => {
    const m = readyModel(db);
    const [a, b] = seedImages(db, 2);
    putScores(db, m.version, [
      { imageId: a!, score: 5, maxPatchScore: 6 },
      { imageId: b!, score: 0.5, maxPatchScore: 1 },
    ]);
    recordVerdict(db, { imageId: a!, verdict: 'good', reviewer: 'alice', modelVersion: m.version, threshold: 1, scoreShown: 5 });
    expect(awaitingSecondReview(db, m.version, 1).map((x) => x.imageId)).toEqual([a]);
    expect(() => confirmVerdict(db, a!, 'alice')).toThrow(/needs a second person/);
    expect(() => confirmVerdict(db, b!, 'bob')).toThrow(/no good verdict/);
    const c = confirmVerdict(db, a!, 'bob');
    expect(c).toMatchObject({ imageId: a, confirmedBy: 'bob' });
    expect(() => confirmVerdict(db, a!, 'carol')).toThrow(/confirmed already/);
    expect(awaitingSecondReview(db, m.version, 1)).toEqual([]);
    // A new verdict on the part needs its own confirmation.
    recordVerdict(db, { imageId: a!, verdict: 'good', reviewer: 'carol', modelVersion: m.version, threshold: 1, scoreShown: 5 });
    expect(awaitingSecondReview(db, m.version, 1).map((x) => x.imageId)).toEqual([a]);
    expect(verifyAudit(db).ok).toBe(true);
  });
});

