/**
 * Writes a `.kensa` file the way Kensa wrote them before detectors had a seam (model format 1,
 * PatchCore only), byte for byte as the old encoder did: the header holds `bank` (size, dim,
 * grid, patchesBeforeCoreset) and a `config` with the coreset settings and b (`neighbours`)
 * mixed into the input settings; the sections are `bank` float32 [B, D] and `bankNeighbours`
 * int32 [B, b], each 16-byte aligned after the header. Tests use it to check that old files
 * still load (upgraded in memory to the format-2 header).
 */
import { createHash } from 'node:crypto';
import type { CoresetOptions } from '../../src-main/engine/coreset';
import type { InputConfig, ModelHeader } from '../../src-main/engine/model-types';

/** The format-1 header, as the old model-types.ts declared it (without `sections`). */
export interface V1Header {
  formatVersion: 1;
  id: string;
  parentId: string | null;
  kensaVersion: string;
  createdAt: string;
  backbone: ModelHeader['backbone'];
  taps: ModelHeader['taps'];
  /** The input settings (no `seed`: format 1 seeded from coreset.seed) + coreset + neighbours. */
  config: Omit<InputConfig, 'seed'> & { coreset: CoresetOptions; neighbours: number };
  bank: { size: number; dim: number; grid: [number, number]; patchesBeforeCoreset: number };
  stats: ModelHeader['stats'];
  fit: ModelHeader['fit'];
  refit: { parentBankSize: number; images: { name: string; sha256: string }[]; addedPatches: number; seconds: number } | null;
}

const align = (n: number): number => Math.ceil(n / 16) * 16;
const bytesOf = (a: Float32Array | Int32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export function encodeV1(header: V1Header, bank: Float32Array, bankNeighbours: Int32Array): Buffer {
  const b = header.bank.size;
  const d = header.bank.dim;
  const nb = header.config.neighbours;
  if (bank.length !== b * d || bankNeighbours.length !== b * nb) throw new Error('encodeV1: arrays disagree with the header');
  let rel = 0;
  const sections = (
    [
      ['bank', 'float32', [b, d], bank],
      ['bankNeighbours', 'int32', [b, nb], bankNeighbours],
    ] as const
  ).map(([name, dtype, shape, arr]) => {
    const data = bytesOf(arr);
    const s = { name, dtype, shape, offset: rel, byteLength: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
    rel = align(rel + data.byteLength);
    return s;
  });
  const json = Buffer.from(JSON.stringify({ ...header, sections }), 'utf8');
  const dataStart = align(16 + json.length);
  const out = Buffer.alloc(dataStart + rel);
  out.write('KENSAMDL', 0, 'latin1');
  out.writeUInt32LE(1, 8);
  out.writeUInt32LE(json.length, 12);
  json.copy(out, 16);
  Buffer.from(bytesOf(bank)).copy(out, dataStart + sections[0].offset);
  Buffer.from(bytesOf(bankNeighbours)).copy(out, dataStart + sections[1].offset);
  return out;
}

/**
 * The format-1 header a format-2 PatchCore header corresponds to (the inverse of the loader's
 * upgrade): seed back into coreset.seed, detectorConfig and state back into config and bank.
 * Exact when detectorConfig.coreset.seed equals config.seed (format 1 had one seed).
 */
export function toV1Header(h: Omit<ModelHeader, 'sections'>): V1Header {
  const { seed, ...input } = h.config;
  const dc = h.detectorConfig as { coreset: CoresetOptions; neighbours: number };
  const st = h.state as { bankSize: number; patchesBeforeCoreset: number };
  return {
    formatVersion: 1,
    id: h.id,
    parentId: h.parentId,
    kensaVersion: h.kensaVersion,
    createdAt: h.createdAt,
    backbone: h.backbone,
    taps: h.taps,
    config: { ...input, coreset: { ...dc.coreset, seed }, neighbours: dc.neighbours },
    bank: { size: st.bankSize, dim: h.features.dim, grid: h.features.grid, patchesBeforeCoreset: st.patchesBeforeCoreset },
    stats: h.stats,
    fit: h.fit,
    refit: h.refit ? { parentBankSize: h.refit.parentSize, images: h.refit.images, addedPatches: h.refit.added, seconds: h.refit.seconds } : null,
  };
}
