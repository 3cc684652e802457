/**
 * One self-contained ONNX graph for a fitted model: every step the engine's Scorer takes
 * between decoded pixels and its outputs, for any detector, in standard ONNX operators.
 *
 *   images  uint8  [N, H, W, 3]   RGB, NHWC, already at the model input size H × W (the resize
 *                                 policy is the caller's: see ./sidecar.ts for the sharp call)
 *     → float, ImageNet normalisation, NCHW                 (../backbone/extractor addNormalise)
 *     → backbone nodes up to the taps, copied in            (./backbone-graph.ts)
 *     → 3×3 aggregation, upsample, concat, projection       (../backbone/extractor addEmbedding)
 *     → patches x [N·P, D], P = h·w                          row (n·h + y)·w + x, as the engine's
 *     → the detector's head (below): patch scores [N, P] and, where the detector has one, its
 *       own image score [N] (PatchCore Eq. 7); a review head, when the model has one, adds its
 *       evidence to both (../review/head.ts)
 *     → map: bilinear upsample to H × W + Gaussian σ blur   (../ort/graphs addAnomalyMap)
 *   score  float  [N]         the raw image score exactly as the engine computes it: the head's
 *                             own, else the maximum of the blurred map
 *   map    float  [N, H, W]   the anomaly map in raw score units (no colour scale)
 *
 * Heads, batched over the N images (the engine's heads score one image at a time):
 *   patchcore   nearest bank distance s(q) (the engine's own NN nodes, bank baked in), then
 *               Eq. 7 in the graph: s* = max_q s(q) (ReduceMax), m_test,* (ArgMax, GatherND),
 *               m* (GatherElements on the NN index), 𝒩_b(m*) (Gather on the fit-time neighbour
 *               table), ‖m_test,* − m‖ (Gather bank rows, ReduceSumSquare, Sqrt), the first one
 *               replaced by s*, w = 1 − softmax(·)₀ (Softmax), s = w·s*
 *   padim       Mahalanobis distance per position (the engine's own nodes)
 *   student–teacher  pixel windows (the engine's nodes), M student MLPs, the standardised
 *               teacher; e = ‖μ − T̂‖², v = (1/M) Σ_i ‖S_i − μ‖² (the same value as the engine's
 *               (1/M) Σ‖S_i‖² − ‖μ‖², without its float32 cancellation), normalised and summed
 *   autoencoder the T projection steps unrolled: each the MLP's input-gradient nodes, then
 *               x ← x − clip(α (∇E ⊙ r²), ±maxStep) with ∇E = gx + λ sign(x − x₀) (Sign, Clip);
 *               patch score ‖x₀ − x_T‖₂
 *   fusion      each member's head under its own name prefix; members without an image score
 *               get their own map step + max; z-scored image scores and span-normalised patch
 *               scores averaged
 * Nothing that can be retuned after the export (threshold, review band, colour scale) is in
 * the graph: those go into the model's metadata and the sidecar (./sidecar.ts).
 */
import { gaussianKernel } from '../core/gaussian';
import { KensaError } from '../errors';
import type { BackboneFile } from '../backbone/backbone';
import { addEmbedding, addNormalise } from '../backbone/extractor';
import { memberModel, type MemberState } from '../detectors/fusion';
import { addMahalanobis } from '../detectors/padim/gaussian';
import type { PatchCoreConfig } from '../detectors/patchcore/config';
import type { StudentTeacherConfig } from '../detectors/student-teacher';
import { addStudentInput, WINDOW_DIM } from '../detectors/student-teacher/student-input';
import type { AutoencoderConfig } from '../detectors/autoencoder';
import { f32Section, i32Section, type LoadedModel } from '../model-file';
import type { InputConfig } from '../model-types';
import { addAnomalyMap, addNearestNeighbour } from '../ort/graphs';
import { addMlpForward, addMlpInputGrad, addMlpParams, type MlpSpec } from '../ort/mlp';
import { DType, GraphBuilder, onnx } from '../ort/onnx-builder';
import { reviewSpec } from '../review/head';
import { paramsFromModel } from '../detectors/common/channels';
import { mergeBackbone } from './backbone-graph';
import type onnxProto from 'onnx-proto';

/** Input and output names of every exported graph. */
export const EXPORT_IO = { images: 'images', score: 'score', map: 'map' } as const;

