/**
 * What a fitted model says about itself (the JSON header of a `.kensa` file), for every
 * detector. Plain data: it crosses worker, IPC and JSON boundaries as is.
 *
 * The header has a shared part that every detector fills the same way (backbone, taps, the
 * input/feature settings, good-part statistics, fit record) and a detector part: `detector`
 * (its id), `detectorConfig` (its own settings) and `state` (its own small facts, e.g.
 * PatchCore's bank size). Arrays live in named sections (./model-file.ts).
 */
import type { TapInfo } from './backbone/taps';
import type { EmbeddingConfig } from './backbone/extractor';
import type { ResizeMode } from './imaging/load';
import type { ReviewHeadInfo } from './review/head';

/** The detectors Kensa knows (./detectors/registry.ts). */
export const DETECTOR_IDS = ['patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion'] as const;
export type DetectorId = (typeof DETECTOR_IDS)[number];

/** Settings every detector shares: how images become patch features and maps. */
export interface InputConfig {
  embedding: EmbeddingConfig;
  /** How images are brought to the model input size (default 'stretch': no forced centre crop). */
  resize: ResizeMode;
  /** σ of the anomaly-map Gaussian (PatchCore and PaDiM papers: 4). */
  blurSigma: number;
  /** Share of training images held out of fitting to measure good-part statistics. */
  calibrationShare: number;
  /** At most this many calibration images. */
  calibrationMax: number;
  /** Images per backbone call. */
  batchSize: number;
  /** Tap names; null = the manifest's or discovered. */
  taps: string[] | null;
  /** Seed of every random choice of a fit (calibration split, coreset start, channel subset, initialisation). */
  seed: number;
}

export interface Quantiles {
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** Statistics of good parts (held-out calibration images scored by the fitted detector). */
export interface GoodStats {
  images: number;
  /** Image scores of the calibration images. */
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

/** One line a detector shows about a fitted model ("Memory bank: 12,345 patches"). */
export interface DetectorFact {
  key: string;
  label: string;
  value: number | string;
  unit?: string;
}

export interface ModelHeader {
  formatVersion: number;
  detector: DetectorId;
  /** Random id of this model; a refit records its parent's id. */
  id: string;
  parentId: string | null;
  kensaVersion: string;
  createdAt: string;
  backbone: { id: string; file: string; sha256: string; bytes: number };
  taps: TapInfo[];
  config: InputConfig;
  /** The detector's own settings (its resolveConfig output). */
  detectorConfig: Record<string, unknown>;
  /** Patch features the detector works on: D and the patch grid [h, w]. */
  features: { dim: number; grid: [number, number] };
  /** The detector's own small facts (JSON); large arrays go into sections. */
  state: Record<string, unknown>;
  stats: GoodStats;
  fit: {
    images: number;
    calibrationImages: number;
    seconds: number;
    ep: string;
    /** Training images (relative names) and their content hashes. */
    trainImages: { name: string; sha256: string }[];
  };
  /** Set on a model made from a parent model and new good parts (a refit). */
  refit: {
    parentSize: number;
    images: { name: string; sha256: string }[];
    added: number;
    seconds: number;
  } | null;
  /** The head learned from reviewed parts (./review/head.ts), added to the detector's output; absent/null = none. */
  review?: ReviewHeadInfo | null;
  sections: unknown[];
}

export type ModelHeaderDraft = Omit<ModelHeader, 'sections'>;
