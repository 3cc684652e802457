/**
 * Runs a project-wide change (a refit, a learning step, a threshold change) under a station
 * lock (store/stations.ts): refused with CONFLICT, naming who, while another station runs
 * one; renewed while it runs (so a long refit keeps it); released at the end, however it
 * ends. A station killed mid-way stops renewing, and the lock expires for the others.
 */
import { acquireLock, LOCK_TTL_MS, releaseLock, renewLock, type Db, type LockName } from '../../store/index';

export async function withStationLock<T>(db: Db, name: LockName, who: { station: string; reviewer: string }, purpose: string, fn: () => Promise<T>, ttlMs = LOCK_TTL_MS): Promise<T> {
  acquireLock(db, name, who, purpose, ttlMs);
  const timer = setInterval(() => {
    try {
      renewLock(db, name, who.station, ttlMs);
    } catch {
      // the database is unreachable for a moment: the next renewal tries again
    }
  }, Math.max(50, Math.floor(ttlMs / 3)));
  timer.unref();
  try {
    return await fn();
  } finally {
    clearInterval(timer);
    try {
      releaseLock(db, name, who.station);
    } catch {
      // unreachable: the lock expires by itself
    }
  }
}

/** The same for a synchronous change (a threshold is one transaction, but the lock tells the others). */
export function withStationLockSync<T>(db: Db, name: LockName, who: { station: string; reviewer: string }, purpose: string, fn: () => T, ttlMs = 30_000): T {
  acquireLock(db, name, who, purpose, ttlMs);
  try {
    return fn();
  } finally {
    try {
      releaseLock(db, name, who.station);
    } catch {
      // unreachable: the lock expires by itself
    }
  }
}
