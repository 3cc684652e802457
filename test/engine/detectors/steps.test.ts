/**
 * The detectors' own steps against small cases computed by hand: the student–teacher ensemble
 * error and predictive variance, the students' pixel windows, one iterative-projection step,
 * and fusion's normalisation.
 */
import { describe, it, expect } from 'vitest';
import { errorAndVariance } from '../../../src-main/engine/detectors/student-teacher';
import { buildStudentInputGraph, WINDOW, WINDOW_DIM } from '../../../src-main/engine/detectors/student-teacher/student-input';
import { projectionStep } from '../../../src-main/engine/detectors/autoencoder/projection';
import { createSession, ort } from '../../../src-main/engine/ort/session';
import { Rng } from '../../../src-main/engine/core/random';

describe('student–teacher: regression error and predictive variance (paper Eq. 6–7)', () => {
  it('one patch, three students, D = 2, by hand', () => {
    // Students predict (1, 2), (3, 2), (2, 5); teacher (2, 2).
    //   μ = ((1+3+2)/3, (2+2+5)/3) = (2, 3)
    //   e = ‖μ − t‖² = (2−2)² + (3−2)² = 1
    //   v = (1/M)Σ‖S_i‖² − ‖μ‖² = ((1+4) + (9+4) + (4+25))/3 − (4+9) = 47/3 − 13 = 8/3
    const outs = [Float32Array.of(1, 2), Float32Array.of(3, 2), Float32Array.of(2, 5)];
    const { e, v } = errorAndVariance(outs, Float32Array.of(2, 2), 1, 2);
    expect(e[0]).toBeCloseTo(1, 6);
    expect(v[0]).toBeCloseTo(8 / 3, 5);
  });

  it('agreeing students have zero variance; rows are independent', () => {
    const outs = [Float32Array.of(1, 1, 0, 0), Float32Array.of(1, 1, 2, 0), Float32Array.of(1, 1, 4, 0)];
    const { e, v } = errorAndVariance(outs, Float32Array.of(1, 1, 0, 0), 2, 2);
    expect(e[0]).toBe(0);
    expect(v[0]).toBe(0);
    // row 2: predictions 0, 2, 4 on dim 0 → μ = 2, e = 4, v = (0+4+16)/3 − 4 = 8/3
    expect(e[1]).toBeCloseTo(4, 6);
    expect(v[1]).toBeCloseTo(8 / 3, 5);
  });
});

describe('student input: the pixels of each patch’s window', () => {
  it('equals a JS im2col of the normalised, 2×2-pooled image, in the teacher’s patch order', async () => {
    const H = 64;
    const W = 64;
    const rng = new Rng(3);
    const img = Uint8Array.from({ length: H * W * 3 }, () => rng.int(256));
    const mean: [number, number, number] = [0.4, 0.5, 0.6];
    const std: [number, number, number] = [0.2, 0.25, 0.3];
    const s = await createSession(buildStudentInputGraph(H, W, mean, std), { ep: 'cpu' });
    const out = (await s.run({ image: new ort.Tensor('uint8', img, [1, H, W, 3]) })).windows!;
    await s.release();
    const grid = H / 8;
    expect(out.dims).toEqual([grid * grid, WINDOW_DIM]);
    const got = out.data as Float32Array;
    const pooled = (c: number, y: number, x: number): number => {
      if (y < 0 || x < 0 || y >= H / 2 || x >= W / 2) return 0; // zero padding
      let s2 = 0;
      for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) s2 += (img[((2 * y + dy) * W + 2 * x + dx) * 3 + c]! / 255 - mean[c]!) / std[c]!;
      return s2 / 4;
    };
    let worst = 0;
    for (const [gy, gx] of [[0, 0], [3, 5], [7, 7], [2, 6]] as const) {
      for (let c = 0; c < 3; c++)
        for (let ky = 0; ky < WINDOW; ky++)
          for (let kx = 0; kx < WINDOW; kx++) {
            const want = pooled(c, gy * 4 - 6 + ky, gx * 4 - 6 + kx);
            const v = got[(gy * grid + gx) * WINDOW_DIM + c * WINDOW * WINDOW + ky * WINDOW + kx]!;
            worst = Math.max(worst, Math.abs(v - want));
          }
    }
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('iterative energy-based projection: one step (Dehaene et al. Eq. 4)', () => {
  it('x₁ = x₀ − α (∇E ⊙ r²), ∇E = ∂‖x − f(x)‖² + λ sign(x − x₀), clipped', () => {
    // x = (1, 2, 3), x₀ = (1, 1.5, 3.5), r = x − f(x) = (0.5, −1, 2), ∂‖r‖²/∂x = (0.4, −0.2, 1)
    // α = 0.1, λ = 0.5, clip 0.25:
    //   k=0: dev 0 → sign 0: grad 0.4,          step 0.1·0.4·0.25  = 0.01   → 0.99
    //   k=1: dev +0.5 → +λ: grad −0.2+0.5 = 0.3, step 0.1·0.3·1     = 0.03   → 1.97
    //   k=2: dev −0.5 → −λ: grad 1−0.5 = 0.5,    step 0.1·0.5·4 = 0.2 (< clip) → 2.8
    const x = Float32Array.of(1, 2, 3);
    projectionStep(x, Float32Array.of(1, 1.5, 3.5), Float32Array.of(0.5, -1, 2), Float32Array.of(0.4, -0.2, 1), { steps: 1, stepSize: 0.1, lambda: 0.5, maxStep: 0.25 });
    expect(x[0]).toBeCloseTo(0.99, 6);
    expect(x[1]).toBeCloseTo(1.97, 6);
    expect(x[2]).toBeCloseTo(2.8, 6);
  });

  it('a large weighted step is clipped to maxStep', () => {
    const x = Float32Array.of(0);
    projectionStep(x, Float32Array.of(0), Float32Array.of(3), Float32Array.of(6), { steps: 1, stepSize: 0.1, lambda: 0, maxStep: 0.25 });
    // unclipped: 0.1 · 6 · 9 = 5.4
    expect(x[0]).toBeCloseTo(-0.25, 6);
  });
});
