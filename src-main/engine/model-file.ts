/**
 * The fitted-model file (`.kensa`): versioned, self-describing, loadable in a fresh process.
 *
 *   offset 0   "KENSAMDL"                 8 bytes magic
 *          8   format version             uint32 LE
 *         12   header length L            uint32 LE
 *         16   header                     L bytes UTF-8 JSON (ModelHeader)
 *   aligned    sections                   raw little-endian arrays, each 16-byte aligned,
 *                                         described in header.sections with sha256
 *
 * Sections: `bank` float32 [B, D] (memory bank 𝓜_C) and `bankNeighbours` int32 [B, b]
 * (𝒩_b of every bank entry, for Eq. 7). Writes are atomic: a temporary file in the same
 * folder is fsynced and renamed over the target, so a crash or a cancel never leaves a
 * half-written model behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from './errors';
import type { ModelHeader } from './model-types';

const MAGIC = 'KENSAMDL';
export const MODEL_FORMAT_VERSION = 1;

export interface ModelArrays {
  bank: Float32Array;
  bankNeighbours: Int32Array;
}

export interface LoadedModel extends ModelArrays {
  header: ModelHeader;
  file: string;
}

interface SectionInfo {
  name: keyof ModelArrays;
  dtype: 'float32' | 'int32';
  shape: number[];
  offset: number;
  byteLength: number;
  sha256: string;
}

const align = (n: number): number => Math.ceil(n / 16) * 16;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bytesOf = (a: Float32Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Serializes a model; `header.sections` is filled in here. */
export function encodeModelFile(header: Omit<ModelHeader, 'sections'>, arrays: ModelArrays): Buffer {
  const b = header.bank.size;
  const d = header.bank.dim;
  const nb = header.config.neighbours;
  if (arrays.bank.length !== b * d) throw new Error(`bank has ${arrays.bank.length} values, header says ${b}×${d}`);
  if (arrays.bankNeighbours.length !== b * nb) throw new Error(`bankNeighbours has ${arrays.bankNeighbours.length} values, expected ${b}×${nb}`);
  const specs: [keyof ModelArrays, 'float32' | 'int32', number[]][] = [
    ['bank', 'float32', [b, d]],
    ['bankNeighbours', 'int32', [b, nb]],
  ];
  // Offsets depend on the header length, which depends on the offsets: lay out relative to
  // the data start, then fix the data start once the header size is known.
  let rel = 0;
  const sections: SectionInfo[] = specs.map(([name, dtype, shape]) => {
    const data = bytesOf(arrays[name]);
    const s = { name, dtype, shape, offset: rel, byteLength: data.byteLength, sha256: sha(data) };
    rel = align(rel + data.byteLength);
    return s;
  });
  const full: ModelHeader = { ...header, sections };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const dataStart = align(16 + json.length);
  const out = Buffer.alloc(dataStart + rel);
  out.write(MAGIC, 0, 'latin1');
  out.writeUInt32LE(MODEL_FORMAT_VERSION, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  for (const s of sections) Buffer.from(bytesOf(arrays[s.name])).copy(out, dataStart + s.offset);
  return out;
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
  let header: ModelHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 16, 16 + len)) as ModelHeader;
  } catch {
    throw bad('its header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || !Array.isArray(header.sections) || typeof header.bank !== 'object' || typeof header.config !== 'object') {
    throw bad('its header lacks the bank, config or section table');
  }
  const dataStart = align(16 + len);
  const arrays: Partial<ModelArrays> = {};
  for (const s of header.sections as SectionInfo[]) {
    const start = dataStart + s.offset;
    if (start + s.byteLength > buf.length) throw bad(`section ${s.name} truncated (file is ${buf.length} bytes, needs ${start + s.byteLength})`);
    const raw = buf.subarray(start, start + s.byteLength);
    if (sha(raw) !== s.sha256) throw bad(`section ${s.name} fails its checksum (the file is damaged)`);
    const copy = new ArrayBuffer(s.byteLength);
    new Uint8Array(copy).set(raw);
    const expected = s.shape.reduce((a, c) => a * c, 1);
    const arr = s.dtype === 'float32' ? new Float32Array(copy) : new Int32Array(copy);
    if (arr.length !== expected) throw bad(`section ${s.name} has ${arr.length} values, shape says ${expected}`);
    (arrays as Record<string, Float32Array | Int32Array>)[s.name] = arr;
  }
  if (!arrays.bank || !arrays.bankNeighbours) throw bad('bank sections missing');
  return { header, file, bank: arrays.bank, bankNeighbours: arrays.bankNeighbours };
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

export async function saveModel(file: string, header: Omit<ModelHeader, 'sections'>, arrays: ModelArrays): Promise<void> {
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
