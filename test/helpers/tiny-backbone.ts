/**
 * A tiny, deterministic ImageNet-classifier-shaped ONNX model for engine tests (no shared folder
 * needed, runs in milliseconds). Built with the engine's own GraphBuilder, weights drawn from the
 * seeded Rng, opset 13:
 *
 *   input [N,3,H,W]  (H = W = 64 by default, or symbolic "H"/"W")
 *   Conv 3→8   k3 s2 p1 + Relu                                   stride 2
 *   Conv 8→16  k3 s2 p1 + Relu                                   stride 4
 *   Conv 16→16 k3 s2 p1                      = x8                stride 8
 *   block8  = x8 + Relu(Conv 16→16 k3 s1 p1 (x8))   (residual Add)   stride 8   ← tap
 *   Conv 16→32 k1 + Relu                     (expansion, the LAST stride-8 tensor; not a block)
 *   Conv 32→24 k3 s2 p1 + Relu              = x16               stride 16
 *   block16 = x16 + Relu(Conv 24→24 k3 s1 p1 (x16)) (residual Add)  stride 16  ← tap
 *   Conv 24→32 k1 + Relu                     (head conv, the LAST stride-16 tensor; not a block)
 *   GlobalAveragePool → Flatten → Gemm 32→10   logits
 *
 * The 1×1 convolutions after each block make "the last tensor at that stride" differ from the
 * block output, so tap discovery must really prefer the residual Add.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DType, GraphBuilder } from '../../src-main/engine/ort/onnx-builder';
import { Rng } from '../../src-main/engine/core/random';

/** Names of the block outputs (residual Adds) at stride 8 and 16. */
export const TINY_TAPS = { s8: 'block8_out', s16: 'block16_out' } as const;
/** Names of the last tensors at stride 8 / 16 in graph order (Relu after a 1×1 conv): NOT taps. */
export const TINY_LAST = { s8: 'expand8_relu', s16: 'head16_relu' } as const;
/** Channels of the taps. */
export const TINY_CHANNELS = { s8: 16, s16: 24 } as const;
export const TINY_INPUT = 'input';
export const TINY_CLASSES = 10;

export interface TinyBackboneOptions {
  seed?: number;
  /** Declare the spatial input dims as symbolic "H"/"W" instead of 64. */
  symbolic?: boolean;
}

/** Serialized ModelProto bytes of the tiny backbone. */
export function buildTinyBackbone(opts: TinyBackboneOptions = {}): Uint8Array {
  const rng = new Rng(opts.seed ?? 1);
  const g = new GraphBuilder('tiny_backbone');
  const hw: (number | string)[] = opts.symbolic ? ['H', 'W'] : [64, 64];
  g.input(TINY_INPUT, DType.FLOAT, ['N', 3, ...hw]);

  let wid = 0;
  const conv = (x: string, cin: number, cout: number, k: number, stride: number, out?: string): string => {
    wid += 1;
    const fanIn = cin * k * k;
    const s = Math.sqrt(2 / fanIn);
    const w = new Float32Array(cout * cin * k * k);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * s;
    const b = new Float32Array(cout);
    for (let i = 0; i < b.length; i++) b[i] = rng.normal() * 0.05;
    const wn = g.init(`conv${wid}_w`, w, [cout, cin, k, k]);
    const bn = g.init(`conv${wid}_b`, b, [cout]);
    const p = (k - 1) / 2;
    return g.op1('Conv', [x, wn, bn], { kernel_shape: [k, k], strides: [stride, stride], pads: [p, p, p, p] }, out);
  };
  const relu = (x: string, out?: string): string => g.op1('Relu', [x], {}, out);

  const c1 = relu(conv(TINY_INPUT, 3, 8, 3, 2)); // stride 2
  const c2 = relu(conv(c1, 8, 16, 3, 2)); // stride 4
  const x8 = conv(c2, 16, 16, 3, 2, 'conv8_out'); // stride 8, plain conv
  const b8 = g.op1('Add', [x8, relu(conv(x8, 16, 16, 3, 1))], {}, TINY_TAPS.s8);
  const e8 = relu(conv(b8, 16, 32, 1, 1), TINY_LAST.s8);
  const x16 = relu(conv(e8, 32, 24, 3, 2), 'conv16_relu'); // stride 16
  const b16 = g.op1('Add', [x16, relu(conv(x16, 24, 24, 3, 1))], {}, TINY_TAPS.s16);
  const h16 = relu(conv(b16, 24, 32, 1, 1), TINY_LAST.s16);
  const gap = g.op1('GlobalAveragePool', [h16]);
  const flat = g.op1('Flatten', [gap], { axis: 1 });
  const fcW = new Float32Array(TINY_CLASSES * 32);
  for (let i = 0; i < fcW.length; i++) fcW[i] = rng.normal() * Math.sqrt(1 / 32);
  const fcB = new Float32Array(TINY_CLASSES);
  g.op1('Gemm', [flat, g.init('fc_w', fcW, [TINY_CLASSES, 32]), g.init('fc_b', fcB, [TINY_CLASSES])], { transB: 1 }, 'logits');
  g.output('logits', DType.FLOAT, ['N', TINY_CLASSES]);
  return g.toModel(13);
}

/**
 * Writes the tiny backbone to `dir` and returns its path. The file name carries the seed and
 * variant (`tiny-backbone-s<seed>[-sym].onnx`), so differently seeded models can sit side by side.
 */
export function writeTinyBackbone(dir: string, seed = 1, opts: Omit<TinyBackboneOptions, 'seed'> = {}): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `tiny-backbone-s${seed}${opts.symbolic ? '-sym' : ''}.onnx`);
  writeFileSync(file, buildTinyBackbone({ ...opts, seed }));
  return file;
}

/** Resolves the shared folder (real backbone, MVTec data). */
export function sharedDir(): string {
  return process.env.KENSA_SHARED ?? path.resolve('../shared');
}

export function realBackbonePath(): string {
  return path.join(sharedDir(), 'models', 'mobilenetv2-dequant-fp32.onnx');
}
