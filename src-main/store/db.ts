/**
 * The project database connection: opening (pragmas, corruption check, schema version
 * check, pending migrations), closing, the write-transaction helper every repository uses,
 * and the mapping of SQLite errors to KensaError codes.
 *
 * Settings, and why:
 * - journal_mode = WAL: readers never block the writer, and a crash leaves a WAL that is
 *   replayed on the next open.
 * - synchronous = FULL: the WAL is fsynced at every commit, so a verdict that was
 *   acknowledged survives a power cut, not only a process crash (NORMAL would not).
 * - busy_timeout = 5000: the desktop app and a CLI may write the same project at once.
 *   Every write is BEGIN IMMEDIATE (writeTx), so the write lock is taken up front, a second
 *   writer waits for it (up to 5 s, then STORE_BUSY) and no write is ever lost to a
 *   read-to-write lock upgrade failing half way.
 * - foreign_keys = ON.
 * - PRAGMA quick_check on every open: a damaged file is refused with STORE_CORRUPT naming
 *   it, instead of failing later in the middle of a review.
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { backupDb, backupsDir, listBackups } from './backup';
import { KensaError } from '../shared/errors';
import { KENSA_APPLICATION_ID } from './migrations/0001-initial';
import { LATEST_VERSION, pgMeta, runMigrations, userVersion } from './migrations/index';
import { asPg } from './dialect';
import { PgDb, PgStoreError, isPgLocator, parsePgLocator, redactLocator } from './pg/pg-db';
import { quoteIdent } from './pg/sync-client';

export type Db = Database.Database;

export interface OpenOptions {
  /** Open without writing anything: no migrations, no journal-mode change. */
  readonly?: boolean;
  /**
   * better-sqlite3's `nativeBinding`: the native build to load (the Electron build inside the
   * desktop app, passed in by the app layer); default: the Node build under node_modules.
   */
  nativeBinding?: string;
  /** Message for a native build that does not fit this runtime (the app layer knows the fix). */
  nativeBindingHint?: string;
}

export const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed, unless read-only) a project database and brings its schema up
 * to date. `file` is an SQLite file, or a PostgreSQL locator
 * (`postgres://user@host:port/database?schema=name`, see openPgProjectDb).
 */
export function openProjectDb(file: string, opts: OpenOptions = {}): Db {
  if (isPgLocator(file)) return openPgProjectDb(file, opts);
  const readonly = opts.readonly === true;
  if (readonly && !existsSync(file)) throw new KensaError('NOT_FOUND', `project database not found: ${file}`, { file });
  let db: Db;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly, ...(opts.nativeBinding ? { nativeBinding: opts.nativeBinding } : {}) });
  } catch (e) {
    if (isAbiMismatch(e)) {
      const detail = e instanceof Error ? e.message.split('\n')[0] : String(e);
      throw new KensaError('STORE_NATIVE', `${opts.nativeBindingHint ?? 'the better-sqlite3 native build does not match this runtime: run `npm run setup` again'} (${detail})`, { file, cause: e });
    }
    throw toStoreError(e, file);
  }
  try {
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // One snapshot for the three reads: another process may be migrating this file right now,
    // and mixing its before and after states would make a fresh file look foreign.
    const { appId, version, empty } = db.transaction(() => ({
      appId: db.pragma('application_id', { simple: true }) as number, // the first read of the header
      version: userVersion(db),
      empty: isEmpty(db),
    })).deferred();
    quickCheck(db, file);
    if (version > LATEST_VERSION) {
      throw new KensaError(
        'STORE_VERSION',
        `${file} was written by a newer Kensa (schema version ${version}; this Kensa knows up to ${LATEST_VERSION}): update Kensa to open it`,
        { file },
      );
    }
    if (appId !== KENSA_APPLICATION_ID && !(appId === 0 && version === 0 && empty)) {
      throw new KensaError('INVALID_ARGUMENT', `${file} is an SQLite database but not a Kensa project`, { file });
    }
    if (!readonly) {
      const mode = db.pragma('journal_mode = WAL', { simple: true }) as string;
      if (mode.toLowerCase() !== 'wal') throw new KensaError('STORE_BUSY', `could not switch ${file} to WAL mode (still ${mode})`, { file });
    }
    db.pragma('synchronous = FULL');
    if (version < LATEST_VERSION) {
      if (readonly) {
        throw new KensaError('STORE_VERSION', `${file} has schema version ${version} and needs upgrading to ${LATEST_VERSION}: open it once without read-only`, { file });
      }
      // A copy of the database as it was, before the schema changes (not for a new file).
      if (version > 0) backupDb(db, file, `before-migration-${version}-to-${LATEST_VERSION}`);
      runMigrations(db);
    }
    db.pragma('foreign_keys = ON');
    return db;
  } catch (e) {
    db.close();
    throw toStoreError(e, file);
  }
}

