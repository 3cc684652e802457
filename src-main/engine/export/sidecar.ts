/**
 * What travels WITH an exported graph but not IN it: the sidecar `<name>.kensa-export.json`
 * and the same facts as the ONNX model's `metadata_props` (string key → string value).
 *
 * The decision values (threshold, review band upper, colour scale) are deliberately not graph
 * constants: a serving side reads them from the sidecar (or, without one, from the metadata)
 * and applies them to the graph's raw `score` output, so they can be retuned without a new
 * export and without changing the graph (its sha256, `onnx.graphSha256`, stays the same).
 * The sidecar is the authoritative copy for serving; the metadata records the values at
 * export time.
 *
 * Decision rule (as the workstation's): a part is flagged when score ≥ threshold; with a review
 * band, scores in [threshold, reviewUpper) go to a person and scores ≥ reviewUpper are rejected.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type onnxProto from 'onnx-proto';
import { KensaError } from '../errors';
import type { ResizeMode } from '../imaging/load';
import type { DetectorId } from '../model-types';
import { onnx } from '../ort/onnx-builder';
import type { ParitySummary } from './parity';

export const SIDECAR_FORMAT = 'kensa-export';
export const SIDECAR_VERSION = 1;
export const SIDECAR_SUFFIX = '.kensa-export.json';

export interface ExportSidecar {
  format: typeof SIDECAR_FORMAT;
  formatVersion: number;
  name: string;
  createdAt: string;
  kensaVersion: string;
  model: {
    id: string;
    parentId: string | null;
    /** The project's model version number (v0003 → 3), when the model came from a project. */
    version: number | null;
    detector: DetectorId;
    file: string;
    createdAt: string;
    kensaVersion: string;
    reviewHead: boolean;
  };
  backbone: { id: string; file: string; sha256: string; taps: string[] };
  onnx: {
    file: string;
    /** sha256 of the .onnx file as written (changes when the metadata does). */
    sha256: string;
    /** sha256 of the serialized GraphProto: the computation itself, unchanged by a retune. */
    graphSha256: string;
    opset: number;
    irVersion: number;
    nodes: number;
    weightBytes: number;
  };
  input: {
    name: string;
    dtype: 'uint8';
    layout: 'NHWC';
    /** [-1 (any batch), H, W, 3]. */
    shape: [number, number, number, number];
    channels: 'RGB';
    width: number;
    height: number;
    /** How a photo of any size becomes H × W (the engine's policy). */
    resize: ResizeMode;
    /** The exact sharp call that reproduces the engine's input pixels from an image file. */
    sharp: string;
    note: string;
  };
  outputs: {
    score: { name: string; dtype: 'float32'; shape: [number]; meaning: string };
    map: { name: string; dtype: 'float32'; shape: [number, number, number]; meaning: string };
  };
  /** Retunable without a new export: edit here. */
  decision: {
    threshold: number | null;
    reviewUpper: number | null;
    /** Where the threshold came from at export time: 'project', 'option', or 'none'. */
    source: string;
    rule: string;
  };
  colourScale: { low: number; high: number };
  goodStats: { images: number; imageScoreMean: number; imageScoreStd: number; imageScoreMax: number };
  parity: ParitySummary;
}

/**
 * The bytes of the `graph` field (ModelProto field 7) exactly as they are in a serialized model,
 * found by walking the top-level protobuf fields (no re-encoding: a decode/encode round trip
 * need not give the same bytes).
 */
export function graphBytes(model: Uint8Array): Uint8Array {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (i >= model.length) throw new KensaError('MODEL_INVALID', 'truncated ONNX model (inside a varint)');
      const b = model[i++]!;
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
  };
  while (i < model.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (wire === 0) varint();
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const len = varint();
      if (field === 7) return model.subarray(i, i + len);
      i += len;
    } else throw new KensaError('MODEL_INVALID', `not an ONNX model (protobuf wire type ${wire} at the top level)`);
  }
  throw new KensaError('MODEL_INVALID', 'the ONNX model has no graph');
}

/** sha256 of a serialized model's GraphProto: the computation, unchanged by its metadata. */
export function graphSha256(model: Uint8Array): string {
  return createHash('sha256').update(graphBytes(model)).digest('hex');
}

const num = (v: number | null): string => (v === null ? '' : String(v));

