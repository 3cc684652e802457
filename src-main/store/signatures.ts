/**
 * Electronic signatures (21 CFR Part 11 style) and second reviews (migration 6).
 *
 * A signature binds a signer to one record: what is signed is the canonical JSON of
 *   { recordKind, recordId, contentHash, meaning, signer, printedName, signedAt }
 * with the signer's Ed25519 key (opened with the password they re-enter to sign). The content
 * hash is the record's own: a threshold row's digest, the hash of the audit event that
 * activated a model, the sha256 of a report's data. So a signature moved to another record,
 * or a record changed after it was signed, no longer verifies. Each signature is also an
 * 'signature' audit event holding the row, which `verifyAudit` compares with the table.
 *
 * A confirmation is a second reviewer (not the one who gave the verdict) agreeing with a
 * good verdict on a flagged part; with four eyes on, only confirmed good verdicts feed a refit.
 */
import { createPublicKey, sign, verify } from 'node:crypto';
import { KensaError } from '../shared/errors';
import { authenticate, unlockPrivateKey } from './accounts';
import { appendAudit } from './audit';
import { integer, nowIso, oneOf, personName, sha256, text } from './checks';
import { cached, writeTx, type Db } from './db';
import { canonicalJson } from './json';

export const RECORD_KINDS = ['threshold', 'activation', 'report'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];
export const MEANINGS = ['reviewed', 'approved', 'responsible'] as const;
export type Meaning = (typeof MEANINGS)[number];

export interface SignatureRow {
  id: number;
  record_kind: RecordKind;
  record_id: string;
  content_hash: string;
  meaning: Meaning;
  account_id: number;
  signer: string;
  printed_name: string;
  signed_at: string;
  public_key: string;
  signature: string;
}

export interface Signature {
  id: number;
  recordKind: RecordKind;
  recordId: string;
  contentHash: string;
  meaning: Meaning;
  signer: string;
  printedName: string;
  signedAt: string;
  /** SPKI DER, base64. */
  publicKey: string;
  /** Ed25519 over signedPayload(), base64. */
  signature: string;
}

export function mapSignature(r: SignatureRow): Signature {
  return {
    id: r.id,
    recordKind: r.record_kind,
    recordId: r.record_id,
    contentHash: r.content_hash,
    meaning: r.meaning,
    signer: r.signer,
    printedName: r.printed_name,
    signedAt: r.signed_at,
    publicKey: r.public_key,
    signature: r.signature,
  };
}

/** The exact bytes a signature is made over. */
export function signedPayload(s: Pick<Signature, 'recordKind' | 'recordId' | 'contentHash' | 'meaning' | 'signer' | 'printedName' | 'signedAt'>): Buffer {
  return Buffer.from(
    canonicalJson({ recordKind: s.recordKind, recordId: s.recordId, contentHash: s.contentHash, meaning: s.meaning, signer: s.signer, printedName: s.printedName, signedAt: s.signedAt }),
    'utf8',
  );
}

/** True when the signature is valid for its own fields under its own public key. */
export function signatureValid(s: Signature): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(s.publicKey, 'base64'), format: 'der', type: 'spki' });
    return verify(null, signedPayload(s), key, Buffer.from(s.signature, 'base64'));
  } catch {
    return false;
  }
}

export interface SignRequest {
  recordKind: RecordKind;
  recordId: string;
  contentHash: string;
  meaning: Meaning;
}

