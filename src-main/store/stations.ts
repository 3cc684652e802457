/**
 * Several stations on one project (migration 7): claims on the parts being reviewed,
 * project-wide locks for the changes that must not run twice at once, and where the
 * project's files live.
 *
 * Every time here is the DATABASE's clock in epoch ms (SQLite: the machine's; PostgreSQL:
 * the server's), so that stations whose own clocks disagree still agree on expiry. Each
 * operation is one write transaction, and write transactions are serialised per project
 * (BEGIN IMMEDIATE / the project's advisory lock), so two stations claiming the same part at
 * the same instant get one winner and one "held by".
 *
 * A claim never stops a verdict: verdicts are append-only, so if two people judge one part
 * (a claim expired under someone who had stepped away, or they chose to) both verdicts are
 * kept, in order, and the later one is current. Claims are there so that stations do not
 * take the same part to begin with, and so that each sees who has which part.
 */
import { KensaError } from '../shared/errors';
import { personName, text } from './checks';
import { cached, writeTx, type Db } from './db';
import { asPg } from './dialect';

export interface Station {
  /** The station's name (one per PC or window; unique on the line). */
  station: string;
  /** The person working at it. */
  reviewer: string;
}

export interface Claim extends Station {
  imageId: number;
  claimedAt: number;
  expiresAt: number;
}

export const LOCK_NAMES = ['refit', 'threshold'] as const;
export type LockName = (typeof LOCK_NAMES)[number];

export interface StationLock {
  name: LockName;
  station: string;
  holder: string;
  purpose: string;
  acquiredAt: number;
  expiresAt: number;
}

export interface ProjectFiles {
  location: 'project-folder' | 'shared-folder';
  folderUid: string;
  recordedAt: string;
}

/** How long a claim lasts unless renewed (a station renews it while the part stays open). */
export const CLAIM_TTL_MS = 120_000;
/** How long a lock lasts unless its holder renews it. */
export const LOCK_TTL_MS = 60_000;

/** The SQL for "now" on the database's clock, epoch ms. */
function nowSql(db: Db): string {
  return asPg(db) ? `(extract(epoch FROM clock_timestamp()) * 1000)` : `((julianday('now') - 2440587.5) * 86400000.0)`;
}

/** The database's clock, epoch ms. */
export function dbNowMs(db: Db): number {
  return Number(cached(db, `SELECT ${nowSql(db)}`).pluck().get());
}

function station(who: Station): Station {
  return { station: text(who.station, 'station name', 80), reviewer: personName(who.reviewer) };
}

function ttl(ms: number): number {
  if (!(Number.isFinite(ms) && ms >= 100 && ms <= 24 * 3_600_000)) throw new KensaError('INVALID_ARGUMENT', `a claim or lock lasts 100 ms to 24 h, got ${String(ms)}`);
  return ms;
}

interface ClaimRow {
  image_id: number;
  station: string;
  reviewer: string;
  claimed_at: number;
  expires_at: number;
}

const mapClaim = (r: ClaimRow): Claim => ({ imageId: r.image_id, station: r.station, reviewer: r.reviewer, claimedAt: r.claimed_at, expiresAt: r.expires_at });

/**
 * Writes a station's claim on a part (inside the caller's write transaction, the holder
 * already checked): a renewal of its own live claim keeps when it began, anything else starts
 * a new claim.
 */
function putClaim(db: Db, imageId: number, w: Station, now: number, life: number): Claim {
  const row = cached(
    db,
    `INSERT INTO claims (image_id, station, reviewer, claimed_at, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET station = excluded.station, reviewer = excluded.reviewer,
       claimed_at = CASE WHEN claims.station = excluded.station AND claims.expires_at > excluded.claimed_at THEN claims.claimed_at ELSE excluded.claimed_at END,
       expires_at = excluded.expires_at
     RETURNING *`,
  ).get(imageId, w.station, w.reviewer, now, now + life) as ClaimRow;
  return mapClaim(row);
}

/**
 * Claims one part for a station (or renews its own claim). Refused, with the holder, when
 * another station holds a claim that has not expired.
 */
