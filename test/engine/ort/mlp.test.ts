/**
 * The runtime-built MLP graphs (forward, hand-written backward, input gradient) vs float64
 * plain-JS references and central finite differences; Adam by hand; trainMlp on a toy problem.
 */
import { describe, it, expect } from 'vitest';
import { Rng } from '../../../src-main/engine/core/random';
import {
  Adam,
  MlpInputGradRunner,
  MlpRunner,
  buildMlpForwardGraph,
  buildMlpInputGradGraph,
  buildMlpTrainStepGraph,
  cloneParams,
  initMlp,
  trainMlp,
  type MlpParams,
  type MlpSpec,
} from '../../../src-main/engine/ort/mlp';
import { createSession, ort } from '../../../src-main/engine/ort/session';

function gaussian(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal() * scale;
  return x;
}

/** Random params with non-zero biases (initMlp's are zero). */
function randomParams(spec: MlpSpec, seed: number): MlpParams {
  const p = initMlp(spec, new Rng(seed));
  const rng = new Rng(seed + 1000);
  for (const b of p.biases) for (let i = 0; i < b.length; i++) b[i] = rng.normal() * 0.3;
  return p;
}

/** float64 forward; also returns every pre-activation (for the kink check). */
function refForward(spec: MlpSpec, p: MlpParams, x: ArrayLike<number>, rows: number): { y: Float64Array; z: number[] } {
  const L = spec.sizes.length - 1;
  let h = Float64Array.from(x);
  const zs: number[] = [];
  for (let l = 0; l < L; l++) {
    const din = spec.sizes[l]!;
    const dout = spec.sizes[l + 1]!;
    const W = p.weights[l]!;
    const b = p.biases[l]!;
    const out = new Float64Array(rows * dout);
    for (let n = 0; n < rows; n++) {
      for (let j = 0; j < dout; j++) {
        let s = b[j]!;
        for (let k = 0; k < din; k++) s += h[n * din + k]! * W[k * dout + j]!;
        if (l < L - 1) {
          zs.push(s);
          s = s > 0 ? s : spec.activation === 'relu' ? 0 : 0.01 * s;
        }
        out[n * dout + j] = s;
      }
    }
    h = out;
  }
  return { y: h, z: zs };
}

function refLoss(spec: MlpSpec, p: MlpParams, x: Float32Array, t: Float32Array, rows: number): number {
  const { y } = refForward(spec, p, x, rows);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (y[i]! - t[i]!) ** 2;
  return s / rows;
}

function refRecon(spec: MlpSpec, p: MlpParams, x: ArrayLike<number>, rows: number): Float64Array {
  const { y } = refForward(spec, p, x, rows);
  const D = spec.sizes[0]!;
  const out = new Float64Array(rows);
  for (let n = 0; n < rows; n++) for (let k = 0; k < D; k++) out[n] += (x[n * D + k]! - y[n * D + k]!) ** 2;
  return out;
}

/** ‖a − b‖ / ‖b‖ */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

async function runOnce(model: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(model, { ep: 'cpu' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function paramFeeds(spec: MlpSpec, p: MlpParams): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = {};
  for (let l = 0; l + 1 < spec.sizes.length; l++) {
    f[`W${l}`] = new ort.Tensor('float32', p.weights[l]!, [spec.sizes[l]!, spec.sizes[l + 1]!]);
    f[`b${l}`] = new ort.Tensor('float32', p.biases[l]!, [spec.sizes[l + 1]!]);
  }
  return f;
}

describe('buildMlpForwardGraph', () => {
  for (const activation of ['relu', 'leaky_relu'] as const) {
    it(`matches a float64 reference (${activation}), params as inputs and baked`, async () => {
      const spec: MlpSpec = { sizes: [12, 20, 16, 5], activation };
      const p = randomParams(spec, 1);
      const rows = 9;
      const x = gaussian(rows * 12, 2);
      const ref = refForward(spec, p, x, rows).y;

      const asInputs = await runOnce(buildMlpForwardGraph(spec), { x: new ort.Tensor('float32', x, [rows, 12]), ...paramFeeds(spec, p) });
      expect(asInputs.y!.dims).toEqual([rows, 5]);
      const baked = await MlpRunner.create(spec, p, 'cpu');
      try {
        const y = await baked.run(x, rows);
        for (const got of [asInputs.y!.data as Float32Array, y]) {
          expect(got.length).toBe(ref.length);
          for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref[i]!)));
        }
      } finally {
        await baked.release();
      }
    });
  }
});

