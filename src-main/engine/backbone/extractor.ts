/**
 * The patch-feature extractor: one ONNX graph, built at runtime from the backbone file, that
 * takes decoded pixels and returns PatchCore patch embeddings (paper §3.1):
 *
 *   image   uint8 [N, H, W, 3]   RGB as decoded (no JS pre-processing loop)
 *     → float, ImageNet normalisation (x/255 − μ)/σ, NHWC → NCHW
 *     → backbone, truncated after the deepest tap
 *     → each tap φ_j: local neighbourhood aggregation, 3×3 average pooling, stride 1, pad 1
 *     → deeper taps bilinearly upsampled to the stride-8 grid (h × w)
 *     → concatenated along channels (D = Σ C_j)
 *     → optional projection to `projectDim` channels (adaptive average pooling over channels,
 *       as in the reference implementation's aggregator), a fixed 1×1 convolution
 *   patches float [N·h·w, D]  row-major, patch (n, y, x) at row (n·h + y)·w + x
 *   grid    int64 [2]         (h, w)
 */
import type onnxProto from 'onnx-proto';
import { KensaError } from '../errors';
import { DType, encodeModel, GraphBuilder, toNum } from '../ort/onnx-builder';
import { graphInput, opsetOf, truncate, type TapInfo } from './taps';

export interface EmbeddingConfig {
  /** Model input size in pixels (images are resized to this). */
  width: number;
  height: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** Local aggregation neighbourhood p (paper: 3). */
  aggregation: number;
  /** Target embedding dimension, or null to keep D = Σ channels. */
  projectDim: number | null;
}

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

/** Weights of adaptive average pooling from `inDim` to `outDim` channels, as [outDim, inDim]. */
export function adaptivePoolMatrix(inDim: number, outDim: number): Float32Array {
  const w = new Float32Array(outDim * inDim);
  for (let o = 0; o < outDim; o++) {
    // Same bin edges as torch.nn.functional.adaptive_avg_pool1d.
    const start = Math.floor((o * inDim) / outDim);
    const end = Math.ceil(((o + 1) * inDim) / outDim);
    for (let i = start; i < end; i++) w[o * inDim + i] = 1 / (end - start);
  }
  return w;
}

export function embeddingDim(taps: TapInfo[], cfg: EmbeddingConfig): number {
  const d = taps.reduce((s, t) => s + t.channels, 0);
  return cfg.projectDim !== null && cfg.projectDim < d ? cfg.projectDim : d;
}

export function buildExtractorGraph(model: onnxProto.onnx.ModelProto, file: string, taps: TapInfo[], cfg: EmbeddingConfig): Uint8Array {
  const opset = opsetOf(model);
  if (opset < 11) throw new KensaError('BACKBONE_INVALID', `backbone ${file} uses ONNX opset ${opset}; Kensa needs opset 11 or newer`, { file });
  if (cfg.aggregation < 1 || cfg.aggregation % 2 === 0) throw new KensaError('INVALID_ARGUMENT', `aggregation must be an odd size ≥ 1, got ${cfg.aggregation}`);
  const input = graphInput(model, file);
  const backbone = truncate(model, taps.map((t) => t.name));
  const g = new GraphBuilder('kensa_extractor');
  g.nodes.push(...(backbone.node ?? []));
  g.initializers.push(...(backbone.initializer ?? []));

  // Pre-processing: uint8 NHWC → normalised float NCHW, into the backbone's input tensor.
  g.input('image', DType.UINT8, ['N', cfg.height, cfg.width, 3]);
  addNormalise(g, 'image', cfg, input.name);
  const { emb, grid, dim } = addEmbedding(g, taps.map((t) => t.name), taps, cfg, 'grid');
  const nhwc = g.op1('Transpose', [emb], { perm: [0, 2, 3, 1] });
  g.op1('Reshape', [nhwc, g.i64([-1, dim])], {}, 'patches');
  g.output('patches', DType.FLOAT, ['P', dim]);
  g.output(grid, DType.INT64, [2]);
  return encodeModel(g.graph(), opset, Math.max(7, toNum(model.irVersion)));
}

/** uint8 NHWC image → (x/255 − μ)/σ as float NCHW, written to `out` (the backbone's input). */
export function addNormalise(g: GraphBuilder, image: string, cfg: EmbeddingConfig, out: string): string {
  const f = g.op1('Cast', [image], { to: DType.FLOAT });
  const scale = g.f32(cfg.std.map((s) => 1 / (255 * s)), [3]);
  const shift = g.f32(cfg.mean.map((m, i) => m / cfg.std[i]!), [3]);
  const norm = g.op1('Sub', [g.op1('Mul', [f, scale]), shift]);
  return g.op1('Transpose', [norm], { perm: [0, 3, 1, 2] }, out);
}

/**
 * Tap tensors (float, or quantized with `dequant`) → the patch embedding, NCHW:
 *   emb [N, D, h, w] (local aggregation, deeper taps resized to the first tap's grid, concat,
 *   optional channel projection), grid int64 [2] = (h, w). `tensors[i]` is tap i's tensor name
 *   in `g` (the export graph prefixes the backbone's names).
 */
export function addEmbedding(g: GraphBuilder, tensors: string[], taps: TapInfo[], cfg: EmbeddingConfig, gridName?: string): { emb: string; grid: string; dim: number } {
  // Local aggregation of every tap, deeper taps resized to the first tap's grid.
  const p = cfg.aggregation;
  const pad = (p - 1) / 2;
  const pooled = taps.map((t, i) => {
    const x = t.dequant ? g.op1('DequantizeLinear', [tensors[i]!, t.dequant.scale, t.dequant.zeroPoint]) : tensors[i]!;
    return p === 1 ? x : g.op1('AveragePool', [x], { kernel_shape: [p, p], strides: [1, 1], pads: [pad, pad, pad, pad], count_include_pad: 1 });
  });
  const ref = pooled[0]!;
  const refShape = g.op1('Shape', [ref]);
  const grid = g.op1('Slice', [refShape, g.i64([2]), g.i64([4])], {}, gridName);
  const resized = pooled.map((t, i) => {
    if (i === 0 || taps[i]!.stride === taps[0]!.stride) return t;
    const nc = g.op1('Slice', [g.op1('Shape', [t]), g.i64([0]), g.i64([2])]);
    const sizes = g.op1('Concat', [nc, grid], { axis: 0 });
    // roi and scales are required inputs before opset 13: empty tensors mean "use sizes".
    const empty = g.f32([], [0]);
    return g.op1('Resize', [t, empty, empty, sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  });
  let emb = resized.length === 1 ? resized[0]! : g.op1('Concat', resized, { axis: 1 });
  const total = taps.reduce((s, t) => s + t.channels, 0);
  const dim = embeddingDim(taps, cfg);
  if (dim < total) {
    const w = g.f32(adaptivePoolMatrix(total, dim), [dim, total, 1, 1]);
    emb = g.op1('Conv', [emb, w], { kernel_shape: [1, 1] });
  }
  return { emb, grid, dim };
}
