/**
 * Local accounts (migration 6): a name, a printed name, a role, a password or PIN kept as a
 * slow salted hash, and an Ed25519 key pair for electronic signatures whose private key is
 * kept encrypted under a key derived from the same password.
 *
 *   password_hash     scrypt$N$r$p$<salt b64>$<hash b64>   (N = 2^15, r = 8, p = 1: ~32 MiB, ~0.1 s)
 *   private_key_enc   {"kdf":"scrypt","N","r","p","salt","iv","ct","tag"} — AES-256-GCM over the
 *                     PKCS#8 DER private key, with a key from scrypt(password, salt) (own salt)
 *   public_key        SPKI DER, base64 (never changes: a trigger refuses it)
 *
 * Creating an account, changing a password, a role or disabling an account are audited
 * ('account' events) without the secrets. A wrong password is AUTH_FAILED and says nothing
 * about whether the name exists.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, generateKeyPairSync, randomBytes, scryptSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { KensaError } from '../shared/errors';
import { appendAudit } from './audit';
import { invalid, nowIso, oneOf, personName, text } from './checks';
import { cached, writeTx, type Db } from './db';

export const ROLES = ['reviewer', 'approver', 'administrator'] as const;
export type Role = (typeof ROLES)[number];

const SCRYPT = { N: 1 << 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export interface AccountRow {
  id: number;
  name: string;
  printed_name: string;
  role: Role;
  password_hash: string;
  public_key: string;
  private_key_enc: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
}

/** An account as the rest of Kensa sees it (no secrets). */
export interface Account {
  id: number;
  name: string;
  printedName: string;
  role: Role;
  publicKey: string;
  createdAt: string;
  createdBy: string;
  disabledAt: string | null;
}

export function mapAccount(r: AccountRow): Account {
  return { id: r.id, name: r.name, printedName: r.printed_name, role: r.role, publicKey: r.public_key, createdAt: r.created_at, createdBy: r.created_by, disabledAt: r.disabled_at };
}

/** The row as an audit event records it: everything but the secrets. */
function publicRow(r: AccountRow): Omit<AccountRow, 'password_hash' | 'private_key_enc'> {
  const { password_hash, private_key_enc, ...rest } = r;
  return rest;
}

/** A password (at least 8 characters) or a PIN (at least 6 digits). */
export function checkPassword(value: unknown, field = 'password'): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  if (/^\d+$/.test(value)) {
    if (value.length < 6) throw invalid(`a PIN must have at least 6 digits`);
  } else if (value.length < 8) throw invalid(`${field} must have at least 8 characters (or be a PIN of at least 6 digits)`);
  if (value.length > 256) throw invalid(`${field} is too long`);
  return value;
}

function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password.normalize('NFKC'), salt, 32, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

function passwordMatches(stored: string, password: string): boolean {
  const [tag, n, r, p, salt, hash] = stored.split('$');
  if (tag !== 'scrypt' || !n || !r || !p || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = scryptSync(password.normalize('NFKC'), Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 });
  return got.length === want.length && timingSafeEqual(got, want);
}

function encryptPrivateKey(key: KeyObject, password: string): string {
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const k = scryptSync(password.normalize('NFKC'), salt, 32, SCRYPT);
  const c = createCipheriv('aes-256-gcm', k, iv);
  const ct = Buffer.concat([c.update(key.export({ format: 'der', type: 'pkcs8' })), c.final()]);
  const b = (x: Buffer): string => x.toString('base64');
  return JSON.stringify({ kdf: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: b(salt), iv: b(iv), ct: b(ct), tag: b(c.getAuthTag()) });
}