/** Signs a record as `name` after checking the password again (audited). */
export function signRecord(db: Db, req: SignRequest, name: string, password: string): Signature {
  const recordKind = oneOf(req.recordKind, RECORD_KINDS, 'recordKind');
  const recordId = text(req.recordId, 'recordId', 200);
  const contentHash = sha256(req.contentHash, 'contentHash');
  const meaning = oneOf(req.meaning, MEANINGS, 'meaning');
  const { account, row } = authenticate(db, name, password);
  const key = unlockPrivateKey(row, password);
  const signedAt = nowIso();
  const body = { recordKind, recordId, contentHash, meaning, signer: account.name, printedName: account.printedName, signedAt };
  const signature = sign(null, signedPayload(body), key).toString('base64');
  return writeTx(db, () => {
    const id = db
      .prepare(
        `INSERT INTO signatures (record_kind, record_id, content_hash, meaning, account_id, signer, printed_name, signed_at, public_key, signature)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      )
      .pluck()
      .get(recordKind, recordId, contentHash, meaning, account.id, account.name, account.printedName, signedAt, account.publicKey, signature) as number;
    const r = cached(db, 'SELECT * FROM signatures WHERE id = ?').get(id) as SignatureRow;
    appendAudit(db, { actor: account.name, kind: 'signature', entity: 'signature', entityId: id, payload: r, at: signedAt });
    return mapSignature(r);
  });
}

export function signaturesFor(db: Db, recordKind: RecordKind, recordId: string): Signature[] {
  return (cached(db, 'SELECT * FROM signatures WHERE record_kind = ? AND record_id = ? ORDER BY id').all(recordKind, recordId) as SignatureRow[]).map(mapSignature);
}

export function listSignatures(db: Db): Signature[] {
  return (db.prepare('SELECT * FROM signatures ORDER BY id').all() as SignatureRow[]).map(mapSignature);
}

// ---- second review (four eyes) ----------------------------------------------------------------

export interface Confirmation {
  id: number;
  verdictId: number;
  imageId: number;
  confirmedBy: string;
  createdAt: string;
}

/**
 * A second reviewer confirms the image's current good verdict (audited). The confirmer must
 * not be the reviewer who gave it; a verdict is confirmed once.
 */
export function confirmVerdict(db: Db, imageId: number, confirmer: string): Confirmation {
  const id = integer(imageId, 'imageId', 1);
  const who = personName(confirmer, 'reviewer name');
  return writeTx(db, () => {
    const v = db.prepare('SELECT id, verdict, reviewer FROM verdicts WHERE image_id = ? ORDER BY id DESC LIMIT 1').get(id) as { id: number; verdict: string | null; reviewer: string } | undefined;
    if (!v || v.verdict !== 'good') throw new KensaError('CONFLICT', `part ${id} has no good verdict to confirm`);
    if (v.reviewer === who) throw new KensaError('CONFLICT', `a second review needs a second person: ${who} gave this verdict`);
    if (db.prepare('SELECT 1 FROM confirmations WHERE verdict_id = ?').get(v.id)) throw new KensaError('CONFLICT', `the verdict on part ${id} is confirmed already`);
    const at = nowIso();
    const cid = db.prepare('INSERT INTO confirmations (verdict_id, image_id, confirmed_by, created_at) VALUES (?, ?, ?, ?) RETURNING id').pluck().get(v.id, id, who, at) as number;
    const row = db.prepare('SELECT * FROM confirmations WHERE id = ?').get(cid);
    appendAudit(db, { actor: who, kind: 'confirm', entity: 'confirmation', entityId: cid, payload: row, at });
    return { id: cid, verdictId: v.id, imageId: id, confirmedBy: who, createdAt: at };
  });
}

/** Verdict ids that a second reviewer confirmed. */
export function confirmedVerdictIds(db: Db): Set<number> {
  return new Set(db.prepare('SELECT verdict_id FROM confirmations').pluck().all() as number[]);
}

/** Good verdicts on flagged parts that wait for a second review (current verdicts only), oldest first. */
export function awaitingSecondReview(db: Db, modelVersion: number | null, threshold: number | null): { imageId: number; verdictId: number; reviewer: string; createdAt: string }[] {
  if (modelVersion === null || threshold === null) return [];
  return db
    .prepare(
      `SELECT v.image_id AS imageId, v.id AS verdictId, v.reviewer, v.created_at AS createdAt
       FROM verdicts v
       JOIN scores s ON s.image_id = v.image_id AND s.model_version = ?
       WHERE v.id = (SELECT max(vv.id) FROM verdicts vv WHERE vv.image_id = v.image_id)
         AND v.verdict = 'good' AND s.score >= ?
         AND NOT EXISTS (SELECT 1 FROM confirmations c WHERE c.verdict_id = v.id)
       ORDER BY v.id`,
    )
    .all(modelVersion, threshold) as { imageId: number; verdictId: number; reviewer: string; createdAt: string }[];
}
