/**
 * The backbone inside an export graph (engine/export/backbone-graph.ts): names prefixed, an
 * opset-11 backbone lifted to the export's opset 13 with the same outputs, and the backbones
 * the export cannot take refused with the reason (contrib ops, opset 18, old Softmax axes).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBackbone, sha256, type BackboneFile } from '../../../src-main/engine/backbone/backbone';
import { EXPORT_OPSET, mergeBackbone } from '../../../src-main/engine/export/backbone-graph';
import { decodeModel, DType, GraphBuilder } from '../../../src-main/engine/ort/onnx-builder';
import { createSession, ort } from '../../../src-main/engine/ort/session';

const repo = path.resolve(import.meta.dirname, '../../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const int8 = path.join(shared, 'models', 'mobilenetv2-12-int8.onnx');

/**
 * An opset-`opset` "backbone": input [N, 3, 4, 4] → Unsqueeze(axes=[1]) → Squeeze(axes=[1]) →
 * ReduceSum(axes=[1], keepdims=1) → Softmax(axis) → `tap` [N, 1, 4, 4]. In opset 11 the axes
 * are attributes (inputs from 13 on).
 */
function oldBackbone(opset: number, softmaxAxis: number): BackboneFile & { onnx: Uint8Array } {
  const g = new GraphBuilder('old');
  g.input('input', DType.FLOAT, ['N', 3, 4, 4]);
  const u = g.op1('Unsqueeze', ['input'], { axes: [1] });
  const s = g.op1('Squeeze', [u], { axes: [1] });
  const r = g.op1('ReduceSum', [s], { axes: [1], keepdims: 1 });
  g.op1('Softmax', [r], { axis: softmaxAxis }, 'tap');
  g.output('tap', DType.FLOAT, ['N', 1, 4, 4]);
  const bytes = g.toModel(opset);
  return { id: 'old', file: `/models/old-opset${opset}.onnx`, sha256: sha256(bytes), bytes: bytes.length, taps: ['tap'], model: decodeModel(bytes), onnx: bytes };
}

const TAP = [{ name: 'tap', channels: 1, stride: 1 }];

async function run(bytes: Uint8Array, input: string, output: string, x: Float32Array): Promise<Float32Array> {
  const s = await createSession(bytes, { ep: 'cpu' });
  try {
    return (await s.run({ [input]: new ort.Tensor('float32', x, [2, 3, 4, 4]) }))[output]!.data as Float32Array;
  } finally {
    await s.release();
  }
}

describe('mergeBackbone', () => {
  it('lifts an opset-11 backbone to opset 13 (axes attributes become inputs), names prefixed, same outputs', async () => {
    const bb = oldBackbone(11, -1);
    const g = new GraphBuilder('export');
    const m = mergeBackbone(g, bb, TAP);
    expect(m.opset).toBe(EXPORT_OPSET);
    expect(m.input).toBe('backbone/input');
    expect(m.taps[0]!.name).toBe('backbone/tap');
    for (const n of g.nodes) {
      expect(n.name).toMatch(/^backbone\//);
      expect(n.attribute?.some((a) => a.name === 'axes')).toBe(false);
    }
    expect(g.nodes.filter((n) => n.opType !== 'Softmax').every((n) => n.input!.length === 2)).toBe(true);
    g.input('backbone/input', DType.FLOAT, ['N', 3, 4, 4]);
    g.output('backbone/tap', DType.FLOAT, ['N', 1, 4, 4]);
    const x = Float32Array.from({ length: 2 * 48 }, (_, i) => Math.sin(i));
    const before = await run(bb.onnx, 'input', 'tap', x);
    const after = await run(g.toModel(EXPORT_OPSET), 'backbone/input', 'backbone/tap', x);
    expect(Array.from(after)).toEqual(Array.from(before));
  });

  it('refuses what the export cannot express, saying why', () => {
    expect(() => mergeBackbone(new GraphBuilder('e'), oldBackbone(11, 1), TAP)).toThrow(/Softmax on axis 1, whose meaning changed in opset 13/);
    expect(() => mergeBackbone(new GraphBuilder('e'), oldBackbone(18, -1), TAP)).toThrow(/opset 18; the export supports backbones up to opset 17/);
    try {
      mergeBackbone(new GraphBuilder('e'), oldBackbone(18, -1), TAP);
    } catch (e) {
      expect(e).toMatchObject({ code: 'EXPORT_UNSUPPORTED', file: '/models/old-opset18.onnx' });
    }
  });

  it.skipIf(!existsSync(int8))('refuses the int8 MobileNetV2 (com.microsoft contrib ops), pointing at the fp32 one', async () => {
    const bb = await loadBackbone(int8);
    const taps = [{ name: '426_quantized', channels: 96, stride: 16 }];
    expect(() => mergeBackbone(new GraphBuilder('e'), bb, taps)).toThrow(/com\.microsoft\.QLinearAdd, not a standard ONNX operator.*float32 backbone/);
  });
});
