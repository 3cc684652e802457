/**
 * Tells a station, within a second, that another station changed the project.
 *
 * PostgreSQL: a dedicated connection LISTENs on the project's channel (`kensa_<schema>`,
 * fed by migration 7's NOTIFY triggers, delivered at commit). Each notice carries the table,
 * the operation and the row's key fields; a row notice also carries the database clock at
 * the change, from which the delay is measured. The connection reconnects with backoff when
 * the server goes away, and says so (a station that has lost the feed falls back to the
 * change stamp every 2 s until it is back).
 *
 * SQLite (one machine: a window and a CLI on one file): the file's change stamp
 * (data_version) is polled every 500 ms.
 */
import pg from 'pg';
import type { StationChange } from '../../shared/api';
import { asPg, changeStamp, readTx, type Db } from '../../store/index';

export type { StationChange };

export interface ProjectWatcher {
  /** 'notify' (PostgreSQL LISTEN), 'poll' (SQLite or feed down). */
  readonly mode: () => 'notify' | 'poll';
  close(): Promise<void>;
}

export function watchProject(db: Db, onChange: (c: StationChange) => void, onStatus: (s: string) => void = () => {}): ProjectWatcher {
  const pgDb = asPg(db);
  let closed = false;
  let mode: 'notify' | 'poll' = pgDb ? 'notify' : 'poll';
  let last = '';
  const poll = (): void => {
    if (closed || mode !== 'poll') return;
    try {
      const s = readTx(db, () => changeStamp(db));
      if (last !== '' && s !== last) onChange({ t: 'any' });
      last = s;
    } catch {
      // unreachable for a moment: the next tick tries again
    }
  };
  const timer = setInterval(poll, pgDb ? 2000 : 500);
  timer.unref();
  poll();
  if (!pgDb) {
    return {
      mode: () => mode,
      close: async () => {
        closed = true;
        clearInterval(timer);
      },
    };
  }

  const cfg = pgDb.config;
  const channel = `kensa_${cfg.schema}`;
  let client: pg.Client | null = null;
  let backoff = 250;
  const connect = async (): Promise<void> => {
    if (closed) return;
    const c = new pg.Client({ host: cfg.host, port: cfg.port, user: cfg.user, password: cfg.password, database: cfg.database, application_name: 'kensa-watch', connectionTimeoutMillis: 5000 });
    const retry = (why: string): void => {
      if (client !== c) return;
      client = null;
      if (closed) return;
      mode = 'poll';
      onStatus(`change feed lost (${why}); checking every 2 s until it is back`);
      c.end().catch(() => undefined);
      setTimeout(() => void connect(), backoff).unref();
      backoff = Math.min(backoff * 2, 10_000);
    };
    client = c;
    c.on('error', (e) => retry(e.message));
    c.on('end', () => retry('connection closed'));
    c.on('notification', (n) => {
      if (n.channel !== channel || !n.payload) return;
      try {
        onChange(JSON.parse(n.payload) as StationChange);
      } catch {
        onChange({ t: 'any' });
      }
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
      if (closed) {
        await c.end();
        return;
      }
      const wasPolling = mode === 'poll';
      mode = 'notify';
      backoff = 250;
      if (wasPolling) {
        onStatus('change feed back');
        onChange({ t: 'any' }); // whatever happened while it was down
      }
    } catch (e) {
      retry((e as Error).message);
    }
  };
  void connect();
  return {
    mode: () => mode,
    close: async () => {
      closed = true;
      clearInterval(timer);
      const c = client;
      client = null;
      if (c) await c.end().catch(() => undefined);
    },
  };
}
