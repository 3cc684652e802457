/**
 * The serving contract (./contract.ts) over a `.kensa` model: the engine's own Scorer
 * (detectors/pipeline.ts) on pixels already at the input size (`Scorer.scoreRgb`), so `score`
 * and `map` are exactly what `kensa score` computes for the same pixels, for every detector.
 *
 * Metadata parameters come from the model header: detector, model id and Kensa version,
 * backbone, input size and resize, blur σ, the fixed colour scale and the good-part score
 * statistics. A `.kensa` file holds no threshold (thresholds live in a project), so none is
 * given. Failures: loadModel's and openScorer's KensaErrors (MODEL_NOT_FOUND, MODEL_INVALID,
 * BACKBONE_NOT_FOUND, MODEL_BACKBONE_MISMATCH), naming the file.
 */
import path from 'node:path';
import { openScorer } from '../detectors/registry';
import type { Scorer } from '../detectors/pipeline';
import { loadModel } from '../model-file';
import { servingName, type ModelContract, type ModelRunner, type ParameterValue, type RunnerOptions, type RunnerOutput } from './contract';

export class KensaModelRunner implements ModelRunner {
  private constructor(
    private readonly scorer: Scorer,
    readonly contract: ModelContract,
  ) {}

  static async open(file: string, opts: RunnerOptions = {}): Promise<KensaModelRunner> {
    const model = await loadModel(file);
    const scorer = await openScorer(model, { ...(opts.backbone === undefined ? {} : { backbone: opts.backbone }), ...(opts.ep === undefined ? {} : { ep: opts.ep }) });
    const h = model.header;
    const { width, height } = h.config.embedding;
    const parameters: Record<string, ParameterValue> = {
      detector: h.detector,
      model_id: h.id,
      kensa_version: h.kensaVersion,
      created_at: h.createdAt,
      backbone: h.backbone.id,
      input_width: width,
      input_height: height,
      resize: h.config.resize,
      blur_sigma: h.config.blurSigma,
      colour_scale_low: h.stats.colourScale.low,
      colour_scale_high: h.stats.colourScale.high,
    };
    if (h.stats.images > 0) {
      parameters.good_images = h.stats.images;
      parameters.good_score_mean = h.stats.imageScore.mean;
      parameters.good_score_std = h.stats.imageScore.std;
      parameters.good_score_max = h.stats.imageScore.max;
    }
    const contract: ModelContract = {
      name: servingName(path.basename(file, path.extname(file))),
      version: '1',
      platform: 'kensa',
      width,
      height,
      resize: h.config.resize,
      parameters,
      source: path.resolve(file),
      ep: scorer.ep,
    };
    return new KensaModelRunner(scorer, contract);
  }

  async infer(rgb: Uint8Array, n: number): Promise<RunnerOutput> {
    const scored = await this.scorer.scoreRgb(rgb, n);
    const px = this.contract.width * this.contract.height;
    const scores = new Float32Array(n);
    const maps = new Float32Array(n * px);
    scored.forEach((s, i) => {
      scores[i] = s.score;
      maps.set(s.map, i * px);
    });
    return { scores, maps };
  }

  async release(): Promise<void> {
    await this.scorer.release();
  }
}
