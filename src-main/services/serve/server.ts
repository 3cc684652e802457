/**
 * An Open Inference Protocol (KServe v2 / Triton) HTTP/REST server for one model runner.
 *
 *   GET  /v2                                        server metadata (extensions: binary_tensor_data)
 *   GET  /v2/health/live, /v2/health/ready          200 while up / while the model can take requests
 *   GET  /v2/models/{name}[/versions/{v}]           model metadata (+ `parameters`: the model's facts)
 *   GET  /v2/models/{name}[/versions/{v}]/ready     200 when the model can take requests
 *   POST /v2/models/{name}[/versions/{v}]/infer     ./protocol.ts: JSON or binary tensors, batch N ≥ 1
 *
 * Guarantees:
 *   - binds 127.0.0.1 unless told otherwise; binding anything that is not loopback requires a
 *     token (≥ 16 characters), and every request but the two health probes must then carry
 *     `Authorization: Bearer <token>` (compared in constant time). A token given on loopback is
 *     required the same way;
 *   - on loopback the `Host` header must name this machine (127.0.0.1, localhost, [::1]): a
 *     DNS-rebound web page is refused; a request with an `Origin` header other than the
 *     server's own is refused everywhere (no CORS: browsers cannot read answers cross-site);
 *   - request bodies over `maxBodyBytes` (default 64 MiB) are refused with 413 as soon as the
 *     Content-Length (or the bytes received) says so, without buffering them; bodies received
 *     at the same time hold at most `maxBufferedBytes` together (more → 503), and the queue
 *     holds at most `maxQueue` requests, so memory stays bounded under many clients;
 *   - inference runs through a Batcher (./batcher.ts): one runner call at a time, requests that
 *     wait together are merged, a full queue answers 503;
 *   - every error is the protocol's shape `{"error": "<message>"}` with its status (400 bad
 *     request, 401 token, 403 host/origin, 404 unknown model/version/route, 405 method,
 *     413 too large, 500 the model failed, 503 busy or shutting down); never a stack trace;
 *   - close() is graceful: readiness turns 503, new infers are refused, running and queued ones
 *     finish (up to `drainMs`), then idle connections close. The runner is the caller's.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isKensaError, KensaError } from '../../engine/errors';
import type { ModelRunner } from '../../engine/serving/contract';
import { KENSA_VERSION } from '../../shared/version';
import { Batcher } from './batcher';
import { encodeInferResponse, HEADER_LENGTH, modelMetadata, OipError, parseInferRequest, serverMetadata, type ServedModel } from './protocol';

export const DEFAULT_PORT = 8000;
export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const MIN_TOKEN_LENGTH = 16;

export interface OipServerOptions {
  runner: ModelRunner;
  /** The name clients use in URLs (default: the runner's, from the file name). */
  name?: string;
  /** Address to bind (default 127.0.0.1). Anything but loopback needs `token`. */
  host?: string;
  /** TCP port (default 8000; 0 picks a free one). */
  port?: number;
  /** Bearer token every non-health request must carry. */
  token?: string;
  /** Largest request body in bytes (default 64 MiB). */
  maxBodyBytes?: number;
  /** Most images in one request (default 64). */
  maxBatch?: number;
  /** Most images merged into one runner call (default 8) and most requests waiting (default 64). */
  batchImages?: number;
  maxQueue?: number;
  /** Most request bytes held by bodies being received at once (default 4 × maxBodyBytes); more → 503. */
  maxBufferedBytes?: number;
  /** How long close() waits for running and queued requests (default 30 s). */
  drainMs?: number;
  /** Server-side failures (500s), one line each. */
  onError?: (line: string) => void;
}

export interface OipServer {
  /** `http://host:port` (IPv6 hosts in brackets). */
  url: string;
  host: string;
  port: number;
  /** The model's name in URLs. */
  name: string;
  batcher: Batcher;
  close(): Promise<void>;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** Checks a bind address, token and name before anything is loaded; INVALID_ARGUMENT saying what to do. */
export function checkServeOptions(o: { host?: string; token?: string; name?: string; maxBodyBytes?: number; port?: number }): void {
  const host = o.host ?? '127.0.0.1';
  if (o.token !== undefined && o.token.length < MIN_TOKEN_LENGTH) {
    throw new KensaError('INVALID_ARGUMENT', `the token must be at least ${MIN_TOKEN_LENGTH} characters (a random one: openssl rand -hex 24)`);
  }
  if (!isLoopback(host) && o.token === undefined) {
    throw new KensaError('INVALID_ARGUMENT', `${host} is not a loopback address: serving beyond this machine needs a bearer token (--token, or KENSA_SERVE_TOKEN)`);
  }
  if (o.name !== undefined && !NAME_RE.test(o.name)) {
    throw new KensaError('INVALID_ARGUMENT', `model name "${o.name}" must be 1–128 letters, digits, '_', '-' or '.', starting with a letter or digit`);
  }
  if (o.maxBodyBytes !== undefined && !(Number.isSafeInteger(o.maxBodyBytes) && o.maxBodyBytes >= 1024)) {
    throw new KensaError('INVALID_ARGUMENT', `the body limit must be at least 1 KiB, got ${o.maxBodyBytes} bytes`);
  }
  if (o.port !== undefined && !(Number.isInteger(o.port) && o.port >= 0 && o.port <= 65535)) {
    throw new KensaError('INVALID_ARGUMENT', `the port must be an integer 0–65535, got ${o.port}`);
  }
}

function tokenMatches(candidate: string | undefined, token: string): boolean {
  if (candidate === undefined || candidate === '') return false;
  return timingSafeEqual(createHash('sha256').update(candidate).digest(), createHash('sha256').update(token).digest());
}

/** The hostname of a Host header or Origin URL (brackets kept off IPv6), lower case; null when unparsable. */
function hostnameOf(hostHeader: string): string | null {
  try {
    return new URL(`http://${hostHeader}`).hostname.replace(/^\[|\]$/g, '').toLowerCase();
  } catch {
    return null;
  }
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new OipError(400, `the URL path segment "${s}" is not valid percent-encoding`);
  }
}

