/**
 * Feature taps of an ImageNet classification ONNX model.
 *
 * PatchCore uses mid-level features: the last feature map at stride 8 ("layer2") and at
 * stride 16 ("layer3"). Any ONNX classifier works: we run it once on a blank image with
 * every node output exposed as a graph output, read each tensor's spatial size,
 * and from that its stride. Among the tensors at a stride we take the last *block output*
 * (a residual Add, or an activation applied directly to one) in graph order, else the last
 * tensor at that stride. Names given in the config override the search.
 *
 * `truncate()` then keeps only the nodes the taps depend on, so scoring never runs the
 * classifier head (or anything after the deepest tap).
 */
import type onnxProto from 'onnx-proto';
import { KensaError } from '../errors';
import { DType, encodeModel, graphOf, toNum, valueInfo } from '../ort/onnx-builder';
import { createSession, ort } from '../ort/session';

type Model = onnxProto.onnx.ModelProto;
type Node = onnxProto.onnx.INodeProto;

export interface TapInfo {
  name: string;
  channels: number;
  stride: number;
  /**
   * For a quantized (QOperator) backbone: the tap is uint8/int8, and its float value is
   * (q − zeroPoint)·scale with these tensors from the producing QLinear* node.
   */
  dequant?: { scale: string; zeroPoint: string };
}

export interface InputInfo {
  name: string;
  /** Declared spatial size, or null when symbolic. */
  height: number | null;
  width: number | null;
}