describe('buildMlpTrainStepGraph', () => {
  for (const activation of ['leaky_relu', 'relu'] as const) {
    it(`loss and every gradient match finite differences (${activation})`, async () => {
      const spec: MlpSpec = { sizes: [5, 7, 6, 4], activation };
      const p = randomParams(spec, 11);
      const rows = 6;
      const x = gaussian(rows * 5, 12);
      const t = gaussian(rows * 4, 13);
      // Central differences of step h are exact unless a pre-activation crosses 0 within it.
      const h = 1e-4;
      const minAbsZ = Math.min(...refForward(spec, p, x, rows).z.map(Math.abs));
      expect(minAbsZ).toBeGreaterThan(1e-3); // a ±1e-4 step moves any z by far less

      const out = await runOnce(buildMlpTrainStepGraph(spec), {
        x: new ort.Tensor('float32', x, [rows, 5]),
        t: new ort.Tensor('float32', t, [rows, 4]),
        ...paramFeeds(spec, p),
      });
      expect(out.loss!.dims).toEqual([]);
      const loss = (out.loss!.data as Float32Array)[0]!;
      expect(Math.abs(loss - refLoss(spec, p, x, t, rows)) / refLoss(spec, p, x, t, rows)).toBeLessThan(1e-5);

      for (let l = 0; l < 3; l++) {
        for (const [name, tensor] of [
          [`gW${l}`, p.weights[l]!],
          [`gb${l}`, p.biases[l]!],
        ] as const) {
          const got = out[name]!.data as Float32Array;
          expect(got.length, name).toBe(tensor.length);
          const fd = new Float64Array(tensor.length);
          for (let i = 0; i < tensor.length; i++) {
            const q = cloneParams(p);
            const arr = name.startsWith('gW') ? q.weights[l]! : q.biases[l]!;
            // Perturb in float64 via a Float64-valued copy: evaluate the reference with ±h.
            const base = arr[i]!;
            arr[i] = base + h;
            const up = refLoss(spec, q, x, t, rows);
            arr[i] = base - h;
            const down = refLoss(spec, q, x, t, rows);
            // float32 storage rounds base ± h: divide by the step actually taken.
            fd[i] = (up - down) / (Math.fround(base + h) - Math.fround(base - h));
          }
          expect(relErr(got, fd), name).toBeLessThan(1e-2);
          // Elementwise, with a floor for near-zero entries.
          const scale = Math.max(...Array.from(fd, Math.abs));
          for (let i = 0; i < fd.length; i++) expect(Math.abs(got[i]! - fd[i]!), `${name}[${i}]`).toBeLessThan(1e-2 * Math.max(Math.abs(fd[i]!), 0.1 * scale));
        }
      }
    });
  }

  it('weighted BCE on logits: loss and every gradient match finite differences', async () => {
    const spec: MlpSpec = { sizes: [5, 7, 1], activation: 'leaky_relu' };
    const p = randomParams(spec, 21);
    const rows = 8;
    const x = gaussian(rows * 5, 22);
    const t = Float32Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const w = Float32Array.from({ length: rows }, (_, i) => (i % 3 === 0 ? 2.5 : 0.5));
    // loss = Σ w (softplus(y) − t y) / Σ w, in float64 from the reference forward pass.
    const bce = (q: MlpParams): number => {
      const { y } = refForward(spec, q, x, rows);
      let num = 0;
      let den = 0;
      for (let i = 0; i < rows; i++) {
        num += w[i]! * (Math.log1p(Math.exp(y[i]!)) - t[i]! * y[i]!);
        den += w[i]!;
      }
      return num / den;
    };
    const out = await runOnce(buildMlpTrainStepGraph(spec, 'bce'), {
      x: new ort.Tensor('float32', x, [rows, 5]),
      t: new ort.Tensor('float32', t, [rows, 1]),
      w: new ort.Tensor('float32', w, [rows, 1]),
      ...paramFeeds(spec, p),
    });
    expect(Math.abs((out.loss!.data as Float32Array)[0]! - bce(p))).toBeLessThan(1e-5);
    const h = 1e-4;
    for (let l = 0; l < 2; l++) {
      for (const [name, which] of [
        [`gW${l}`, 'w'],
        [`gb${l}`, 'b'],
      ] as const) {
        const got = out[name]!.data as Float32Array;
        const n = which === 'w' ? p.weights[l]!.length : p.biases[l]!.length;
        const fd = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const q = cloneParams(p);
          const arr = which === 'w' ? q.weights[l]! : q.biases[l]!;
          const base = arr[i]!;
          arr[i] = base + h;
          const up = bce(q);
          arr[i] = base - h;
          const down = bce(q);
          fd[i] = (up - down) / (Math.fround(base + h) - Math.fround(base - h));
        }
        expect(relErr(got, fd), name).toBeLessThan(1e-2);
      }
    }
  });

  it('trainMlp with loss bce separates two classes', async () => {
    const spec: MlpSpec = { sizes: [2, 8, 1], activation: 'leaky_relu' };
    const rng = new Rng(5);
    const rows = 400;
    const x = new Float32Array(rows * 2);
    const t = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const pos = i % 4 === 0; // 1 in 4 positive: weights balance the classes
      x[2 * i] = rng.normal() + (pos ? 2 : -1);
      x[2 * i + 1] = rng.normal();
      t[i] = pos ? 1 : 0;
    }
    const w = Float32Array.from(t, (v) => (v === 1 ? 2 : 2 / 3));
    const params = initMlp(spec, new Rng(6));
    const r = await trainMlp(spec, params, { x, t, w, rows }, { epochs: 30, batchSize: 64, lr: 0.01, rng: new Rng(7), loss: 'bce' });
    expect(r.losses[r.losses.length - 1]!).toBeLessThan(0.3);
    const runner = await MlpRunner.create(spec, params);
    const y = await runner.run(Float32Array.of(3, 0, -2, 0), 2);
    await runner.release();
    expect(y[0]!).toBeGreaterThan(0);
    expect(y[1]!).toBeLessThan(0);
  });

  it('works with any batch size (symbolic N) and scales 2/N from the actual rows', async () => {
    const spec: MlpSpec = { sizes: [3, 4, 2], activation: 'leaky_relu' };
    const p = randomParams(spec, 5);
    const s = await createSession(buildMlpTrainStepGraph(spec), { ep: 'cpu' });
    try {
      for (const rows of [1, 7]) {
        const x = gaussian(rows * 3, rows);
        const t = gaussian(rows * 2, rows + 1);
        const out = await s.run({ x: new ort.Tensor('float32', x, [rows, 3]), t: new ort.Tensor('float32', t, [rows, 2]), ...paramFeeds(spec, p) });
        const ref = refLoss(spec, p, x, t, rows);
        expect(Math.abs((out.loss!.data as Float32Array)[0]! - ref) / ref).toBeLessThan(1e-5);
      }
    } finally {
      await s.release();
    }
  });
});

