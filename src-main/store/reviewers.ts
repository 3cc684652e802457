/**
 * Reviewers: the names people review under (no accounts, no passwords: Kensa is a
 * single-seat workstation; the name goes into every verdict and audit event). touchReviewer
 * registers a name or refreshes when it was last used; not audited (the verdicts are).
 */
import { nowIso, personName } from './checks';
import { cached, writeTx, type Db } from './db';

export interface Reviewer {
  id: number;
  name: string;
  createdAt: string;
  lastSeenAt: string;
}

export interface ReviewerRow {
  id: number;
  name: string;
  created_at: string;
  last_seen_at: string;
}

export function mapReviewer(r: ReviewerRow): Reviewer {
  return { id: r.id, name: r.name, createdAt: r.created_at, lastSeenAt: r.last_seen_at };
}

/** Inserts the reviewer or updates last_seen_at. The name is trimmed, 1..80 characters. */
export function touchReviewer(db: Db, name: string): Reviewer {
  const clean = personName(name);
  return writeTx(db, () => touchReviewerInTx(db, clean, nowIso()));
}

/** touchReviewer for callers already inside a write transaction, with a validated name. */
export function touchReviewerInTx(db: Db, name: string, at: string): Reviewer {
  const row = cached(
    db,
    `INSERT INTO reviewers (name, created_at, last_seen_at) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET last_seen_at = excluded.last_seen_at
     RETURNING *`,
  ).get(name, at, at) as ReviewerRow;
  return mapReviewer(row);
}

/** All reviewers, most recently seen first. */
export function listReviewers(db: Db): Reviewer[] {
  return (db.prepare('SELECT * FROM reviewers ORDER BY last_seen_at DESC, name').all() as ReviewerRow[]).map(mapReviewer);
}
