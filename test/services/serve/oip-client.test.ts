/**
 * Kensa's Open Inference Protocol client against `kensa serve` of an export (a tiny ONNX graph
 * with the export contract, served through the worker thread), and against a stand-in server
 * that answers JSON only (as servers without the binary extension do): the scores and maps
 * are the graph's; each failure is a KensaError that quotes the server.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveModel, type ServedModelHandle } from '../../../src-main/services/serve';
import { infer, metadata, ready } from '../../../src-main/services/serve/oip-client';
import { testPixels, tinyExportReference, writeTinyExport } from '../../helpers/tiny-export';

const W = 32;
const H = 24;
const TOKEN = 'client-token-0123456789';
let tmp: string;
let served: ServedModelHandle;
let guarded: ServedModelHandle;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-oip-client-'));
  const exp = writeTinyExport(path.join(tmp, 'export'), { name: 'tiny', width: W, height: H, layout: 'repository' });
  served = await serveModel(exp.dir, { port: 0, ep: 'cpu' });
  guarded = await serveModel(exp.dir, { port: 0, ep: 'cpu', token: TOKEN, name: 'guarded' });
}, 60_000);

afterAll(async () => {
  await served?.close();
  await guarded?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('oip-client against kensa serve', () => {
  it('metadata: tensors and the export sidecar facts', async () => {
    const m = await metadata(served.url, 'tiny');
    expect(m).toMatchObject({ name: 'tiny', versions: ['1'], platform: 'onnxruntime_onnx' });
    expect(m.inputs).toEqual([{ name: 'images', datatype: 'UINT8', shape: [-1, H, W, 3] }]);
    expect(m.parameters).toMatchObject({ threshold: 0.5, review_upper: 0.8, detector: 'patchcore', input_width: W, input_height: H, resize: 'stretch' });
    expect(await ready(served.url, 'tiny')).toBe(true);
    expect(await ready(served.url, 'nope')).toBe(false);
  });

  it("infer: binary both ways; the graph's scores and maps, with and without maps", async () => {
    const data = testPixels(3, W, H, 7);
    const ref = tinyExportReference(data, 3, W, H);
    const r = await infer(`${served.url}/`, 'tiny', { data, n: 3, h: H, w: W }, { version: '1' });
    expect(r.modelName).toBe('tiny');
    expect(r.modelVersion).toBe('1');
    expect(Array.from(r.scores)).toEqual(Array.from(ref.scores));
    let worst = 0;
    for (let i = 0; i < ref.maps.length; i++) worst = Math.max(worst, Math.abs(r.maps![i]! - ref.maps[i]!));
    expect(worst).toBeLessThan(1e-6);
    const s = await infer(served.url, 'tiny', { data: data.subarray(0, W * H * 3), n: 1, h: H, w: W }, { maps: false });
    expect(s.maps).toBeNull();
    expect(s.scores[0]).toBe(ref.scores[0]);
  });

  it("errors quote the server: 400 INVALID_ARGUMENT, 404 NOT_FOUND, 401 INFERENCE_SERVER", async () => {
    const data = testPixels(1, 16, 16);
    await expect(infer(served.url, 'tiny', { data, n: 1, h: 16, w: 16 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/\/v2\/models\/tiny\/infer: HTTP 400: input "images" must have shape \[N, 24, 32, 3\]/),
    });
    await expect(metadata(served.url, 'other')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('HTTP 404: unknown model "other": this server serves "tiny"') });
    await expect(metadata(served.url, 'tiny', { version: '2' })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('has no version "2"') });
    await expect(metadata(guarded.url, 'guarded')).rejects.toMatchObject({ code: 'INFERENCE_SERVER', message: expect.stringContaining('HTTP 401: this server needs a token') });
    await expect(metadata(guarded.url, 'guarded', { token: 'not-the-token-at-all' })).rejects.toMatchObject({ message: expect.stringContaining('HTTP 401: wrong token') });
    expect((await metadata(guarded.url, 'guarded', { token: TOKEN })).name).toBe('guarded');
    await expect(infer(served.url, 'tiny', { data, n: 2, h: 16, w: 16 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/768 bytes is not 2 image/) });
  });

  it('an unreachable endpoint and a timeout are INFERENCE_SERVER', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise((r) => dead.close(r));
    await expect(metadata(`http://127.0.0.1:${port}`, 'tiny')).rejects.toMatchObject({ code: 'INFERENCE_SERVER', message: expect.stringMatching(/cannot reach http:\/\/127\.0\.0\.1:\d+\/v2\/models\/tiny: ECONNREFUSED/) });
    const slow = createServer(() => undefined); // never answers
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    try {
      await expect(metadata(`http://127.0.0.1:${(slow.address() as AddressInfo).port}`, 'tiny', { timeoutMs: 200 })).rejects.toMatchObject({ code: 'INFERENCE_SERVER', message: expect.stringContaining('no answer within 200 ms') });
    } finally {
      slow.closeAllConnections();
      await new Promise((r) => slow.close(r));
    }
  });
});

describe('oip-client against a server that answers JSON only', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let n = 0;
      req.on('data', () => undefined);
      req.on('end', () => {
        n = 2;
        const body = JSON.stringify({
          model_name: 'm',
          outputs: [
            { name: 'map', shape: [n, 1, 2], datatype: 'FP32', data: [[[0.5, 0.25]], [[1, 2]]] },
            { name: 'score', shape: [n], datatype: 'FP32', data: [0.5, 2] },
          ],
        });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('reads nested JSON data for outputs it asked as binary', async () => {
    const r = await infer(url, 'm', { data: new Uint8Array(12), n: 2, h: 1, w: 2 });
    expect(Array.from(r.scores)).toEqual([0.5, 2]);
    expect(Array.from(r.maps!)).toEqual([0.5, 0.25, 1, 2]);
    expect(r.modelVersion).toBeUndefined();
  });
});
