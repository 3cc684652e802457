/**
 * Serving an export folder (engine/serving/onnx-export.ts) with a tiny graph that has the
 * export contract: both layouts the exporter writes (flat `<name>.onnx`, Triton's
 * `model_repository/<name>/<v>/model.onnx`), the sidecar's facts as parameters, a fixed batch
 * dimension run in chunks, and each broken export refused with a message that says what is
 * wrong. Also the path dispatch of ./open.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findExport, OnnxExportRunner } from '../../../src-main/engine/serving/onnx-export';
import { openRunner } from '../../../src-main/engine/serving/open';
import { buildTinyExportGraph, testPixels, tinyExportReference, writeTinyExport } from '../../helpers/tiny-export';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-onnx-export-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('OnnxExportRunner', () => {
  it.each(['flat', 'repository'] as const)('%s layout: found by the sidecar, the contract from graph + sidecar, the graph\'s outputs', async (layout) => {
    const exp = writeTinyExport(path.join(tmp, layout), { name: 'bottle', layout, version: 4, width: 20, height: 12 });
    const found = await findExport(exp.dir);
    expect(found.onnx).toBe(exp.onnx);
    expect(found.version).toBe(layout === 'repository' ? '4' : '1');
    const r = await OnnxExportRunner.open(exp.dir, { ep: 'cpu' });
    try {
      expect(r.contract).toMatchObject({ name: 'bottle', version: found.version, platform: 'onnxruntime_onnx', width: 20, height: 12, resize: 'stretch', source: exp.onnx, ep: 'cpu' });
      expect(r.contract.parameters).toMatchObject({
        detector: 'patchcore',
        model_id: 'tiny-model-id',
        model_version: 3,
        threshold: 0.5,
        review_upper: 0.8,
        colour_scale_low: 0.1,
        colour_scale_high: 0.9,
        good_score_max: 0.48,
        input_width: 20,
        input_height: 12,
      });
      const rgb = testPixels(5, 20, 12, 3);
      const out = await r.infer(rgb, 5);
      const ref = tinyExportReference(rgb, 5, 20, 12);
      expect(Array.from(out.scores)).toEqual(Array.from(ref.scores));
      for (let i = 0; i < ref.maps.length; i++) expect(Math.abs(out.maps[i]! - ref.maps[i]!)).toBeLessThan(1e-6);
    } finally {
      await r.release();
    }
  });

  it('the sidecar file itself can be given; no threshold in the sidecar → none in the parameters', async () => {
    const exp = writeTinyExport(path.join(tmp, 'nothreshold'), { threshold: null, reviewUpper: null });
    const r = await OnnxExportRunner.open(exp.sidecar, { ep: 'cpu' });
    try {
      expect(r.contract.parameters.threshold).toBeUndefined();
      expect(r.contract.parameters.review_upper).toBeUndefined();
    } finally {
      await r.release();
    }
  });

  it('a graph with a fixed batch of 2 runs 5 images in 3 chunks (the last padded)', async () => {
    const exp = writeTinyExport(path.join(tmp, 'fixed'), { fixedBatch: 2 });
    const r = await OnnxExportRunner.open(exp.dir, { ep: 'cpu' });
    try {
      const rgb = testPixels(5, 32, 24, 9);
      const out = await r.infer(rgb, 5);
      expect(Array.from(out.scores)).toEqual(Array.from(tinyExportReference(rgb, 5, 32, 24).scores));
    } finally {
      await r.release();
    }
  });

  it('broken exports are refused, each saying what is wrong', async () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    await expect(OnnxExportRunner.open(empty)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/is not an export folder: it holds no \*\.kensa-export\.json sidecar/) });

    const two = path.join(tmp, 'two');
    writeTinyExport(two, { name: 'a' });
    writeTinyExport(two, { name: 'b' });
    await expect(OnnxExportRunner.open(two)).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/holds 2 exports \(a\.kensa-export\.json, b\.kensa-export\.json\)/) });

    const noGraph = writeTinyExport(path.join(tmp, 'nograph'));
    rmSync(noGraph.onnx);
    await expect(OnnxExportRunner.open(noGraph.dir)).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/its ONNX graph is not there \(looked for .*tiny\.onnx/) });

    const wrong = writeTinyExport(path.join(tmp, 'wrong'), { wrongOutput: true });
    await expect(OnnxExportRunner.open(wrong.dir, { ep: 'cpu' })).rejects.toMatchObject({
      code: 'MODEL_INVALID',
      message: expect.stringMatching(/is not a Kensa export: it has no float32 output "score" \(inputs: images uint8 \[N, 24, 32, 3\]; outputs: map float32 \[N, 24, 32\], scores float32 \[N\]/),
    });

    const mismatch = writeTinyExport(path.join(tmp, 'mismatch'));
    const side = JSON.parse(readFileSync(mismatch.sidecar, 'utf8'));
    side.input.width = 64;
    writeFileSync(mismatch.sidecar, JSON.stringify(side));
    await expect(OnnxExportRunner.open(mismatch.dir, { ep: 'cpu' })).rejects.toMatchObject({ message: expect.stringMatching(/the graph takes 32×24 images but .* says 64×24/) });

    const swapped = writeTinyExport(path.join(tmp, 'swapped'));
    writeFileSync(swapped.onnx, buildTinyExportGraph(32, 24, 1)); // a different computation under the same name
    await expect(OnnxExportRunner.open(swapped.dir, { ep: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/is not the graph .*tiny\.kensa-export\.json was written for \(graph sha256/) });

    const notOnnx = writeTinyExport(path.join(tmp, 'notonnx'));
    writeFileSync(notOnnx.onnx, 'not a graph');
    await expect(OnnxExportRunner.open(notOnnx.dir, { ep: 'cpu' })).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/is not an ONNX model/) });

    const badSidecar = writeTinyExport(path.join(tmp, 'badsidecar'));
    writeFileSync(badSidecar.sidecar, '{"format": "something-else"}');
    await expect(OnnxExportRunner.open(badSidecar.dir)).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/is not a Kensa export sidecar/) });
  });
});

describe('openRunner picks the runner from the path', () => {
  it('an export folder → ONNX Runtime; a lone .onnx, a missing path and a non-model file are refused', async () => {
    const exp = writeTinyExport(path.join(tmp, 'dispatch'));
    const r = await openRunner(exp.dir, { ep: 'cpu' });
    expect(r.contract.platform).toBe('onnxruntime_onnx');
    await r.release();
    await expect(openRunner(exp.onnx)).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(/serve the export folder .* not the \.onnx file alone/) });
    await expect(openRunner(path.join(tmp, 'nothing-here'))).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/nothing to serve at .*nothing-here/) });
    const junk = path.join(tmp, 'junk.kensa');
    writeFileSync(junk, 'junk');
    await expect(openRunner(junk)).rejects.toMatchObject({ code: 'MODEL_INVALID' });
  });
});