describe('buildMlpInputGradGraph', () => {
  it('gives y, r, recon and gx = ∂‖x − f(x)‖²/∂x matching finite differences', async () => {
    const spec: MlpSpec = { sizes: [6, 9, 3, 6], activation: 'leaky_relu' };
    const p = randomParams(spec, 21);
    const rows = 4;
    const x = gaussian(rows * 6, 22);
    expect(Math.min(...refForward(spec, p, x, rows).z.map(Math.abs))).toBeGreaterThan(1e-2);
    const runner = await MlpInputGradRunner.create(spec, p, 'cpu');
    let out;
    try {
      out = await runner.run(x, rows);
    } finally {
      await runner.release();
    }
    const yRef = refForward(spec, p, x, rows).y;
    const reconRef = refRecon(spec, p, x, rows);
    expect(relErr(out.y, yRef)).toBeLessThan(1e-5);
    for (let i = 0; i < x.length; i++) expect(out.r[i]!).toBeCloseTo(x[i]! - yRef[i]!, 5);
    expect(out.recon.length).toBe(rows);
    expect(relErr(out.recon, reconRef)).toBeLessThan(1e-5);

    const h = 1e-5;
    const fd = new Float64Array(x.length);
    const xx = Float64Array.from(x);
    for (let i = 0; i < x.length; i++) {
      const n = Math.floor(i / 6);
      const base = xx[i]!;
      xx[i] = base + h;
      const up = refRecon(spec, p, xx, rows)[n]!;
      xx[i] = base - h;
      const down = refRecon(spec, p, xx, rows)[n]!;
      xx[i] = base;
      fd[i] = (up - down) / (2 * h);
    }
    expect(relErr(out.gx, fd)).toBeLessThan(1e-3);
    // Per row, too (each row's gradient depends on that row only).
    for (let n = 0; n < rows; n++) expect(relErr(out.gx.subarray(n * 6, n * 6 + 6), fd.subarray(n * 6, n * 6 + 6))).toBeLessThan(1e-3);
  });

  it('needs an autoencoder (input size = output size)', () => {
    const spec: MlpSpec = { sizes: [4, 3, 2], activation: 'relu' };
    expect(() => buildMlpInputGradGraph(spec, initMlp(spec, new Rng(1)))).toThrow(/autoencoder/);
  });
});

