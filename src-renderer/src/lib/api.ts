/**
 * The renderer's only way to the main side.
 *
 * `api` has the namespaced shape of `KensaApi` (src-main/shared/api.ts), but each method
 * returns the unwrapped value or throws an `ApiCallError` (code, message, file). Two
 * transports carry the calls:
 *   - Electron: the preload's `window.kensa` (IPC; envelopes come back as plain data);
 *   - a browser on the loopback web host: `POST /api/<method>` (JSON body → `ApiResult`
 *     JSON), events over the WebSocket `/api/events`, reconnected with backoff.
 * The host's access token comes from `?token=` in the page address: it is read once at
 * startup, kept in memory and sent as `Authorization: Bearer` (fetch) and `?token=` (WS).
 *
 * Arguments are deep-copied to plain JSON before they leave (a Svelte `$state` proxy cannot
 * cross IPC); callers holding reactive state should still pass `$state.snapshot(...)`.
 */
import type { ApiError, ApiMethod, ApiResult, ArgsOf, KensaEvent, ResultOf } from '../../../src-main/shared/api';

// ---- errors --------------------------------------------------------------------------------

/** Error codes a call can fail with: the contract's, plus UNREACHABLE (transport failure). */
export type CallErrorCode = ApiError['code'] | 'UNREACHABLE';

export class ApiCallError extends Error {
  readonly code: CallErrorCode;
  readonly file: string | undefined;
  readonly method: ApiMethod;

  constructor(method: ApiMethod, code: CallErrorCode, message: string, file?: string) {
    super(message);
    this.name = 'ApiCallError';
    this.method = method;
    this.code = code;
    this.file = file;
  }
}

export function isApiCallError(e: unknown): e is ApiCallError {
  return e instanceof ApiCallError;
}

// ---- the method list (the renderer may not import values from src-main/shared) -------------

const METHODS = [
  'app.info',
  'app.setReviewer',
  'app.pickFolder',
  'app.showInFolder',
  'app.downloadBackbone',
  'projects.create',
  'projects.open',
  'projects.createDemo',
  'projects.state',
  'projects.close',
  'projects.updateSettings',
  'images.import',
  'images.upload',
  'images.get',
  'images.map',
  'images.thumbnail',
  'jobs.fit',
  'jobs.score',
  'jobs.refit',
  'jobs.learn',
  'jobs.compare',
  'jobs.cancel',
  'review.queue',
  'review.part',
  'review.verdict',
  'review.undo',
  'review.claim',
  'review.release',
  'stations.status',
  'threshold.set',
  'threshold.stats',
  'report.export',
  'models.rollback',
  'models.learnPreview',
  'models.accept',
  'models.propose',
  'models.compare',
  'regions.export',
  'line.status',
  'line.settings',
  'line.configure',
  'storage.usage',
  'storage.configure',
  'storage.apply',
  'accounts.list',
  'accounts.create',
  'accounts.update',
  'accounts.signIn',
  'accounts.signOut',
  'accounts.changePassword',
  'review.confirm',
  'sign.record',
  'sign.list',
] as const satisfies readonly ApiMethod[];

// Compile-time check that every call of the contract is listed.
type Missing = Exclude<ApiMethod, (typeof METHODS)[number]>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

type Namespace<M extends string> = M extends `${infer N}.${string}` ? N : never;
type Name<M extends string> = M extends `${string}.${infer K}` ? K : never;

/** A call whose argument object has no required field may be called without one. */
type Call<M extends ApiMethod> = Record<string, never> extends ArgsOf<M>
  ? (args?: ArgsOf<M>) => Promise<ResultOf<M>>
  : (args: ArgsOf<M>) => Promise<ResultOf<M>>;

export type KensaClient = {
  readonly [N in Namespace<ApiMethod>]: {
    readonly [M in ApiMethod as Namespace<M> extends N ? Name<M> : never]: Call<M>;
  };
};

// ---- transports ----------------------------------------------------------------------------