export function claimPart(db: Db, imageId: number, who: Station, ttlMs = CLAIM_TTL_MS): { ok: true; claim: Claim } | { ok: false; heldBy: Claim } {
  const w = station(who);
  const life = ttl(ttlMs);
  return writeTx(db, () => {
    const now = dbNowMs(db);
    const held = cached(db, 'SELECT * FROM claims WHERE image_id = ?').get(imageId) as ClaimRow | undefined;
    if (held && held.expires_at > now && held.station !== w.station) return { ok: false as const, heldBy: mapClaim(held) };
    if (!cached(db, 'SELECT 1 FROM images WHERE id = ?').get(imageId)) throw new KensaError('NOT_FOUND', `part ${imageId} does not exist`);
    return { ok: true as const, claim: putClaim(db, imageId, w, now, life) };
  });
}

/**
 * Claims the next part of the review queue for a station: the highest-scoring part under
 * `modelVersion` at or over `threshold` (null: every scored part) whose current verdict is
 * none (never judged, or undone) and that no other station holds. Its own unexpired claim on
 * an unjudged part comes first (a station that restarts takes back what it had). `after`:
 * the queue position the station was at (score, id), searched from first.
 */
export function claimNext(
  db: Db,
  who: Station,
  q: { modelVersion: number; threshold: number | null; after?: { score: number; id: number } | null },
  ttlMs = CLAIM_TTL_MS,
): Claim | null {
  const w = station(who);
  const life = ttl(ttlMs);
  return writeTx(db, () => {
    const now = dbNowMs(db);
    const unjudged = `(SELECT v.verdict FROM verdicts v WHERE v.image_id = s.image_id ORDER BY v.id DESC LIMIT 1) IS NULL`;
    const mine = cached(
      db,
      `SELECT c.image_id FROM claims c JOIN scores s ON s.image_id = c.image_id AND s.model_version = @m
       WHERE c.station = @station AND c.expires_at > @now AND ${unjudged} ORDER BY s.score DESC, s.image_id LIMIT 1`,
    )
      .pluck()
      .get({ m: q.modelVersion, station: w.station, now }) as number | undefined;
    const free = (after: { score: number; id: number } | null): number | undefined =>
      cached(
        db,
        `SELECT s.image_id FROM scores s JOIN images i ON i.id = s.image_id
         WHERE s.model_version = @m AND i.role = 'inspect' AND s.score >= @t AND ${unjudged}
           AND s.score <= @cs AND (s.score < @cs OR s.image_id > @cid)
           AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.image_id = s.image_id AND c.expires_at > @now AND c.station <> @station)
         ORDER BY s.score DESC, s.image_id LIMIT 1`,
      )
        .pluck()
        .get({ m: q.modelVersion, t: q.threshold ?? -Number.MAX_VALUE, now, station: w.station, cs: after?.score ?? Number.MAX_VALUE, cid: after?.id ?? 0 }) as
        | number
        | undefined;
    // From where the station last was (the parts above it are mostly judged: no walk over
    // them), then, when nothing is left below, from the top (parts released or undone above).
    const id = mine ?? (q.after ? (free(q.after) ?? free(null)) : free(null));
    if (id === undefined) return null;
    return putClaim(db, id, w, now, life);
  });
}

/** Ends a station's claim on a part (a no-op when it does not hold it). */
export function releaseClaim(db: Db, imageId: number, stationName: string): boolean {
  return writeTx(db, () => cached(db, 'DELETE FROM claims WHERE image_id = ? AND station = ?').run(imageId, stationName).changes > 0);
}

/** Ends every claim of a station (it closes the project or its reviewer signs out). */
export function releaseStationClaims(db: Db, stationName: string): number {
  return writeTx(db, () => cached(db, 'DELETE FROM claims WHERE station = ?').run(stationName).changes);
}

/** The claims that have not expired (optionally only on some parts), oldest first. */
export function liveClaims(db: Db, imageIds?: readonly number[]): Claim[] {
  const now = dbNowMs(db);
  if (imageIds === undefined) return (cached(db, 'SELECT * FROM claims WHERE expires_at > ? ORDER BY claimed_at, image_id').all(now) as ClaimRow[]).map(mapClaim);
  const out: Claim[] = [];
  for (let i = 0; i < imageIds.length; i += 500) {
    const chunk = imageIds.slice(i, i + 500);
    if (chunk.length === 0) continue;
    const rows = db.prepare(`SELECT * FROM claims WHERE expires_at > ? AND image_id IN (${chunk.map(() => '?').join(', ')}) ORDER BY claimed_at, image_id`).all(now, ...chunk) as ClaimRow[];
    out.push(...rows.map(mapClaim));
  }
  return out;
}

