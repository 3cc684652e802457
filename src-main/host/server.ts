/**
 * The loopback web host: the same workstation the Electron window uses, served to a browser
 * on this machine only.
 *
 *   GET  /, /assets/…      the built renderer (out/renderer), Cache-Control: no-store, CSP
 *   POST /api/<method>     one call of the contract (src-main/shared/api.ts): JSON args in,
 *                          an `ApiResult` envelope out (HTTP 200 whether ok or not)
 *   GET  /api/events       WebSocket: every `KensaEvent` as one JSON text frame
 *
 * Threat model: any web page the user visits can make their browser send requests to
 * 127.0.0.1, and any local user can connect to a loopback port. So, on EVERY request:
 *   1. the socket is bound to 127.0.0.1 only (never 0.0.0.0 / ::);
 *   2. `Host` must be `127.0.0.1:<port>` or `localhost:<port>` (defeats DNS rebinding: a
 *      rebound evil.example still says `Host: evil.example:<port>`);
 *   3. an `Origin` header, when present, must be this host's own origin (defeats cross-site
 *      fetch/form posts and cross-site WebSocket hijacking); `OPTIONS` (CORS preflight) is
 *      refused, and no `Access-Control-Allow-*` header is ever sent;
 *   4. a per-run random token (32 bytes, base64url) must come along, as `Authorization:
 *      Bearer`, `?token=` or the HttpOnly SameSite=Strict cookie set on the first
 *      authorised page load (the page's own asset and fetch requests carry no query), and
 *      is compared in constant time.
 * Static paths are resolved inside `rendererDir` only (no `..`, no encoded `..`, no symlink
 * escapes). Error bodies are envelopes with a short message, never a stack trace.
 *
 * The cookie is named `kensa_token_<port>`, not plain `kensa_token`: cookies are scoped by
 * host but NOT by port (RFC 6265 §8.5), so two hosts running at once on 127.0.0.1 would
 * otherwise overwrite each other's cookie and lock the older tab out.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { API_METHODS, type ApiError, type ApiResult, type KensaEvent } from '../shared/api';
import type { Workstation } from '../services/workstation';
import { mimeType } from './content-type';
import { isWebSocketHandshake, WebSocketConnection } from './websocket';

export interface HostOptions {
  workstation: Workstation;
  /** The built renderer (out/renderer), holding index.html and assets/. */
  rendererDir: string;
  /** TCP port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
}

export interface Host {
  /** `http://127.0.0.1:<port>/?token=<token>`: open this in a browser. */
  url: string;
  port: number;
  token: string;
  /** Stops listening, closes every connection and WebSocket; the workstation stays open. */
  close(): Promise<void>;
}

/** Largest accepted request body (the `images.upload` call carries images as base64). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

export const EVENTS_PATH = '/api/events';

/** The CSP of src-renderer/index.html, used when the built page has none to copy. */
const DEFAULT_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws://127.0.0.1:*";
/** Directives a <meta> CSP cannot carry, added to the header. */
const HEADER_ONLY_CSP = "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'";


const METHODS: ReadonlySet<string> = new Set(API_METHODS);

/** The Content-Security-Policy of the built page's <meta> tag, so header and page agree. */
export function readPageCsp(indexHtml: string): string | null {
  const meta = /<meta\s+[^>]*http-equiv=["']Content-Security-Policy["'][^>]*>/i.exec(indexHtml);
  if (!meta) return null;
  const content = /\scontent=(?:"([^"]*)"|'([^']*)')/i.exec(meta[0]);
  const csp = (content?.[1] ?? content?.[2] ?? '').replace(/\s+/g, ' ').trim();
  return csp === '' ? null : csp;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiError['code'],
    message: string,
  ) {
    super(message);
  }
}

