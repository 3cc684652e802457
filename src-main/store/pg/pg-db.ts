/**
 * The PostgreSQL store connection, with the surface of better-sqlite3's Database that the
 * repositories use (prepare → get / all / run / iterate / pluck, exec, transaction with
 * immediate / deferred, name, open, inTransaction, close), so that every repository runs
 * unchanged on either engine.
 *
 * Transactions:
 * - a write transaction (`writeTx`, `transaction(fn)()`, `.immediate()`) is BEGIN plus the
 *   project's write lock (a transaction-scoped advisory lock keyed by the schema), exactly
 *   what SQLite's BEGIN IMMEDIATE gives: one writer at a time per project across all
 *   stations, a second one waits (lock_timeout, then STORE_BUSY), and a read-then-write
 *   inside one transaction never races another station (the audit chain depends on it);
 * - a read transaction (`.deferred()`, `readTx`) is REPEATABLE READ: one snapshot;
 * - nested calls are savepoints.
 */
import { KensaError } from '../../shared/errors';
import { PgStoreError, SyncPgConnection, type PgConfig, type PgResult } from './sync-client';
import { translateSql, type TranslatedSql } from './sql';

/** The advisory-lock namespace of the project write lock (the second key is the schema's hash). */
export const WRITE_LOCK_NS = 0x4b45;

export interface RunResult {
  changes: number;
  lastInsertRowid: number;
}

export class PgStatement {
  private plucked = false;
  private readonly t: TranslatedSql;
  constructor(
    private readonly db: PgDb,
    readonly source: string,
  ) {
    this.t = translateSql(source);
  }

  pluck(on = true): this {
    this.plucked = on;
    return this;
  }

  get(...args: unknown[]): unknown {
    const r = this.exec(args);
    if (r.rows.length === 0) return undefined;
    return this.shape(r.fields, r.rows[0]);
  }

  all(...args: unknown[]): unknown[] {
    const r = this.exec(args);
    return r.rows.map((row) => this.shape(r.fields, row));
  }

  iterate(...args: unknown[]): IterableIterator<unknown> {
    return this.all(...args)[Symbol.iterator]();
  }

  run(...args: unknown[]): RunResult {
    const r = this.exec(args);
    return { changes: r.rowCount, lastInsertRowid: 0 };
  }

  private shape(fields: string[], row: unknown[]): unknown {
    if (this.plucked) return row[0];
    const o: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) o[fields[i]] = row[i];
    return o;
  }

  private exec(args: unknown[]): PgResult {
    return this.db.query(this.t.text, bindValues(this.t, args, this.source), this.t.name);
  }
}

function bindValues(t: TranslatedSql, args: unknown[], source: string): unknown[] {
  if (t.names) {
    const obj = args.find((a) => a !== null && typeof a === 'object' && !Array.isArray(a) && !Buffer.isBuffer(a)) as Record<string, unknown> | undefined;
    if (!obj) throw new TypeError(`missing named parameters for: ${source.slice(0, 100)}`);
    return t.names.map((n) => {
      if (!(n in obj)) throw new RangeError(`Missing named parameter "${n}"`);
      return value(obj[n]);
    });
  }
  const flat = args.flatMap((a) => (Array.isArray(a) ? a : [a]));
  if (flat.length !== t.positional) throw new RangeError(`Too ${flat.length < t.positional ? 'few' : 'many'} parameter values were provided`);
  return flat.map(value);
}

function value(v: unknown): unknown {
  if (v === undefined) throw new TypeError('undefined cannot be bound as a parameter (use null)');
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') throw new TypeError('booleans cannot be bound as a parameter (use 1 or 0)');
  return v;
}

type TxFn<A extends unknown[], R> = ((...args: A) => R) & {
  deferred: (...args: A) => R;
  immediate: (...args: A) => R;
  exclusive: (...args: A) => R;
};

export class PgDb {
  readonly dialect = 'postgres' as const;
  readonly name: string;
  readonly schema: string;
  private readonly conn: SyncPgConnection;
  private depth = 0;
  private savepoints = 0;

  constructor(readonly config: PgConfig) {
    this.conn = new SyncPgConnection(config);
    this.name = config.label;
    this.schema = config.schema;
  }

  get open(): boolean {
    return !this.conn.isClosed;
  }

  get inTransaction(): boolean {
    return this.depth > 0;
  }