/** What the graph-building of one head works with. */
interface Ctx {
  g: GraphBuilder;
  /** Patch features [N·P, D]. */
  x: string;
  /** The uint8 images [N, H, W, 3] (student–teacher reads pixels). */
  images: string;
  P: number;
  dim: number;
  grid: [number, number];
  cfg: InputConfig;
  /** Name prefix for the head's initializers (fusion members, review head). */
  prefix: string;
}

/** A head's outputs inside the graph. */
interface GraphHead {
  /** Patch scores [N, P]. */
  patch: string;
  /** The detector's own image score [N], when it has one. */
  image?: string;
}

const f = (g: GraphBuilder, v: number): string => g.f32([v], []);

/** [N·P] → [N, P]. */
const perImage = (c: Ctx, t: string): string => c.g.op1('Reshape', [t, c.g.i64([-1, c.P])]);

/** (x − mean) / std per channel: [rows, D]. */
function standardise(c: Ctx, x: string, mean: Float32Array, std: Float32Array, name: string): string {
  const m = c.g.f32(mean, [mean.length], `${c.prefix}${name}_mean`);
  const s = c.g.f32(std, [std.length], `${c.prefix}${name}_std`);
  return c.g.op1('Div', [c.g.op1('Sub', [x, m]), s]);
}

/** Map step + maximum: patch scores [N, P] → image score [N] (the engine's fallback score). */
function mapMax(c: Ctx, patch: string): string {
  const map = addMap(c.g, patch, c.grid, c.cfg);
  return c.g.op1('ReduceMax', [map], { axes: [1, 2, 3], keepdims: 0 });
}

/** Patch scores [N, P] → map [N, 1, H, W] (the engine's MapRunner nodes). */
function addMap(g: GraphBuilder, patch: string, grid: [number, number], cfg: InputConfig, out?: string): string {
  const scores = g.op1('Reshape', [patch, g.i64([-1, 1, grid[0], grid[1]])]);
  return addAnomalyMap(g, scores, cfg.embedding.height, cfg.embedding.width, gaussianKernel(cfg.blurSigma), out);
}

// ---------------------------------------------------------------------------------------------
// Heads

function patchcoreHead(model: LoadedModel, c: Ctx): GraphHead {
  const { g } = c;
  const h = model.header;
  const cfg = h.detectorConfig as PatchCoreConfig;
  const size = Number(h.state.bankSize);
  const b = cfg.neighbours;
  const bank = f32Section(model, 'bank', size * c.dim);
  // The same nodes (and bank chunking, 2048) as PatchCoreHead's session.
  const nn = addNearestNeighbour(g, c.x, bank, size, c.dim, 2048, c.prefix);
  const dist = perImage(c, nn.dist); // [N, P]
  if (b <= 1) return { patch: dist, image: g.op1('ReduceMax', [dist], { axes: [1], keepdims: 0 }) };
  const index = perImage(c, nn.index); // [N, P] int64
  const sStar = g.op1('ReduceMax', [dist], { axes: [1], keepdims: 1 }); // [N, 1]  s* (Eq. 6)
  const arg = g.op1('ArgMax', [dist], { axis: 1, keepdims: 1 }); // [N, 1]  which patch is m_test,*
  const mStar = g.op1('GatherElements', [index, arg], { axis: 1 }); // [N, 1]  m*
  const x3 = g.op1('Reshape', [c.x, g.i64([-1, c.P, c.dim])]); // [N, P, D]
  const q = g.op1('GatherND', [x3, arg], { batch_dims: 1 }); // [N, D]  m_test,*
  const table = i32Section(model, 'bankNeighbours', size * b);
  const nbTable = g.init(`${c.prefix}bank_neighbours`, BigInt64Array.from(table, (v) => BigInt(v)), [size, b]); // [B, b]
  const nb = g.op1('Gather', [nbTable, g.op1('Squeeze', [mStar, g.i64([1])])], { axis: 0 }); // [N, b]  𝒩_b(m*)
  const bankRows = g.op1('Gather', [g.f32(bank, [size, c.dim], `${c.prefix}bank`), nb], { axis: 0 }); // [N, b, D]
  const diff = g.op1('Sub', [bankRows, g.op1('Unsqueeze', [q, g.i64([1])])]); // [N, b, D]
  const d = g.op1('Sqrt', [g.op1('ReduceSumSquare', [diff], { axes: [2], keepdims: 0 })]); // [N, b]
  // Eq. 7's numerator is ‖m_test,* − m*‖ = s*: the first neighbour (m* itself) gets s*, as in the engine.
  const rest = g.op1('Slice', [d, g.i64([1]), g.i64([b]), g.i64([1])]); // [N, b−1]
  const dd = g.op1('Concat', [sStar, rest], { axis: 1 }); // [N, b]
  const sm = g.op1('Softmax', [dd], { axis: 1 });
  const first = g.op1('Slice', [sm, g.i64([0]), g.i64([1]), g.i64([1])]); // [N, 1]
  const w = g.op1('Sub', [f(g, 1), first]);
  const image = g.op1('Squeeze', [g.op1('Mul', [w, sStar]), g.i64([1])]); // [N]
  return { patch: dist, image };
}