export type ConnectionStatus = 'connecting' | 'open' | 'closed';

interface Transport {
  readonly kind: 'ipc' | 'http';
  call(method: ApiMethod, args: unknown): Promise<unknown>;
  /** Sends a call whose answer nobody waits for, made to outlive the page (see sendOnExit). */
  send(method: ApiMethod, args: unknown): void;
  /** Subscribes to events; returns the unsubscribe function. */
  listen(listener: (e: KensaEvent) => void): () => void;
}

type Listener<T> = (value: T) => void;

function plain<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

class IpcTransport implements Transport {
  readonly kind = 'ipc';
  constructor(private readonly bridge: NonNullable<Window['kensa']>) {}

  async call(method: ApiMethod, args: unknown): Promise<unknown> {
    const [ns, name] = method.split('.') as [string, string];
    const group = (this.bridge as unknown as Record<string, Record<string, unknown> | undefined>)[ns];
    const fn = group?.[name];
    if (typeof fn !== 'function') {
      return { ok: false, error: { code: 'INTERNAL', message: `${method} is not available in this build of the desktop app` } };
    }
    return (fn as (a: unknown) => Promise<unknown>).call(group, plain(args));
  }

  send(method: ApiMethod, args: unknown): void {
    this.call(method, args).catch(() => {});
  }

  listen(listener: (e: KensaEvent) => void): () => void {
    return this.bridge.onEvent(listener);
  }
}

/** Reads the host's access token from the page address (once, at startup). */
function readToken(): string | null {
  try {
    return new URLSearchParams(location.search).get('token');
  } catch {
    return null;
  }
}

class HttpTransport implements Transport {
  readonly kind = 'http';
  private readonly token = readToken();
  private readonly listeners = new Set<Listener<KensaEvent>>();
  private readonly statusListeners = new Set<Listener<ConnectionStatus>>();
  private readonly reconnectListeners = new Set<() => void>();
  private ws: WebSocket | null = null;
  private retries = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private wasOpen = false;
  status: ConnectionStatus = 'connecting';

  private headers(): HeadersInit {
    const h: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
    if (this.token) h['Authorization'] = `Bearer ${this.token}`;
    return h;
  }

  async call(method: ApiMethod, args: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`/api/${method}`, {
        method: 'POST',
        headers: this.headers(),
        body: JSON.stringify(args ?? {}),
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch (e) {
      throw new ApiCallError(method, 'UNREACHABLE', `Cannot reach the Kensa host (${e instanceof Error ? e.message : String(e)}). Is kensa-host still running?`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    if (isEnvelope(body)) return body;
    if (res.status === 401 || res.status === 403) {
      throw new ApiCallError(method, 'UNREACHABLE', `The Kensa host refused the request (HTTP ${res.status}): the access token in the page address is missing or wrong. Open the address kensa-host printed.`);
    }
    throw new ApiCallError(method, 'INTERNAL', `The Kensa host answered ${method} with HTTP ${res.status} ${res.statusText} and no result.`);
  }

  send(method: ApiMethod, args: unknown): void {
    // keepalive: the browser finishes the request after the page has gone.
    fetch(`/api/${method}`, { method: 'POST', headers: this.headers(), body: JSON.stringify(args ?? {}), credentials: 'same-origin', keepalive: true }).catch(() => {});
  }

  listen(listener: (e: KensaEvent) => void): () => void {
    this.listeners.add(listener);
    this.ensureSocket();
    return () => this.listeners.delete(listener);
  }

  onStatus(listener: Listener<ConnectionStatus>): () => void {
    this.statusListeners.add(listener);
    listener(this.status);
    this.ensureSocket();
    return () => this.statusListeners.delete(listener);
  }

  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  private setStatus(s: ConnectionStatus): void {
    if (s === this.status) return;
    this.status = s;
    for (const l of this.statusListeners) l(s);
  }

  private ensureSocket(): void {
    if (this.ws || this.timer) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = this.token ? `?token=${encodeURIComponent(this.token)}` : '';
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${proto}//${location.host}/api/events${q}`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retries = 0;
      this.setStatus('open');
      if (this.wasOpen) for (const l of this.reconnectListeners) l();
      this.wasOpen = true;
    };
    ws.onmessage = (msg) => {
      if (typeof msg.data !== 'string') return;
      let event: unknown;
      try {
        event = JSON.parse(msg.data);
      } catch {
        return;
      }
      if (!isEvent(event)) return;
      for (const l of this.listeners) {
        try {
          l(event);
        } catch (e) {
          console.error('event listener failed', e);
        }
      }
    };
    ws.onclose = () => {
      this.ws = null;
      this.setStatus(this.wasOpen ? 'closed' : 'connecting');
      this.scheduleReconnect();
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnect.
    };
  }

  private scheduleReconnect(): void {
    if (this.timer) return;
    const delay = Math.min(10_000, 500 * 2 ** Math.min(this.retries, 5));
    this.retries += 1;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.ensureSocket();
    }, delay);
  }
}

