/**
 * A small Open Inference Protocol (KServe v2 REST) client for Kensa's own use: the line can
 * score through any such endpoint, Kensa's own `kensa serve` or a Triton/KServe URL serving an
 * export, with the same model contract (engine/serving/contract.ts: `images` UINT8
 * [N, H, W, 3] → `score` FP32 [N], `map` FP32 [N, H, W]).
 *
 *   const meta = await metadata('http://127.0.0.1:8000', 'bottle', { token });
 *   const { scores, maps } = await infer(url, 'bottle', { data, n, h, w }, { token });
 *
 * Requests use the binary tensor data extension both ways (pixels after the JSON header,
 * outputs asked for as binary); replies with JSON `data` are read too, so servers without the
 * extension work. Tensors are little-endian (as the extension defines and as every platform
 * Node runs on is).
 *
 * Failures are KensaErrors whose message names the URL and quotes the server's `error`:
 * 400 → INVALID_ARGUMENT, 404 → NOT_FOUND, anything else (401, 413, 5xx, a reply that breaks
 * the protocol, a refused connection, a timeout) → INFERENCE_SERVER.
 */
import { KensaError, type KensaErrorCode } from '../../engine/errors';
import type { ParameterValue } from '../../engine/serving/contract';

export interface OipRequestOptions {
  /** Bearer token (`Authorization: Bearer …`). */
  token?: string;
  /** Model version in the URL (`/versions/{v}`); default: the server's choice. */
  version?: string;
  /** Milliseconds before the request is abandoned (default 60 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface OipTensorMetadata {
  name: string;
  datatype: string;
  shape: number[];
}

export interface OipModelMetadata {
  name: string;
  versions?: string[];
  platform: string;
  inputs: OipTensorMetadata[];
  outputs: OipTensorMetadata[];
  /** The model's facts (Kensa: detector, input size, resize, colour scale, threshold when known). */
  parameters: Record<string, ParameterValue>;
}

export interface OipImages {
  /** uint8 [n, h, w, 3], RGB, at the model input size. */
  data: Uint8Array;
  n: number;
  h: number;
  w: number;
}

export interface OipInferOptions extends OipRequestOptions {
  /** Also ask for the anomaly maps (default true). */
  maps?: boolean;
}

export interface OipInferResult {
  /** [n] raw image scores. */
  scores: Float32Array;
  /** [n, h, w] raw anomaly maps, or null when not asked for. */
  maps: Float32Array | null;
  modelName: string;
  modelVersion: string | undefined;
}

const base = (url: string): string => url.replace(/\/+$/, '').replace(/\/v2$/, '');

function modelPath(model: string, version: string | undefined): string {
  return `/v2/models/${encodeURIComponent(model)}${version === undefined ? '' : `/versions/${encodeURIComponent(version)}`}`;
}

function fail(code: KensaErrorCode, message: string, cause?: unknown): never {
  throw new KensaError(code, message, cause === undefined ? {} : { cause });
}