const ACTIVATIONS = new Set(['Relu', 'Clip', 'HardSwish', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Sigmoid', 'Identity', 'Swish', 'Gelu']);

export function graphInput(model: Model, file: string): InputInfo {
  const g = graphOf(model);
  const inits = new Set(g.initializer.map((t) => t.name));
  const inputs = g.input.filter((i) => !inits.has(i.name));
  if (inputs.length !== 1) {
    throw new KensaError('BACKBONE_INVALID', `backbone ${file} has ${inputs.length} inputs; Kensa needs an image classifier with one NCHW image input`, { file });
  }
  const inp = inputs[0]!;
  const dims = inp.type?.tensorType?.shape?.dim ?? [];
  if (dims.length !== 4) {
    throw new KensaError('BACKBONE_INVALID', `backbone ${file}: input "${inp.name}" has rank ${dims.length}, expected NCHW (rank 4)`, { file });
  }
  const c = dims[1]?.dimValue;
  if (c !== undefined && c !== null && toNum(c) !== 3) {
    throw new KensaError('BACKBONE_INVALID', `backbone ${file}: input "${inp.name}" has ${toNum(c)} channels, expected 3 (RGB)`, { file });
  }
  const hw = (d: onnxProto.onnx.TensorShapeProto.IDimension | undefined): number | null =>
    d?.dimValue !== undefined && d.dimValue !== null && toNum(d.dimValue) > 0 ? toNum(d.dimValue) : null;
  return { name: inp.name!, height: hw(dims[2]), width: hw(dims[3]) };
}

/** Nodes needed to compute `targets`, in their original (topological) order. */
function requiredNodes(nodes: Node[], targets: string[]): Node[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => n.output?.forEach((o) => producer.set(o, i)));
  const keep = new Set<number>();
  const stack = [...targets];
  while (stack.length > 0) {
    const t = stack.pop()!;
    const i = producer.get(t);
    if (i === undefined || keep.has(i)) continue;
    keep.add(i);
    for (const inp of nodes[i]!.input ?? []) if (inp) stack.push(inp);
  }
  return nodes.filter((_, i) => keep.has(i));
}

/**
 * A copy of the model graph that computes only `outputs`. They are declared float with an
 * open shape, or left untyped (`typed = false`, for probing: ORT infers the type).
 */
export function truncate(model: Model, outputs: string[], typed = true): onnxProto.onnx.IGraphProto {
  const g = graphOf(model);
  const nodes = requiredNodes(g.node, outputs);
  const used = new Set<string>();
  for (const n of nodes) for (const i of n.input ?? []) used.add(i);
  const allInitNames = new Set(g.initializer.map((t) => t.name ?? ''));
  return {
    name: g.name,
    node: nodes,
    initializer: g.initializer.filter((t) => used.has(t.name ?? '')),
    // Old IR versions also list initializers as inputs: keep only the real (image) input.
    input: g.input.filter((i) => !allInitNames.has(i.name ?? '')),
    output: outputs.map((o) => (typed ? valueInfo(o, DType.FLOAT, null) : { name: o })),
    valueInfo: [],
  };
}

function opsetOf(model: Model): number {
  const main = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return main ? toNum(main.version) : 13;
}

/**
 * Finds the stride-8 and stride-16 taps (or validates the given names) by one probe run.
 * `probeSize` is the square input used for the probe (the model's declared size if fixed).
 */
export async function discoverTaps(model: Model, file: string, requested: string[] | undefined, probeSize = 224): Promise<TapInfo[]> {
  const input = graphInput(model, file);
  const h = input.height ?? probeSize;
  const w = input.width ?? probeSize;
  const nodes = graphOf(model).node;
  const producers = new Map<string, Node>();
  for (const n of nodes) for (const o of n.output ?? []) producers.set(o, n);

  // Every node output, in graph order; the probe run tells which are float NCHW maps.
  const candidates: string[] = [];
  for (const n of nodes) for (const o of n.output ?? []) if (o) candidates.push(o);
  if (requested !== undefined) {
    for (const r of requested) {
      if (!producers.has(r)) throw new KensaError('BACKBONE_TAPS', `backbone ${file} has no tensor named "${r}" (taps given in the config)`, { file });
    }
  }
  const graph = truncate(model, candidates, false);
  const bytes = encodeModel(graph, opsetOf(model), toNum(model.irVersion) || 7);
  let outputs: Record<string, ort.Tensor>;
  let session: ort.InferenceSession | null = null;
  try {
    session = await createSession(bytes, { ep: 'cpu' });
    outputs = await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(3 * h * w), [1, 3, h, w]) });
  } catch (e) {
    throw new KensaError('BACKBONE_INVALID', `backbone ${file} could not be run by ONNX Runtime: ${(e as Error).message.split('\n')[0]}`, { file, cause: e });
  } finally {
    await session?.release();
  }
  const shapes = new Map<string, TapInfo>();
  for (const name of candidates) {
    const t = outputs[name];
    if (!t || t.dims.length !== 4) continue;
    let dequant: TapInfo['dequant'];
    if (t.type !== 'float32') {
      // Quantized maps are usable when their producer says how to dequantize them
      // (QLinearConv / QLinearAdd / …: output scale and zero point are inputs 6 and 7).
      const p = producers.get(name);
      const scale = p?.input?.[6];
      const zeroPoint = p?.input?.[7];
      if (!(t.type === 'uint8' || t.type === 'int8') || !p?.opType?.startsWith('QLinear') || !scale || !zeroPoint) continue;
      dequant = { scale, zeroPoint };
    }
    const [, c, th, tw] = t.dims as number[];
    // Padded strided convolutions round sizes up (ceil(size / s)): snap the ratio to a power of 2.
    const stride = 2 ** Math.round(Math.log2(h / th!));
    if (2 ** Math.round(Math.log2(w / tw!)) !== stride) continue;
    shapes.set(name, dequant ? { name, channels: c!, stride, dequant } : { name, channels: c!, stride });
  }
  if (requested !== undefined) {
    return requested.map((r) => {
      const s = shapes.get(r);
      if (!s) throw new KensaError('BACKBONE_TAPS', `backbone ${file}: tap "${r}" is not a 4-D feature map`, { file });
      return s;
    });
  }
  const isBlockOutput = (name: string): boolean => {
    const p = producers.get(name);
    if (!p) return false;
    if (p.opType === 'Add' || p.opType === 'Sum' || p.opType === 'QLinearAdd') return true;
    if (ACTIVATIONS.has(p.opType ?? '') && p.input?.[0]) {
      const q = producers.get(p.input[0]);
      return q?.opType === 'Add' || q?.opType === 'Sum' || q?.opType === 'QLinearAdd';
    }
    return false;
  };
  const taps: TapInfo[] = [];
  for (const stride of [8, 16]) {
    const atStride = candidates.filter((n) => shapes.get(n)?.stride === stride);
    if (atStride.length === 0) {
      throw new KensaError('BACKBONE_TAPS', `backbone ${file} has no feature map at stride ${stride} (probed at ${w}×${h}); name the taps in the config`, { file });
    }
    const blocks = atStride.filter(isBlockOutput);
    const pick = blocks.length > 0 ? blocks[blocks.length - 1]! : atStride[atStride.length - 1]!;
    taps.push(shapes.get(pick)!);
  }
  return taps;
}

export { opsetOf };
