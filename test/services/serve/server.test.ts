/**
 * `kensa serve` on a real model (PatchCore fitted on 10 MVTec bottle parts with the shared
 * MobileNetV2), checked by a v2 client written HERE from the Open Inference Protocol
 * specification (KServe v2 REST + the binary tensor data extension), with raw fetch and
 * hand-built bodies: nothing of the server's or oip-client's code is imported for it.
 *
 * The client's pixels come from sharp as the model metadata says (stretch to the input size,
 * lanczos3, sRGB, no alpha); they are checked byte-equal to the engine's own decode, and the
 * scores and maps the server returns equal the in-process engine's (`kensa score`'s) for the
 * same files, at batch 1 and 3, JSON and binary, and under concurrent clients. Malformed
 * requests each get their status and a `{"error": ...}` naming the problem; the token and
 * loopback rules hold; oip-client reads the same scores.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openScorer } from '../../../src-main/engine/detectors/registry';
import { fitModel } from '../../../src-main/engine/detectors/registry';
import { listImages, loadImage } from '../../../src-main/engine/imaging/load';
import { loadModel, saveModel } from '../../../src-main/engine/model-file';
import { RunnerClient } from '../../../src-main/jobs/runner-client';
import { startOipServer, type OipServer } from '../../../src-main/services/serve/server';
import { infer as oipInfer, metadata as oipMetadata } from '../../../src-main/services/serve/oip-client';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve(import.meta.dirname, '../../../../shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const have = existsSync(bottle) && existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING serve tests: ${bottle} or the MobileNetV2 backbone missing (set KENSA_SHARED)`);

const TOKEN = 'test-token-0123456789abcdef';

// ---------------------------------------------------------------------------------------------
// A v2 client from the specification (not from our code).

interface V2Output {
  name: string;
  datatype: string;
  shape: number[];
  data?: number[];
  parameters?: { binary_data_size?: number };
}
interface V2Reply {
  status: number;
  json: { error?: string; model_name?: string; model_version?: string; id?: string; outputs?: V2Output[] } & Record<string, unknown>;
  /** Outputs decoded to float arrays (JSON data or binary FP32 little-endian), by name. */
  tensors: Map<string, { shape: number[]; values: Float64Array }>;
  headers: Headers;
}

async function v2Fetch(url: string, init: RequestInit & { token?: string } = {}): Promise<V2Reply> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('Authorization', `Bearer ${init.token}`);
  const res = await fetch(url, { ...init, headers });
  const body = Buffer.from(await res.arrayBuffer());
  const hl = res.headers.get('Inference-Header-Content-Length');
  const jsonLen = hl === null ? body.length : Number(hl);
  const text = body.subarray(0, jsonLen).toString('utf8');
  const json = text === '' ? {} : JSON.parse(text);
  const tensors = new Map<string, { shape: number[]; values: Float64Array }>();
  let off = jsonLen;
  // An infer response ($inference_response has model_name); model metadata also has "outputs".
  for (const o of (json.model_name === undefined ? [] : (json.outputs ?? [])) as V2Output[]) {
    const size = o.parameters?.binary_data_size;
    if (size !== undefined) {
      expect(o.datatype).toBe('FP32');
      const dv = new DataView(body.buffer, body.byteOffset + off, size);
      const values = new Float64Array(size / 4);
      for (let i = 0; i < values.length; i++) values[i] = dv.getFloat32(i * 4, true);
      tensors.set(o.name, { shape: o.shape, values });
      off += size;
    } else {
      tensors.set(o.name, { shape: o.shape, values: Float64Array.from((o.data as unknown[]).flat(Infinity) as number[]) });
    }
  }
  expect(off).toBe(body.length);
  return { status: res.status, json, tensors, headers: res.headers };
}

/** POST …/infer with `images` as binary data after the JSON, all outputs binary. */
function binaryInferBody(pixels: Uint8Array, shape: number[], extra: Record<string, unknown> = {}): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      id: 'req-1',
      inputs: [{ name: 'images', shape, datatype: 'UINT8', parameters: { binary_data_size: pixels.length } }],
      parameters: { binary_data_output: true },
      ...extra,
    }),
  );
  return {
    body: Buffer.concat([header, pixels]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) },
  };
}

function jsonInferBody(pixels: Uint8Array, shape: number[], datatype = 'UINT8'): { body: string; headers: Record<string, string> } {
  return {
    body: JSON.stringify({ inputs: [{ name: 'images', shape, datatype, data: Array.from(pixels) }] }),
    headers: { 'Content-Type': 'application/json' },
  };
}