/** The sidecar's facts as ONNX metadata_props (all strings; empty string = none). */
export function metadataProps(s: Omit<ExportSidecar, 'onnx'> & { onnx?: Partial<ExportSidecar['onnx']> }): { key: string; value: string }[] {
  const props: Record<string, string> = {
    'kensa.format': `${SIDECAR_FORMAT}/${SIDECAR_VERSION}`,
    'kensa.version': s.kensaVersion,
    'kensa.name': s.name,
    'kensa.detector': s.model.detector,
    'kensa.model.id': s.model.id,
    'kensa.model.parent_id': s.model.parentId ?? '',
    'kensa.model.version': num(s.model.version),
    'kensa.model.review_head': String(s.model.reviewHead),
    'kensa.backbone.id': s.backbone.id,
    'kensa.backbone.sha256': s.backbone.sha256,
    'kensa.backbone.taps': s.backbone.taps.join(','),
    'kensa.input': `${s.input.name} ${s.input.dtype} ${s.input.layout} [N,${s.input.height},${s.input.width},3] ${s.input.channels}`,
    'kensa.resize': s.input.resize,
    'kensa.resize.sharp': s.input.sharp,
    'kensa.threshold': num(s.decision.threshold),
    'kensa.review_upper': num(s.decision.reviewUpper),
    'kensa.decision.rule': s.decision.rule,
    'kensa.colour_scale.low': String(s.colourScale.low),
    'kensa.colour_scale.high': String(s.colourScale.high),
    'kensa.opset': String(s.onnx?.opset ?? ''),
    'kensa.parity': JSON.stringify(s.parity),
  };
  return Object.entries(props).map(([key, value]) => ({ key, value }));
}

/** The model with metadata_props set (the graph is not touched), serialized. */
export function encodeWithMetadata(model: onnxProto.onnx.ModelProto, props: { key: string; value: string }[], version: number | null, doc: string): Uint8Array {
  const m = onnx.ModelProto.create({
    ...model,
    producerName: 'kensa',
    producerVersion: props.find((p) => p.key === 'kensa.version')?.value ?? '',
    docString: doc,
    modelVersion: version ?? 0,
    metadataProps: props,
  });
  return onnx.ModelProto.encode(m).finish();
}

/** The metadata_props of a serialized model, as an object. */
export function readMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}

export async function readSidecar(file: string): Promise<ExportSidecar> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new KensaError('MODEL_INVALID', `cannot read export sidecar ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  const s = raw as ExportSidecar;
  if (typeof s !== 'object' || s === null || s.format !== SIDECAR_FORMAT) throw new KensaError('MODEL_INVALID', `${file} is not a Kensa export sidecar (format is not "${SIDECAR_FORMAT}")`, { file });
  if (s.formatVersion > SIDECAR_VERSION) throw new KensaError('MODEL_VERSION', `${file} is export sidecar format ${s.formatVersion}; this Kensa reads up to ${SIDECAR_VERSION}`, { file });
  const t = s.decision?.threshold;
  const u = s.decision?.reviewUpper;
  if (!(t === null || (typeof t === 'number' && Number.isFinite(t)))) throw new KensaError('MODEL_INVALID', `${file}: decision.threshold must be a number or null, got ${JSON.stringify(t)}`, { file });
  if (!(u === null || u === undefined || (typeof u === 'number' && Number.isFinite(u)))) throw new KensaError('MODEL_INVALID', `${file}: decision.reviewUpper must be a number or null, got ${JSON.stringify(u)}`, { file });
  if (typeof t === 'number' && typeof u === 'number' && u < t) throw new KensaError('MODEL_INVALID', `${file}: decision.reviewUpper ${u} is below the threshold ${t}`, { file });
  return s;
}

export type Verdict = 'pass' | 'review' | 'reject';

/**
 * The decision for a raw score: 'pass' below the threshold; at or above it 'review', or
 * 'reject' at or above reviewUpper (no review band: every flagged part is 'review', a person
 * looks at it, as in the workstation). null without a threshold.
 */
export function decide(score: number, decision: { threshold: number | null; reviewUpper: number | null }): Verdict | null {
  if (decision.threshold === null) return null;
  if (score < decision.threshold) return 'pass';
  return decision.reviewUpper !== null && score >= decision.reviewUpper ? 'reject' : 'review';
}

export const DECISION_RULE = 'flagged when score >= threshold; with reviewUpper: [threshold, reviewUpper) review, >= reviewUpper reject';
