/**
 * A running patch-feature extractor: the extractor graph (./extractor.ts) in an ORT session.
 * `extract(rgb, n)` takes n decoded images, uint8 RGB interleaved [n, H, W, 3], and returns
 * patch embeddings [n·h·w, D] row-major.
 */
import { KensaError } from '../errors';
import { createSession, ort, type ExecutionProvider } from '../ort/session';
import type { BackboneFile } from './backbone';
import { buildExtractorGraph, embeddingDim, type EmbeddingConfig } from './extractor';
import { discoverTaps, type TapInfo } from './taps';

export interface Patches {
  /** [n·h·w, dim] row-major. */
  data: Float32Array;
  n: number;
  h: number;
  w: number;
  dim: number;
}

export class FeatureExtractor {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly taps: TapInfo[],
    readonly config: EmbeddingConfig,
    readonly dim: number,
  ) {}

  /** Taps: explicit names (config or a saved model) win; else the manifest's; else discovered. */
  static async create(backbone: BackboneFile, config: EmbeddingConfig, ep: ExecutionProvider, tapNames?: string[]): Promise<FeatureExtractor> {
    const names = tapNames ?? backbone.taps;
    const taps = await discoverTaps(backbone.model, backbone.file, names, Math.max(config.width, config.height));
    const bytes = buildExtractorGraph(backbone.model, backbone.file, taps, config);
    let session: ort.InferenceSession;
    try {
      session = await createSession(bytes, { ep });
    } catch (e) {
      throw new KensaError('BACKBONE_INVALID', `backbone ${backbone.file}: the feature graph could not be built (${(e as Error).message.split('\n')[0]})`, {
        file: backbone.file,
        cause: e,
      });
    }
    return new FeatureExtractor(session, taps, config, embeddingDim(taps, config));
  }

  async extract(rgb: Uint8Array, n: number): Promise<Patches> {
    const { width, height } = this.config;
    if (rgb.length !== n * width * height * 3) throw new Error(`extract: ${rgb.length} bytes for ${n} images of ${width}×${height}×3`);
    const out = await this.session.run({ image: new ort.Tensor('uint8', rgb, [n, height, width, 3]) });
    const grid = out.grid!.data as BigInt64Array;
    const patches = out.patches!;
    return { data: patches.data as Float32Array, n, h: Number(grid[0]), w: Number(grid[1]), dim: this.dim };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
