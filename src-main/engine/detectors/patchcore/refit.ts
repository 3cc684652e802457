/**
 * PatchCore refit: good parts that were false alarms join the memory bank. The parent's bank
 * is extended (greedy k-center continued, ../../coreset extendCoreset) with the new patches;
 * at the bank size limit the most redundant old entries (nearest to another entry) make room.
 * Only parts reviewed as GOOD may be passed here: a defect in the bank would teach the model
 * that the defect is normal.
 */
import { extendCoreset } from '../../coreset';
import { f32Section, i32Section, type LoadedModel } from '../../model-file';
import type { DetectorContext, DetectorFit, FeatureSet } from '../types';
import { bankNeighbours } from './bank';
import type { PatchCoreConfig } from './config';

export async function refitPatchCoreBank(parent: LoadedModel, data: FeatureSet, ctx: DetectorContext): Promise<DetectorFit> {
  const h = parent.header;
  const cfg = h.detectorConfig as PatchCoreConfig;
  const dim = h.features.dim;
  const state = h.state as { bankSize: number; patchesBeforeCoreset: number };
  const parentBank = f32Section(parent, 'bank', state.bankSize * dim);
  const parentNeighbours = i32Section(parent, 'bankNeighbours', state.bankSize * cfg.neighbours);
  const { feats } = data;
  const n = feats.length / dim;
  const wanted = Math.max(1, Math.round(n * cfg.coreset.ratio));
  const run = { ep: ctx.ep, ...(ctx.signal ? { signal: ctx.signal } : {}), onProgress: (done: number, total: number) => ctx.onProgress?.({ phase: 'coreset', done, total }) };
  const added = await extendCoreset(parentBank, state.bankSize, feats, n, dim, wanted, { ...cfg.coreset, seed: h.config.seed }, run);
  // At the bank's size limit, make room by dropping the most redundant old entries: those
  // closest to another bank entry (their nearest neighbour covers them anyway).
  const size0 = state.bankSize;
  const over = Math.max(0, size0 + added.length - cfg.coreset.maxSize);
  const keep = new Uint8Array(size0).fill(1);
  if (over > 0) {
    const b = cfg.neighbours;
    const redundancy = new Float64Array(size0);
    for (let i = 0; i < size0; i++) {
      const j = b > 1 ? parentNeighbours[i * b + 1]! : i;
      let d2 = 0;
      for (let k = 0; k < dim; k++) d2 += (parentBank[i * dim + k]! - parentBank[j * dim + k]!) ** 2;
      redundancy[i] = j === i ? Infinity : d2;
    }
    const order = Array.from({ length: size0 }, (_, i) => i).sort((x, y) => redundancy[x]! - redundancy[y]!);
    for (const i of order.slice(0, over)) keep[i] = 0;
  }
  const kept = size0 - over;
  const bank = new Float32Array((kept + added.length) * dim);
  let o = 0;
  for (let i = 0; i < size0; i++) if (keep[i]) bank.set(parentBank.subarray(i * dim, (i + 1) * dim), dim * o++);
  added.forEach((r) => bank.set(feats.subarray(r * dim, (r + 1) * dim), dim * o++));
  const size = bank.length / dim;
  const neighbours = await bankNeighbours(bank, size, dim, cfg.neighbours, ctx.ep, ctx);
  return {
    arrays: { bank, bankNeighbours: neighbours },
    state: { bankSize: size, patchesBeforeCoreset: state.patchesBeforeCoreset + n },
    added: added.length,
  };
}
