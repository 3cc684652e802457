/**
 * Backbone files: where they live, how they are verified, and how they become a feature
 * extractor session.
 *
 * A backbone is named either by a path to an .onnx file or by an id from
 * `resources/backbones.json` (download URL + pinned sha256). Ids are looked up in the
 * models folder: `KENSA_MODELS_DIR`, else `$KENSA_SHARED/models`, else the user cache
 * (`~/.cache/kensa/models`). A missing file or a wrong checksum is a KensaError that says
 * what to do next.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type onnxProto from 'onnx-proto';
import { KensaError } from '../errors';
import { decodeModel } from '../ort/onnx-builder';

export interface ManifestEntry {
  id: string;
  file: string;
  url?: string;
  sha256: string;
  bytes: number;
  taps?: string[];
  note?: string;
}

export interface Manifest {
  default: string[];
  backbones: ManifestEntry[];
}

export interface BackboneFile {
  /** Manifest id, or the file's base name for a file given by path. */
  id: string;
  file: string;
  sha256: string;
  bytes: number;
  /** Taps from the manifest, if any. */
  taps: string[] | undefined;
  model: onnxProto.onnx.ModelProto;
}

export function resourcesDir(): string {
  if (process.env.KENSA_RESOURCES_DIR) return process.env.KENSA_RESOURCES_DIR;
  // src-main/engine/backbone → repo root/resources (bundled builds set KENSA_RESOURCES_DIR)
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '../../../resources');
}

let manifestCache: Manifest | undefined;
export function loadManifest(): Manifest {
  manifestCache ??= JSON.parse(readFileSync(path.join(resourcesDir(), 'backbones.json'), 'utf8')) as Manifest;
  return manifestCache;
}

export function modelsDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.KENSA_MODELS_DIR) dirs.push(path.resolve(process.env.KENSA_MODELS_DIR));
  if (process.env.KENSA_SHARED) dirs.push(path.resolve(process.env.KENSA_SHARED, 'models'));
  dirs.push(userModelsDir());
  return dirs;
}

export function userModelsDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(base, 'kensa', 'models');
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function looksLikePath(ref: string): boolean {
  return ref.endsWith('.onnx') || ref.includes('/') || ref.includes('\\');
}

/** Resolves a backbone reference (path, id, or undefined = first default found) to a file path. */
export async function resolveBackbonePath(ref: string | undefined): Promise<{ file: string; entry: ManifestEntry | undefined }> {
  const manifest = loadManifest();
  if (ref !== undefined && looksLikePath(ref)) {
    const file = path.resolve(ref);
    if (!(await exists(file))) {
      throw new KensaError('BACKBONE_NOT_FOUND', `backbone file not found: ${file}`, { file });
    }
    return { file, entry: manifest.backbones.find((b) => b.file === path.basename(file)) };
  }
  const ids = ref === undefined ? manifest.default : [ref];
  for (const id of ids) {
    const entry = manifest.backbones.find((b) => b.id === id);
    if (!entry) {
      const known = manifest.backbones.map((b) => b.id).join(', ');
      throw new KensaError('BACKBONE_NOT_FOUND', `unknown backbone "${id}": give a path to an .onnx file or one of: ${known}`);
    }
    for (const dir of modelsDirs()) {
      const file = path.join(dir, entry.file);
      if (await exists(file)) return { file, entry };
    }
  }
  const first = manifest.backbones.find((b) => b.id === ids[0])!;
  const where = modelsDirs().join(', ');
  const how = first.url
    ? `run \`kensa backbone download ${first.id}\`, or download ${first.url} yourself (sha256 ${first.sha256}) and pass --backbone FILE`
    : `put ${first.file} in one of those folders or pass --backbone FILE`;
  throw new KensaError('BACKBONE_NOT_FOUND', `backbone "${first.id}" not found (looked in ${where}): ${how}`);
}

/** Reads, checksums and parses a backbone. A known file with a wrong checksum is refused. */
export async function loadBackbone(ref: string | undefined): Promise<BackboneFile> {
  const { file, entry } = await resolveBackbonePath(ref);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw new KensaError('BACKBONE_NOT_FOUND', `cannot read backbone ${file}: ${(e as Error).message}`, { file, cause: e });
  }
  const digest = sha256(bytes);
  if (entry && digest !== entry.sha256) {
    throw new KensaError(
      'BACKBONE_CHECKSUM',
      `backbone ${file} has sha256 ${digest}, but ${entry.id} must be ${entry.sha256}: the file is damaged or a different model; delete it and download it again`,
      { file },
    );
  }
  let model: onnxProto.onnx.ModelProto;
  try {
    model = decodeModel(bytes);
    if (!model.graph?.node?.length) throw new Error('it has no graph nodes');
  } catch (e) {
    throw new KensaError('BACKBONE_INVALID', `backbone ${file} is not a valid ONNX model (${(e as Error).message})`, { file, cause: e });
  }
  return { id: entry?.id ?? path.basename(file, '.onnx'), file, sha256: digest, bytes: bytes.length, taps: entry?.taps, model };
}

/** Downloads a manifest backbone into the user models folder, verifying its sha256. */
export async function downloadBackbone(id: string, onProgress?: (done: number, total: number) => void): Promise<string> {
  const entry = loadManifest().backbones.find((b) => b.id === id);
  if (!entry) throw new KensaError('BACKBONE_NOT_FOUND', `unknown backbone "${id}"`);
  if (!entry.url) throw new KensaError('BACKBONE_NOT_FOUND', `backbone "${id}" has no download address: ${entry.note ?? 'supply the file yourself'}`);
  const dir = userModelsDir();
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, entry.file);
  const tmp = `${target}.part`;
  let res: Response;
  try {
    res = await fetch(entry.url);
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
  } catch (e) {
    throw new KensaError(
      'BACKBONE_NOT_FOUND',
      `could not download ${entry.url} (${(e as Error).message}). Without internet: fetch it on another machine, check sha256 ${entry.sha256}, copy it to ${target} or pass --backbone FILE`,
      { cause: e },
    );
  }
  const hash = createHash('sha256');
  const out = createWriteStream(tmp);
  let done = 0;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      done += chunk.length;
      onProgress?.(done, entry.bytes);
      if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  } catch (e) {
    out.destroy();
    await rm(tmp, { force: true });
    throw new KensaError('BACKBONE_NOT_FOUND', `download of ${entry.url} failed: ${(e as Error).message}`, { cause: e });
  }
  const digest = hash.digest('hex');
  if (digest !== entry.sha256) {
    await rm(tmp, { force: true });
    throw new KensaError('BACKBONE_CHECKSUM', `downloaded ${entry.url} has sha256 ${digest}, expected ${entry.sha256}; nothing was saved`);
  }
  await rename(tmp, target);
  return target;
}
