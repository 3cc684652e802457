/**
 * Iterative energy-based projection (Dehaene et al., "Iterative energy-based projection on a
 * normal data manifold for anomaly localization", ICLR 2020, §3), on patch features.
 *
 *   E(x)    = ‖x − f(x)‖² + λ‖x − x₀‖₁                     energy (f = the autoencoder)
 *   ∇E(x)   = 2(x − f(x)) − 2 J_fᵀ(x − f(x)) + λ sign(x − x₀)
 *   x_{t+1} = x_t − α · (∇E(x_t) ⊙ (x_t − f(x_t))²)           (paper Eq. 4: the gradient is
 *                                                             weighted by the squared residual, so
 *                                                             badly reconstructed regions move)
 *   map     = ‖x₀ − x_T‖₂ per patch                           (paper: |x₀ − x_T|, over pixels)
 *
 * Deviation: each update is clipped to |Δ| ≤ `maxStep` per coordinate. In standardised feature
 * units the residuals of a defect reach several σ, and the squared weighting would otherwise
 * make steps diverge (the paper's pixels live in [0, 1], where it does not). sign(0) is 0.
 *
 * Layouts: x [rows, D] row-major.
 */
import type { MlpInputGradRunner } from '../../ort/mlp';

export interface ProjectionOptions {
  steps: number;
  /** α */
  stepSize: number;
  /** λ */
  lambda: number;
  maxStep: number;
}

/** One projection step in place on `x` (x₀ the start), given the runner's r = x − f(x) and gx = ∂‖x − f(x)‖²/∂x. */
export function projectionStep(x: Float32Array, x0: Float32Array, r: Float32Array, gx: Float32Array, o: ProjectionOptions): void {
  for (let k = 0; k < x.length; k++) {
    const dev = x[k]! - x0[k]!;
    const grad = gx[k]! + o.lambda * (dev > 0 ? 1 : dev < 0 ? -1 : 0);
    let step = o.stepSize * grad * r[k]! * r[k]!;
    if (step > o.maxStep) step = o.maxStep;
    else if (step < -o.maxStep) step = -o.maxStep;
    x[k] = x[k]! - step;
  }
}

/** Projects rows x₀ for `steps` steps; returns x_T and the per-row distance ‖x₀ − x_T‖₂ and initial reconstruction error. */
export async function project(runner: MlpInputGradRunner, x0: Float32Array, rows: number, dim: number, o: ProjectionOptions): Promise<{ xT: Float32Array; dist: Float32Array; recon0: Float32Array }> {
  const x = Float32Array.from(x0);
  let recon0: Float32Array | null = null;
  for (let t = 0; t < o.steps; t++) {
    const g = await runner.run(x, rows);
    if (recon0 === null) recon0 = Float32Array.from(g.recon);
    projectionStep(x, x0, g.r, g.gx, o);
  }
  if (recon0 === null) recon0 = Float32Array.from((await runner.run(x, rows)).recon);
  const dist = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (x0[i * dim + k]! - x[i * dim + k]!) ** 2;
    dist[i] = Math.sqrt(s);
  }
  return { xT: x, dist, recon0 };
}