/** The client's preprocessing, from the model metadata: stretch to W×H, lanczos3, sRGB, no alpha. */
async function clientPixels(files: string[], w: number, h: number): Promise<Uint8Array> {
  const out = new Uint8Array(files.length * w * h * 3);
  for (const [i, f] of files.entries()) {
    const { data } = await sharp(f)
      .autoOrient()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .resize(w, h, { fit: 'fill', kernel: 'lanczos3', fastShrinkOnLoad: false })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    out.set(data, i * w * h * 3);
  }
  return out;
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-12, Math.abs(b));
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!have)('kensa serve (Open Inference Protocol) on a real PatchCore model', () => {
  let tmp: string;
  let modelFile: string;
  let runner: RunnerClient;
  let server: OipServer;
  let base: string;
  const files: string[] = [];
  /** The engine's scores and maps for `files` (kensa score's path: scoreFile). */
  const engine: { score: number; map: Float32Array }[] = [];
  let pixels: Uint8Array;
  const W = 224;
  const H = 224;
  const px = W * H * 3;

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-serve-'));
    const train = (await listImages(path.join(bottle, 'train', 'good'))).slice(0, 10);
    const fit = await fitModel(train, { ep: 'cpu' });
    modelFile = path.join(tmp, 'bottle.kensa');
    await saveModel(modelFile, fit.header, fit.arrays);
    files.push(
      path.join(bottle, 'test', 'good', '000.png'),
      path.join(bottle, 'test', 'broken_large', '000.png'),
      path.join(bottle, 'test', 'contamination', '001.png'),
    );
    const scorer = await openScorer(await loadModel(modelFile), { ep: 'cpu' });
    try {
      for (const f of files) {
        const r = await scorer.scoreFile(f);
        engine.push({ score: r.score, map: r.map });
      }
    } finally {
      await scorer.release();
    }
    pixels = await clientPixels(files, W, H);
    runner = await RunnerClient.open(modelFile, { ep: 'cpu' });
    server = await startOipServer({ runner, port: 0 });
    base = server.url;
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await runner?.release();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it("the client's sharp preprocessing gives the engine's pixels byte for byte", async () => {
    for (const [i, f] of files.entries()) {
      const img = await loadImage(f, { width: W, height: H, resize: 'stretch' });
      expect(Buffer.compare(Buffer.from(img.rgb), Buffer.from(pixels.subarray(i * px, (i + 1) * px)))).toBe(0);
    }
  });

  it('health, server metadata, model metadata and readiness have the protocol shapes', async () => {
    expect((await fetch(`${base}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${base}/v2/health/ready`)).status).toBe(200);
    const srv = await v2Fetch(`${base}/v2`);
    expect(srv.status).toBe(200);
    expect(srv.json).toMatchObject({ name: 'kensa', version: expect.any(String) });
    expect(srv.json.extensions).toContain('binary_tensor_data');

    const meta = await v2Fetch(`${base}/v2/models/bottle`);
    expect(meta.status).toBe(200);
    expect(meta.json).toMatchObject({
      name: 'bottle',
      versions: ['1'],
      platform: 'kensa',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [-1, H, W, 3] }],
      outputs: [
        { name: 'score', datatype: 'FP32', shape: [-1] },
        { name: 'map', datatype: 'FP32', shape: [-1, H, W] },
      ],
    });
    const p = meta.json.parameters as Record<string, unknown>;
    expect(p).toMatchObject({ detector: 'patchcore', input_width: W, input_height: H, resize: 'stretch' });
    expect(p.colour_scale_high as number).toBeGreaterThan(p.colour_scale_low as number);
    for (const v of Object.values(p)) expect(['string', 'number', 'boolean']).toContain(typeof v);
    expect((await v2Fetch(`${base}/v2/models/bottle/versions/1`)).json.name).toBe('bottle');
    expect((await fetch(`${base}/v2/models/bottle/ready`)).status).toBe(200);
    expect((await fetch(`${base}/v2/models/bottle/versions/1/ready`)).status).toBe(200);
  });

  it('binary tensors, batch 1: the same score and map as the engine', async () => {
    const req = binaryInferBody(pixels.subarray(0, px).slice(), [1, H, W, 3]);
    const r = await v2Fetch(`${base}/v2/models/bottle/infer`, { method: 'POST', ...req });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/octet-stream');
    expect(r.json).toMatchObject({ model_name: 'bottle', model_version: '1', id: 'req-1' });
    const score = r.tensors.get('score')!;
    const map = r.tensors.get('map')!;
    expect(score.shape).toEqual([1]);
    expect(map.shape).toEqual([1, H, W]);
    expect(relErr(score.values[0]!, engine[0]!.score)).toBeLessThan(1e-5);
    let worst = 0;
    for (let i = 0; i < map.values.length; i++) worst = Math.max(worst, Math.abs(map.values[i]! - engine[0]!.map[i]!));
    expect(worst).toBeLessThan(1e-5 * engine[0]!.score);
  });

  it('binary tensors, batch 3: each image scores as the engine scores it alone', async () => {
    const req = binaryInferBody(pixels, [3, H, W, 3]);
    const r = await v2Fetch(`${base}/v2/models/bottle/infer`, { method: 'POST', ...req });
    expect(r.status).toBe(200);
    const s = r.tensors.get('score')!;
    const m = r.tensors.get('map')!;
    expect(s.shape).toEqual([3]);
    expect(m.shape).toEqual([3, H, W]);
    for (let i = 0; i < 3; i++) {
      expect(relErr(s.values[i]!, engine[i]!.score)).toBeLessThan(1e-5);
      let worst = 0;
      for (let k = 0; k < H * W; k++) worst = Math.max(worst, Math.abs(m.values[i * H * W + k]! - engine[i]!.map[k]!));
      expect(worst).toBeLessThan(1e-5 * engine[i]!.score);
    }
    // The defects score above the good part (a sanity check on the model itself).
    expect(s.values[1]!).toBeGreaterThan(s.values[0]!);
    expect(s.values[2]!).toBeGreaterThan(s.values[0]!);
  });

  it('JSON tensors both ways (data inline), only the score asked for', async () => {
    const body = JSON.stringify({
      inputs: [{ name: 'images', shape: [1, H, W, 3], datatype: 'UINT8', data: Array.from(pixels.subarray(px, 2 * px)) }],
      outputs: [{ name: 'score' }],
    });
    const r = await v2Fetch(`${base}/v2/models/bottle/versions/1/infer`, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
    expect(r.status).toBe(200);
    expect(r.headers.get('inference-header-content-length')).toBeNull();
    expect(r.json.outputs!.map((o) => o.name)).toEqual(['score']);
    expect(r.json.outputs![0]!.datatype).toBe('FP32');
    expect(relErr(r.tensors.get('score')!.values[0]!, engine[1]!.score)).toBeLessThan(1e-5);
    expect(typeof r.json.id).toBe('string');
  });

  it('concurrent clients are queued (and merged) without changing any score', async () => {
    const order = [0, 1, 2, 1, 0, 2];
    const replies = await Promise.all(
      order.map((i) => v2Fetch(`${base}/v2/models/bottle/infer`, { method: 'POST', ...binaryInferBody(pixels.slice(i * px, (i + 1) * px), [1, H, W, 3]) })),
    );
    replies.forEach((r, k) => {
      expect(r.status).toBe(200);
      expect(relErr(r.tensors.get('score')!.values[0]!, engine[order[k]!]!.score)).toBeLessThan(1e-5);
    });
    expect(server.batcher.stats.largestBatch).toBeGreaterThan(1);
  });

  describe('malformed requests get their status and a clear {"error"}', () => {
    const post = (body: string | Buffer, headers: Record<string, string> = { 'Content-Type': 'application/json' }, model = 'bottle'): Promise<V2Reply> =>
      v2Fetch(`${base}/v2/models/${model}/infer`, { method: 'POST', body, headers });
    const one = (): Uint8Array => pixels.slice(0, px);

    it.each([
      ['wrong datatype', () => jsonInferBody(new Uint8Array(4), [1, H, W, 3], 'FP32'), /input "images" must be UINT8.*got FP32/],
      ['not a datatype at all', () => jsonInferBody(new Uint8Array(4), [1, H, W, 3], 'FLOAT'), /"FLOAT" is not a datatype of the protocol/],
      ['wrong rank', () => jsonInferBody(new Uint8Array(H * W * 3), [H, W, 3]), /must have shape \[N, 224, 224, 3\].*got \[224, 224, 3\]/],
      ['wrong size', () => jsonInferBody(new Uint8Array(4), [1, 100, 100, 3]), /must have shape \[N, 224, 224, 3\].*got \[1, 100, 100, 3\]/],
      ['JSON data shorter than the shape', () => jsonInferBody(new Uint8Array(10), [1, H, W, 3]), /"data" has 10 elements but shape \[1, 224, 224, 3\] holds 150528/],
      ['a value that is not a UINT8', () => ({ body: JSON.stringify({ inputs: [{ name: 'images', shape: [1, H, W, 3], datatype: 'UINT8', data: [256] }] }), headers: {} }), /element 0 is 256, not a UINT8/],
      ['empty batch', () => jsonInferBody(new Uint8Array(0), [0, H, W, 3]), /the batch is empty/],
      ['unknown input name', () => ({ body: JSON.stringify({ inputs: [{ name: 'image', shape: [1], datatype: 'UINT8', data: [1] }] }), headers: {} }), /unknown input "image": model "bottle" takes one input, "images" \(UINT8 \[N, 224, 224, 3\]\)/],
      ['no inputs', () => ({ body: JSON.stringify({ inputs: [] }), headers: {} }), /"inputs" must be a non-empty array/],
      ['not JSON', () => ({ body: 'hello', headers: {} }), /not valid JSON/],
      ['unknown output', () => ({ body: JSON.stringify({ inputs: [{ name: 'images', shape: [1, H, W, 3], datatype: 'UINT8', data: Array.from(one()) }], outputs: [{ name: 'heatmap' }] }), headers: {} }), /unknown output "heatmap".*"score".*"map"/],
    ] as [string, () => { body: string; headers: Record<string, string> }, RegExp][])('%s → 400', async (_what, make, message) => {
      const { body, headers } = make();
      const r = await post(body, { 'Content-Type': 'application/json', ...headers });
      expect(r.status).toBe(400);
      expect(r.headers.get('content-type')).toBe('application/json');
      expect(Object.keys(r.json)).toEqual(['error']);
      expect(r.json.error).toMatch(message);
    });

    it('binary_data_size that disagrees with the shape → 400', async () => {
      const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'images', shape: [2, H, W, 3], datatype: 'UINT8', parameters: { binary_data_size: px } }] }));
      const r = await post(Buffer.concat([header, one()]), { 'Inference-Header-Content-Length': String(header.length) });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/binary_data_size is 150528 bytes but shape \[2, 224, 224, 3\] of UINT8 is 301056 bytes/);
    });

    it('truncated binary data → 400 naming how much is there', async () => {
      const { body, headers } = binaryInferBody(one(), [1, H, W, 3]);
      const r = await post(body.subarray(0, body.length - 1000), headers);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/truncated binary data: input "images" needs bytes 0–150528 after the JSON, but the body has only 149528 bytes/);
    });

    it('binary bytes that no input claims → 400', async () => {
      const { body, headers } = binaryInferBody(one(), [1, H, W, 3]);
      const r = await post(Buffer.concat([body, Buffer.alloc(7)]), headers);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/7 bytes of binary data after the JSON belong to no input/);
    });

    it('a header length past the end of the body → 400', async () => {
      const r = await post('{}', { 'Inference-Header-Content-Length': '999' });
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/Inference-Header-Content-Length header says the JSON is 999 bytes, but the whole body is 2 bytes/);
    });

    it('unknown model, unknown version, unknown route → 404; wrong method → 405', async () => {
      const a = await post('{}', {}, 'hazelnut');
      expect(a.status).toBe(404);
      expect(a.json.error).toBe('unknown model "hazelnut": this server serves "bottle"');
      const b = await v2Fetch(`${base}/v2/models/bottle/versions/7`);
      expect(b.status).toBe(404);
      expect(b.json.error).toMatch(/model "bottle" has no version "7" \(versions: 1\)/);
      const c = await v2Fetch(`${base}/v1/models/bottle:predict`);
      expect(c.status).toBe(404);
      expect(c.json.error).toMatch(/paths start with \/v2/);
      const d = await v2Fetch(`${base}/v2/models/bottle/infer`);
      expect(d.status).toBe(405);
      expect(d.headers.get('allow')).toBe('POST');
      expect(d.json.error).toMatch(/inference takes POST, not GET/);
    });
  });

  it('a body over the limit → 413 in the protocol error shape, and the server goes on', async () => {
    const small = await startOipServer({ runner, port: 0, maxBodyBytes: 64 * 1024 });
    try {
      const r = await v2Fetch(`${small.url}/v2/models/bottle/infer`, { method: 'POST', ...binaryInferBody(pixels.slice(0, px), [1, H, W, 3]) });
      expect(r.status).toBe(413);
      expect(r.json.error).toMatch(/the request body is \d+ bytes, over this server's limit of 65536 bytes/);
      // Chunked (no Content-Length): refused once the bytes received pass the limit.
      const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: small.port, method: 'POST', path: '/v2/models/bottle/infer', headers: { 'Transfer-Encoding': 'chunked' } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        for (let i = 0; i < 8; i++) req.write(Buffer.alloc(16 * 1024, 32));
        req.end();
      });
      expect(chunked.status).toBe(413);
      expect(JSON.parse(chunked.body).error).toMatch(/the request body is more than 65536 bytes/);
      expect((await fetch(`${small.url}/v2/health/ready`)).status).toBe(200);
    } finally {
      await small.close();
    }
  });

  it('bodies received at once past maxBufferedBytes → 503 busy, with Retry-After', async () => {
    const tight = await startOipServer({ runner, port: 0, maxBodyBytes: 256 * 1024, maxBufferedBytes: 100 * 1024 });
    try {
      const r = await v2Fetch(`${tight.url}/v2/models/bottle/infer`, { method: 'POST', ...binaryInferBody(pixels.slice(0, px), [1, H, W, 3]) });
      expect(r.status).toBe(503);
      expect(r.headers.get('retry-after')).toBe('1');
      expect(r.json.error).toMatch(/the server is busy: 102400 bytes of requests are being received at once; retry later/);
    } finally {
      await tight.close();
    }
  });

  it('off loopback a token is required: refused without one; 401 without/with a wrong token; health stays open', async () => {
    await expect(startOipServer({ runner, port: 0, host: '0.0.0.0' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/0\.0\.0\.0 is not a loopback address.*token/) });
    await expect(startOipServer({ runner, port: 0, host: '0.0.0.0', token: 'short' })).rejects.toMatchObject({ message: expect.stringMatching(/at least 16 characters/) });
    const open = await startOipServer({ runner, port: 0, host: '0.0.0.0', token: TOKEN });
    try {
      const url = `http://127.0.0.1:${open.port}`;
      const none = await v2Fetch(`${url}/v2/models/bottle`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(none.json.error).toMatch(/needs a token: send the header "Authorization: Bearer <token>"/);
      const wrong = await v2Fetch(`${url}/v2/models/bottle`, { token: 'wrong-token-0123456789' });
      expect(wrong.status).toBe(401);
      expect(wrong.json.error).toBe('wrong token');
      const inferNoToken = await v2Fetch(`${url}/v2/models/bottle/infer`, { method: 'POST', ...binaryInferBody(pixels.slice(0, px), [1, H, W, 3]) });
      expect(inferNoToken.status).toBe(401);
      expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
      const ok = await v2Fetch(`${url}/v2/models/bottle/infer`, { method: 'POST', token: TOKEN, ...binaryInferBody(pixels.slice(0, px), [1, H, W, 3]) });
      expect(ok.status).toBe(200);
      expect(relErr(ok.tensors.get('score')!.values[0]!, engine[0]!.score)).toBeLessThan(1e-5);
    } finally {
      await open.close();
    }
  });

  it('on loopback: a foreign Host (DNS rebinding) and a cross-site Origin are refused', async () => {
    const raw = (headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: server.port, path: '/v2/models/bottle', headers }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const rebound = await raw({ Host: `evil.example:${server.port}` });
    expect(rebound.status).toBe(403);
    expect(JSON.parse(rebound.body).error).toMatch(/forbidden Host "evil.example:\d+"/);
    const cross = await raw({ Host: `127.0.0.1:${server.port}`, Origin: 'https://evil.example' });
    expect(cross.status).toBe(403);
    expect(JSON.parse(cross.body).error).toMatch(/cross-origin requests are refused/);
    expect((await raw({ Host: `localhost:${server.port}` })).status).toBe(200);
  });

  it("Kensa's oip-client reads the same scores and maps, and the metadata", async () => {
    const meta = await oipMetadata(base, 'bottle');
    expect(meta.parameters.detector).toBe('patchcore');
    const r = await oipInfer(base, 'bottle', { data: pixels.slice(), n: 3, h: H, w: W });
    expect(r.modelName).toBe('bottle');
    for (let i = 0; i < 3; i++) expect(relErr(r.scores[i]!, engine[i]!.score)).toBeLessThan(1e-5);
    expect(r.maps!.length).toBe(3 * H * W);
    expect(Math.abs(r.maps![H * W + 100]! - engine[1]!.map[100]!)).toBeLessThan(1e-4);
  });

  it('close() lets a running request finish, then refuses new connections', async () => {
    const extra = await startOipServer({ runner, port: 0 });
    const running = v2Fetch(`${extra.url}/v2/models/bottle/infer`, { method: 'POST', ...binaryInferBody(pixels.slice(0, px), [1, H, W, 3]) });
    while (extra.batcher.pending === 0) await new Promise((r) => setTimeout(r, 2));
    await extra.close();
    const r = await running;
    expect(r.status).toBe(200);
    await expect(fetch(`${extra.url}/v2/health/live`)).rejects.toThrow();
  });
});