function padimHead(model: LoadedModel, c: Ctx): GraphHead {
  const h = model.header;
  const d = Number(h.state.channels);
  const channels = i32Section(model, 'channels', d);
  const dist = addMahalanobis(c.g, c.x, f32Section(model, 'mean', c.P * d), f32Section(model, 'covInv', c.P * d * d), c.P, d, channels, c.prefix);
  return { patch: perImage(c, dist) };
}

function studentTeacherHead(model: LoadedModel, c: Ctx): GraphHead {
  const { g } = c;
  const h = model.header;
  const cfg = h.detectorConfig as StudentTeacherConfig;
  const norm = h.state.norm as { eMean: number; eStd: number; vMean: number; vStd: number };
  const emb = h.config.embedding;
  const win = addStudentInput(g, c.images, emb.mean, emb.std, c.prefix); // [N·P, 768]
  const teacher = standardise(c, c.x, f32Section(model, 'teacherMean', c.dim), f32Section(model, 'teacherStd', c.dim), 'teacher');
  const spec: MlpSpec = { sizes: [WINDOW_DIM, cfg.hidden, cfg.hidden, c.dim], activation: 'leaky_relu' };
  const outs: string[] = [];
  for (let i = 0; i < cfg.students; i++) {
    const { W, b } = addMlpParams(g, spec, paramsFromModel(model, `s${i}/`, spec), `${c.prefix}s${i}/`);
    outs.push(addMlpForward(g, spec, W, b, win));
  }
  const M = cfg.students;
  const mu = g.op1('Div', [g.op1('Sum', outs), f(g, M)]); // [N·P, D]
  const e = g.op1('ReduceSumSquare', [g.op1('Sub', [mu, teacher])], { axes: [1], keepdims: 0 }); // [N·P]
  const spread = outs.map((y) => g.op1('ReduceSumSquare', [g.op1('Sub', [y, mu])], { axes: [1], keepdims: 0 }));
  const v = g.op1('Div', [spread.length === 1 ? spread[0]! : g.op1('Sum', spread), f(g, M)]); // [N·P]
  const ez = g.op1('Div', [g.op1('Sub', [e, f(g, norm.eMean)]), f(g, norm.eStd)]);
  const vz = g.op1('Div', [g.op1('Sub', [v, f(g, norm.vMean)]), f(g, norm.vStd)]);
  return { patch: perImage(c, g.op1('Add', [ez, vz])) };
}

function autoencoderHead(model: LoadedModel, c: Ctx): GraphHead {
  const { g } = c;
  const h = model.header;
  const cfg = h.detectorConfig as AutoencoderConfig;
  const spec: MlpSpec = { sizes: [c.dim, cfg.hidden, cfg.bottleneck, cfg.hidden, c.dim], activation: 'leaky_relu' };
  const x0 = standardise(c, c.x, f32Section(model, 'mean', c.dim), f32Section(model, 'std', c.dim), 'ae');
  const { W, b } = addMlpParams(g, spec, paramsFromModel(model, 'ae/', spec), `${c.prefix}ae/`);
  const p = cfg.projection;
  const alpha = f(g, p.stepSize);
  const lambda = f(g, p.lambda);
  const lo = f(g, -p.maxStep);
  const hi = f(g, p.maxStep);
  let x = x0;
  for (let t = 0; t < p.steps; t++) {
    const { r, gx } = addMlpInputGrad(g, spec, W, b, x);
    const grad = g.op1('Add', [gx, g.op1('Mul', [lambda, g.op1('Sign', [g.op1('Sub', [x, x0])])])]);
    // The engine's order: ((α · grad) · r) · r.
    const step = g.op1('Mul', [g.op1('Mul', [g.op1('Mul', [alpha, grad]), r]), r]);
    x = g.op1('Sub', [x, g.op1('Clip', [step, lo, hi])]);
  }
  const dist = g.op1('Sqrt', [g.op1('ReduceSumSquare', [g.op1('Sub', [x0, x])], { axes: [1], keepdims: 0 })]);
  return { patch: perImage(c, dist) };
}