interface LockRow {
  name: LockName;
  station: string;
  holder: string;
  purpose: string;
  acquired_at: number;
  expires_at: number;
}

const mapLock = (r: LockRow): StationLock => ({ name: r.name, station: r.station, holder: r.holder, purpose: r.purpose, acquiredAt: r.acquired_at, expiresAt: r.expires_at });

function lockName(name: string): LockName {
  if (!(LOCK_NAMES as readonly string[]).includes(name)) throw new KensaError('INVALID_ARGUMENT', `unknown lock "${name}" (${LOCK_NAMES.join(', ')})`);
  return name as LockName;
}

/**
 * Takes a project-wide lock for a station, or renews it if the station holds it already.
 * Refused with CONFLICT, naming the station, the person and what they are doing, while
 * another station holds it (until it releases it or the lock expires unrenewed).
 */
export function acquireLock(db: Db, name: LockName, who: Station, purpose: string, ttlMs = LOCK_TTL_MS): StationLock {
  const n = lockName(name);
  const w = station(who);
  const why = text(purpose, 'purpose', 200);
  const life = ttl(ttlMs);
  return writeTx(db, () => {
    const now = dbNowMs(db);
    const held = cached(db, 'SELECT * FROM station_locks WHERE name = ?').get(n) as LockRow | undefined;
    if (held && held.expires_at > now && held.station !== w.station) {
      const since = new Date(held.acquired_at).toISOString();
      throw new KensaError('CONFLICT', `${held.holder} on station ${held.station} is already doing this (${held.purpose}, since ${since}): wait for it to finish`);
    }
    const row = cached(
      db,
      `INSERT INTO station_locks (name, station, holder, purpose, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET station = excluded.station, holder = excluded.holder, purpose = excluded.purpose,
         acquired_at = CASE WHEN station_locks.station = excluded.station AND station_locks.expires_at > excluded.acquired_at THEN station_locks.acquired_at ELSE excluded.acquired_at END,
         expires_at = excluded.expires_at
       RETURNING *`,
    ).get(n, w.station, w.reviewer, why, now, now + life) as LockRow;
    return mapLock(row);
  });
}

/** Pushes a held lock's expiry out; false when the station no longer holds it (it expired and another took it). */
export function renewLock(db: Db, name: LockName, stationName: string, ttlMs = LOCK_TTL_MS): boolean {
  const life = ttl(ttlMs);
  return writeTx(db, () => {
    const now = dbNowMs(db);
    return cached(db, 'UPDATE station_locks SET expires_at = ? WHERE name = ? AND station = ? AND expires_at > ?').run(now + life, lockName(name), stationName, now).changes > 0;
  });
}

export function releaseLock(db: Db, name: LockName, stationName: string): boolean {
  return writeTx(db, () => cached(db, 'DELETE FROM station_locks WHERE name = ? AND station = ?').run(lockName(name), stationName).changes > 0);
}

/** The lock's holder now (null: free, or expired). */
export function currentLock(db: Db, name: LockName): StationLock | null {
  const row = cached(db, 'SELECT * FROM station_locks WHERE name = ?').get(lockName(name)) as LockRow | undefined;
  return row && row.expires_at > dbNowMs(db) ? mapLock(row) : null;
}

/** Where the project's files live (recorded once, by migration 7). */
export function projectFiles(db: Db): ProjectFiles {
  const r = cached(db, 'SELECT location, folder_uid, recorded_at FROM project_files WHERE id = 1').get() as
    | { location: ProjectFiles['location']; folder_uid: string; recorded_at: string }
    | undefined;
  if (!r) throw new KensaError('STORE_CORRUPT', 'the project does not record where its files live (project_files is empty)');
  return { location: r.location, folderUid: r.folder_uid, recordedAt: r.recorded_at };
}
