/**
 * The backbone inside an export graph: the backbone file's nodes and initializers that the
 * feature taps depend on (../backbone/taps.ts `truncate`, so the classifier head is cut off),
 * copied into the export's GraphBuilder with every tensor and node name prefixed
 * (`backbone/…`), so they can never collide with the names Kensa's own nodes get.
 *
 *   input   `${prefix}${input}`  float [N, 3, H, W]  (the normalised image; the caller writes it)
 *   output  `${prefix}${tap}`    float [N, C_j, H/s_j, W/s_j] for every tap j
 *
 * Opset. The export is ONE graph with one opset import: EXPORT_OPSET (13, the opset every
 * graph Kensa builds at runtime is written in: ReduceSum/Squeeze/Unsqueeze take `axes` as an
 * input, Softmax works on one axis). A backbone authored in opset 11 or 12 (the engine accepts
 * 11+) is lifted to 13 here: the only operators whose interface changed from 11/12 to 13 are
 * Squeeze, Unsqueeze, ReduceSum (axes attribute → input), Split (split attribute → input) and
 * Softmax/LogSoftmax/Hardmax (flatten-to-2-D semantics → one axis). The first four are rewritten;
 * the last three are kept only with axis = −1, where both semantics agree, and refused otherwise.
 * A backbone in opset 14–17 exports at its own opset (no operator Kensa adds changes meaning
 * between 13 and 17); 18 and newer are refused (Reduce*, Pad and Resize change there).
 *
 * Refused with EXPORT_UNSUPPORTED, each with the reason: operators outside the standard ONNX
 * domain (the int8 MobileNetV2's com.microsoft QLinearAdd), subgraph attributes (If/Loop/Scan
 * in the backbone), initializers stored as external data.
 */
import type onnxProto from 'onnx-proto';
import { KensaError } from '../errors';
import type { BackboneFile } from '../backbone/backbone';
import { graphInput, opsetOf, truncate, type TapInfo } from '../backbone/taps';
import { GraphBuilder, onnx, toNum } from '../ort/onnx-builder';

/** The opset of an export whose backbone is at opset 13 or older (see the module comment). */
export const EXPORT_OPSET = 13;
/** Newest backbone opset an export accepts. */
export const MAX_BACKBONE_OPSET = 17;

type Node = onnxProto.onnx.INodeProto;
type Attr = onnxProto.onnx.IAttributeProto;

const unsupported = (backbone: BackboneFile, why: string): KensaError =>
  new KensaError('EXPORT_UNSUPPORTED', `backbone ${backbone.file} cannot go into an exported graph: ${why}`, { file: backbone.file });

/** The opset of the export for a backbone of opset `backboneOpset`. */
export function exportOpsetFor(backbone: BackboneFile): number {
  const v = opsetOf(backbone.model);
  if (v > MAX_BACKBONE_OPSET) {
    throw unsupported(backbone, `it uses ONNX opset ${v}; the export supports backbones up to opset ${MAX_BACKBONE_OPSET} (convert it, e.g. with onnx.version_converter, to opset 13)`);
  }
  return Math.max(EXPORT_OPSET, v);
}

const AXES_TO_INPUT = new Set(['Squeeze', 'Unsqueeze', 'ReduceSum']);
const ONE_AXIS = new Set(['Softmax', 'LogSoftmax', 'Hardmax']);

function attrInts(a: Attr): number[] {
  return (a.ints ?? []).map((v) => toNum(v as number));
}

/**
 * A node of opset 11/12 rewritten for opset 13 (see the module comment). New constants go into
 * `g` under their final names, which are added to `made` (they must not be prefixed again).
 */
function liftTo13(g: GraphBuilder, node: Node, backbone: BackboneFile, made: Set<string>): Node {
  const op = node.opType ?? '';
  const attrs = node.attribute ?? [];
  if (AXES_TO_INPUT.has(op)) {
    const axes = attrs.find((a) => a.name === 'axes');
    if (!axes) return node; // no axes: all axes (Reduce) / every size-1 axis (Squeeze), same in 13
    const name = g.i64(attrInts(axes), undefined, g.tmp('lift13_axes'));
    made.add(name);
    return { ...node, input: [node.input?.[0] ?? '', name], attribute: attrs.filter((a) => a !== axes) };
  }
  if (op === 'Split') {
    const split = attrs.find((a) => a.name === 'split');
    if (!split) return node;
    const name = g.i64(attrInts(split), undefined, g.tmp('lift13_split'));
    made.add(name);
    return { ...node, input: [node.input?.[0] ?? '', name], attribute: attrs.filter((a) => a !== split) };
  }
  if (ONE_AXIS.has(op)) {
    const axis = attrs.find((a) => a.name === 'axis');
    const v = axis ? toNum(axis.i as number) : 1;
    if (v !== -1) throw unsupported(backbone, `node ${node.name ?? op} is an opset-${opsetOf(backbone.model)} ${op} on axis ${v}, whose meaning changed in opset 13 (it flattened the trailing axes); only axis −1 is the same in both`);
  }
  return node;
}

/**
 * Copies the backbone's nodes up to `taps` into `g` with `prefix` on every name; returns the
 * prefixed name of the backbone's image input (to be written by the caller) and the taps with
 * their tensor names (and dequantisation tensors) prefixed.
 */
export function mergeBackbone(g: GraphBuilder, backbone: BackboneFile, taps: TapInfo[], prefix = 'backbone/'): { input: string; taps: TapInfo[]; opset: number } {
  const opset = exportOpsetFor(backbone);
  const from = opsetOf(backbone.model);
  const input = graphInput(backbone.model, backbone.file);
  const cut = truncate(backbone.model, taps.map((t) => t.name));
  const rename = (n: string | null | undefined): string => (n ? `${prefix}${n}` : '');
  const made = new Set<string>();
  for (const node of cut.node ?? []) {
    const domain = node.domain ?? '';
    if (domain !== '' && domain !== 'ai.onnx') {
      throw unsupported(backbone, `node ${node.name ?? ''} is ${domain}.${node.opType ?? ''}, not a standard ONNX operator (an int8 backbone's contrib ops run only in ONNX Runtime); use a float32 backbone such as mobilenetv2-dequant-fp32`);
    }
    for (const a of node.attribute ?? []) {
      if (a.g || (a.graphs && a.graphs.length > 0) || a.type === onnx.AttributeProto.AttributeType.GRAPH || a.type === onnx.AttributeProto.AttributeType.GRAPHS) {
        throw unsupported(backbone, `node ${node.name ?? ''} (${node.opType ?? ''}) has a subgraph; the export copies flat backbones only`);
      }
    }
    const lifted = from < 13 ? liftTo13(g, node, backbone, made) : node;
    g.nodes.push({
      ...lifted,
      name: rename(lifted.name || `${lifted.opType ?? 'node'}_${g.nodes.length}`),
      input: (lifted.input ?? []).map((i) => (made.has(i) ? i : rename(i))),
      output: (lifted.output ?? []).map(rename),
    });
  }
  for (const t of cut.initializer ?? []) {
    if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
      throw unsupported(backbone, `initializer ${t.name ?? ''} is stored in an external data file; save the backbone with its weights inside the .onnx file`);
    }
    g.initializers.push({ ...t, name: rename(t.name) });
  }
  return {
    input: rename(input.name),
    opset,
    taps: taps.map((t) => ({ ...t, name: rename(t.name), ...(t.dequant ? { dequant: { scale: rename(t.dequant.scale), zeroPoint: rename(t.dequant.zeroPoint) } } : {}) })),
  };
}
