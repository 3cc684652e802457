/**
 * Backup copies of a project database, taken before anything that rewrites much of it (a
 * schema migration, a refit), kept in `<project>/backups/` and rotated (the newest
 * `KEEP_BACKUPS` stay). `VACUUM INTO` writes a consistent snapshot of the live database
 * (committed state only, WAL included) as one ordinary SQLite file: restoring is copying it
 * over kensa.db while Kensa is closed.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { Db } from './db';
import { asPg } from './dialect';

export const KEEP_BACKUPS = 10;

export function backupsDir(dbFile: string): string {
  return path.join(path.dirname(path.resolve(dbFile)), 'backups');
}

/**
 * Writes a snapshot `kensa-<time>-<why>.db` next to the database and rotates old ones.
 * A PostgreSQL project is backed up by the server's own tools (pg_dump, base backups with
 * WAL archiving), which a station cannot do for it: there this returns null and writes
 * nothing. (What the copy guards against here, a crash half way through a refit, cannot
 * happen there either: the refit's rows commit in one transaction.)
 */
export function backupDb(db: Db, dbFile: string, why: string): string | null {
  if (asPg(db)) return null;
  const dir = backupsDir(dbFile);
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const tag = why.replace(/[^a-z0-9-]+/gi, '-').slice(0, 40);
  let file = path.join(dir, `kensa-${stamp}-${tag}.db`);
  for (let i = 2; existsSync(file); i++) file = path.join(dir, `kensa-${stamp}-${tag}-${i}.db`);
  db.prepare('VACUUM INTO ?').run(file);
  const all = listBackups(dbFile);
  for (const old of all.slice(KEEP_BACKUPS)) rmSync(old, { force: true });
  return file;
}

/** Backups, newest first. */
export function listBackups(dbFile: string): string[] {
  const dir = backupsDir(dbFile);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^kensa-.*\.db$/.test(f))
    .sort()
    .reverse()
    .map((f) => path.join(dir, f));
}