/**
 * A project in PostgreSQL: the schema named in the locator holds exactly the tables an SQLite
 * project file holds (same migrations, same guards, same audit chain). A new schema is
 * created and migrated; a schema that holds other tables is refused; one written by a newer
 * Kensa is refused. The returned connection has better-sqlite3's surface (see pg/pg-db.ts),
 * typed as Db so that every repository takes it.
 */
export function openPgProjectDb(locator: string, opts: OpenOptions = {}): Db {
  const readonly = opts.readonly === true;
  const cfg = parsePgLocator(locator, BUSY_TIMEOUT_MS, readonly);
  const db = new PgDb(cfg);
  try {
    // One snapshot for both reads: another station may be migrating this schema right now, and
    // its first migration committing between them would make a new project look foreign.
    const { meta, others } = db.transaction(() => ({
      meta: pgMeta(db),
      others: db.query(`SELECT count(*) FROM pg_tables WHERE schemaname = $1`, [cfg.schema]).rows[0][0] as number,
    })).deferred();
    if (!meta.exists) {
      if (readonly) throw new KensaError('NOT_FOUND', `no Kensa project in schema "${cfg.schema}" of ${cfg.label}`, { file: cfg.label });
      if (others > 0) throw new KensaError('INVALID_ARGUMENT', `schema "${cfg.schema}" of ${cfg.label} holds tables but is not a Kensa project`, { file: cfg.label });
      db.transaction(() => db.exec(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(cfg.schema)}`)).immediate();
    } else if (meta.appId !== 'KENS') {
      throw new KensaError('INVALID_ARGUMENT', `schema "${cfg.schema}" of ${cfg.label} is not a Kensa project`, { file: cfg.label });
    }
    const version = meta.version;
    if (version > LATEST_VERSION) {
      throw new KensaError('STORE_VERSION', `${cfg.label} was written by a newer Kensa (schema version ${version}; this Kensa knows up to ${LATEST_VERSION}): update Kensa to open it`, { file: cfg.label });
    }
    if (version < LATEST_VERSION) {
      if (readonly) throw new KensaError('STORE_VERSION', `${cfg.label} has schema version ${version} and needs upgrading to ${LATEST_VERSION}: open it once without read-only`, { file: cfg.label });
      runMigrations(db as unknown as Db);
    }
    return db as unknown as Db;
  } catch (e) {
    db.close();
    throw toStoreError(e, cfg.label);
  }
}

/** The error a native module built for another runtime's ABI (Node vs Electron) throws on load. */
function isAbiMismatch(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ERR_DLOPEN_FAILED' || code === 'MODULE_NOT_FOUND') return true;
  const m = e instanceof Error ? e.message : '';
  return /NODE_MODULE_VERSION|compiled against a different Node\.js version|Could not locate the bindings file|invalid ELF header|not a valid Win32 application/.test(m);
}

export function closeProjectDb(db: Db): void {
  if (db.open) db.close();
}

/** The database's size on disk: SQLite's file pages; PostgreSQL: the project schema's tables and indexes. */
export function databaseBytes(db: Db): number {
  const pg = asPg(db);
  if (pg) {
    return Number(pg.query(`SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) FROM pg_tables WHERE schemaname = $1`, [pg.schema]).rows[0][0]);
  }
  return (db.prepare('SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()').pluck().get() as number) ?? 0;
}

/**
 * A value that changes whenever any connection (this one, another process, another station)
 * has committed a write since it was last read, read inside the caller's snapshot.
 * SQLite: this connection's total_changes() and the file's data_version. PostgreSQL: the
 * snapshot's xmax (the next transaction id: it moves with every committed write on the
 * server; a false "changed" costs one re-read, a missed change cannot happen).
 */
export function changeStamp(db: Db): string {
  if (asPg(db)) return String(cached(db, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text').pluck().get());
  const r = cached(db, 'SELECT total_changes() AS c, data_version AS d FROM pragma_data_version').get() as { c: number; d: number };
  return `${r.c}:${r.d}`;
}

/**
 * Runs `fn` in a BEGIN IMMEDIATE transaction (a savepoint when already inside one): all of
 * it commits or none of it does. SQLite errors come out as KensaErrors.
 */
export function writeTx<T>(db: Db, fn: () => T): T {
  try {
    return db.transaction(fn).immediate();
  } catch (e) {
    throw toStoreError(e, db.name);
  }
}

const statementCache = new WeakMap<Db, Map<string, Database.Statement>>();

/** A prepared statement for `sql`, prepared once per connection (for the hot paths). */
export function cached(db: Db, sql: string): Database.Statement {
  let perDb = statementCache.get(db);
  if (!perDb) statementCache.set(db, (perDb = new Map()));
  let stmt = perDb.get(sql);
  if (!stmt) perDb.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}

/** Runs several reads on one consistent snapshot (a deferred read transaction). */
export function readTx<T>(db: Db, fn: () => T): T {
  try {
    return db.inTransaction ? fn() : db.transaction(fn).deferred();
  } catch (e) {
    throw toStoreError(e, db.name);
  }
}

/** A thrown SQLite error → the KensaError a caller can branch on; anything else is returned as is. */
export function toStoreError(e: unknown, file?: string): unknown {
  if (e instanceof PgStoreError) return pgToStoreError(e, file);
  if (e instanceof KensaError || !(e instanceof Database.SqliteError)) return e;
  const code = e.code;
  const where = file === undefined ? '' : ` (${file})`;
  const opts = { file, cause: e };
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new KensaError('STORE_CORRUPT', `the project database is damaged or not a database${where}: ${e.message}${file === undefined ? '' : recoveryHint(file)}`, opts);
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new KensaError('STORE_BUSY', `the project database is busy: another Kensa window or command is writing to it${where}`, opts);
  }
  if (code.startsWith('SQLITE_CANTOPEN')) return new KensaError('NOT_FOUND', `cannot open the project database${where}: ${e.message}`, opts);
  if (code.startsWith('SQLITE_READONLY')) return new KensaError('INVALID_ARGUMENT', `the project database is read-only${where}: ${e.message}`, opts);
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new KensaError('NOT_FOUND', `a referenced row does not exist${where}`, opts);
  if (code === 'SQLITE_CONSTRAINT_CHECK' || code === 'SQLITE_CONSTRAINT_NOTNULL') return new KensaError('INVALID_ARGUMENT', `${e.message}${where}`, opts);
  if (code.startsWith('SQLITE_CONSTRAINT')) return new KensaError('CONFLICT', `${e.message}${where}`, opts);
  return e;
}

/** PostgreSQL's SQLSTATE classes → the same KensaError codes SQLite's errors map to. */
function pgToStoreError(e: PgStoreError, file?: string): KensaError {
  const where = file === undefined ? '' : ` (${redactLocator(file)})`;
  const opts = { file, cause: e };
  const c = e.code;
  if (e.connection) return new KensaError('STORE_UNAVAILABLE', `the project database server cannot be reached${where}: ${e.message}`, opts);
  if (c === '55P03' || c === '40P01' || c === '40001' || c === '57014') {
    return new KensaError('STORE_BUSY', `the project database is busy: another station or command holds the project's write lock${where}`, opts);
  }
  if (c === '23503') return new KensaError('NOT_FOUND', `a referenced row does not exist${where}`, opts);
  if (c === '23514' || c === '23502' || c.startsWith('22')) return new KensaError('INVALID_ARGUMENT', `${e.message}${where}`, opts);
  if (c.startsWith('23')) return new KensaError('CONFLICT', `${e.message}${where}`, opts);
  if (c === '25006') return new KensaError('INVALID_ARGUMENT', `the project database is read-only${where}: ${e.message}`, opts);
  if (c === '28P01' || c === '28000') return new KensaError('STORE_UNAVAILABLE', `the project database refused the login${where}: ${e.message}`, opts);
  if (c === '3D000') return new KensaError('NOT_FOUND', `the project database does not exist${where}: ${e.message}`, opts);
  return new KensaError('STORE_CORRUPT', `the project database failed a statement${where}: ${e.message} (SQLSTATE ${c || 'none'})`, opts);
}

/** How to recover a damaged database: the newest backup copy, when there is one. */
function recoveryHint(file: string): string {
  const latest = listBackups(file)[0];
  return latest
    ? `; to recover, close Kensa and copy the latest backup ${latest} over ${file} (verdicts given after that backup must then be re-entered)`
    : `; no backup copy exists yet in ${backupsDir(file)}`;
}

function quickCheck(db: Db, file: string): void {
  const rows = db.pragma('quick_check') as { quick_check: string }[];
  const problems = rows
    .map((r) => r.quick_check.replace(/\*\*\* in database \w+ \*\*\*/g, '').replace(/\s+/g, ' ').trim())
    .filter((r) => r !== 'ok' && r !== '');
  if (problems.length > 0) {
    const shown = problems.slice(0, 3).join('; ');
    throw new KensaError('STORE_CORRUPT', `the project database ${file} is damaged (quick_check: ${shown}${problems.length > 3 ? '; …' : ''})${recoveryHint(file)}`, { file });
  }
}

function isEmpty(db: Db): boolean {
  return (db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number }).n === 0;
}
