/**
 * PatchCore fit (Roth et al., CVPR 2022): the good patches [N, D] → greedy coreset 𝓜_C
 * (../../coreset, Alg. 1) → 𝒩_b of every bank entry (Eq. 7 support).
 */
import { greedyCoreset } from '../../coreset';
import type { DetectorContext, DetectorFit, FitData } from '../types';
import { bankNeighbours } from './bank';
import type { PatchCoreConfig } from './config';

export async function fitPatchCoreBank(data: FitData, cfg: PatchCoreConfig, ctx: DetectorContext): Promise<DetectorFit> {
  const { feats, dim } = data.train;
  const n = feats.length / dim;
  const chosen = await greedyCoreset(feats, n, dim, { ...cfg.coreset, seed: ctx.input.seed }, {
    ep: ctx.ep,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onProgress: (done, total) => ctx.onProgress?.({ phase: 'coreset', done, total }),
  });
  const bank = new Float32Array(chosen.length * dim);
  chosen.forEach((r, i) => bank.set(feats.subarray(r * dim, (r + 1) * dim), i * dim));
  const neighbours = await bankNeighbours(bank, chosen.length, dim, cfg.neighbours, ctx.ep, ctx);
  return { arrays: { bank, bankNeighbours: neighbours }, state: { bankSize: chosen.length, patchesBeforeCoreset: n } };
}
