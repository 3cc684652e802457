/**
 * The detector seam. Every detector (PatchCore, PaDiM, student–teacher, autoencoder, fusion)
 * is one implementation of `Detector`; fitting, refitting, scoring, the model file, the worker
 * jobs, the CLI, the services, the store and the UI go through it and never name a detector's
 * internals.
 *
 * What is shared, and lives once in ./pipeline.ts: decoding with read-ahead, batched feature
 * extraction through the backbone taps, the held-out calibration split, the good-part
 * statistics and the fixed colour scale, the map upsample + Gaussian blur, the scorer loop.
 *
 * What a detector supplies:
 *   resolveConfig(partial)          its own settings, validated (INVALID_ARGUMENT on bad values)
 *   fit(data, ctx)                  arrays + state from the training parts' features (and pixels)
 *   refit?(parent, data, ctx)       a new version from a parent and new good parts (optional)
 *   openHead(model, ctx)            a head: patch features of one image → patch scores [h·w]
 *                                   (+ its own image score where the paper defines one)
 *   facts(header)                   lines for the UI ("Memory bank: 12,345 patches")
 *
 * Every detector ends in the same outputs: an image score, an anomaly map at input size and
 * good-part statistics from held-out calibration parts, so thresholds, heatmaps, reports and
 * refits work unchanged whichever detector made the model.
 */
import type { Patches } from '../backbone/feature-extractor';
import type { SerializedKensaError } from '../errors';
import type { LoadedModel, ModelArrays } from '../model-file';
import type { DetectorFact, DetectorId, InputConfig, ModelHeader } from '../model-types';
import type { ExecutionProvider } from '../ort/session';

export interface Progress {
  /** Shared phases: features, calibrate, score; detector phases: coreset, neighbours, gaussian, train, … */
  phase: string;
  done: number;
  total: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface FileError {
  file: string;
  error: SerializedKensaError;
}

/** Patch features (and pixels) of a set of images, image-major. */
export interface FeatureSet {
  /** [n·h·w, dim] row-major. */
  feats: Float32Array;
  /** Decoded images at the model input size, uint8 RGB interleaved [n, H, W, 3]. */
  rgb: Uint8Array;
  n: number;
  dim: number;
  grid: [number, number];
  /** Model input size. */
  width: number;
  height: number;
}

export interface DetectorContext extends RunOptions {
  ep: ExecutionProvider;
  /** The shared settings of this fit (seed, input size, blur). */
  input: InputConfig;
  /** Other detectors by id (fusion fits and opens its members through this). */
  resolve?: (id: string) => AnyDetector;
}

/** The good parts a fit learns from: the training images and the held-out calibration images. */
export interface FitData {
  train: FeatureSet;
  /** Held out of training (null when there were too few images); the pipeline measures good-part statistics on them. */
  calibration: FeatureSet | null;
}

/** What a fit or refit produced for the model file. */
export interface DetectorFit {
  arrays: ModelArrays;
  /** Small JSON facts (bank size, epochs, final loss, …), kept in the header. */
  state: Record<string, unknown>;
  /** Refit only: how many new entries the new good parts contributed. */
  added?: number;
}

/** One image's output of a head, before the shared map step. */
export interface HeadOutput {
  /** Patch anomaly scores [h·w], raw units of the detector. */
  patch: Float32Array;
  /** The detector's own image score (PatchCore Eq. 7); when absent, the max of the blurred map. */
  imageScore?: number;
  /** Largest patch score (s* of PatchCore Eq. 6, or the map max). */
  maxPatchScore?: number;
}

export interface HeadTiming {
  /** Time spent in the detector's own graphs (NN search, Mahalanobis, students, projection). */
  headMs: number;
}

/** A fitted detector ready to score: patch features in, patch scores out. */
export interface Head {
  /** Scores image `i` of a batch of patch features (and the batch's pixels, for heads that use them). */
  score(p: Patches, rgb: Uint8Array, i: number): Promise<HeadOutput>;
  release(): Promise<void>;
}

/** The shared map step, lent to heads that combine other heads (fusion). */
export interface MapStep {
  /** Patch scores [h·w] → anomaly map at input size [H·W] (bilinear upsample + Gaussian blur). */
  map(patch: Float32Array): Promise<Float32Array>;
}

export interface HeadContext {
  ep: ExecutionProvider;
  mapStep: MapStep;
  resolve?: (id: string) => AnyDetector;
}

export interface Detector<Cfg extends Record<string, unknown> = Record<string, unknown>> {
  readonly id: DetectorId;
  readonly title: string;
  /** One sentence for the fit screen and `kensa compare`. */
  readonly summary: string;
  /** True when fitting trains networks (progress in epochs, seconds to minutes). */
  readonly trains: boolean;
  /** True when a refit (new good parts into the model) is supported. */
  readonly canRefit: boolean;
  /** Needs decoded pixels of the images besides their patch features (student–teacher). */
  readonly needsPixels: boolean;
  resolveConfig(partial?: Record<string, unknown>): Cfg;
  fit(data: FitData, cfg: Cfg, ctx: DetectorContext): Promise<DetectorFit>;
  refit?(parent: LoadedModel, data: FeatureSet, ctx: DetectorContext): Promise<DetectorFit>;
  openHead(model: LoadedModel, ctx: HeadContext): Promise<Head>;
  facts(header: ModelHeader): DetectorFact[];
}

export type AnyDetector = Detector<Record<string, unknown>>;
