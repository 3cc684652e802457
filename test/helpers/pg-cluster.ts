/**
 * A throwaway PostgreSQL cluster for tests and benches: Debian's `postgresql` package
 * (initdb / pg_ctl from /usr/lib/postgresql/<version>/bin), a data folder in a temp folder,
 * listening on 127.0.0.1 only at a free port, password (SCRAM) login for one superuser,
 * unix socket in the temp folder. fsync is off (a test cluster; the project's durability
 * rests on PostgreSQL's defaults on a real server). Stopped and deleted by `stop()`.
 *
 * As root (CI), initdb refuses to run, so the cluster runs as the `postgres` user that the
 * Debian package creates, through runuser.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface PgCluster {
  /** postgres://kensa:…@127.0.0.1:PORT/DB (the `kensa` database unless named). */
  url(database?: string): string;
  port: number;
  dir: string;
  /** Stops the server (fast shutdown: connections are cut), keeping its data. */
  halt(): void;
  /** Starts it again after halt(), same port and data. */
  resume(): void;
  stop(): void;
}

export const PG_PASSWORD = 'kensa-test-password';

/** The newest installed PostgreSQL's bin folder, or null when the package is not installed. */
export function pgBinDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const versions = readdirSync(root)
    .filter((v) => existsSync(path.join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(root, versions[0], 'bin') : null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPgCluster(): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh does it as root)');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kensa-pg-'));
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, PG_PASSWORD + '\n');
  let uid = -1;
  let gid = -1;
  if (asRoot) {
    uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  chmodSync(dir, 0o700);
  const run = (cmd: string, args: string[]): void => {
    const full = path.join(bin, cmd);
    if (asRoot) execFileSync('runuser', ['-u', 'postgres', '--', full, ...args], { stdio: 'pipe', cwd: dir });
    else execFileSync(full, args, { stdio: 'pipe', cwd: dir });
  };
  run('initdb', ['-D', data, '-U', 'kensa', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  const port = await freePort();
  const conf = [
    `listen_addresses = '127.0.0.1'`,
    `port = ${port}`,
    `unix_socket_directories = '${dir}'`,
    'fsync = off',
    'synchronous_commit = off',
    'full_page_writes = off',
    'max_connections = 200',
    'shared_buffers = 64MB',
  ].join('\n');
  writeFileSync(path.join(data, 'postgresql.auto.conf'), conf + '\n');
  if (asRoot) chownSync(path.join(data, 'postgresql.auto.conf'), uid, gid);
  run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']);
  const env = { ...process.env, PGPASSWORD: PG_PASSWORD };
  execFileSync(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'kensa', '-d', 'postgres', '-qc', 'CREATE DATABASE kensa'], { env, stdio: 'pipe' });
  let stopped = false;
  return {
    port,
    dir,
    halt: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
    resume: () => run('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']),
    url: (database = 'kensa') => `postgres://kensa:${PG_PASSWORD}@127.0.0.1:${port}/${database}`,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** psql against the cluster (for tests that edit a database behind Kensa's back). */
export function psql(url: string, sql: string): string {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed');
  const u = new URL(url);
  return execFileSync(path.join(bin, 'psql'), ['-h', u.hostname, '-p', u.port, '-U', decodeURIComponent(u.username), '-d', u.pathname.slice(1), '-v', 'ON_ERROR_STOP=1', '-Atqc', sql], {
    env: { ...process.env, PGPASSWORD: decodeURIComponent(u.password) },
    stdio: 'pipe',
  }).toString();
}