function fusionHead(model: LoadedModel, c: Ctx): GraphHead {
  const { g } = c;
  const members = (model.header.state.members ?? []) as MemberState[];
  if (members.length === 0) throw new KensaError('MODEL_INVALID', `${model.file}: fusion model lists no members`, { file: model.file });
  let image: string | null = null;
  let patch: string | null = null;
  for (const m of members) {
    const mm = memberModel(model, m);
    const out = headFor(mm, { ...c, prefix: `${c.prefix}${m.id}/` });
    const s = out.image ?? mapMax(c, out.patch);
    const zi = g.op1('Div', [g.op1('Sub', [s, f(g, m.norm.imageMean)]), f(g, m.norm.imageStd)]);
    const zp = g.op1('Div', [g.op1('Sub', [out.patch, f(g, m.norm.low)]), f(g, m.norm.span)]);
    image = image === null ? zi : g.op1('Add', [image, zi]);
    patch = patch === null ? zp : g.op1('Add', [patch, zp]);
  }
  const K = f(g, members.length);
  return { patch: g.op1('Div', [patch!, K]), image: g.op1('Div', [image!, K]) };
}

function headFor(model: LoadedModel, c: Ctx): GraphHead {
  switch (model.header.detector) {
    case 'patchcore':
      return patchcoreHead(model, c);
    case 'padim':
      return padimHead(model, c);
    case 'student-teacher':
      return studentTeacherHead(model, c);
    case 'autoencoder':
      return autoencoderHead(model, c);
    case 'fusion':
      return fusionHead(model, c);
    default:
      throw new KensaError('EXPORT_UNSUPPORTED', `${model.file}: detector "${String(model.header.detector)}" has no export`, { file: model.file });
  }
}

/** The review head's evidence added to a head's outputs (../review/head.ts ReviewedHead.score). */
function reviewed(model: LoadedModel, base: GraphHead, c: Ctx): GraphHead {
  const { g } = c;
  const info = model.header.review!;
  const spec = reviewSpec(c.dim, info.config.hidden);
  const x = standardise(c, c.x, f32Section(model, 'review/mean', c.dim), f32Section(model, 'review/std', c.dim), 'review/x');
  const { W, b } = addMlpParams(g, spec, paramsFromModel(model, 'review/', spec), `${c.prefix}review/`);
  const logits = perImage(c, addMlpForward(g, spec, W, b, x)); // [N, P]
  const m = info.offset ?? 0;
  const cap = info.config.cap ?? Infinity;
  const over = g.op1('Sub', [logits, f(g, m)]);
  const ev = Number.isFinite(cap) ? g.op1('Clip', [over, f(g, 0), f(g, cap)]) : g.op1('Relu', [over]); // g(x) = min(cap, max(0, l − m))
  const weight = info.weight * (info.config.gain ?? 1);
  const patch = g.op1('Add', [base.patch, g.op1('Mul', [ev, f(g, weight * info.pixelScale)])]);
  if (base.image === undefined) return { patch };
  const k = Math.max(1, Math.min(c.P, info.config.topK ?? 1));
  const evidence = k === 1 ? g.op1('ReduceMax', [ev], { axes: [1], keepdims: 0 }) : g.op1('ReduceMean', [g.op('TopK', [ev, g.i64([k])], 2, { axis: 1, largest: 1, sorted: 1 })[0]!], { axes: [1], keepdims: 0 });
  return { patch, image: g.op1('Add', [base.image, g.op1('Mul', [evidence, f(g, weight * info.imageScale)])]) };
}

// ---------------------------------------------------------------------------------------------

