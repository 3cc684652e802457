/**
 * Messages between the caller (CLI, main process) and the engine worker thread.
 * Everything is plain data (structured clone): no class instances, errors serialized.
 */
import type { SerializedKensaError } from '../engine/errors';
import type { EpRequest } from '../engine/ort/session';
import type { PartialInput } from '../engine/detectors/pipeline';
import type { Progress, FileError } from '../engine/detectors/types';
import type { ModelHeader } from '../engine/model-types';
import type { EvalReport } from '../engine/eval';

export interface FitJob {
  kind: 'fit';
  files: string[];
  /** Where the model is written (atomically, only when the fit completes). */
  out: string;
  /** Detector id (default patchcore). */
  detector?: string;
  backbone?: string;
  /** Shared input settings (size, blur, calibration, seed). */
  input?: PartialInput;
  /** The detector's own settings. */
  config?: Record<string, unknown>;
  ep?: EpRequest;
  baseDir?: string;
}

export interface ScoreJob {
  kind: 'score';
  model: string;
  files: string[];
  backbone?: string;
  ep?: EpRequest;
  /** When set, a heatmap overlay PNG per image is written here. */
  heatmapsDir?: string;
  /**
   * When set, each image's raw anomaly map is saved as a 16-bit PNG (engine/imaging/mapfile)
   * at `dir/names[i]`, on the scale 0..max.
   */
  maps?: { dir: string; names: string[]; max: number };
}

export interface RefitJob {
  kind: 'refit';
  /** The parent model file. */
  model: string;
  /** Good parts (reviewed false alarms) whose patches join the bank. */
  files: string[];
  /** Where the new model is written (atomically, only when the refit completes). */
  out: string;
  backbone?: string;
  ep?: EpRequest;
  baseDir?: string;
}

export interface LearnJob {
  kind: 'learn';
  /** The parent model file. */
  model: string;
  /** Every reviewed part: file, verdict, defect type, drawn region mask (image size). */
  reviewed: { id: number; file: string; label: 0 | 1; defectType: string | null; mask: { width: number; height: number; data: Uint8Array } | null }[];
  /** Held-out id sets for out-of-fold scores (see engine/review/learn.ts). */
  folds?: number[][];
  /** Where the new model is written (atomically, only when training completes). */
  out: string;
  backbone?: string;
  ep?: EpRequest;
  config?: Record<string, unknown>;
}

/**
 * A scoring session for parts that arrive one by one (the line): the model and backbone are
 * loaded once, files are fed with `feed` messages while it runs, and each yields an `item`
 * in feed order. It ends after `end` once everything fed is scored, or at `cancel`.
 */
export interface StreamJob {
  kind: 'stream';
  model: string;
  backbone?: string;
  ep?: EpRequest;
  /** Raw anomaly maps: each fed item names its file in `dir` (16-bit PNG, scale 0..max). */
  maps?: { dir: string; max: number };
}

/** One part for a stream job: the file, and the map file name to write (when maps are on). */
export interface StreamItem {
  file: string;
  map?: string;
}

export interface EvalJob {
  kind: 'eval';
  dataset: string;
  detector?: string;
  backbone?: string;
  input?: PartialInput;
  config?: Record<string, unknown>;
  ep?: EpRequest;
  /** Optional: also save the fitted model here. */
  modelOut?: string;
}

export type JobSpec = FitJob | ScoreJob | EvalJob | RefitJob | LearnJob | StreamJob;

export interface FitSummary {
  kind: 'fit' | 'refit' | 'learn';
  out: string;
  header: Omit<ModelHeader, 'sections'>;
  skipped: FileError[];
  /** Learn only: out-of-fold image scores of the reviewed parts. */
  outOfFold?: { id: number; score: number }[];
}

/** One scored file (no map: maps stay in the worker unless written as heatmaps). */
export type ScoreItem =
  | {
      ok: true;
      file: string;
      score: number;
      maxPatchScore: number;
      imageWidth: number;
      imageHeight: number;
      sha256: string;
      heatmap?: string;
      /** File name of the saved map (ScoreJob.maps / StreamItem.map) and its size in bytes. */
      map?: string;
      mapBytes?: number;
      timing: { decodeMs: number; backboneMs: number; headMs: number; mapMs: number };
    }
  | { ok: false; file: string; error: SerializedKensaError };

export interface ScoreSummary {
  kind: 'score' | 'stream';
  model: string;
  ep: string;
  scored: number;
  failed: number;
}

export interface EvalSummary {
  kind: 'eval';
  report: EvalReport;
}

export type JobResult = FitSummary | ScoreSummary | EvalSummary;

/** What each job kind resolves to. */
export type ResultOf<J extends JobSpec> = J extends FitJob | RefitJob | LearnJob ? FitSummary : J extends ScoreJob | StreamJob ? ScoreSummary : EvalSummary;

export type ToWorker =
  | { type: 'start'; id: number; job: JobSpec }
  | { type: 'cancel'; id: number }
  /** More parts for a running stream job. */
  | { type: 'feed'; id: number; items: StreamItem[] }
  /** No more parts for a stream job: finish what was fed, then resolve. */
  | { type: 'end'; id: number };

export type FromWorker =
  | { type: 'progress'; id: number; progress: Progress | { phase: string; done: number; total: number } }
  | { type: 'item'; id: number; item: ScoreItem }
  | { type: 'done'; id: number; result: JobResult }
  | { type: 'error'; id: number; error: SerializedKensaError };