function isEnvelope(v: unknown): v is ApiResult<unknown> {
  if (typeof v !== 'object' || v === null || !('ok' in v)) return false;
  const o = v as { ok: unknown; error?: unknown };
  if (o.ok === true) return 'value' in v;
  return o.ok === false && typeof o.error === 'object' && o.error !== null;
}

function isEvent(v: unknown): v is KensaEvent {
  if (typeof v !== 'object' || v === null) return false;
  const t = (v as { topic?: unknown }).topic;
  return t === 'job' || t === 'project' || t === 'station';
}

// ---- the client ----------------------------------------------------------------------------

const transport: Transport = typeof window !== 'undefined' && window.kensa ? new IpcTransport(window.kensa) : new HttpTransport();

async function invoke(method: ApiMethod, args: unknown): Promise<unknown> {
  let reply: unknown;
  try {
    reply = await transport.call(method, plain(args ?? {}));
  } catch (e) {
    if (e instanceof ApiCallError) throw e;
    throw new ApiCallError(method, 'UNREACHABLE', `${method} could not be sent: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isEnvelope(reply)) throw new ApiCallError(method, 'INTERNAL', `${method} returned a malformed reply`);
  if (reply.ok) return reply.value;
  const err = reply.error as Partial<ApiError>;
  throw new ApiCallError(method, err.code ?? 'INTERNAL', err.message ?? `${method} failed`, err.file);
}

function buildClient(): KensaClient {
  const client: Record<string, Record<string, (args?: unknown) => Promise<unknown>>> = {};
  for (const method of METHODS) {
    const [ns, name] = method.split('.') as [string, string];
    (client[ns] ??= {})[name] = (args?: unknown) => invoke(method, args);
  }
  for (const group of Object.values(client)) Object.freeze(group);
  return Object.freeze(client) as unknown as KensaClient;
}

/** The typed client: `await api.review.verdict({ imageId, verdict: 'good' })`. */
export const api: KensaClient = buildClient();

/**
 * Sends a call while the page goes away (`pagehide`: the tab closes or reloads), e.g. letting
 * another station have the part this one had open; nothing is waited for or reported.
 */
export function sendOnExit<M extends ApiMethod>(method: M, args: ArgsOf<M>): void {
  try {
    transport.send(method, plain(args));
  } catch {
    // the page is going anyway
  }
}

/** Which transport this page uses. */
export const transportKind: 'ipc' | 'http' = transport.kind;

/** Subscribes to main-side events (job progress, project changes); returns unsubscribe. */
export function onEvent(listener: (e: KensaEvent) => void): () => void {
  return transport.listen(listener);
}

/**
 * Event-channel status. IPC is always 'open'; over HTTP it follows the WebSocket.
 * `onReconnect` fires when a lost WebSocket comes back (events may have been missed).
 */
export function onConnection(listener: (s: ConnectionStatus) => void): () => void {
  if (transport instanceof HttpTransport) return transport.onStatus(listener);
  listener('open');
  return () => {};
}

export function onReconnect(listener: () => void): () => void {
  if (transport instanceof HttpTransport) return transport.onReconnect(listener);
  return () => {};
}

/** Electron only: the local path of a dropped file (the preload's webUtils.getPathForFile). */
export function pathForFile(file: File): string | null {
  const fn = typeof window !== 'undefined' ? window.kensa?.pathForFile : undefined;
  if (!fn) return null;
  try {
    const p = fn(file);
    return typeof p === 'string' && p.length > 0 ? p : null;
  } catch {
    return null;
  }
}

/** What each call was trying to do, for error titles. */
const ACTIONS: Record<ApiMethod, string> = {
  'app.info': 'Could not read the workstation info',
  'app.setReviewer': 'Could not set the reviewer',
  'app.pickFolder': 'Could not open the folder dialog',
  'app.showInFolder': 'Could not show the file in its folder',
  'app.downloadBackbone': 'Could not download the backbone',
  'projects.create': 'Could not create the project',
  'projects.open': 'Could not open the project',
  'projects.createDemo': 'Could not create the sample project',
  'projects.state': 'Could not read the project',
  'projects.close': 'Could not close the project',
  'projects.updateSettings': 'Could not save the project settings',
  'images.import': 'Import failed',
  'images.upload': 'Upload failed',
  'images.get': 'Could not load the image',
  'images.map': 'Could not load the heatmap',
  'images.thumbnail': 'Could not load a thumbnail',
  'jobs.fit': 'Could not start the fit',
  'jobs.score': 'Could not start scoring',
  'jobs.refit': 'Could not start the refit',
  'jobs.compare': 'Could not score the reviewed parts with every version',
  'jobs.learn': 'Could not start learning from the review',
  'models.learnPreview': 'Could not show what the learning step changes',
  'models.accept': 'Could not make the version active',
  'models.propose': 'Could not propose a version',
  'models.compare': 'Could not compare the model versions',
  'jobs.cancel': 'Could not cancel the job',
  'review.queue': 'Could not load the review queue',
  'review.part': 'Could not load the part',
  'review.verdict': 'Could not record the verdict',
  'review.undo': 'Could not undo the verdict',
  'review.claim': 'Could not claim the part for this station',
  'review.release': 'Could not release the part',
  'stations.status': 'Could not read the stations of this project',
  'threshold.set': 'Could not set the threshold',
  'threshold.stats': 'Could not compute the threshold figures',
  'report.export': 'Could not export the report',
  'models.rollback': 'Could not roll back the model',
  'regions.export': 'Could not export the defect regions',
  'line.status': 'Could not read the line status',
  'line.settings': 'Could not read the line settings',
  'line.configure': 'Could not change the line settings',
  'storage.usage': 'Could not measure what the project keeps',
  'storage.configure': 'Could not save the retention policy',
  'storage.apply': 'Could not apply the retention policy',
  'accounts.list': 'Could not read the accounts',
  'accounts.create': 'Could not create the account',
  'accounts.update': 'Could not change the account',
  'accounts.signIn': 'Could not sign in',
  'accounts.signOut': 'Could not sign out',
  'accounts.changePassword': 'Could not change the password',
  'review.confirm': 'Could not confirm the verdict',
  'sign.record': 'Could not sign',
  'sign.list': 'Could not read the signatures',
};

/** A readable one-liner for any thrown value (toasts, panels). */
export function describeError(e: unknown): { title: string; message: string; file?: string; code?: string } {
  if (e instanceof ApiCallError) {
    const title = e.code === 'UNREACHABLE' ? 'Connection problem' : ACTIONS[e.method];
    return { title, message: e.message, code: e.code, ...(e.file ? { file: e.file } : {}) };
  }
  if (e instanceof Error) return { title: 'Something went wrong', message: e.message };
  return { title: 'Something went wrong', message: String(e) };
}