  /** One statement; errors come out as PgStoreError (writeTx / toStoreError map them). */
  query(sql: string, params: unknown[] | null, name?: string): PgResult {
    return this.conn.query(sql, params, name);
  }

  prepare(sql: string): PgStatement {
    return new PgStatement(this, sql);
  }

  /** Runs SQL text as it is (several statements allowed, no parameters). */
  exec(sql: string): this {
    this.conn.query(sql, null);
    return this;
  }

  pragma(): never {
    throw new KensaError('INVALID_ARGUMENT', 'PRAGMA is SQLite only: this project is stored in PostgreSQL');
  }

  transaction<A extends unknown[], R>(fn: (...args: A) => R): TxFn<A, R> {
    const make =
      (write: boolean) =>
      (...args: A): R =>
        this.inTx(write, () => fn(...args));
    const f = make(true) as TxFn<A, R>;
    f.deferred = make(false);
    f.immediate = make(true);
    f.exclusive = make(true);
    return f;
  }

  private inTx<R>(write: boolean, fn: () => R): R {
    if (this.depth > 0) {
      const sp = `kensa_sp${++this.savepoints}`;
      this.conn.query(`SAVEPOINT ${sp}`, null);
      this.depth++;
      try {
        const r = fn();
        assertNotPromise(r);
        this.conn.query(`RELEASE SAVEPOINT ${sp}`, null);
        return r;
      } catch (e) {
        try {
          this.conn.query(`ROLLBACK TO SAVEPOINT ${sp}`, null);
          this.conn.query(`RELEASE SAVEPOINT ${sp}`, null);
        } catch {
          // the outer transaction is broken anyway; its ROLLBACK follows
        }
        throw e;
      } finally {
        this.depth--;
      }
    }
    try {
      this.conn.query(
        write
          ? `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK_NS}, hashtext(${quoteLiteral(this.schema)}))`
          : 'BEGIN ISOLATION LEVEL REPEATABLE READ',
        null,
      );
    } catch (e) {
      // BEGIN went through but the lock wait failed (lock_timeout → STORE_BUSY): end the
      // aborted transaction, or every later statement on this connection would fail.
      try {
        this.conn.query('ROLLBACK', null);
      } catch {
        // connection lost: the server rolls back by itself
      }
      throw e;
    }
    this.depth = 1;
    this.savepoints = 0;
    try {
      const r = fn();
      assertNotPromise(r);
      this.conn.query('COMMIT', null);
      return r;
    } catch (e) {
      try {
        this.conn.query('ROLLBACK', null);
      } catch {
        // connection lost: the server rolls back by itself
      }
      throw e;
    } finally {
      this.depth = 0;
    }
  }

  close(): void {
    this.conn.close();
  }
}

function assertNotPromise(r: unknown): void {
  if (r !== null && typeof r === 'object' && typeof (r as { then?: unknown }).then === 'function') {
    throw new TypeError('Transaction function cannot return a promise');
  }
}

export function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Is this a PostgreSQL locator (`postgres://…` / `postgresql://…`)? */
export function isPgLocator(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

/**
 * `postgres://user[:password]@host[:port]/database?schema=name` → connection settings.
 * The password may also come from PGPASSWORD or ~/.pgpass (node-postgres reads both); it
 * never appears in the label used in messages and the audit trail.
 */
export function parsePgLocator(locator: string, lockTimeoutMs: number, readonly = false): PgConfig {
  let u: URL;
  try {
    u = new URL(locator);
  } catch {
    throw new KensaError('INVALID_ARGUMENT', `not a PostgreSQL URL: ${redactLocator(locator)} (expected postgres://user@host:port/database?schema=name)`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new KensaError('INVALID_ARGUMENT', `the PostgreSQL URL names no database: ${redactLocator(locator)}`);
  const schema = u.searchParams.get('schema') ?? 'kensa';
  if (!/^[a-z_][a-z0-9_]{0,55}$/.test(schema)) {
    throw new KensaError('INVALID_ARGUMENT', `schema "${schema}" must be lower-case letters, digits and _ (at most 56), starting with a letter`);
  }
  const label = redactLocator(locator);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
    schema,
    label,
    lockTimeoutMs,
    readonly,
  };
}

/** The URL with any password replaced by ***. */
export function redactLocator(locator: string): string {
  return locator.replace(/^(postgres(?:ql)?:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}

export { PgStoreError };
