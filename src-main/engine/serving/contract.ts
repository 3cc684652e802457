/**
 * A model runner: one fitted model behind the serving contract, whatever made it.
 *
 *   input   images  UINT8 [N, H, W, 3]   RGB pixels at the model input size (H, W), images back
 *                                        to back, brought there as the engine's loader does
 *                                        (engine/imaging/load.ts: sharp, lanczos3, `resize`)
 *   output  score   FP32  [N]            raw image score, exactly the engine's
 *   output  map     FP32  [N, H, W]      raw anomaly map at the input size
 *
 * Two runners speak it: ./kensa-model.ts (a `.kensa` file through the engine's Scorer) and
 * ./onnx-export.ts (an exported ONNX graph in onnxruntime-node, found by its
 * `<name>.kensa-export.json` sidecar); ./open.ts picks one from the path. A runner scores
 * one call at a time and blocks its thread while ORT runs (onnxruntime-node's run is
 * synchronous), so servers host it in a worker thread (src-main/jobs/runner-client.ts).
 *
 * Failures: every model or export problem is a KensaError naming the file (MODEL_NOT_FOUND,
 * MODEL_INVALID, MODEL_BACKBONE_MISMATCH, …); a failed run rejects `infer`.
 */
import { tritonName } from '../export/serving';
import type { ResizeMode } from '../imaging/load';
import type { EpRequest } from '../ort/session';

export const INPUT_NAME = 'images';
export const SCORE_OUTPUT = 'score';
export const MAP_OUTPUT = 'map';

/** A metadata fact: the protocol's `$parameters` values are strings, numbers or booleans only. */
export type ParameterValue = string | number | boolean;

/** What a runner serves, for the protocol's model metadata and the clients' preprocessing. */
export interface ModelContract {
  /** Default serving name (the file's stem, made URL-safe). */
  name: string;
  /** The version served (the model repository's version folder, else "1"). */
  version: string;
  /** `kensa` (the engine) or `onnxruntime_onnx` (Triton's name for an ONNX Runtime model). */
  platform: 'kensa' | 'onnxruntime_onnx';
  /** Model input size: `images` is [N, height, width, 3]. */
  width: number;
  height: number;
  /** How images are brought to width × height (engine/imaging/load.ts). */
  resize: ResizeMode;
  /** Facts about the model (detector, colour scale, threshold where known, …), snake_case. */
  parameters: Record<string, ParameterValue>;
  /** The file served, for messages. */
  source: string;
  /** The execution provider that runs it. */
  ep: string;
}

export interface RunnerOutput {
  /** [N] raw image scores. */
  scores: Float32Array;
  /** [N, H, W] raw anomaly maps, row-major. */
  maps: Float32Array;
}

export interface ModelRunner {
  readonly contract: ModelContract;
  /** Scores `n` images, uint8 [n, H, W, 3]; the caller has checked the byte count. */
  infer(rgb: Uint8Array, n: number): Promise<RunnerOutput>;
  release(): Promise<void>;
}

export interface RunnerOptions {
  /** Backbone path/id override for `.kensa` models (must have the model's sha256). */
  backbone?: string;
  ep?: EpRequest;
}

/**
 * The file stem as a serving name, the same one the export's Triton repository uses
 * (engine/export/serving.ts `tritonName`: letters, digits, `_`, `-`, `.`), at most 128 long.
 */
export function servingName(stem: string): string {
  return tritonName(stem).slice(0, 128);
}
