/**
 * The fitted-model file (`.kensa`): versioned, self-describing, loadable in a fresh process,
 * for every detector.
 *
 *   offset 0   "KENSAMDL"                 8 bytes magic
 *          8   format version             uint32 LE
 *         12   header length L            uint32 LE
 *         16   header                     L bytes UTF-8 JSON (ModelHeader)
 *   aligned    sections                   raw little-endian arrays, each 16-byte aligned,
 *                                         described in header.sections with sha256
 *
 * Sections are named arrays that belong to the detector (PatchCore: `bank` float32 [B, D] and
 * `bankNeighbours` int32 [B, b]; PaDiM: `mean`, `covInv`, …). Format 1 (PatchCore only, before
 * detectors had a seam) is read and upgraded in memory to the format-2 header. Writes are
 * atomic: a temporary file in the same folder is fsynced and renamed over the target, so a
 * crash or a cancel never leaves a half-written model behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from './errors';
import { DETECTOR_IDS, type ModelHeader, type ModelHeaderDraft } from './model-types';

const MAGIC = 'KENSAMDL';
export const MODEL_FORMAT_VERSION = 2;

export type ModelArray = Float32Array | Int32Array | Uint8Array;
export type ModelArrays = Record<string, ModelArray>;

export interface LoadedModel {
  header: ModelHeader;
  arrays: ModelArrays;
  file: string;
}

type DTypeName = 'float32' | 'int32' | 'uint8';

interface SectionInfo {
  name: string;
  dtype: DTypeName;
  shape: number[];
  offset: number;
  byteLength: number;
  sha256: string;
}

const align = (n: number): number => Math.ceil(n / 16) * 16;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytesOf = (a: ModelArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const dtypeOf = (a: ModelArray): DTypeName => (a instanceof Float32Array ? 'float32' : a instanceof Int32Array ? 'int32' : 'uint8');

/** Serializes a model; `header.sections` is filled in here (one section per array, in key order). */
export function encodeModelFile(header: ModelHeaderDraft, arrays: ModelArrays): Buffer {
  // Offsets depend on the header length, which depends on the offsets: lay out relative to
  // the data start, then fix the data start once the header size is known.
  let rel = 0;
  const sections: SectionInfo[] = Object.keys(arrays)
    .sort()
    .map((name) => {
      const a = arrays[name]!;
      const data = bytesOf(a);
      const s = { name, dtype: dtypeOf(a), shape: [a.length], offset: rel, byteLength: data.byteLength, sha256: sha(data) };
      rel = align(rel + data.byteLength);
      return s;
    });
  const full: ModelHeader = { ...header, formatVersion: MODEL_FORMAT_VERSION, sections };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const dataStart = align(16 + json.length);
  const out = Buffer.alloc(dataStart + rel);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(MODEL_FORMAT_VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  for (const s of sections) Buffer.from(bytesOf(arrays[s.name]!)).copy(out, dataStart + s.offset);
  return out;
}

/**
 * A format-1 header (PatchCore only: `config` held the coreset and b, `bank` the bank facts)
 * as a format-2 one. Nothing is lost: the PatchCore detector reads the same values from
 * `detectorConfig` and `state`.
 */
function upgradeV1(h: Record<string, unknown>): ModelHeader {
  const cfg = h.config as Record<string, unknown>;
  const bank = h.bank as { size: number; dim: number; grid: [number, number]; patchesBeforeCoreset: number };
  const refit = h.refit as { parentBankSize: number; images: { name: string; sha256: string }[]; addedPatches: number; seconds: number } | null;
  const coreset = cfg.coreset as { seed?: number } | undefined;
  const { coreset: _c, neighbours, ...common } = cfg;
  const { bank: _b, ...rest } = h;
  return {
    ...(rest as unknown as ModelHeader),
    formatVersion: 1,
    detector: 'patchcore',
    config: { ...(common as unknown as ModelHeader['config']), seed: coreset?.seed ?? 0 },
    detectorConfig: { coreset: cfg.coreset, neighbours },
    features: { dim: bank.dim, grid: bank.grid },
    state: { bankSize: bank.size, patchesBeforeCoreset: bank.patchesBeforeCoreset },
    refit: refit ? { parentSize: refit.parentBankSize, images: refit.images, added: refit.addedPatches, seconds: refit.seconds } : null,
  };
}

export function decodeModelFile(buf: Buffer, file: string): LoadedModel {
  const bad = (why: string): KensaError => new KensaError('MODEL_INVALID', `${file} is not a usable Kensa model: ${why}`, { file });
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC) throw bad('it does not start with the Kensa model signature');
  const version = buf.readUInt32LE(8);
  if (version > MODEL_FORMAT_VERSION) {
    throw new KensaError('MODEL_VERSION', `${file} was written by a newer Kensa (model format ${version}; this one reads up to ${MODEL_FORMAT_VERSION}): update Kensa`, { file });
  }
  const len = buf.readUInt32LE(12);
  if (16 + len > buf.length) throw bad(`header truncated (${len} bytes announced, ${buf.length - 16} present)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(buf.toString('utf8', 16, 16 + len)) as Record<string, unknown>;
  } catch {
    throw bad('its header is not valid JSON');
  }
  if (typeof raw !== 'object' || raw === null || !Array.isArray(raw.sections) || typeof raw.config !== 'object' || raw.config === null) {
    throw bad('its header lacks the config or section table');
  }
  if (version === 1 && (typeof raw.bank !== 'object' || raw.bank === null)) throw bad('its header lacks the bank');
  if (version >= 2 && typeof raw.detector !== 'string') throw bad('its header names no detector');
  const header = version === 1 ? upgradeV1(raw) : (raw as unknown as ModelHeader);
  if (!(DETECTOR_IDS as readonly string[]).includes(header.detector)) {
    throw new KensaError('UNKNOWN_DETECTOR', `${file} was fitted with detector "${String(header.detector)}", which this Kensa does not know (it knows ${DETECTOR_IDS.join(', ')})`, { file });
  }
  if (typeof header.features !== 'object' || header.features === null || typeof header.state !== 'object' || header.state === null) {
    throw bad('its header lacks the features or detector state');
  }
  const dataStart = align(16 + len);
  const arrays: ModelArrays = {};
  for (const s of header.sections as SectionInfo[]) {
    const start = dataStart + s.offset;
    if (start + s.byteLength > buf.length) throw bad(`section ${s.name} truncated (file is ${buf.length} bytes, needs ${start + s.byteLength})`);
    const bytes = buf.subarray(start, start + s.byteLength);
    if (sha(bytes) !== s.sha256) throw bad(`section ${s.name} fails its checksum (the file is damaged)`);
    const copy = new ArrayBuffer(s.byteLength);
    new Uint8Array(copy).set(bytes);
    const expected = s.shape.reduce((a, c) => a * c, 1);
    if (!['float32', 'int32', 'uint8'].includes(s.dtype)) throw bad(`section ${s.name} has an unknown type ${String(s.dtype)}`);
    const arr = s.dtype === 'float32' ? new Float32Array(copy) : s.dtype === 'int32' ? new Int32Array(copy) : new Uint8Array(copy);
    if (arr.length !== expected) throw bad(`section ${s.name} has ${arr.length} values, shape says ${expected}`);
    arrays[s.name] = arr;
  }
  return { header, file, arrays };
}

/** The named float32 section of a model, or MODEL_INVALID naming what is missing. */
export function f32Section(model: LoadedModel, name: string, length?: number): Float32Array {
  const a = model.arrays[name];
  if (!(a instanceof Float32Array)) throw new KensaError('MODEL_INVALID', `${model.file} is not a usable Kensa model: section ${name} (float32) is missing`, { file: model.file });
  if (length !== undefined && a.length !== length) {
    throw new KensaError('MODEL_INVALID', `${model.file} is not a usable Kensa model: section ${name} has ${a.length} values, expected ${length}`, { file: model.file });
  }
  return a;
}

/** The named int32 section of a model, or MODEL_INVALID naming what is missing. */
export function i32Section(model: LoadedModel, name: string, length?: number): Int32Array {
  const a = model.arrays[name];
  if (!(a instanceof Int32Array)) throw new KensaError('MODEL_INVALID', `${model.file} is not a usable Kensa model: section ${name} (int32) is missing`, { file: model.file });
  if (length !== undefined && a.length !== length) {
    throw new KensaError('MODEL_INVALID', `${model.file} is not a usable Kensa model: section ${name} has ${a.length} values, expected ${length}`, { file: model.file });
  }
  return a;
}

/** Writes `bytes` to `file` atomically (temp file in the same folder, fsync, rename, fsync dir). */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  try {
    const dh = await open(dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  } catch {
    // Directory fsync is not supported on every platform (Windows); the rename is still atomic.
  }
}

export async function saveModel(file: string, header: ModelHeaderDraft, arrays: ModelArrays): Promise<void> {
  await writeFileAtomic(file, encodeModelFile(header, arrays));
}

export async function loadModel(file: string): Promise<LoadedModel> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new KensaError('MODEL_NOT_FOUND', `model file not found: ${file}`, { file });
    throw new KensaError('MODEL_INVALID', `cannot read model ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  return decodeModelFile(buf, file);
}
