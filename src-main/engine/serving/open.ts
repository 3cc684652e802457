/**
 * Opens the runner for a path (./contract.ts): a `.kensa` model file → the engine's Scorer
 * (./kensa-model.ts); an export folder holding one `*.kensa-export.json` sidecar, or that
 * sidecar itself → onnxruntime-node (./onnx-export.ts). Anything else is a KensaError that
 * says what would have been accepted.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { KensaError } from '../errors';
import type { ModelRunner, RunnerOptions } from './contract';
import { KensaModelRunner } from './kensa-model';
import { OnnxExportRunner, SIDECAR_SUFFIX } from './onnx-export';

export async function openRunner(target: string, opts: RunnerOptions = {}): Promise<ModelRunner> {
  let st;
  try {
    st = await stat(target);
  } catch {
    throw new KensaError('MODEL_NOT_FOUND', `nothing to serve at ${target}: give a .kensa model file or an export folder (with a *${SIDECAR_SUFFIX} sidecar)`, { file: target });
  }
  if (st.isDirectory() || target.endsWith(SIDECAR_SUFFIX)) return OnnxExportRunner.open(target, opts);
  if (path.extname(target).toLowerCase() === '.onnx') {
    throw new KensaError(
      'MODEL_INVALID',
      `${target}: serve the export folder (or its *${SIDECAR_SUFFIX} sidecar), not the .onnx file alone: the sidecar gives the model's input size, resize and threshold`,
      { file: target },
    );
  }
  return KensaModelRunner.open(target, opts);
}