export async function startOipServer(opts: OipServerOptions): Promise<OipServer> {
  checkServeOptions(opts);
  const runner = opts.runner;
  const c = runner.contract;
  const model: ServedModel = { name: opts.name ?? c.name, contract: c };
  const host = opts.host ?? '127.0.0.1';
  const loopback = isLoopback(host);
  const token = opts.token;
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxBatch = opts.maxBatch ?? 64;
  const maxBuffered = opts.maxBufferedBytes ?? 4 * maxBody;
  const batcher = new Batcher(runner, { imageBytes: c.width * c.height * 3, mapSize: c.width * c.height, maxImages: opts.batchImages ?? 8, maxQueue: opts.maxQueue ?? 64 });
  let stopping = false;
  let active = 0;

  function send(res: ServerResponse, status: number, body: Buffer | null, headers: Record<string, string> = {}): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(status, {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...headers,
      'Content-Length': String(body?.length ?? 0),
    });
    res.end(body ?? undefined);
  }

  function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    send(res, status, Buffer.from(JSON.stringify(value), 'utf8'), { 'Content-Type': 'application/json', ...headers });
  }

  function sendError(res: ServerResponse, e: unknown): void {
    if (e instanceof OipError) {
      const extra: Record<string, string> = {};
      if (e.status === 401) extra['WWW-Authenticate'] = 'Bearer';
      if (e.status === 503) extra['Retry-After'] = '1';
      if (e.status === 413) extra.Connection = 'close';
      sendJson(res, e.status, { error: e.message }, extra);
      return;
    }
    const message = isKensaError(e) ? e.message : `unexpected error: ${(e as Error)?.message ?? String(e)}`;
    opts.onError?.(`inference failed: ${message}`);
    sendJson(res, 500, { error: `inference failed: ${message}` });
  }

  /** Host, Origin and token checks; health probes need no token. */
  function admit(req: IncomingMessage, health: boolean): void {
    const hostHeader = req.headers.host ?? '';
    const hostname = hostnameOf(hostHeader);
    if (loopback && (hostname === null || !isLoopback(hostname))) {
      throw new OipError(403, `forbidden Host "${hostHeader}": this server is bound to ${host} and answers only requests addressed to this machine (127.0.0.1, localhost, [::1])`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== 'null') {
      let same = false;
      try {
        same = new URL(origin).host.toLowerCase() === hostHeader.toLowerCase();
      } catch {
        same = false;
      }
      if (!same) throw new OipError(403, `cross-origin requests are refused (Origin ${origin}): call this server from a program, not from a web page`);
    } else if (origin === 'null') {
      throw new OipError(403, 'requests from opaque origins (Origin: null) are refused');
    }
    if (req.method === 'OPTIONS') throw new OipError(405, 'OPTIONS (CORS preflight) is not supported: this server answers programs, not web pages');
    if (token !== undefined && !health) {
      const auth = req.headers.authorization;
      if (auth === undefined) throw new OipError(401, 'this server needs a token: send the header "Authorization: Bearer <token>"');
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1];
      if (!tokenMatches(bearer, token)) throw new OipError(401, bearer === undefined ? 'the Authorization header must be "Bearer <token>"' : 'wrong token');
    }
  }

  /**
   * Reads the body, refusing it with 413 once it is known to be over the limit, and with 503
   * while the bodies being read at once already hold `maxBufferedBytes` (memory stays bounded
   * however many clients upload together).
   */
  let buffered = 0;
  function readBody(req: IncomingMessage): Promise<Buffer> {
    const tooLarge = (n: string): OipError => new OipError(413, `the request body is ${n} bytes, over this server's limit of ${maxBody} bytes (kensa serve --max-body-mb)`);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBody) return Promise.reject(tooLarge(declared));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let done = false;
      const finish = (e: unknown, body?: Buffer): void => {
        if (done) return;
        done = true;
        buffered -= total;
        chunks.length = 0;
        if (body) resolve(body);
        else reject(e);
      };
      req.on('data', (chunk: Buffer) => {
        if (done) return;
        total += chunk.length;
        buffered += chunk.length;
        if (total > maxBody) finish(tooLarge(`more than ${maxBody}`));
        else if (buffered > maxBuffered) finish(new OipError(503, `the server is busy: ${maxBuffered} bytes of requests are being received at once; retry later`));
        else chunks.push(chunk);
      });
      req.on('end', () => finish(null, Buffer.concat(chunks, total)));
      req.on('error', (e) => finish(e));
      req.on('close', () => finish(new OipError(400, 'the client closed the connection before the body was complete')));
    });
  }

  /** `/v2/models/{name}[/versions/{v}]` + rest → the rest, after checking name and version (404). */
  function modelRoute(segs: string[]): string[] {
    const name = segs[2]!;
    if (name !== model.name) throw new OipError(404, `unknown model "${name}": this server serves "${model.name}"`);
    let rest = segs.slice(3);
    if (rest[0] === 'versions') {
      const v = rest[1];
      if (v === undefined || v === '') throw new OipError(404, `no version given after /versions: model "${model.name}" has version ${c.version}`);
      if (v !== c.version) throw new OipError(404, `model "${model.name}" has no version "${v}" (versions: ${c.version})`);
      rest = rest.slice(2);
    }
    return rest;
  }

  function allow(req: IncomingMessage, method: 'GET' | 'POST', what: string): void {
    if (req.method === method || (method === 'GET' && req.method === 'HEAD')) return;
    throw Object.assign(new OipError(405, `${what} takes ${method}, not ${req.method}`), { allow: method });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const pathPart = raw.split(/[?#]/, 1)[0]!;
    const segs = pathPart.split('/').slice(1).map(decodeSegment);
    if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop();
    const health = segs[0] === 'v2' && segs[1] === 'health' && segs.length === 3;
    admit(req, health);
    if (segs[0] !== 'v2') throw new OipError(404, `no route ${pathPart}: this is an Open Inference Protocol server; its paths start with /v2 (GET /v2/models/${model.name})`);
    if (segs.length === 1) {
      allow(req, 'GET', 'server metadata');
      return sendJson(res, 200, serverMetadata(KENSA_VERSION));
    }
    if (health) {
      allow(req, 'GET', 'a health probe');
      if (segs[2] === 'live') return send(res, 200, null);
      if (segs[2] === 'ready') return stopping ? sendJson(res, 503, { error: 'the server is shutting down' }) : send(res, 200, null);
      throw new OipError(404, `no route ${pathPart} (health probes: /v2/health/live, /v2/health/ready)`);
    }
    if (segs[1] === 'models' && segs.length >= 3) {
      const rest = modelRoute(segs);
      if (rest.length === 0) {
        allow(req, 'GET', 'model metadata');
        return sendJson(res, 200, modelMetadata(model));
      }
      if (rest.length === 1 && rest[0] === 'ready') {
        allow(req, 'GET', 'model readiness');
        return stopping ? sendJson(res, 503, { error: 'the server is shutting down' }) : send(res, 200, null);
      }
      if (rest.length === 1 && rest[0] === 'infer') {
        allow(req, 'POST', 'inference');
        if (stopping) throw new OipError(503, 'the server is shutting down');
        const body = await readBody(req);
        const hl = req.headers[HEADER_LENGTH];
        const parsed = parseInferRequest(body, Array.isArray(hl) ? hl[0] : hl, model, { maxBatch });
        const result = await batcher.submit(parsed.rgb, parsed.n);
        const out = encodeInferResponse(model, parsed, result);
        return send(res, 200, out.body, out.headers);
      }
    }
    throw new OipError(404, `no route ${req.method} ${pathPart} (the model's routes: /v2/models/${model.name}, /v2/models/${model.name}/ready, POST /v2/models/${model.name}/infer)`);
  }

  const server = createServer((req, res) => {
    active += 1;
    res.on('close', () => (active -= 1));
    handle(req, res).catch((e: unknown) => {
      const allowHeader = (e as { allow?: string }).allow;
      if (allowHeader) res.setHeader('Allow', allowHeader);
      sendError(res, e);
      // A refused body is not kept: it drains into nothing, and a client that goes on sending
      // for long after the answer has its connection closed.
      if (!req.complete) {
        req.resume();
        res.once('finish', () => setTimeout(() => req.complete || req.socket.destroy(), 2_000).unref());
      }
    });
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 300_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void =>
      reject(
        new KensaError(
          'INVALID_ARGUMENT',
          e.code === 'EADDRINUSE' ? `port ${opts.port ?? DEFAULT_PORT} on ${host} is in use: choose another with --port (0 picks a free one)` : `cannot listen on ${host}:${opts.port ?? DEFAULT_PORT}: ${e.message}`,
        ),
      );
    server.once('error', onError);
    server.listen(opts.port ?? DEFAULT_PORT, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${urlHost}:${port}`,
    host,
    port,
    name: model.name,
    batcher,
    close(): Promise<void> {
      closing ??= (async () => {
        stopping = true;
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        const deadline = Date.now() + (opts.drainMs ?? 30_000);
        await Promise.race([batcher.drained(), new Promise((r) => setTimeout(r, opts.drainMs ?? 30_000).unref())]);
        while (active > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
  };
}
