/**
 * PaDiM (Defard et al., "PaDiM: a Patch Distribution Modeling Framework for Anomaly Detection
 * and Localization", ICPR 2020) as a Kensa detector.
 *
 * fit:    good patch embeddings [N·P, D] → random channel subset of d channels (paper §3.1:
 *         random dimensionality reduction) → per position p a Gaussian 𝒩(μ_p, Σ_p), Σ_p
 *         regularised with shrinkage (Ledoit–Wolf by default) + εI (paper: ε = 0.01), inverted
 *         once (./gaussian.ts)
 * score:  Mahalanobis distance M(x_p) = sqrt((x_p − μ_p)ᵀ Σ̂_p⁻¹ (x_p − μ_p)) of every patch (an ORT
 *         graph); image score = max of the blurred map (shared map step).
 *
 * Deviation from the paper: the embedding is the shared backbone taps with Kensa's 3×3 local
 * aggregation (PaDiM concatenates raw layer outputs), and Σ_p is shrunk toward (tr Σ_p/d)·I by
 * the Ledoit–Wolf α before the paper's εI: with ~200 good parts and d = 100, the sample
 * covariance alone is poorly conditioned.
 *
 * Sections: channels int32 [d], mean float32 [P, d], covInv float32 [P, d, d].
 */
import { f32Section, i32Section } from '../../model-file';
import type { Detector, Head, HeadOutput } from '../types';
import { needPositive, needPositiveInt } from '../common/channels';
import { chooseChannels, GaussianAccumulator, MahalanobisScorer } from './gaussian';
import type { Patches } from '../../backbone/feature-extractor';
import { KensaError } from '../../errors';

export interface PadimConfig extends Record<string, unknown> {
  /** d, channels kept from the embedding (random subset, seeded); ≥ D keeps all. */
  channels: number;
  /** α of the shrinkage toward (tr Σ/d)·I: a number in [0, 1] or 'ledoit-wolf'. */
  shrinkage: number | 'ledoit-wolf';
  /** ε of Σ̂ + εI (paper: 0.01). */
  epsilon: number;
}

export const DEFAULT_PADIM: PadimConfig = { channels: 100, shrinkage: 'ledoit-wolf', epsilon: 0.01 };

function resolve(partial: Record<string, unknown> = {}): PadimConfig {
  const c = { ...DEFAULT_PADIM, ...partial } as PadimConfig;
  needPositiveInt(c.channels, 'PaDiM channels', 4096);
  if (!(c.shrinkage === 'ledoit-wolf' || (typeof c.shrinkage === 'number' && c.shrinkage >= 0 && c.shrinkage <= 1))) {
    throw new KensaError('INVALID_ARGUMENT', `PaDiM shrinkage must be 'ledoit-wolf' or a number in [0, 1], got ${String(c.shrinkage)}`);
  }
  if (c.epsilon !== 0) needPositive(c.epsilon, 'PaDiM epsilon');
  return c;
}

class PadimHead implements Head {
  constructor(private readonly scorer: MahalanobisScorer) {}

  async score(p: Patches, _rgb: Uint8Array, i: number): Promise<HeadOutput> {
    const per = p.h * p.w;
    return { patch: await this.scorer.score(p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim), 1) };
  }

  async release(): Promise<void> {
    await this.scorer.release();
  }
}

export const padim: Detector<PadimConfig> = {
  id: 'padim',
  title: 'PaDiM',
  summary: 'a Gaussian of good patch features at every position, Mahalanobis distance',
  trains: false,
  canRefit: false,
  needsPixels: false,
  resolveConfig: resolve,
  async fit(data, cfg, ctx) {
    const { train } = data;
    const P = train.grid[0] * train.grid[1];
    const channels = chooseChannels(train.dim, cfg.channels, ctx.input.seed + 7);
    const d = channels.length;
    const acc = new GaussianAccumulator(P, d, { ep: ctx.ep, channels, fullDim: train.dim });
    let fit;
    try {
      const batch = 16;
      for (let i = 0; i < train.n; i += batch) {
        const n = Math.min(batch, train.n - i);
        await acc.add(train.feats.subarray(i * P * train.dim, (i + n) * P * train.dim), n, ctx.signal);
        ctx.onProgress?.({ phase: 'gaussian', done: i + n, total: train.n });
      }
      fit = acc.finish({ shrinkage: cfg.shrinkage, epsilon: cfg.epsilon });
    } finally {
      await acc.release();
    }
    const alpha = Array.isArray(fit.shrinkage) ? fit.shrinkage.reduce((a, b) => a + b, 0) / fit.shrinkage.length : fit.shrinkage;
    return { arrays: { channels, mean: fit.mean, covInv: fit.covInv }, state: { channels: d, positions: P, images: fit.images, meanShrinkage: alpha } };
  },
  async openHead(model, ctx) {
    const h = model.header;
    const P = h.features.grid[0] * h.features.grid[1];
    const d = Number(h.state.channels);
    const channels = i32Section(model, 'channels', d);
    const scorer = await MahalanobisScorer.create(f32Section(model, 'mean', P * d), f32Section(model, 'covInv', P * d * d), P, d, channels, h.features.dim, ctx.ep);
    return new PadimHead(scorer);
  },
  facts(h) {
    return [
      { key: 'channels', label: 'Channels', value: `${Number(h.state.channels)} of ${h.features.dim}` },
      { key: 'positions', label: 'Gaussians', value: Number(h.state.positions), unit: 'positions' },
      { key: 'shrinkage', label: 'Mean shrinkage α', value: Number(Number(h.state.meanShrinkage).toFixed(3)) },
    ];
  },
};