async function request(url: string, init: RequestInit, opts: OipRequestOptions): Promise<Response> {
  const headers = new Headers(init.headers);
  if (opts.token !== undefined) headers.set('Authorization', `Bearer ${opts.token}`);
  const timeout = AbortSignal.timeout(opts.timeoutMs ?? 60_000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers, signal });
  } catch (e) {
    if (timeout.aborted) fail('INFERENCE_SERVER', `${url}: no answer within ${opts.timeoutMs ?? 60_000} ms`, e);
    if (opts.signal?.aborted) fail('CANCELLED', `${url}: cancelled`, e);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    fail('INFERENCE_SERVER', `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, e);
  }
  if (res.status !== 200) {
    const text = await res.text().catch(() => '');
    let message = text.trim().slice(0, 500) || res.statusText;
    try {
      const j = JSON.parse(text) as { error?: unknown };
      if (typeof j.error === 'string') message = j.error;
    } catch {
      // not the protocol's error shape: keep the text
    }
    const code: KensaErrorCode = res.status === 400 ? 'INVALID_ARGUMENT' : res.status === 404 ? 'NOT_FOUND' : 'INFERENCE_SERVER';
    throw Object.assign(new KensaError(code, `${url}: HTTP ${res.status}: ${message}`), { status: res.status });
  }
  return res;
}

/** True when the server says the model is ready (200); false on any other status; throws when it cannot be reached. */
export async function ready(url: string, model: string, opts: OipRequestOptions = {}): Promise<boolean> {
  try {
    await request(`${base(url)}${modelPath(model, opts.version)}/ready`, { method: 'GET' }, opts);
    return true;
  } catch (e) {
    // The server answered, and not 200: not ready. Unreachable servers still throw.
    if (typeof (e as { status?: unknown }).status === 'number') return false;
    throw e;
  }
}

/** The model's metadata: its tensors and (Kensa servers) its facts as `parameters`. */
export async function metadata(url: string, model: string, opts: OipRequestOptions = {}): Promise<OipModelMetadata> {
  const u = `${base(url)}${modelPath(model, opts.version)}`;
  const res = await request(u, { method: 'GET' }, opts);
  let j: Partial<OipModelMetadata>;
  try {
    j = (await res.json()) as Partial<OipModelMetadata>;
  } catch (e) {
    return fail('INFERENCE_SERVER', `${u}: the model metadata is not JSON`, e);
  }
  if (typeof j.name !== 'string' || !Array.isArray(j.inputs) || !Array.isArray(j.outputs)) fail('INFERENCE_SERVER', `${u}: the reply is not model metadata (no name, inputs, outputs)`);
  return { ...j, platform: j.platform ?? '', parameters: j.parameters ?? {} } as OipModelMetadata;
}

interface ReplyOutput {
  name?: unknown;
  datatype?: unknown;
  shape?: unknown;
  data?: unknown;
  parameters?: { binary_data_size?: unknown };
}

/** Scores images through an endpoint; the binary extension both ways. */
export async function infer(url: string, model: string, images: OipImages, opts: OipInferOptions = {}): Promise<OipInferResult> {
  const { data, n, h, w } = images;
  if (!(Number.isInteger(n) && n >= 1 && data.length === n * h * w * 3)) {
    fail('INVALID_ARGUMENT', `infer: ${data.length} bytes is not ${n} image(s) of ${w}×${h}×3`);
  }
  const wantMaps = opts.maps ?? true;
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'images', shape: [n, h, w, 3], datatype: 'UINT8', parameters: { binary_data_size: data.length } }],
      outputs: [{ name: 'score', parameters: { binary_data: true } }, ...(wantMaps ? [{ name: 'map', parameters: { binary_data: true } }] : [])],
    }),
    'utf8',
  );
  const body = Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
  const u = `${base(url)}${modelPath(model, opts.version)}/infer`;
  const res = await request(
    u,
    { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) } },
    opts,
  );
  const reply = Buffer.from(await res.arrayBuffer());
  const hl = res.headers.get('inference-header-content-length');
  const jsonEnd = hl === null ? reply.length : Number(hl);
  if (!(Number.isInteger(jsonEnd) && jsonEnd >= 0 && jsonEnd <= reply.length)) fail('INFERENCE_SERVER', `${u}: Inference-Header-Content-Length ${hl} does not fit the ${reply.length}-byte reply`);
  let j: { model_name?: unknown; model_version?: unknown; outputs?: ReplyOutput[] };
  try {
    j = JSON.parse(reply.subarray(0, jsonEnd).toString('utf8'));
  } catch (e) {
    return fail('INFERENCE_SERVER', `${u}: the reply's JSON cannot be read`, e);
  }
  if (!Array.isArray(j.outputs)) fail('INFERENCE_SERVER', `${u}: the reply has no outputs`);
  const tensors = new Map<string, Float32Array>();
  let offset = jsonEnd;
  for (const o of j.outputs!) {
    const name = String(o.name);
    const size = o.parameters?.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || offset + size > reply.length) fail('INFERENCE_SERVER', `${u}: output "${name}" claims ${String(size)} binary bytes, but the reply has ${reply.length - offset} left`);
      if (o.datatype !== 'FP32') fail('INFERENCE_SERVER', `${u}: output "${name}" is ${String(o.datatype)}, expected FP32`);
      tensors.set(name, new Float32Array(reply.buffer.slice(reply.byteOffset + offset, reply.byteOffset + offset + (size as number))));
      offset += size as number;
    } else if (Array.isArray(o.data)) {
      tensors.set(name, Float32Array.from((o.data as unknown[]).flat(Infinity) as number[]));
    } else fail('INFERENCE_SERVER', `${u}: output "${name}" has neither data nor binary_data_size`);
  }
  const scores = tensors.get('score');
  if (!scores || scores.length !== n) fail('INFERENCE_SERVER', `${u}: the reply's "score" output has ${scores?.length ?? 0} values for ${n} image(s)`);
  let maps: Float32Array | null = null;
  if (wantMaps) {
    maps = tensors.get('map') ?? null;
    if (!maps || maps.length !== n * h * w) fail('INFERENCE_SERVER', `${u}: the reply's "map" output has ${maps?.length ?? 0} values, expected ${n}×${h}×${w}`);
  }
  return { scores: scores!, maps, modelName: String(j.model_name ?? model), modelVersion: j.model_version === undefined ? undefined : String(j.model_version) };
}
