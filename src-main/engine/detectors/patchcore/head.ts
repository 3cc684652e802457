/**
 * PatchCore's scoring head: nearest bank distance of every patch (Eq. 6, an ORT graph with the
 * bank baked in) and the image score (Eq. 7 reweighting, ../../core/scoring).
 *
 * Input: patches [h·w, D] of one image. Output: patch scores s(q) [h·w] and the Eq. 7 score.
 */
import type { Patches } from '../../backbone/feature-extractor';
import { imageScore } from '../../core/scoring';
import { buildNearestNeighbourGraph } from '../../ort/graphs';
import { createSession, ort, type ExecutionProvider } from '../../ort/session';
import type { Head, HeadOutput } from '../types';

export class PatchCoreHead implements Head {
  private constructor(
    private readonly nn: ort.InferenceSession,
    private readonly bank: Float32Array,
    private readonly neighbours: Int32Array,
    private readonly dim: number,
    private readonly b: number,
  ) {}

  static async create(bank: Float32Array, neighbours: Int32Array, dim: number, b: number, ep: ExecutionProvider): Promise<PatchCoreHead> {
    const nn = await createSession(buildNearestNeighbourGraph(bank, bank.length / dim, dim, 2048), { ep });
    return new PatchCoreHead(nn, bank, neighbours, dim, b);
  }

  async score(p: Patches, _rgb: Uint8Array, i: number): Promise<HeadOutput> {
    const per = p.h * p.w;
    const patches = p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim);
    const out = await this.nn.run({ patches: new ort.Tensor('float32', patches, [per, p.dim]) });
    const dist = out.dist!.data as Float32Array;
    const index = out.index!.data as BigInt64Array;
    const s = imageScore(dist, index, patches, this.bank, this.neighbours, this.dim, this.b);
    return { patch: dist, imageScore: s.score, maxPatchScore: s.maxPatchScore };
  }

  async release(): Promise<void> {
    await this.nn.release();
  }
}
