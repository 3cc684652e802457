/**
 * The loopback web host (src-main/host/server.ts) over real sockets, with the real
 * workstation (temp config dir): every refusal is a real HTTP request or WebSocket handshake.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES, readPageCsp, startHost, type Host } from '../../src-main/host/server';
import { createWorkstation, type Workstation } from '../../src-main/services/workstation';
import type { ApiResult, AppInfo, KensaEvent, ProjectState } from '../../src-main/shared/api';
import { KENSA_VERSION } from '../../src-main/shared/version';
import { clientFrame, openWs, request, seen, type Reply } from './http-helpers';

const repo = path.resolve(import.meta.dirname, '../..');
const SECRET = 'SECRET-MARKER-7c1e';
const pageHtml = readFileSync(path.join(repo, 'src-renderer', 'index.html'), 'utf8');

let tmp: string;
let rendererDir: string;
let ws: Workstation;
let host: Host;
let port: number;
let token: string;

/** No stack traces, no file-system paths of the host in an error body. */
function expectNoLeak(r: Reply): void {
  expect(r.body).not.toMatch(/\n\s+at |node:internal|\.ts:\d+|\/src-main\//);
}

function envelope(r: Reply): ApiResult<unknown> {
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(r.body) as ApiResult<unknown>;
}

const api = (method: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
  request(port, {
    method: 'POST',
    path: `/api/${method}`,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-host-'));
  // A stand-in for out/renderer, with a secret file next to it that must never be served.
  rendererDir = path.join(tmp, 'renderer');
  mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  writeFileSync(path.join(rendererDir, 'index.html'), pageHtml);
  writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log("kensa");\n');
  writeFileSync(path.join(rendererDir, 'assets', 'app.css'), 'body { color: red }\n');
  writeFileSync(path.join(rendererDir, 'assets', 'logo.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  writeFileSync(path.join(rendererDir, '.hidden'), SECRET);
  writeFileSync(path.join(tmp, 'package.json'), JSON.stringify({ secret: SECRET }));
  symlinkSync(path.join(tmp, 'package.json'), path.join(rendererDir, 'assets', 'link.json'));

  ws = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config') });
  host = await startHost({ workstation: ws, rendererDir, port: 0 });
  ({ port, token } = host);
});

afterAll(async () => {
  await host?.close();
  await ws?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('binding and URL', () => {
  it('returns a 127.0.0.1 URL with a 32-byte base64url token', () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token, 'base64url')).toHaveLength(32);
    expect(host.url).toBe(`http://127.0.0.1:${port}/?token=${token}`);
    expect(port).toBeGreaterThan(0);
  });

  it('listens on 127.0.0.1 only', async () => {
    // The kernel's table of listening sockets names exactly one, on 127.0.0.1.
    if (existsSync('/proc/net/tcp')) {
      const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
      const listening = (file: string): string[] =>
        existsSync(file)
          ? readFileSync(file, 'utf8')
              .split('\n')
              .slice(1)
              .map((l) => l.trim().split(/\s+/))
              .filter((f) => f.length > 3 && f[1].endsWith(`:${hexPort}`) && f[3] === '0A')
              .map((f) => f[1])
          : [];
      expect(listening('/proc/net/tcp')).toEqual([`0100007F:${hexPort}`]);
      expect(listening('/proc/net/tcp6')).toEqual([]);
    }
    // And no other address of this machine answers on the port.
    const others = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => a!.address);
    for (const address of [...others, '::1']) {
      const err = await new Promise<string>((resolve) => {
        const s = net.connect({ host: address, port }, () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(err, `connect to ${address}`).not.toBe('connected');
    }
  });
});

describe('token', () => {
  it('refuses static files, API calls and the event WebSocket without a token (401)', async () => {
    for (const p of ['/', '/index.html', '/assets/app.js', '/nope']) {
      const r = await request(port, { path: p });
      expect(r.status, p).toBe(401);
      expect(r.body).not.toContain('<html');
      expectNoLeak(r);
    }
    const call = await request(port, { method: 'POST', path: '/api/app.info', body: '{}' });
    expect(call.status).toBe(401);
    expect(envelope(call)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    const sock = await openWs(port, '/api/events');
    expect(sock.status).toBe(401);
    await sock.close();
  });

  it('refuses a wrong token everywhere: query, bearer, cookie, WebSocket (401)', async () => {
    const wrong = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect((await request(port, { path: `/?token=${wrong}` })).status).toBe(401);
    expect((await request(port, { path: '/?token=' })).status).toBe(401);
    expect((await request(port, { path: `/?token=${token}x` })).status).toBe(401);
    expect((await request(port, { path: '/assets/app.js', headers: { Authorization: `Bearer ${wrong}` } })).status).toBe(401);
    expect((await request(port, { path: '/assets/app.js', headers: { Authorization: `Basic ${token}` } })).status).toBe(401);
    expect((await request(port, { path: '/assets/app.js', headers: { Cookie: `kensa_token_${port}=${wrong}` } })).status).toBe(401);
    expect((await api('app.info', {}, { Authorization: `Bearer ${wrong}` })).status).toBe(401);
    const sock = await openWs(port, `/api/events?token=${wrong}`);
    expect(sock.status).toBe(401);
    await sock.close();
  });

  it('serves the page for ?token= and sets an HttpOnly SameSite=Strict cookie', async () => {
    const r = await request(port, { path: `/?token=${token}` });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.body).toBe(pageHtml);
    const cookie = r.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toBe(`kensa_token_${port}=${token}; HttpOnly; SameSite=Strict; Path=/`);
  });

  it('accepts the cookie for assets (which carry no query) after the first page load', async () => {
    const page = await request(port, { path: `/?token=${token}` });
    const cookie = (page.headers['set-cookie']?.[0] ?? '').split(';')[0];
    expect((await request(port, { path: '/assets/app.js' })).status).toBe(401);
    const js = await request(port, { path: '/assets/app.js', headers: { Cookie: `other=1; ${cookie}` } });
    expect(js.status).toBe(200);
    expect(js.body).toContain('kensa');
    // The page's fetch() calls carry the cookie too (and the browser adds our own Origin).
    const call = await request(port, {
      method: 'POST',
      path: '/api/app.info',
      headers: { Cookie: cookie, Origin: `http://127.0.0.1:${port}` },
      body: '{}',
    });
    expect(call.status).toBe(200);
    expect(envelope(call)).toMatchObject({ ok: true });
    // A cookie-authenticated page load does not set the cookie again.
    expect((await request(port, { path: '/', headers: { Cookie: cookie } })).headers['set-cookie']).toBeUndefined();
  });

  it('accepts the token as a query parameter on API calls and as a bearer header on static files', async () => {
    const call = await request(port, { method: 'POST', path: `/api/app.info?token=${token}`, body: '{}' });
    expect(call.status).toBe(200);
    const css = await request(port, { path: '/assets/app.css', headers: { Authorization: `Bearer ${token}` } });
    expect(css.status).toBe(200);
  });
});

describe('Host and Origin checks (DNS rebinding, CORS)', () => {
  const bearer = (): Record<string, string> => ({ Authorization: `Bearer ${token}` });

  it('refuses foreign Host headers with 403, even with the right token', async () => {
    for (const h of [`evil.com:${port}`, `127.0.0.1.nip.io:${port}`, `localhost.evil.com:${port}`, `127.0.0.1:${port + 1}`, '127.0.0.1', `[::1]:${port}`, `0.0.0.0:${port}`]) {
      const page = await request(port, { path: `/?token=${token}`, headers: { Host: h } });
      expect(page.status, h).toBe(403);
      expect(page.body).not.toContain('<html');
      const call = await api('app.info', {}, { Host: h });
      expect(call.status, h).toBe(403);
      expectNoLeak(call);
      const sock = await openWs(port, `/api/events?token=${token}`, { Host: h });
      expect(sock.status, h).toBe(403);
      await sock.close();
    }
  });

  it('accepts Host localhost:<port> as well as 127.0.0.1:<port>', async () => {
    expect((await api('app.info', {}, { Host: `localhost:${port}` })).status).toBe(200);
    expect((await api('app.info', {}, { Host: `LOCALHOST:${port}` })).status).toBe(200);
  });

  it('refuses foreign Origin headers with 403 (API, static and WebSocket)', async () => {
    for (const o of ['http://evil.com', 'null', `http://127.0.0.1:${port + 1}`, `https://127.0.0.1:${port}`, `http://127.0.0.1.nip.io:${port}`]) {
      expect((await api('app.info', {}, { Origin: o })).status, o).toBe(403);
      expect((await request(port, { path: `/?token=${token}`, headers: { Origin: o } })).status, o).toBe(403);
      const sock = await openWs(port, `/api/events?token=${token}`, { Origin: o });
      expect(sock.status, o).toBe(403);
      await sock.close();
    }
    expect((await api('app.info', {}, { Origin: `http://localhost:${port}` })).status).toBe(200);
    expect((await api('app.info', {}, { Origin: `http://127.0.0.1:${port}` })).status).toBe(200);
  });

  it('answers CORS preflights with 403 and no Access-Control-Allow-* headers', async () => {
    const preflight = await request(port, {
      method: 'OPTIONS',
      path: '/api/app.info',
      headers: { Origin: 'http://evil.com', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(preflight.status).toBe(403);
    const sameOrigin = await request(port, { method: 'OPTIONS', path: '/api/app.info', headers: { ...bearer(), Origin: `http://127.0.0.1:${port}` } });
    expect(sameOrigin.status).toBe(403);
    for (const r of [preflight, sameOrigin]) {
      expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
  });
});

describe('static files', () => {
  const auth = (): Record<string, string> => ({ Authorization: `Bearer ${token}` });

  it('serves assets with their content types, no-store, nosniff and the page CSP as a header', async () => {
    const pageCsp = readPageCsp(pageHtml);
    expect(pageCsp).toContain("script-src 'self'");
    const cases: [string, string][] = [
      ['/', 'text/html; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
      ['/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/assets/app.css', 'text/css; charset=utf-8'],
      ['/assets/logo.svg', 'image/svg+xml'],
    ];
    for (const [p, type] of cases) {
      const r = await request(port, { path: p, headers: auth() });
      expect(r.status, p).toBe(200);
      expect(r.headers['content-type'], p).toBe(type);
      expect(r.headers['cache-control'], p).toBe('no-store');
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
      expect(r.headers['content-security-policy']).toBe(`${pageCsp}; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'`);
    }
  });

  it('never serves a file outside the renderer folder (traversal, encoded dots, symlinks, dotfiles)', async () => {
    const attempts = [
      '/../package.json',
      '/%2e%2e/package.json',
      '/%2E%2E/package.json',
      '/assets/../../package.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/..%2fpackage.json',
      '/%2e%2e%2fpackage.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/..%5c..%5cpackage.json',
      '/assets/link.json',
      '/.hidden',
      '/%2ehidden',
      `/${encodeURIComponent(path.join(tmp, 'package.json'))}`,
      '//' + path.join(tmp, 'package.json'),
      '/assets/%00.js',
      '/%',
      '/assets',
      '/assets/',
    ];
    for (const p of attempts) {
      const r = await request(port, { path: p, headers: auth() });
      expect([403, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain(SECRET);
      expectNoLeak(r);
    }
  });

  it('answers a missing file with a 404 envelope, a missing favicon with 204, and other verbs with 405', async () => {
    const r = await request(port, { path: '/assets/nope.js', headers: auth() });
    expect(r.status).toBe(404);
    expect(envelope(r)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    // The browser's unprompted favicon request gets "no content", not an error.
    expect((await request(port, { path: '/favicon.ico', headers: auth() })).status).toBe(204);
    const post = await request(port, { method: 'POST', path: '/index.html', headers: auth(), body: 'x' });
    expect(post.status).toBe(405);
  });
});

describe('API', () => {
  it('POST /api/app.info returns the ok envelope from the workstation', async () => {
    const r = await api('app.info', {});
    expect(r.status).toBe(200);
    const result = envelope(r) as ApiResult<AppInfo>;
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value).toMatchObject({ version: KENSA_VERSION, shell: 'browser', reviewer: null });
    expect(Array.isArray(result.value.recent)).toBe(true);
  });

  it('an empty body means {} and invalid arguments come back as a 200 error envelope', async () => {
    const empty = await request(port, { method: 'POST', path: '/api/app.info', headers: { Authorization: `Bearer ${token}` } });
    expect(envelope(empty)).toMatchObject({ ok: true });
    const bad = await api('app.setReviewer', { name: 5 });
    expect(bad.status).toBe(200);
    expect(envelope(bad)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
  });

  it('unknown methods get a 404 envelope', async () => {
    for (const m of ['nope.nothing', '__proto__', 'constructor', 'app.info/x', 'app', '']) {
      const r = await api(m, {});
      expect(r.status, m).toBe(404);
      expect(envelope(r), m).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    }
  });

  it('API calls must be POST (405), and /api/events without an upgrade is 426', async () => {
    const get = await request(port, { path: '/api/app.info', headers: { Authorization: `Bearer ${token}` } });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    const events = await request(port, { path: '/api/events', headers: { Authorization: `Bearer ${token}` } });
    expect(events.status).toBe(426);
  });

  it('bad JSON is a 400 envelope without details of the parser', async () => {
    const r = await request(port, { method: 'POST', path: '/api/app.info', headers: { Authorization: `Bearer ${token}` }, body: '{"a":' });
    expect(r.status).toBe(400);
    expect(envelope(r)).toEqual({ ok: false, error: { code: 'INVALID_ARGUMENT', message: 'request body is not valid JSON' } });
    expectNoLeak(r);
  });

  it('a body over 64 MiB is refused with 413 (declared length and streamed)', async () => {
    const declared = await request(port, {
      method: 'POST',
      path: '/api/images.upload',
      headers: { Authorization: `Bearer ${token}`, 'Content-Length': String(MAX_BODY_BYTES + 1) },
      body: Buffer.alloc(0),
    }).catch((e: Error) => e);
    expect(declared instanceof Error ? declared.message : declared.status).toBe(413);

    // No Content-Length (chunked): the server counts and stops at the limit.
    const streamed = await new Promise<number>((resolve, reject) => {
      import('node:http').then(({ default: http }) => {
        const req = http.request(
          { host: '127.0.0.1', port, method: 'POST', path: '/api/images.upload', headers: { Authorization: `Bearer ${token}`, 'Transfer-Encoding': 'chunked' }, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = (): void => {
          while (sent <= MAX_BODY_BYTES) {
            sent += chunk.length;
            if (!req.write(chunk)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      }, reject);
    });
    expect(streamed).toBe(413);

    // The host still answers afterwards.
    expect((await api('app.info', {})).status).toBe(200);
  });

  it('a body just under the limit is read whole, parsed and handed to the workstation', async () => {
    const body = JSON.stringify({ name: 'x', pad: 'y'.repeat(MAX_BODY_BYTES - 100) });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    const r = await request(port, { method: 'POST', path: '/api/app.setReviewer', headers: { Authorization: `Bearer ${token}` }, body });
    // The workstation names the extra field: proof that the whole body arrived and parsed.
    expect(r.status).toBe(200);
    expect(envelope(r)).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/pad/) } });
  });
});

describe('events WebSocket', () => {
  it('pushes a project event after POST /api/projects.create', async () => {
    const sock = await openWs(port, `/api/events?token=${token}`, { Origin: `http://127.0.0.1:${port}` });
    expect(sock.status).toBe(101);
    expect(sock.headers['upgrade']?.toLowerCase()).toBe('websocket');
    const dir = path.join(tmp, 'project-a');
    const created = await api('projects.create', { dir, name: 'Line 3 brackets' });
    expect(envelope(created)).toMatchObject({ ok: true, value: { name: 'Line 3 brackets' } });
    const text = await sock.waitFor((t) => (JSON.parse(t) as KensaEvent).topic === 'project');
    const event = JSON.parse(text) as Extract<KensaEvent, { topic: 'project' }>;
    expect(event.state).toMatchObject({ name: 'Line 3 brackets', dir: path.resolve(dir) } satisfies Partial<ProjectState>);
    await sock.close();
  });

  it('accepts the cookie on the upgrade, answers ping with pong and echoes close', async () => {
    const sock = await openWs(port, '/api/events', { Cookie: `kensa_token_${port}=${token}` });
    expect(sock.status).toBe(101);
    sock.send(clientFrame(0x9, Buffer.from('hi')));
    sock.send(clientFrame(0x1, Buffer.from('ignored: the stream is one-way')));
    await expect.poll(() => sock.control.find((f) => f.opcode === 0xa)?.payload.toString()).toBe('hi');
    // A second client sees events as well: fan-out.
    const other = await openWs(port, `/api/events?token=${token}`);
    await api('projects.close', {});
    await sock.waitFor((t) => t.includes('"state":null'));
    await other.waitFor((t) => t.includes('"state":null'));
    sock.send(clientFrame(0x8, Buffer.from([0x03, 0xe8])));
    await sock.closed;
    expect(sock.control.find((f) => f.opcode === 0x8)?.payload.readUInt16BE(0)).toBe(1000);
    await other.close();
  });

  it('refuses upgrades to other paths and malformed handshakes', async () => {
    const elsewhere = await openWs(port, `/api/app.info?token=${token}`);
    expect(elsewhere.status).toBe(404);
    await elsewhere.close();
    const badVersion = await openWs(port, `/api/events?token=${token}`, { 'Sec-WebSocket-Version': '8' });
    expect(badVersion.status).toBe(400);
    await badVersion.close();
  });

  it('closes a client that sends an unmasked frame (protocol error 1002)', async () => {
    const sock = await openWs(port, `/api/events?token=${token}`);
    sock.send(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    await sock.closed;
    expect(sock.control.find((f) => f.opcode === 0x8)?.payload.readUInt16BE(0)).toBe(1002);
  });
});

describe('all replies', () => {
  it('never carried Access-Control-Allow-Origin, and always Cache-Control: no-store', () => {
    expect(seen.length).toBeGreaterThan(50);
    for (const r of seen) {
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      expect(Object.keys(r.headers).some((h) => h.startsWith('access-control-'))).toBe(false);
      expect(r.headers['cache-control']).toBe('no-store');
    }
  });

  it('close() stops the host: new connections are refused', async () => {
    const ws2 = await createWorkstation({ shell: 'browser', configDir: path.join(tmp, 'config2') });
    const h = await startHost({ workstation: ws2, rendererDir });
    const sock = await openWs(h.port, `/api/events?token=${h.token}`);
    expect(sock.status).toBe(101);
    await h.close();
    await sock.closed;
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: h.port }, () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    await ws2.close();
  });
});
