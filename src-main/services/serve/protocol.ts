/**
 * The Open Inference Protocol (KServe v2 / Triton HTTP/REST) as Kensa speaks it, without the
 * HTTP: parsing and checking an infer request against the model contract
 * (engine/serving/contract.ts), and building the metadata and infer responses, JSON and the
 * binary tensor data extension both ways.
 *
 *   request   JSON {id?, parameters?: {binary_data_output?}, inputs: [{name, shape, datatype,
 *             data | parameters.binary_data_size}], outputs?: [{name, parameters?: {binary_data?}}]}
 *             With binary data the body is the JSON followed by each binary input's bytes in
 *             input order, and the `Inference-Header-Content-Length` header gives the JSON's length.
 *   response  JSON {model_name, model_version, id, outputs: [{name, shape, datatype, data |
 *             parameters.binary_data_size}]}; binary outputs follow the JSON in output order,
 *             with `Inference-Header-Content-Length` set. Errors are {"error": "..."}.
 *
 * Guarantees: a request that parses has exactly one `images` input, UINT8 [N, H, W, 3] at the
 * model's size with 1 ≤ N ≤ maxBatch and exactly N·H·W·3 bytes (JSON elements, flat or nested,
 * integers 0–255; or binary data, not one byte short or left over), handed back in a fresh
 * buffer the caller owns. Every violation is an OipError (a KensaError carrying the HTTP
 * status: 400, or 404 for an unknown model/version) whose message names the input or output,
 * what was given and what the model takes.
 */
import { randomUUID } from 'node:crypto';
import { KensaError } from '../../engine/errors';
import { INPUT_NAME, MAP_OUTPUT, SCORE_OUTPUT, type ModelContract, type RunnerOutput } from '../../engine/serving/contract';

export const HEADER_LENGTH = 'inference-header-content-length';

/** The protocol's tensor datatypes. */
export const DATATYPES = ['BOOL', 'UINT8', 'UINT16', 'UINT32', 'UINT64', 'INT8', 'INT16', 'INT32', 'INT64', 'FP16', 'FP32', 'FP64', 'BYTES'] as const;

export const OUTPUT_NAMES = [SCORE_OUTPUT, MAP_OUTPUT] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** A request the protocol refuses, with the HTTP status to answer it with. */
export class OipError extends KensaError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(status === 404 ? 'NOT_FOUND' : 'INVALID_ARGUMENT', message);
  }
}

const bad = (message: string): never => {
  throw new OipError(400, message);
};

export interface ServedModel {
  /** The name clients use in URLs. */
  name: string;
  contract: ModelContract;
}

