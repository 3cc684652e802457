/**
 * `node bin/kensa-host.mjs --port 0`: one stdout line with the URL, the built renderer at
 * that URL, a clean exit on SIGINT/SIGTERM. Uses the real out/renderer (built here first
 * when missing) and a temp config dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from './http-helpers';

const repo = path.resolve(import.meta.dirname, '../..');
const URL_LINE = /^Kensa workstation: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]{43}))$/;

let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-host-bin-'));
  if (!existsSync(path.join(repo, 'out', 'renderer', 'index.html'))) {
    const build = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
      cwd: repo,
      stdio: 'inherit',
    });
    expect(build.status).toBe(0);
  }
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startBin(args: string[]): Run {
  const child = spawn(process.execPath, [path.join(repo, 'bin', 'kensa-host.mjs'), ...args], {
    cwd: repo,
    env: { ...process.env, KENSA_CONFIG_DIR: path.join(tmp, 'config') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, exit };
}

async function firstLine(run: Run): Promise<string> {
  const deadline = Date.now() + 60_000;
  while (!run.stdout().includes('\n')) {
    if (run.child.exitCode !== null) throw new Error(`kensa-host exited early: ${run.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no URL line within 60 s; stderr: ${run.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return run.stdout().split('\n')[0];
}

describe('bin/kensa-host.mjs', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`prints one URL line, serves the renderer there, and exits 0 on ${signal}`, async () => {
      const run = startBin(['--port', '0']);
      try {
        const line = await firstLine(run);
        const m = URL_LINE.exec(line);
        expect(m, line).not.toBeNull();
        const [, url, port, token] = m!;
        const u = new URL(url);
        expect(u.searchParams.get('token')).toBe(token);

        const page = await request(Number(port), { path: `/?token=${token}` });
        expect(page.status).toBe(200);
        expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(page.body).toContain('<div id="app"></div>');
        expect(page.body).toMatch(/<script type="module"[^>]*src="\.\/assets\/[^"]+\.js"/);
        expect((await request(Number(port), { path: '/' })).status).toBe(401);
        const info = await request(Number(port), { method: 'POST', path: `/api/app.info?token=${token}`, body: '{}' });
        expect(JSON.parse(info.body)).toMatchObject({ ok: true, value: { shell: 'browser' } });

        run.child.kill(signal);
        const { code } = await run.exit;
        expect(code).toBe(0);
        expect(run.stdout().trimEnd().split('\n')).toEqual([line]);
      } finally {
        if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      }
    });
  }

  it('refuses a bad --port with a usage line and exit code 2', async () => {
    const run = startBin(['--port', 'eighty']);
    const { code } = await run.exit;
    expect(code).toBe(2);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(/--port must be an integer/);
  });
});
