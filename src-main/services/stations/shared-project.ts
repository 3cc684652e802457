/**
 * A shared project: several stations, one PostgreSQL store, one shared folder.
 *
 * The project folder (on a network share every station mounts, at whatever path each one
 * mounts it) holds the parts, anomaly maps and model files, exactly as a one-station project
 * does, and `kensa-project.json` in place of `kensa.db`:
 *
 *   { "kind": "kensa-shared-project", "version": 1,
 *     "store": "postgres://kensa@db.plant.local:5432/qa?schema=line3",
 *     "folderUid": "<32 hex>", "name": "Bottles line 3" }
 *
 * Why files in the folder and the records in the database: maps are ~66 KB a part (about
 * 5.6 GB a day at 86,000 parts) and model files tens of MB, written once and read by path by
 * the engine worker; in the database they would swell every backup and the WAL, and
 * retention (which thins passed parts' maps) would churn the tables. The database keeps what
 * must be shared and consistent (every record, with each model file's sha256, checked when
 * the model is loaded), the folder keeps the bytes. The database records this choice in
 * `project_files` (location 'shared-folder' and the folder's uid), and a station opening a
 * folder whose uid is not the database's is refused, so a station can never pair one line's
 * records with another line's files.
 *
 * The descriptor never holds a password (the folder is readable by every station): each
 * station gives it through PGPASSWORD or ~/.pgpass (pgpass.conf on Windows), which
 * node-postgres reads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KensaError } from '../../shared/errors';
import { isPgLocator } from '../../store/index';

export const SHARED_PROJECT_FILE = 'kensa-project.json';

export interface SharedProjectFile {
  kind: 'kensa-shared-project';
  version: 1;
  store: string;
  folderUid: string;
  name: string;
}

/** The locator without its password (what may be written into the shared folder). */
export function withoutPassword(locator: string): string {
  const u = new URL(locator);
  u.password = '';
  return u.toString();
}

export function readSharedProject(dir: string): SharedProjectFile | null {
  const file = path.join(dir, SHARED_PROJECT_FILE);
  if (!existsSync(file)) return null;
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new KensaError('INVALID_ARGUMENT', `${file} is not valid JSON: ${(e as Error).message}`, { file });
  }
  const o = v as Partial<SharedProjectFile> | null;
  if (!o || o.kind !== 'kensa-shared-project') throw new KensaError('INVALID_ARGUMENT', `${file} is not a Kensa shared-project file (kind must be "kensa-shared-project")`, { file });
  if (o.version !== 1) throw new KensaError('STORE_VERSION', `${file} has version ${String(o.version)}; this Kensa reads version 1`, { file });
  if (typeof o.store !== 'string' || !isPgLocator(o.store)) throw new KensaError('INVALID_ARGUMENT', `${file}: "store" must be a postgres:// URL`, { file });
  if (typeof o.folderUid !== 'string' || !/^[0-9a-f]{32}$/.test(o.folderUid)) throw new KensaError('INVALID_ARGUMENT', `${file}: "folderUid" must be 32 hex digits`, { file });
  return { kind: o.kind, version: 1, store: o.store, folderUid: o.folderUid, name: typeof o.name === 'string' ? o.name : '' };
}

export async function writeSharedProject(dir: string, f: Omit<SharedProjectFile, 'kind' | 'version'>): Promise<void> {
  const body: SharedProjectFile = { kind: 'kensa-shared-project', version: 1, store: withoutPassword(f.store), folderUid: f.folderUid, name: f.name };
  await writeFile(path.join(dir, SHARED_PROJECT_FILE), JSON.stringify(body, null, 2) + '\n', { flag: 'wx' });
}

/** Does `dir` hold a Kensa project (one-station kensa.db, or a shared-project file)? */
export function isProjectDir(dir: string): boolean {
  return existsSync(path.join(dir, 'kensa.db')) || existsSync(path.join(dir, SHARED_PROJECT_FILE));
}

/**
 * This station's name: KENSA_STATION, else the host name. Claims and locks carry it, so
 * that each station sees which PC holds a part or runs a refit.
 */
export function defaultStationName(): string {
  const env = process.env.KENSA_STATION?.trim();
  const name = env && env.length > 0 ? env : os.hostname() || 'station';
  return name.slice(0, 80);
}
