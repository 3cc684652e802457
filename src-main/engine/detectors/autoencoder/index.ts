/**
 * Autoencoder with iterative energy-based projection (Dehaene et al., ICLR 2020) as a Kensa
 * detector, on PATCH FEATURES rather than pixels.
 *
 * Why features: a pixel autoencoder that reconstructs 224² images well enough for the
 * projection to localise defects needs a deep convolutional network and many GPU-hours; on
 * 2 CPU cores within the 120 s fit budget it cannot be trained. The backbone's patch features
 * [h·w, D] are a compact description of each 8 px cell in context, and a per-patch MLP
 * autoencoder f: ℝ^D → ℝ^k → ℝ^D trains on ~10⁵ good patches in seconds.
 *
 * fit:    standardise features per channel (μ, σ over training patches) → train f on
 *         ‖x − f(x)‖² (Adam, seeded) (../../ort/mlp.ts: forward and backward as ORT graphs)
 * score:  x₀ = standardised patch features; T projection steps (./projection.ts, paper Eq. 4);
 *         patch score = ‖x₀ − x_T‖₂; image score = max of the blurred map.
 *
 * Deviations from the paper: a deterministic autoencoder (the paper uses a VAE, whose ELBO
 * gives the energy's reconstruction term; the KL term does not enter the projection), on
 * features instead of pixels (above), and the step clip of ./projection.ts.
 */
import { Rng } from '../../core/random';
import { KensaError, throwIfCancelled } from '../../errors';
import { f32Section } from '../../model-file';
import { initMlp, MlpInputGradRunner, trainMlp, type MlpSpec } from '../../ort/mlp';
import type { Patches } from '../../backbone/feature-extractor';
import type { Detector, Head, HeadOutput } from '../types';
import { channelStats, needPositive, needPositiveInt, paramsFromModel, paramsToArrays, sampleRows, standardise } from '../common/channels';
import { project, type ProjectionOptions } from './projection';

export interface AutoencoderConfig extends Record<string, unknown> {
  hidden: number;
  /** k, the bottleneck width. */
  bottleneck: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  maxRows: number;
  rowsPerEpoch: number;
  /** T, α, λ and the step clip of the projection. */
  projection: ProjectionOptions;
}

export const DEFAULT_AUTOENCODER: AutoencoderConfig = {
  hidden: 256,
  bottleneck: 24,
  epochs: 15,
  batchSize: 512,
  learningRate: 1e-3,
  weightDecay: 1e-5,
  maxRows: 100_000,
  rowsPerEpoch: 50_000,
  projection: { steps: 20, stepSize: 0.05, lambda: 0.1, maxStep: 0.25 },
};

function resolve(partial: Record<string, unknown> = {}): AutoencoderConfig {
  const c = { ...DEFAULT_AUTOENCODER, ...partial, projection: { ...DEFAULT_AUTOENCODER.projection, ...(partial.projection as object | undefined) } } as AutoencoderConfig;
  needPositiveInt(c.hidden, 'hidden width', 4096);
  needPositiveInt(c.bottleneck, 'bottleneck width', 4096);
  needPositiveInt(c.epochs, 'epochs', 1000);
  needPositiveInt(c.batchSize, 'batch size', 65536);
  needPositive(c.learningRate, 'learning rate');
  needPositiveInt(c.maxRows, 'maxRows', 10_000_000);
  needPositiveInt(c.rowsPerEpoch, 'rowsPerEpoch', 10_000_000);
  needPositiveInt(c.projection.steps, 'projection steps', 1000);
  needPositive(c.projection.stepSize, 'projection step size');
  needPositive(c.projection.maxStep, 'projection step clip');
  if (!(c.projection.lambda >= 0)) throw new KensaError('INVALID_ARGUMENT', `projection λ must be ≥ 0, got ${String(c.projection.lambda)}`);
  return c;
}

const specOf = (cfg: AutoencoderConfig, dim: number): MlpSpec => ({ sizes: [dim, cfg.hidden, cfg.bottleneck, cfg.hidden, dim], activation: 'leaky_relu' });

class AutoencoderHead implements Head {
  constructor(
    private readonly runner: MlpInputGradRunner,
    private readonly mean: Float32Array,
    private readonly std: Float32Array,
    private readonly projection: ProjectionOptions,
  ) {}

  async score(p: Patches, _rgb: Uint8Array, i: number): Promise<HeadOutput> {
    const per = p.h * p.w;
    const x0 = standardise(p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim), p.dim, this.mean, this.std);
    const { dist } = await project(this.runner, x0, per, p.dim, this.projection);
    return { patch: dist };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

export const autoencoder: Detector<AutoencoderConfig> = {
  id: 'autoencoder',
  title: 'Autoencoder + projection',
  summary: 'an autoencoder of good patch features; parts are projected onto it by gradient descent, the distance moved is the anomaly',
  trains: true,
  canRefit: false,
  needsPixels: false,
  resolveConfig: resolve,
  async fit(data, cfg, ctx) {
    const { train } = data;
    const dim = train.dim;
    const { mean, std } = channelStats(train.feats, dim);
    const rows = sampleRows(train.feats.length / dim, cfg.maxRows, ctx.input.seed + 13);
    const x = standardise(train.feats, dim, mean, std, rows);
    throwIfCancelled(ctx.signal);
    const spec = specOf(cfg, dim);
    const rng = new Rng(ctx.input.seed * 1000 + 301);
    const params = initMlp(spec, rng);
    const r = await trainMlp(spec, params, { x, t: x, rows: rows.length }, {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.learningRate,
      weightDecay: cfg.weightDecay,
      rng,
      ep: ctx.ep,
      maxRowsPerEpoch: cfg.rowsPerEpoch,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (done, total) => ctx.onProgress?.({ phase: 'train', done, total }),
    });
    const arrays = paramsToArrays('ae/', params, { mean, std });
    return { arrays, state: { trainRows: rows.length, finalLoss: r.losses[r.losses.length - 1] ?? null, losses: r.losses.map((l) => Number(l.toPrecision(5))) } };
  },
  async openHead(model, ctx) {
    const h = model.header;
    const cfg = h.detectorConfig as AutoencoderConfig;
    const dim = h.features.dim;
    const spec = specOf(cfg, dim);
    const runner = await MlpInputGradRunner.create(spec, paramsFromModel(model, 'ae/', spec), ctx.ep);
    return new AutoencoderHead(runner, f32Section(model, 'mean', dim), f32Section(model, 'std', dim), cfg.projection);
  },
  facts(h) {
    const cfg = h.detectorConfig as AutoencoderConfig;
    return [
      { key: 'shape', label: 'Autoencoder', value: `${h.features.dim}→${cfg.hidden}→${cfg.bottleneck}→${cfg.hidden}→${h.features.dim}` },
      { key: 'epochs', label: 'Epochs', value: cfg.epochs },
      { key: 'projection', label: 'Projection steps', value: cfg.projection.steps },
      ...(typeof h.state.finalLoss === 'number' ? [{ key: 'finalLoss', label: 'Final loss (per patch)', value: Number(h.state.finalLoss.toPrecision(4)) }] : []),
    ];
  },
};
