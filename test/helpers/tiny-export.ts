/**
 * A tiny stand-in for an exported model (engine/export/), built with the engine's GraphBuilder,
 * for serving tests that need no backbone: the same contract as a real export,
 *
 *   images uint8 [N, H, W, 3] → map float32 [N, H, W] = mean over R, G, B / 255
 *                             → score float32 [N]     = max of the map
 *
 * written as `<dir>/<name>.onnx` (layout 'flat') or `<dir>/model_repository/<name>/<v>/model.onnx`
 * (layout 'repository', Triton's), with a `<name>.kensa-export.json` sidecar that
 * engine/export/sidecar.ts `readSidecar` accepts. `tinyExportReference` computes the same in JS.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { graphSha256 } from '../../src-main/engine/export/sidecar';
import { DType, GraphBuilder } from '../../src-main/engine/ort/onnx-builder';

export interface TinyExportOptions {
  name?: string;
  width?: number;
  height?: number;
  layout?: 'flat' | 'repository';
  version?: number;
  /** A fixed batch dimension instead of symbolic N. */
  fixedBatch?: number;
  threshold?: number | null;
  reviewUpper?: number | null;
  /** Break the contract: output `scores` instead of `score`. */
  wrongOutput?: boolean;
}

export function buildTinyExportGraph(width: number, height: number, batch: number | string = 'N', wrongOutput = false): Uint8Array {
  const g = new GraphBuilder('tiny_export');
  g.input('images', DType.UINT8, [batch, height, width, 3]);
  const f = g.op1('Cast', ['images'], { to: DType.FLOAT });
  const mean = g.op1('ReduceMean', [f], { axes: [3], keepdims: 0 });
  const map = g.op1('Div', [mean, g.f32([255], [])], {}, 'map');
  g.op1('ReduceMax', [map], { axes: [1, 2], keepdims: 0 }, wrongOutput ? 'scores' : 'score');
  g.output('map', DType.FLOAT, [batch, height, width]);
  g.output(wrongOutput ? 'scores' : 'score', DType.FLOAT, [batch]);
  return g.toModel();
}

/** Writes the export; returns the folder to serve and the graph's path. */
export function writeTinyExport(dir: string, o: TinyExportOptions = {}): { dir: string; onnx: string; sidecar: string; name: string } {
  const name = o.name ?? 'tiny';
  const width = o.width ?? 32;
  const height = o.height ?? 24;
  mkdirSync(dir, { recursive: true });
  const rel = o.layout === 'repository' ? path.join('model_repository', name, String(o.version ?? 1), 'model.onnx') : `${name}.onnx`;
  const onnx = path.join(dir, rel);
  mkdirSync(path.dirname(onnx), { recursive: true });
  const graph = buildTinyExportGraph(width, height, o.fixedBatch ?? 'N', o.wrongOutput);
  writeFileSync(onnx, graph);
  const sidecar = path.join(dir, `${name}.kensa-export.json`);
  writeFileSync(
    sidecar,
    JSON.stringify(
      {
        format: 'kensa-export',
        formatVersion: 1,
        name,
        createdAt: '2026-11-30T00:00:00.000Z',
        kensaVersion: '0.1.0',
        model: { id: 'tiny-model-id', parentId: null, version: 3, detector: 'patchcore', file: 'v0003.kensa', createdAt: '2026-11-29T00:00:00.000Z', kensaVersion: '0.1.0', reviewHead: false },
        backbone: { id: 'tiny', file: 'tiny.onnx', sha256: '0'.repeat(64), taps: ['a', 'b'] },
        onnx: { file: rel.split(path.sep).join('/'), sha256: '1'.repeat(64), graphSha256: graphSha256(graph), opset: 13, irVersion: 7 },
        input: { name: 'images', dtype: 'uint8', layout: 'NHWC', shape: [-1, height, width, 3], channels: 'RGB', width, height, resize: 'stretch', sharp: '', note: '' },
        outputs: {},
        decision: { threshold: o.threshold === undefined ? 0.5 : o.threshold, reviewUpper: o.reviewUpper === undefined ? 0.8 : o.reviewUpper, source: 'option', rule: 'flagged when score >= threshold' },
        colourScale: { low: 0.1, high: 0.9 },
        goodStats: { images: 4, imageScoreMean: 0.4, imageScoreStd: 0.05, imageScoreMax: 0.48 },
        parity: { ok: true },
      },
      null,
      2,
    ),
  );
  return { dir, onnx, sidecar, name };
}

/** What the tiny graph computes, in JS (float32 results). */
export function tinyExportReference(rgb: Uint8Array, n: number, width: number, height: number): { scores: Float32Array; maps: Float32Array } {
  const px = width * height;
  const maps = new Float32Array(n * px);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let p = 0; p < px; p++) {
      const o = (i * px + p) * 3;
      const v = Math.fround(Math.fround((rgb[o]! + rgb[o + 1]! + rgb[o + 2]!) / 3) / 255);
      maps[i * px + p] = v;
      if (v > max) max = v;
    }
    scores[i] = max;
  }
  return { scores, maps };
}

/** Deterministic test pixels. */
export function testPixels(n: number, width: number, height: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n * width * height * 3);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}