/**
 * Orders `g.nodes` so that every node comes after the producers of its inputs (ONNX requires
 * it; the backbone's nodes are copied in before the normalisation that feeds them), and drops
 * initializers no node uses. Stable: nodes keep their relative order where the dependencies allow.
 */
function topoSort(g: GraphBuilder): void {
  const available = new Set<string>(['', ...g.inputs.map((i) => i.name ?? ''), ...g.initializers.map((t) => t.name ?? '')]);
  const pending = [...g.nodes];
  const out: typeof g.nodes = [];
  while (pending.length > 0) {
    const before = pending.length;
    for (let i = 0; i < pending.length; ) {
      const n = pending[i]!;
      if ((n.input ?? []).every((x) => available.has(x))) {
        out.push(n);
        for (const o of n.output ?? []) available.add(o);
        pending.splice(i, 1);
      } else i++;
    }
    if (pending.length === before) {
      const n = pending[0]!;
      throw new Error(`export graph: node ${n.name ?? n.opType ?? '?'} needs ${(n.input ?? []).filter((x) => !available.has(x)).join(', ')}, which nothing produces`);
    }
  }
  g.nodes.splice(0, g.nodes.length, ...out);
  // Constants no node reads (the shared builders make a few per call) are dropped.
  const used = new Set(out.flatMap((n) => n.input ?? []));
  const kept = g.initializers.filter((t) => used.has(t.name ?? ''));
  g.initializers.splice(0, g.initializers.length, ...kept);
}

export interface ExportGraph {
  /** The model without metadata (./sidecar.ts adds it). */
  model: onnxProto.onnx.ModelProto;
  opset: number;
  nodes: number;
  /** Bytes of all initializers. */
  weightBytes: number;
}

/**
 * Builds the export graph of a loaded model. `backbone` must be the model's own (the caller
 * checks its sha256, ../detectors/pipeline backboneFor).
 */
export function buildExportGraph(model: LoadedModel, backbone: BackboneFile): ExportGraph {
  const h = model.header;
  const cfg = h.config;
  const { width: W, height: H } = cfg.embedding;
  const grid = h.features.grid;
  const P = grid[0] * grid[1];
  const g = new GraphBuilder('kensa_export');
  g.input(EXPORT_IO.images, DType.UINT8, ['N', H, W, 3]);
  const bb = mergeBackbone(g, backbone, h.taps);
  addNormalise(g, EXPORT_IO.images, cfg.embedding, bb.input);
  const { emb, dim } = addEmbedding(g, bb.taps.map((t) => t.name), bb.taps, cfg.embedding);
  if (dim !== h.features.dim) {
    throw new KensaError('MODEL_BACKBONE_MISMATCH', `model ${model.file} has ${h.features.dim}-dim features but backbone ${backbone.file} gives ${dim}`, { file: model.file });
  }
  const x = g.op1('Reshape', [g.op1('Transpose', [emb], { perm: [0, 2, 3, 1] }), g.i64([-1, dim])]); // [N·P, D]
  const c: Ctx = { g, x, images: EXPORT_IO.images, P, dim, grid, cfg, prefix: '' };
  let head = headFor(model, c);
  if (h.review) head = reviewed(model, head, c);
  const map4 = addMap(g, head.patch, grid, cfg); // [N, 1, H, W]
  g.op1('Reshape', [map4, g.i64([-1, H, W])], {}, EXPORT_IO.map);
  if (head.image !== undefined) g.op1('Identity', [head.image], {}, EXPORT_IO.score);
  else g.op1('ReduceMax', [map4], { axes: [1, 2, 3], keepdims: 0 }, EXPORT_IO.score);
  g.output(EXPORT_IO.score, DType.FLOAT, ['N']);
  g.output(EXPORT_IO.map, DType.FLOAT, ['N', H, W]);
  topoSort(g);
  const proto = onnx.ModelProto.create({
    // IR 7 goes with opset 13; opsets 14–17 need IR 8.
    irVersion: bb.opset <= 13 ? 7 : 8,
    producerName: 'kensa',
    opsetImport: [{ domain: '', version: bb.opset }],
    graph: g.graph(),
  });
  const weightBytes = g.initializers.reduce((s, t) => s + (t.rawData?.length ?? 0), 0);
  return { model: proto, opset: bb.opset, nodes: g.nodes.length, weightBytes };
}
