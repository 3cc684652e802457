/**
 * `kensa serve EXPORT_DIR` on what the exporter really writes (engine/export: `<name>.onnx`,
 * `<name>.kensa-export.json`, the Triton repository beside them): a PatchCore model fitted on
 * 10 MVTec bottle parts is exported, the folder is served, and the export's scores and maps
 * through the protocol equal the engine's for the same parts (the graph's float32 against the
 * engine's JavaScript Eq. 7: within 1e-5 relative); the sidecar's threshold is in the metadata.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fitModel, openScorer } from '../../../src-main/engine/detectors/registry';
import { exportModel } from '../../../src-main/engine/export/index';
import { listImages, loadImage } from '../../../src-main/engine/imaging/load';
import { loadModel, saveModel } from '../../../src-main/engine/model-file';
import { serveModel, type ServedModelHandle } from '../../../src-main/services/serve';
import { infer, metadata } from '../../../src-main/services/serve/oip-client';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve(import.meta.dirname, '../../../../shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const have = existsSync(bottle) && existsSync(path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx'));
if (!have) console.warn(`SKIPPING export-serving test: ${bottle} or the MobileNetV2 backbone missing (set KENSA_SHARED)`);

describe.skipIf(!have)('kensa serve of a real export', () => {
  let tmp: string;
  let served: ServedModelHandle;
  const files = [path.join(bottle, 'test', 'good', '001.png'), path.join(bottle, 'test', 'broken_small', '000.png'), path.join(bottle, 'test', 'contamination', '000.png')];
  const engine: { score: number; map: Float32Array }[] = [];
  const W = 224;
  const H = 224;
  const pixels = new Uint8Array(3 * W * H * 3);

  beforeAll(async () => {
    process.env.KENSA_SHARED = shared;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-serve-export-'));
    const fit = await fitModel((await listImages(path.join(bottle, 'train', 'good'))).slice(0, 10), { ep: 'cpu' });
    const modelFile = path.join(tmp, 'bottle.kensa');
    await saveModel(modelFile, fit.header, fit.arrays);
    const model = await loadModel(modelFile);
    await exportModel(model, { outDir: path.join(tmp, 'export'), parts: files.slice(0, 2).map((file) => ({ file })), threshold: 2.5, ep: 'cpu' });
    const scorer = await openScorer(model, { ep: 'cpu' });
    try {
      for (const f of files) engine.push(await scorer.scoreFile(f));
    } finally {
      await scorer.release();
    }
    for (const [i, f] of files.entries()) pixels.set((await loadImage(f, { width: W, height: H })).rgb, i * W * H * 3);
    served = await serveModel(path.join(tmp, 'export'), { port: 0, ep: 'cpu' });
  }, 300_000);

  afterAll(async () => {
    await served?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('serves the exported graph with the sidecar facts', async () => {
    expect(served.name).toBe('bottle');
    expect(served.contract.source).toBe(path.join(tmp, 'export', 'bottle.onnx'));
    const m = await metadata(served.url, 'bottle');
    expect(m.platform).toBe('onnxruntime_onnx');
    expect(m.inputs).toEqual([{ name: 'images', datatype: 'UINT8', shape: [-1, H, W, 3] }]);
    expect(m.parameters).toMatchObject({ detector: 'patchcore', threshold: 2.5, input_width: W, input_height: H, resize: 'stretch' });
  });

  it("batch 3 through the protocol: the engine's scores and maps", async () => {
    const r = await infer(served.url, 'bottle', { data: pixels, n: 3, h: H, w: W });
    for (let i = 0; i < 3; i++) {
      expect(Math.abs(r.scores[i]! - engine[i]!.score) / engine[i]!.score).toBeLessThan(1e-5);
      let worst = 0;
      for (let k = 0; k < W * H; k++) worst = Math.max(worst, Math.abs(r.maps![i * W * H + k]! - engine[i]!.map[k]!));
      expect(worst).toBeLessThan(1e-4 * engine[i]!.score);
    }
  });
});