describe('Adam', () => {
  it('matches one and two steps by hand (bias-corrected, with L2 weight decay)', () => {
    const p: MlpParams = { weights: [Float32Array.of(1, -2)], biases: [Float32Array.of(0.5)] };
    const adam = new Adam(p, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    adam.step({ weights: [Float32Array.of(0.3, -4)], biases: [Float32Array.of(0)] });
    // Step 1: m̂ = g, v̂ = g² ⇒ Δ = −lr·g/(|g| + ε) = −lr·sign(g).
    expect(p.weights[0]![0]).toBeCloseTo(1 - 0.1 * (0.3 / (0.3 + 1e-8)), 6);
    expect(p.weights[0]![1]).toBeCloseTo(-2 + 0.1 * (4 / (4 + 1e-8)), 6);
    expect(p.biases[0]![0]).toBe(0.5);

    // Step 2 by hand for w[0] with g = 0.1: m = 0.9·0.03 + 0.1·0.1, v = 0.999·0.00009 + 0.001·0.01.
    const w0 = p.weights[0]![0]!;
    adam.step({ weights: [Float32Array.of(0.1, 0)], biases: [Float32Array.of(0)] });
    const m = 0.9 * 0.03 + 0.1 * 0.1;
    const v = 0.999 * 0.3 * 0.3 * 0.001 + 0.001 * 0.01;
    const mh = m / (1 - 0.9 ** 2);
    const vh = v / (1 - 0.999 ** 2);
    expect(p.weights[0]![0]).toBeCloseTo(w0 - (0.1 * mh) / (Math.sqrt(vh) + 1e-8), 6);

    // Weight decay adds λp to the gradient: zero gradient still moves p towards 0.
    const q: MlpParams = { weights: [Float32Array.of(2, -3)], biases: [Float32Array.of(0)] };
    new Adam(q, { lr: 0.01, weightDecay: 0.5 }).step({ weights: [Float32Array.of(0, 0)], biases: [Float32Array.of(0)] });
    expect(q.weights[0]![0]).toBeCloseTo(2 - 0.01, 6);
    expect(q.weights[0]![1]).toBeCloseTo(-3 + 0.01, 6);
  });
});

describe('trainMlp', () => {
  const spec: MlpSpec = { sizes: [8, 32, 4], activation: 'leaky_relu' };
  const rows = 300;
  const x = gaussian(rows * 8, 31);
  const A = gaussian(8 * 4, 32, 1 / Math.sqrt(8));
  const t = new Float32Array(rows * 4);
  for (let n = 0; n < rows; n++) for (let j = 0; j < 4; j++) for (let k = 0; k < 8; k++) t[n * 4 + j] += x[n * 8 + k]! * A[k * 4 + j]!;
  const data = { x, t, rows };
  const opts = { epochs: 40, batchSize: 64, lr: 1e-2 };

  it('learns a linear map (loss falls > 10×) and is bit-reproducible for a seed', async () => {
    const p1 = initMlp(spec, new Rng(7));
    const p2 = initMlp(spec, new Rng(7));
    expect(p1).toEqual(p2);
    const init = cloneParams(p1);
    let calls = 0;
    let lastTotal = 0;
    const r1 = await trainMlp(spec, p1, data, {
      ...opts,
      rng: new Rng(8),
      onProgress: (done, total) => {
        calls = done;
        lastTotal = total;
      },
    });
    const r2 = await trainMlp(spec, p2, data, { ...opts, rng: new Rng(8) });
    expect(calls).toBe(lastTotal);
    expect(lastTotal).toBe(40 * Math.ceil(rows / 64));
    expect(r1.losses).toHaveLength(40);
    const before = refLoss(spec, init, x, t, rows);
    const after = refLoss(spec, p1, x, t, rows);
    expect(after).toBeLessThan(before / 10);
    expect(r1.losses[39]!).toBeLessThan(r1.losses[0]! / 10);
    expect(r1.losses).toEqual(r2.losses);
    for (let l = 0; l < 2; l++) {
      expect(Buffer.from(p1.weights[l]!.buffer).equals(Buffer.from(p2.weights[l]!.buffer))).toBe(true);
      expect(Buffer.from(p1.biases[l]!.buffer).equals(Buffer.from(p2.biases[l]!.buffer))).toBe(true);
    }
  });

  it('honours maxRowsPerEpoch', async () => {
    const p = initMlp(spec, new Rng(7));
    let total = 0;
    await trainMlp(spec, p, data, { ...opts, epochs: 2, maxRowsPerEpoch: 100, rng: new Rng(8), onProgress: (_d, tot) => (total = tot) });
    expect(total).toBe(2 * Math.ceil(100 / 64));
  });

  it('rejects with CANCELLED on an aborted signal and leaves params untouched', async () => {
    const p = initMlp(spec, new Rng(7));
    const before = cloneParams(p);
    const ac = new AbortController();
    ac.abort();
    await expect(trainMlp(spec, p, data, { ...opts, rng: new Rng(8), signal: ac.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(p).toEqual(before);

    // Aborted mid-training: stops at the next step.
    const ac2 = new AbortController();
    let steps = 0;
    await expect(
      trainMlp(spec, initMlp(spec, new Rng(7)), data, {
        ...opts,
        rng: new Rng(8),
        signal: ac2.signal,
        onProgress: (done) => {
          steps = done;
          if (done === 3) ac2.abort();
        },
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(steps).toBe(3);
  });
});
