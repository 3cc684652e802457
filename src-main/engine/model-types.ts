/**
 * What a fitted PatchCore model says about itself (the JSON header of a `.kensa` file).
 * Plain data: it crosses worker, IPC and JSON boundaries as is.
 */
import type { TapInfo } from './backbone/taps';
import type { EmbeddingConfig } from './backbone/extractor';
import type { CoresetOptions } from './coreset';
import type { ResizeMode } from './imaging/load';

export interface PatchCoreConfig {
  embedding: EmbeddingConfig;
  /** How images are brought to the model input size (default 'stretch': no forced centre crop). */
  resize: ResizeMode;
  coreset: CoresetOptions;
  /** b of Eq. 7 (neighbours of m* in the bank). */
  neighbours: number;
  /** σ of the anomaly-map Gaussian (paper: 4). */
  blurSigma: number;
  /** Share of training images held out of the bank to measure good-part statistics. */
  calibrationShare: number;
  /** At most this many calibration images. */
  calibrationMax: number;
  /** Images per backbone call. */
  batchSize: number;
  /** Tap names; null = the manifest's or discovered. */
  taps: string[] | null;
}

export interface Quantiles {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Statistics of good parts (calibration images scored against the bank). */
export interface GoodStats {
  images: number;
  /** Eq. 7 scores of the calibration images. */
  imageScores: number[];
  imageScore: { mean: number; std: number; max: number };
  /** Anomaly-map pixel values over all calibration images. */
  pixel: Quantiles;
  /**
   * Fixed heatmap colour scale for this model, in raw score units: `low` maps to the cold end,
   * `high` to the hot end. low = median good pixel; high = p99.9 good pixel + 2·(p99.9 − median),
   * so a typical good part stays in the cold third of the scale on every image.
   */
  colourScale: { low: number; high: number };
}

export interface ModelHeader {
  formatVersion: number;
  /** Random id of this model; a refit records its parent's id. */
  id: string;
  parentId: string | null;
  kensaVersion: string;
  createdAt: string;
  backbone: { id: string; file: string; sha256: string; bytes: number };
  taps: TapInfo[];
  config: PatchCoreConfig;
  bank: { size: number; dim: number; grid: [number, number]; patchesBeforeCoreset: number };
  stats: GoodStats;
  fit: {
    images: number;
    calibrationImages: number;
    seconds: number;
    ep: string;
    /** Training images (relative names) and their content hashes. */
    trainImages: { name: string; sha256: string }[];
  };
  /** Set on a model made by extending a parent's bank with new good parts. */
  refit: {
    parentBankSize: number;
    images: { name: string; sha256: string }[];
    addedPatches: number;
    seconds: number;
  } | null;
  sections: unknown[];
}
