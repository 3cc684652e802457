/**
 * Per-channel statistics of patch features and small helpers the trained detectors share.
 *
 * Layouts: feats [N, D] row-major; mean, std [D].
 */
import { KensaError } from '../../errors';
import type { MlpParams, MlpSpec } from '../../ort/mlp';
import type { LoadedModel, ModelArrays } from '../../model-file';
import { f32Section } from '../../model-file';
import { Rng } from '../../core/random';

/** Mean and standard deviation of every channel over all rows (float64 sums). */
export function channelStats(feats: Float32Array, dim: number): { mean: Float32Array; std: Float32Array } {
  const n = feats.length / dim;
  const s = new Float64Array(dim);
  const s2 = new Float64Array(dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let k = 0; k < dim; k++) {
      const v = feats[o + k]!;
      s[k] += v;
      s2[k] += v * v;
    }
  }
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let k = 0; k < dim; k++) {
    const m = s[k]! / n;
    mean[k] = m;
    std[k] = Math.sqrt(Math.max(s2[k]! / n - m * m, 0)) + 1e-6;
  }
  return { mean, std };
}

/** (x − mean) / std of rows `rows` (all rows when null), into a new array [rows, D]. */
export function standardise(feats: Float32Array, dim: number, mean: Float32Array, std: Float32Array, rows: Int32Array | null = null): Float32Array {
  const n = rows === null ? feats.length / dim : rows.length;
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const src = (rows === null ? i : rows[i]!) * dim;
    const dst = i * dim;
    for (let k = 0; k < dim; k++) out[dst + k] = (feats[src + k]! - mean[k]!) / std[k]!;
  }
  return out;
}

/** Up to `max` distinct row indices of `n`, seeded, ascending (all rows when n ≤ max). */
export function sampleRows(n: number, max: number, seed: number): Int32Array {
  if (n <= max) return Int32Array.from({ length: n }, (_, i) => i);
  const p = new Rng(seed).permutation(n).subarray(0, max);
  return Int32Array.from(p).sort();
}

/** An MLP's parameters as model sections `${prefix}W0`, `${prefix}b0`, … */
export function paramsToArrays(prefix: string, params: MlpParams, into: ModelArrays = {}): ModelArrays {
  params.weights.forEach((w, l) => (into[`${prefix}W${l}`] = w));
  params.biases.forEach((b, l) => (into[`${prefix}b${l}`] = b));
  return into;
}

/** The MLP parameters stored by paramsToArrays, checked against the spec. */
export function paramsFromModel(model: LoadedModel, prefix: string, spec: MlpSpec): MlpParams {
  const L = spec.sizes.length - 1;
  const p: MlpParams = { weights: [], biases: [] };
  for (let l = 0; l < L; l++) {
    p.weights.push(f32Section(model, `${prefix}W${l}`, spec.sizes[l]! * spec.sizes[l + 1]!));
    p.biases.push(f32Section(model, `${prefix}b${l}`, spec.sizes[l + 1]!));
  }
  return p;
}

export function needPositiveInt(v: unknown, what: string, max = 1e9): number {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= max)) throw new KensaError('INVALID_ARGUMENT', `${what} must be an integer from 1 to ${max}, got ${String(v)}`);
  return v;
}

export function needPositive(v: unknown, what: string): number {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) throw new KensaError('INVALID_ARGUMENT', `${what} must be a positive number, got ${String(v)}`);
  return v;
}