/** Constant-time token comparison (hashing first makes the lengths equal). */
function tokenMatches(candidate: string | undefined, token: string): boolean {
  if (candidate === undefined || candidate === '') return false;
  const a = createHash('sha256').update(candidate).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export async function startHost(opts: HostOptions): Promise<Host> {
  const { workstation } = opts;
  const rendererDir = await realpath(path.resolve(opts.rendererDir));
  const token = randomBytes(32).toString('base64url');

  let pageCsp = DEFAULT_CSP;
  try {
    pageCsp = readPageCsp(readFileSync(path.join(rendererDir, 'index.html'), 'utf8')) ?? DEFAULT_CSP;
  } catch {
    // No built page: every static request will 404; the API still works.
  }
  const csp = `${pageCsp}; ${HEADER_ONLY_CSP}`;

  let port = 0;
  let cookieName = 'kensa_token';
  const sockets = new Set<Socket>();
  const clients = new Set<WebSocketConnection>();

  /** Headers every HTTP response carries. */
  function baseHeaders(): Record<string, string> {
    return {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'X-Frame-Options': 'DENY',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Content-Security-Policy': csp,
    };
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
    let text: string;
    try {
      text = JSON.stringify(body);
    } catch {
      status = 500;
      text = JSON.stringify({ ok: false, error: { code: 'INTERNAL', message: 'result could not be serialised' } });
    }
    const data = Buffer.from(text, 'utf8');
    res.writeHead(status, {
      ...baseHeaders(),
      ...extra,
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(data.length),
    });
    res.end(data);
  }

  function sendError(res: ServerResponse, err: HttpError, extra: Record<string, string> = {}): void {
    const envelope: ApiResult<never> = { ok: false, error: { code: err.code, message: err.message } };
    sendJson(res, err.status, envelope, extra);
  }

  /** Host, Origin and token checks shared by HTTP requests and the WebSocket upgrade. */
  function admit(req: IncomingMessage, url: URL): HttpError | null {
    const host = (req.headers.host ?? '').toLowerCase();
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) {
      return new HttpError(403, 'INVALID_ARGUMENT', 'forbidden host');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`) {
      return new HttpError(403, 'INVALID_ARGUMENT', 'forbidden origin');
    }
    if (req.method === 'OPTIONS') return new HttpError(403, 'INVALID_ARGUMENT', 'cross-origin requests are not allowed');
    if (!authorised(req, url)) return new HttpError(401, 'INVALID_ARGUMENT', 'missing or wrong token');
    return null;
  }

  function authorised(req: IncomingMessage, url: URL): boolean {
    const auth = req.headers.authorization;
    const bearer = auth && /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
    return (
      tokenMatches(bearer || undefined, token) ||
      tokenMatches(url.searchParams.get('token') ?? undefined, token) ||
      tokenMatches(cookieValue(req.headers.cookie, cookieName), token)
    );
  }

  function parseUrl(req: IncomingMessage): URL | null {
    try {
      // Only the query is taken from the parsed URL; the path is handled raw (see serveStatic),
      // because the WHATWG parser would silently resolve `..` and `%2e%2e` segments.
      return new URL(req.url ?? '/', 'http://127.0.0.1');
    } catch {
      return null;
    }
  }

  function rawPath(req: IncomingMessage): string {
    const raw = req.url ?? '/';
    const q = raw.search(/[?#]/);
    return q < 0 ? raw : raw.slice(0, q);
  }

  function readBody(req: IncomingMessage): Promise<Buffer> {
    const tooLarge = (): HttpError => new HttpError(413, 'INVALID_ARGUMENT', `request body larger than ${MAX_BODY_BYTES} bytes`);
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) return Promise.reject(tooLarge());
    return new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) {
          // Stop buffering; the 413 goes out with `Connection: close` and the rest is dropped.
          req.off('data', onData);
          req.resume();
          chunks.length = 0;
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.once('end', () => resolve(Buffer.concat(chunks)));
      req.once('error', reject);
    });
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const method = pathname.slice('/api/'.length);
    if (pathname === EVENTS_PATH) {
      throw new HttpError(426, 'INVALID_ARGUMENT', 'this endpoint is a WebSocket');
    }
    if (!METHODS.has(method)) throw new HttpError(404, 'NOT_FOUND', 'unknown API method');
    if (req.method !== 'POST') {
      sendError(res, new HttpError(405, 'INVALID_ARGUMENT', 'API calls use POST'), { Allow: 'POST' });
      return;
    }
    const body = await readBody(req);
    let args: unknown = {};
    const text = body.toString('utf8').trim();
    if (text !== '') {
      try {
        args = JSON.parse(text);
      } catch {
        throw new HttpError(400, 'INVALID_ARGUMENT', 'request body is not valid JSON');
      }
    }
    let result: ApiResult<unknown>;
    try {
      result = await workstation.call(method, args);
    } catch {
      // The workstation promises not to throw; if it does anyway, say nothing of why.
      result = { ok: false, error: { code: 'INTERNAL', message: 'internal error' } };
    }
    sendJson(res, 200, result);
  }

  async function serveStatic(req: IncomingMessage, res: ServerResponse, pathname: string, viaQueryOrBearer: boolean): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, new HttpError(405, 'INVALID_ARGUMENT', 'method not allowed'), { Allow: 'GET, HEAD' });
      return;
    }
    const notFound = new HttpError(404, 'NOT_FOUND', 'not found');
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      throw notFound;
    }
    if (!decoded.startsWith('/') || decoded.includes('\0') || decoded.includes('\\')) throw notFound;
    const segments = decoded.split('/').slice(1);
    if (segments.some((s) => s === '..' || s === '.' || s.startsWith('.'))) throw notFound;
    const relative = decoded === '/' || decoded === '/index.html' ? 'index.html' : segments.join('/');
    const candidate = path.resolve(rendererDir, relative);
    if (!candidate.startsWith(rendererDir + path.sep)) throw notFound;
    if (relative === 'favicon.ico' && !existsSync(candidate)) {
      // Browsers ask for it unprompted; without one, answer "nothing" rather than a 404 error.
      res.writeHead(204, baseHeaders());
      res.end();
      return;
    }
    let file: string;
    try {
      file = await realpath(candidate);
      if (!file.startsWith(rendererDir + path.sep) || !(await stat(file)).isFile()) throw notFound;
    } catch {
      throw notFound;
    }
    const data = await readFile(file);
    const type = mimeType(file);
    const headers: Record<string, string> = { ...baseHeaders(), 'Content-Type': type, 'Content-Length': String(data.length) };
    if (relative === 'index.html' && viaQueryOrBearer) {
      // The page's own requests (assets, fetch) carry no query: let them authenticate with
      // a cookie the page's scripts cannot read and other sites cannot make it send.
      headers['Set-Cookie'] = `${cookieName}=${token}; HttpOnly; SameSite=Strict; Path=/`;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = parseUrl(req);
    if (!url) throw new HttpError(400, 'INVALID_ARGUMENT', 'bad request');
    const refused = admit(req, url);
    if (refused) {
      // Drain nothing: answer and close, so an unauthorised client cannot stream 64 MiB.
      sendError(res, refused, { Connection: 'close' });
      return;
    }
    const pathname = rawPath(req);
    if (pathname === '/api' || pathname.startsWith('/api/')) {
      await handleApi(req, res, pathname);
      return;
    }
    const cookieOk = tokenMatches(cookieValue(req.headers.cookie, cookieName), token);
    await serveStatic(req, res, pathname, !cookieOk);
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const reject = (status: number, text: string): void => {
      const body = JSON.stringify({ ok: false, error: { code: status === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT', message: text } });
      socket.end(
        `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nCache-Control: no-store\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      setTimeout(() => socket.destroy(), 1000).unref();
    };
    const url = parseUrl(req);
    if (!url) return reject(400, 'Bad Request');
    const refused = admit(req, url);
    if (refused) return reject(refused.status, refused.status === 401 ? 'Unauthorized' : 'Forbidden');
    if (rawPath(req) !== EVENTS_PATH) return reject(404, 'Not Found');
    if (!isWebSocketHandshake(req)) return reject(400, 'Bad Request');
    const ws = new WebSocketConnection(req, socket, head);
    clients.add(ws);
    ws.onClose(() => clients.delete(ws));
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      const httpErr = err instanceof HttpError ? err : new HttpError(500, 'INTERNAL', 'internal error');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // After a refused body (413) the rest of it is not read: close the connection.
      sendError(res, httpErr, httpErr.status === 413 ? { Connection: 'close' } : {});
    });
  });
  // No slow-loris holding of sockets; the event WebSocket is unaffected (upgraded sockets
  // leave the HTTP server's timeouts).
  server.headersTimeout = 20_000;
  server.requestTimeout = 120_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', onUpgrade);
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: opts.port ?? 0, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  cookieName = `kensa_token_${port}`;

  const unsubscribe = workstation.onEvent((e: KensaEvent) => {
    let text: string;
    try {
      text = JSON.stringify(e);
    } catch {
      return;
    }
    for (const ws of clients) ws.sendText(text);
  });

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        unsubscribe();
        // Close frames first; each WebSocket destroys its socket a second later at most.
        for (const ws of clients) ws.close(1001, 'host shutting down');
        server.close(() => resolve());
        // Idle keep-alive sockets would hold close() open: end them now.
        server.closeAllConnections();
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 1500).unref();
      });
      return closing;
    },
  };
}