/** The account's private key, opened with its password (AUTH_FAILED when it does not open). */
export function unlockPrivateKey(row: AccountRow, password: string): KeyObject {
  try {
    const e = JSON.parse(row.private_key_enc) as { N: number; r: number; p: number; salt: string; iv: string; ct: string; tag: string };
    const k = scryptSync(password.normalize('NFKC'), Buffer.from(e.salt, 'base64'), 32, { N: e.N, r: e.r, p: e.p, maxmem: 256 * 1024 * 1024 });
    const d = createDecipheriv('aes-256-gcm', k, Buffer.from(e.iv, 'base64'));
    d.setAuthTag(Buffer.from(e.tag, 'base64'));
    const der = Buffer.concat([d.update(Buffer.from(e.ct, 'base64')), d.final()]);
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch {
    throw new KensaError('AUTH_FAILED', `the password of ${row.name} does not open the signing key`);
  }
}

function getRow(db: Db, name: string): AccountRow | undefined {
  return cached(db, 'SELECT * FROM accounts WHERE name = ?').get(name) as AccountRow | undefined;
}

export function getAccount(db: Db, name: string): Account | null {
  const r = getRow(db, name);
  return r ? mapAccount(r) : null;
}

export function listAccounts(db: Db): Account[] {
  return (db.prepare('SELECT * FROM accounts ORDER BY name').all() as AccountRow[]).map(mapAccount);
}

export function countActiveAccounts(db: Db, role?: Role): number {
  return (role === undefined
    ? db.prepare('SELECT count(*) FROM accounts WHERE disabled_at IS NULL').pluck().get()
    : db.prepare('SELECT count(*) FROM accounts WHERE disabled_at IS NULL AND role = ?').pluck().get(role)) as number;
}

export interface NewAccount {
  name: string;
  printedName: string;
  role: Role;
  password: string;
}

/** Creates an account with a new Ed25519 key pair (audited, without secrets). */
export function createAccount(db: Db, a: NewAccount, actor: string): Account {
  const name = personName(a.name, 'account name');
  const printedName = text(a.printedName, 'printed name', 200);
  const role = oneOf(a.role, ROLES, 'role');
  const password = checkPassword(a.password);
  const who = personName(actor, 'actor');
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const passwordHash = hashPassword(password);
  const enc = encryptPrivateKey(privateKey, password);
  const spki = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  return writeTx(db, () => {
    if (getRow(db, name)) throw new KensaError('CONFLICT', `an account named ${name} exists already`);
    const at = nowIso();
    db.prepare(
      `INSERT INTO accounts (name, printed_name, role, password_hash, public_key, private_key_enc, created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(name, printedName, role, passwordHash, spki, enc, at, who);
    const row = getRow(db, name)!;
    appendAudit(db, { actor: who, kind: 'account', entity: 'account', entityId: row.id, payload: { action: 'create', account: publicRow(row) }, at });
    return mapAccount(row);
  });
}

/**
 * Checks a name and password: the enabled account, or AUTH_FAILED (the same message whether
 * the name is unknown, disabled or the password wrong).
 */
export function authenticate(db: Db, name: string, password: string): { account: Account; row: AccountRow } {
  const row = typeof name === 'string' ? getRow(db, name.trim()) : undefined;
  const ok = row !== undefined && row.disabled_at === null && typeof password === 'string' && passwordMatches(row.password_hash, password);
  if (!ok || !row) throw new KensaError('AUTH_FAILED', 'the name or the password is wrong (or the account is disabled)');
  return { account: mapAccount(row), row };
}

/** A new password: the private key is re-encrypted under it (the key pair stays). Audited. */
export function changePassword(db: Db, name: string, oldPassword: string, newPassword: string): Account {
  const { row } = authenticate(db, name, oldPassword);
  const next = checkPassword(newPassword, 'new password');
  const key = unlockPrivateKey(row, oldPassword);
  const hash = hashPassword(next);
  const enc = encryptPrivateKey(key, next);
  return writeTx(db, () => {
    db.prepare('UPDATE accounts SET password_hash = ?, private_key_enc = ? WHERE id = ?').run(hash, enc, row.id);
    appendAudit(db, { actor: row.name, kind: 'account', entity: 'account', entityId: row.id, payload: { action: 'password' } });
    return mapAccount(getRow(db, row.name)!);
  });
}

/** An administrator changes a role or disables / enables an account (audited). */
export function updateAccount(db: Db, name: string, change: { role?: Role; disabled?: boolean }, actor: string): Account {
  const who = personName(actor, 'actor');
  return writeTx(db, () => {
    const row = getRow(db, name);
    if (!row) throw new KensaError('NOT_FOUND', `no account named ${name}`);
    const role = change.role === undefined ? row.role : oneOf(change.role, ROLES, 'role');
    const disabledAt = change.disabled === undefined ? row.disabled_at : change.disabled ? (row.disabled_at ?? nowIso()) : null;
    if (row.role === 'administrator' && (role !== 'administrator' || disabledAt !== null) && countActiveAccounts(db, 'administrator') <= 1 && row.disabled_at === null) {
      throw new KensaError('CONFLICT', `${name} is the last administrator: make another account administrator first`);
    }
    db.prepare('UPDATE accounts SET role = ?, disabled_at = ? WHERE id = ?').run(role, disabledAt, row.id);
    const next = getRow(db, name)!;
    appendAudit(db, { actor: who, kind: 'account', entity: 'account', entityId: row.id, payload: { action: 'update', account: publicRow(next) } });
    return mapAccount(next);
  });
}