export interface ParsedInfer {
  /** The request's id, when it gave one. */
  id: string | undefined;
  /** Images in the batch. */
  n: number;
  /** uint8 [n, H, W, 3], a fresh buffer the caller owns. */
  rgb: Uint8Array;
  /** Outputs to return, in order, each as JSON or binary. */
  outputs: { name: OutputName; binary: boolean }[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const fmtShape = (s: readonly (number | string)[]): string => `[${s.join(', ')}]`;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

export function inputSignature(c: ModelContract): string {
  return `UINT8 ${fmtShape(['N', c.height, c.width, 3])}`;
}

function outputsSignature(c: ModelContract): string {
  return `"${SCORE_OUTPUT}" (FP32 [N]) and "${MAP_OUTPUT}" (FP32 ${fmtShape(['N', c.height, c.width])})`;
}

/** `parameters` of a request, input or output: an object when present. */
function parametersOf(v: Record<string, unknown>, where: string): Record<string, unknown> {
  if (v.parameters === undefined) return {};
  if (!isObject(v.parameters)) bad(`${where}: "parameters" must be a JSON object`);
  return v.parameters as Record<string, unknown>;
}

function optionalBool(p: Record<string, unknown>, key: string, where: string): boolean | undefined {
  const v = p[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') bad(`${where}: parameter "${key}" must be true or false, got ${JSON.stringify(v)}`);
  return v as boolean;
}

/** Copies JSON tensor data (flat or nested arrays) into `out`, checking every element is a UINT8. */
function fillFromJson(data: unknown, out: Uint8Array, shape: number[], where: string): void {
  if (!Array.isArray(data)) bad(`${where}: "data" must be an array of numbers (flat or nested), got ${typeof data}`);
  let k = 0;
  const need = out.length;
  const walk = (a: unknown[], depth: number): void => {
    if (depth > shape.length) bad(`${where}: "data" is nested deeper than the shape's ${shape.length} dimensions`);
    for (const v of a) {
      if (Array.isArray(v)) {
        walk(v, depth + 1);
        continue;
      }
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
        bad(`${where}: element ${k} is ${JSON.stringify(v)}, not a UINT8 (an integer 0–255)`);
      }
      if (k >= need) bad(`${where}: "data" has more than the ${need} elements that shape ${fmtShape(shape)} holds`);
      out[k++] = v as number;
    }
  };
  walk(data as unknown[], 1);
  if (k !== need) bad(`${where}: "data" has ${plural(k, 'element')} but shape ${fmtShape(shape)} holds ${need}`);
}

function checkShape(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    bad(`${where}: "shape" must be an array of non-negative integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

/**
 * Parses one infer request body for `model`. `headerLength` is the value of the
 * Inference-Header-Content-Length header (undefined when absent: the whole body is JSON).
 */
export function parseInferRequest(body: Uint8Array, headerLength: string | undefined, model: ServedModel, limits: { maxBatch: number }): ParsedInfer {
  const c = model.contract;
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    if (!/^\d+$/.test(headerLength.trim())) bad(`the Inference-Header-Content-Length header must be a byte count, got "${headerLength}"`);
    jsonEnd = Number(headerLength.trim());
    if (jsonEnd > body.length) bad(`the Inference-Header-Content-Length header says the JSON is ${jsonEnd} bytes, but the whole body is ${body.length} bytes`);
  }
  const binary = body.subarray(jsonEnd);
  let req: unknown;
  try {
    req = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8'));
  } catch (e) {
    const hint = headerLength === undefined ? '; a body with binary tensor data after the JSON needs the Inference-Header-Content-Length header' : '';
    return bad(`the inference request is not valid JSON (${(e as Error).message})${hint}`);
  }
  if (!isObject(req)) return bad('the inference request must be a JSON object with "inputs"');
  if (req.id !== undefined && typeof req.id !== 'string') bad(`"id" must be a string, got ${JSON.stringify(req.id)}`);
  const reqParams = parametersOf(req, 'the request');
  const binaryOutput = optionalBool(reqParams, 'binary_data_output', 'the request') ?? false;

  if (!Array.isArray(req.inputs) || req.inputs.length === 0) bad(`"inputs" must be a non-empty array; model "${model.name}" takes one input, "${INPUT_NAME}" (${inputSignature(c)})`);
  let offset = 0;
  let images: { n: number; rgb: Uint8Array } | null = null;
  for (const [i, input] of (req.inputs as unknown[]).entries()) {
    if (!isObject(input)) return bad(`inputs[${i}] must be a JSON object {name, shape, datatype, data}`);
    if (typeof input.name !== 'string') return bad(`inputs[${i}] has no "name"`);
    const where = `input "${input.name}"`;
    if (input.name !== INPUT_NAME) return bad(`unknown input "${input.name}": model "${model.name}" takes one input, "${INPUT_NAME}" (${inputSignature(c)})`);
    if (images) return bad(`input "${INPUT_NAME}" is given twice`);
    if (typeof input.datatype !== 'string') return bad(`${where} has no "datatype" (it must be UINT8)`);
    if (!(DATATYPES as readonly string[]).includes(input.datatype)) bad(`${where}: "${input.datatype}" is not a datatype of the protocol (${DATATYPES.join(', ')})`);
    if (input.datatype !== 'UINT8') bad(`${where} must be UINT8 (RGB pixels 0–255 at the model input size, ${inputSignature(c)}), got ${input.datatype}`);
    const shape = checkShape(input.shape, where);
    const [n, h, w, ch] = shape;
    if (shape.length !== 4 || h !== c.height || w !== c.width || ch !== 3) {
      bad(`${where} must have shape ${fmtShape(['N', c.height, c.width, 3])} (N images of ${c.width}×${c.height} RGB, resized as parameters.resize "${c.resize}" says), got ${fmtShape(shape)}`);
    }
    if (n === 0) bad(`${where}: the batch is empty (N = 0)`);
    if (n! > limits.maxBatch) bad(`${where}: a batch of ${n} images is over this server's limit of ${limits.maxBatch} per request`);
    const count = n! * c.height * c.width * 3;
    const rgb = new Uint8Array(count);
    const params = parametersOf(input, where);
    const size = params.binary_data_size;
    if (size !== undefined) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) bad(`${where}: binary_data_size must be a byte count, got ${JSON.stringify(size)}`);
      if (input.data !== undefined) bad(`${where} has both "data" and binary_data_size: give one`);
      if (headerLength === undefined) bad(`${where} has binary_data_size but the request has no Inference-Header-Content-Length header saying where the JSON ends`);
      if (size !== count) bad(`${where}: binary_data_size is ${size} bytes but shape ${fmtShape(shape)} of UINT8 is ${count} bytes`);
      if (offset + count > binary.length) {
        bad(`truncated binary data: ${where} needs bytes ${offset}–${offset + count} after the JSON, but the body has only ${binary.length} bytes of binary data`);
      }
      rgb.set(binary.subarray(offset, offset + count));
      offset += count;
    } else {
      if (input.data === undefined) bad(`${where} has no data: give "data" or parameters.binary_data_size with the bytes after the JSON`);
      fillFromJson(input.data, rgb, shape, where);
    }
    images = { n: n!, rgb };
  }
  if (!images) return bad(`missing input "${INPUT_NAME}" (${inputSignature(c)})`);
  if (offset < binary.length) {
    bad(`${binary.length - offset} bytes of binary data after the JSON belong to no input (the inputs declare ${offset} bytes); check Inference-Header-Content-Length`);
  }

