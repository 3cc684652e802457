/**
 * A small builder for ONNX graphs authored at runtime (protobuf via `onnx-proto`).
 *
 * Kensa does its heavy math (patch embedding, nearest-neighbour search, coreset distance
 * updates, anomaly-map blur) in ONNX Runtime graphs built here and handed to
 * `InferenceSession.create(bytes)`, so that it runs in MLAS kernels (or a GPU execution
 * provider) instead of JavaScript loops. Dimensions may be symbolic (a string), so one
 * session serves banks and batches of any size.
 *
 * Tensors are stored as little-endian `raw_data`. Opset 13 is used throughout (ReduceSum
 * takes `axes` as an input from 13 on; ReduceMin/ReduceSumSquare/ArgMax keep it as an
 * attribute).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
export { onnx };

export type Dim = number | string;

export const DType = {
  FLOAT: 1,
  UINT8: 2,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
} as const;
export type DTypeCode = (typeof DType)[keyof typeof DType];

export type AttrValue = number | string | number[] | { ints: number[] } | { floats: number[] } | { graph: onnxProto.onnx.IGraphProto } | { float: number };

export const OPSET = 13;

function dimProto(d: Dim): onnxProto.onnx.TensorShapeProto.IDimension {
  return typeof d === 'number' ? { dimValue: d } : { dimParam: d };
}

export function valueInfo(name: string, elemType: DTypeCode, dims: Dim[] | null): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: dims === null ? null : { dim: dims.map(dimProto) } } },
  };
}

export function tensorProto(
  name: string,
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array,
  dims: number[],
): onnxProto.onnx.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`tensor ${name}: ${data.length} values for dims [${dims.join(',')}]`);
  let dataType: DTypeCode;
  if (data instanceof Float32Array) dataType = DType.FLOAT;
  else if (data instanceof BigInt64Array) dataType = DType.INT64;
  else if (data instanceof Int32Array) dataType = DType.INT32;
  else dataType = DType.UINT8;
  return {
    name,
    dataType,
    dims,
    rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: T.INT, i: v } : { name, type: T.FLOAT, f: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('ints' in v) return { name, type: T.INTS, ints: v.ints };
  if ('floats' in v) return { name, type: T.FLOATS, floats: v.floats };
  if ('float' in v) return { name, type: T.FLOAT, f: v.float };
  return { name, type: T.GRAPH, g: v.graph };
}

/** Builds one GraphProto; `toModel()` wraps it into serialized ModelProto bytes. */
export class GraphBuilder {
  readonly nodes: onnxProto.onnx.INodeProto[] = [];
  readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh tensor name with a readable prefix. */
  tmp(prefix = 't'): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  input(name: string, elemType: DTypeCode, dims: Dim[] | null): string {
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  output(name: string, elemType: DTypeCode, dims: Dim[] | null): string {
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  init(name: string, data: Float32Array | BigInt64Array | Int32Array | Uint8Array, dims: number[]): string {
    this.initializers.push(tensorProto(name, data, dims));
    return name;
  }

  /** int64 constant initializer (shapes, axes, indices). */
  i64(values: number[], dims: number[] = [values.length], name = this.tmp('i64')): string {
    return this.init(name, BigInt64Array.from(values.map((v) => BigInt(v))), dims);
  }

  /** float constant initializer. */
  f32(values: number[] | Float32Array, dims: number[], name = this.tmp('f32')): string {
    return this.init(name, values instanceof Float32Array ? values : Float32Array.from(values), dims);
  }

  /** Adds a node; returns its first output name (created when `outputs` is a count). */
  op(opType: string, inputs: string[], outputs: string[] | number = 1, attrs: Record<string, AttrValue> = {}): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => this.tmp(opType.toLowerCase())) : outputs;
    this.nodes.push({
      opType,
      input: inputs,
      output: outs,
      name: this.tmp(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Single-output shorthand. */
  op1(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, out?: string): string {
    return this.op(opType, inputs, out === undefined ? 1 : [out], attrs)[0]!;
  }

  graph(): onnxProto.onnx.IGraphProto {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    };
  }

  toModel(opset = OPSET): Uint8Array {
    return encodeModel(this.graph(), opset);
  }
}

export function encodeModel(graph: onnxProto.onnx.IGraphProto, opset = OPSET, irVersion = 7): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion,
    producerName: 'kensa',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export interface Graph {
  name: string;
  node: onnxProto.onnx.INodeProto[];
  initializer: onnxProto.onnx.ITensorProto[];
  input: onnxProto.onnx.IValueInfoProto[];
  output: onnxProto.onnx.IValueInfoProto[];
}

/** The model's graph with its repeated fields made non-null (protobufjs types allow null). */
export function graphOf(model: onnxProto.onnx.IModelProto): Graph {
  const g = model.graph;
  if (!g) throw new Error('model has no graph');
  return { name: g.name ?? 'graph', node: g.node ?? [], initializer: g.initializer ?? [], input: g.input ?? [], output: g.output ?? [] };
}

/** Converts protobufjs Long | number to a JS number. */
export function toNum(v: number | { toNumber(): number } | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}
