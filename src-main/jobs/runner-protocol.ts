/**
 * Messages between a RunnerClient (./runner-client.ts) and the model-runner worker
 * (./runner-worker.ts). Plain data (structured clone); pixel and map buffers are transferred.
 */
import type { SerializedKensaError } from '../engine/errors';
import type { ModelContract, RunnerOptions } from '../engine/serving/contract';

export type ToRunner =
  | { type: 'open'; target: string; options: RunnerOptions }
  /** `rgb` is uint8 [n, H, W, 3]; its buffer is transferred. */
  | { type: 'infer'; id: number; rgb: Uint8Array; n: number }
  | { type: 'close' };

export type FromRunner =
  | { type: 'opened'; contract: ModelContract }
  | { type: 'result'; id: number; scores: Float32Array; maps: Float32Array }
  /** id null: the open failed. */
  | { type: 'error'; id: number | null; error: SerializedKensaError }
  | { type: 'closed' };