  const outputs: ParsedInfer['outputs'] = [];
  if (req.outputs === undefined) {
    for (const name of OUTPUT_NAMES) outputs.push({ name, binary: binaryOutput });
  } else {
    if (!Array.isArray(req.outputs)) bad('"outputs" must be an array of {name, parameters?}');
    for (const [i, o] of (req.outputs as unknown[]).entries()) {
      if (!isObject(o) || typeof o.name !== 'string') return bad(`outputs[${i}] must be a JSON object with a "name"`);
      if (!(OUTPUT_NAMES as readonly string[]).includes(o.name)) bad(`unknown output "${o.name}": model "${model.name}" has outputs ${outputsSignature(c)}`);
      if (outputs.some((x) => x.name === o.name)) bad(`output "${o.name}" is requested twice`);
      const binary = optionalBool(parametersOf(o, `output "${o.name}"`), 'binary_data', `output "${o.name}"`) ?? binaryOutput;
      outputs.push({ name: o.name as OutputName, binary });
    }
    if (outputs.length === 0) bad(`"outputs" is empty: leave it out for all outputs, or name ${outputsSignature(c)}`);
  }
  return { id: req.id as string | undefined, n: images.n, rgb: images.rgb, outputs };
}

export interface EncodedResponse {
  body: Buffer;
  headers: Record<string, string>;
}

/** The infer response: JSON outputs inline, binary outputs after the JSON. */
export function encodeInferResponse(model: ServedModel, req: ParsedInfer, result: RunnerOutput): EncodedResponse {
  const c = model.contract;
  const tensors: Record<OutputName, { shape: number[]; data: Float32Array }> = {
    score: { shape: [req.n], data: result.scores },
    map: { shape: [req.n, c.height, c.width], data: result.maps },
  };
  const blobs: Buffer[] = [];
  const outputs = req.outputs.map(({ name, binary }) => {
    const t = tensors[name];
    if (binary) {
      const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      blobs.push(bytes);
      return { name, shape: t.shape, datatype: 'FP32', parameters: { binary_data_size: bytes.length } };
    }
    return { name, shape: t.shape, datatype: 'FP32', data: Array.from(t.data) };
  });
  const json = Buffer.from(JSON.stringify({ model_name: model.name, model_version: c.version, id: req.id ?? randomUUID(), outputs }), 'utf8');
  if (blobs.length === 0) return { body: json, headers: { 'Content-Type': 'application/json' } };
  return {
    body: Buffer.concat([json, ...blobs]),
    headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(json.length) },
  };
}

/** GET /v2/models/{name}: the protocol's model metadata, plus `parameters` (scalar facts). */
export function modelMetadata(model: ServedModel): Record<string, unknown> {
  const c = model.contract;
  return {
    name: model.name,
    versions: [c.version],
    platform: c.platform,
    inputs: [{ name: INPUT_NAME, datatype: 'UINT8', shape: [-1, c.height, c.width, 3] }],
    outputs: [
      { name: SCORE_OUTPUT, datatype: 'FP32', shape: [-1] },
      { name: MAP_OUTPUT, datatype: 'FP32', shape: [-1, c.height, c.width] },
    ],
    parameters: { ...c.parameters },
  };
}

/** GET /v2: the server metadata. */
export function serverMetadata(version: string): Record<string, unknown> {
  return { name: 'kensa', version, extensions: ['binary_tensor_data'] };
}
