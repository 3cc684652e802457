/**
 * A synchronous PostgreSQL connection for the store, whose repositories are synchronous
 * (they were written for better-sqlite3, and a verdict is one short transaction).
 *
 * node-postgres (pure JS, no native build) runs in a worker thread that owns the socket.
 * A query is posted to it and this thread sleeps in `Atomics.wait` until the worker has
 * posted the answer and flipped a shared flag; `receiveMessageOnPort` then takes the answer
 * without going back to the event loop. The cost is one thread hop per statement (about
 * 0.1 ms) on top of the server's round trip.
 *
 * Values come back as SQLite would give them: bigint and numeric as JS numbers, booleans as
 * 1/0, bytea as a Buffer.
 */
import { createRequire } from 'node:module';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { KensaError } from '../../shared/errors';

export interface PgConfig {
  host: string;
  port: number;
  user?: string;
  password?: string;
  database: string;
  /** The schema the project lives in (search_path). */
  schema: string;
  /** A label for messages (the URL without its password). */
  label: string;
  /** How long to wait for a lock (the write lock included) before STORE_BUSY. */
  lockTimeoutMs: number;
  readonly?: boolean;
}

export interface PgResult {
  fields: string[];
  rows: unknown[][];
  rowCount: number;
}

export interface PgServerError {
  message: string;
  code?: string;
  detail?: string;
  constraint?: string;
  /** True when the connection itself failed (refused, reset, closed). */
  connection?: boolean;
}

/** A PostgreSQL error raised by a statement, carrying the server's SQLSTATE. */
export class PgStoreError extends Error {
  readonly code: string;
  readonly detail?: string;
  readonly constraint?: string;
  readonly connection: boolean;
  constructor(e: PgServerError) {
    super(e.message);
    this.name = 'PgStoreError';
    this.code = e.code ?? '';
    this.detail = e.detail;
    this.constraint = e.constraint;
    this.connection = e.connection === true;
  }
}

// The worker: CommonJS, evaluated from this string so that no separate file has to be found
// at run time (tsx, vitest, the electron-vite bundle and the packaged app all differ there).
const WORKER_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const pg = require(workerData.pgPath);
const flag = new Int32Array(workerData.flag);
const port = workerData.port;
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));
pg.types.setTypeParser(16, (v) => (v === 't' ? 1 : 0));
let client = null;
let ready = null;
function reply(msg) {
  port.postMessage(msg);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
}
function connect() {
  const c = new pg.Client(workerData.config);
  c.on('error', () => { if (client === c) { client = null; ready = null; } });
  c.on('end', () => { if (client === c) { client = null; ready = null; } });
  client = c;
  ready = c.connect();
  return ready;
}
function isConnectionError(e) {
  return !e.code || /^(08|57P0)/.test(e.code) || /ECONN|EPIPE|ETIMEDOUT|EHOSTUNREACH|Connection terminated|not queryable|timeout expired/.test(String(e.message));
}
port.on('message', async (req) => {
  try {
    if (req.type === 'close') {
      const c = client; client = null; ready = null;
      if (c) await c.end().catch(() => {});
      reply({ ok: true });
      return;
    }
    if (!client) await connect(); else await ready;
    const c = client;
    const r = req.params === null ? await c.query(req.sql) : await c.query({ text: req.sql, values: req.params, rowMode: 'array', ...(req.name ? { name: req.name } : {}) });
    const last = Array.isArray(r) ? r[r.length - 1] : r;
    reply({ ok: true, fields: (last.fields || []).map((f) => f.name), rows: last.rows || [], rowCount: last.rowCount || 0 });
  } catch (e) {
    const connection = isConnectionError(e);
    if (connection && client) { const c = client; client = null; ready = null; c.end().catch(() => {}); }
    reply({ ok: false, error: { message: String(e && e.message || e), code: e && e.code, detail: e && e.detail, constraint: e && e.constraint, connection } });
  }
});
`;

const REPLY_TIMEOUT_MS = 120_000;

export class SyncPgConnection {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly flag: Int32Array;
  private closed = false;

  constructor(readonly config: PgConfig) {
    const req = createRequire(import.meta.url);
    const pgPath = req.resolve('pg');
    const { port1, port2 } = new MessageChannel();
    const shared = new SharedArrayBuffer(4);
    this.flag = new Int32Array(shared);
    this.port = port1;
    const options = [`-c search_path=${quoteIdent(config.schema)},public`, `-c lock_timeout=${Math.max(1, Math.round(config.lockTimeoutMs))}`];
    if (config.readonly) options.push('-c default_transaction_read_only=on');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        pgPath,
        flag: shared,
        port: port2,
        config: {
          host: config.host,
          port: config.port,
          user: config.user,
          password: config.password,
          database: config.database,
          options: options.join(' '),
          connectionTimeoutMillis: 5000,
          application_name: 'kensa',
        },
      },
      transferList: [port2],
    });
    this.worker.unref();
  }

  /** Runs one statement (params null: the simple protocol, several statements allowed). */
  /** `name`: a server-side prepared statement, parsed and planned once per connection. */
  query(sql: string, params: unknown[] | null, name?: string): PgResult {
    const m = this.request({ type: 'query', sql, params, name }) as { ok: boolean; error?: PgServerError } & PgResult;
    if (!m.ok) throw new PgStoreError(m.error ?? { message: 'unknown PostgreSQL error' });
    for (const row of m.rows) {
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[i] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      }
    }
    return m;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.request({ type: 'close' }, 5000);
    } catch {
      // the server is gone: nothing to close politely
    }
    this.closed = true;
    this.port.close();
    void this.worker.terminate();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private request(req: unknown, timeoutMs = REPLY_TIMEOUT_MS): unknown {
    if (this.closed) throw new KensaError('INVALID_ARGUMENT', `the connection to ${this.config.label} is closed`);
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage(req);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new KensaError('STORE_BUSY', `${this.config.label} did not answer within ${Math.round(timeoutMs / 1000)} s`);
      Atomics.wait(this.flag, 0, 0, left);
      const got = receiveMessageOnPort(this.port);
      if (got) return got.message;
    }
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
