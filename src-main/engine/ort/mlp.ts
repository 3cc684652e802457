/**
 * Per-row multilayer perceptrons trained and run in ONNX Runtime graphs built at runtime.
 * onnxruntime-node has no autodiff, so the backward pass is written out by hand here with
 * standard opset-13 ops (Gemm with transA/transB, Where/Greater for the activation mask,
 * ReduceSum with `axes` as an input).
 *
 * Uses: student networks of a student–teacher detector (regress teacher features from inputs,
 * MSE), and an autoencoder on patch features whose input is moved by gradient descent at test
 * time (needs ∂‖x − f(x)‖²/∂x).
 *
 * Notation (row-major, float32), L = sizes.length − 1 layers:
 *   h₀ = x                          [N, d₀]
 *   z_l = h_l·W_l + b_l             [N, d_{l+1}]   W_l [d_l, d_{l+1}], b_l [d_{l+1}]
 *   h_{l+1} = σ(z_l)  for l < L−1   (σ = relu, or leaky relu with slope 0.01)
 *   y = f(x) = z_{L−1}              [N, d_L]        (output layer is linear)
 * Backward, given δ_{L−1} = ∂E/∂y [N, d_L]:
 *   ∂E/∂W_l = h_lᵀ·δ_l,  ∂E/∂b_l = Σ_rows δ_l,  δ_{l−1} = (δ_l·W_lᵀ) ⊙ σ′(z_{l−1}),
 *   ∂E/∂x = δ₀·W₀ᵀ
 * with σ′(z) = 1 for z > 0, else 0 (relu) or 0.01 (leaky relu).
 */
import type { Rng } from '../core/random';
import { KensaError, throwIfCancelled } from '../errors';
import { DType, GraphBuilder } from './onnx-builder';
import { createSession, ort, type ExecutionProvider } from './session';

export interface MlpSpec {
  /** Layer widths including input and output, e.g. [768, 256, 256, 128]. */
  sizes: number[];
  /** Activation of the hidden layers; the output layer is linear. leaky_relu has slope 0.01. */
  activation: 'relu' | 'leaky_relu';
}

export interface MlpParams {
  /** W_l [sizes[l], sizes[l+1]] row-major. */
  weights: Float32Array[];
  /** b_l [sizes[l+1]]. */
  biases: Float32Array[];
}

export const LEAKY_SLOPE = 0.01;

function invalid(message: string): KensaError {
  return new KensaError('INVALID_ARGUMENT', message);
}

function checkSpec(spec: MlpSpec): void {
  if (spec.sizes.length < 2) throw invalid(`MLP needs at least 2 sizes (input, output), got [${spec.sizes.join(',')}]`);
  for (const s of spec.sizes) if (!Number.isInteger(s) || s <= 0) throw invalid(`MLP sizes must be positive integers, got [${spec.sizes.join(',')}]`);
  if (spec.activation !== 'relu' && spec.activation !== 'leaky_relu') throw invalid(`unknown MLP activation ${String(spec.activation)}`);
}

function checkParams(spec: MlpSpec, params: MlpParams): void {
  const L = spec.sizes.length - 1;
  if (params.weights.length !== L || params.biases.length !== L) {
    throw invalid(`MLP params have ${params.weights.length} weights and ${params.biases.length} biases, expected ${L}`);
  }
  for (let l = 0; l < L; l++) {
    const din = spec.sizes[l]!;
    const dout = spec.sizes[l + 1]!;
    if (params.weights[l]!.length !== din * dout) throw invalid(`W${l} has ${params.weights[l]!.length} values, expected ${din}×${dout}`);
    if (params.biases[l]!.length !== dout) throw invalid(`b${l} has ${params.biases[l]!.length} values, expected ${dout}`);
  }
}

/** He/Kaiming-normal weights (std = √(2/d_in)), zero biases; deterministic for the rng's seed. */
export function initMlp(spec: MlpSpec, rng: Rng): MlpParams {
  checkSpec(spec);
  const weights: Float32Array[] = [];
  const biases: Float32Array[] = [];
  for (let l = 0; l + 1 < spec.sizes.length; l++) {
    const din = spec.sizes[l]!;
    const dout = spec.sizes[l + 1]!;
    const std = Math.sqrt(2 / din);
    const w = new Float32Array(din * dout);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    weights.push(w);
    biases.push(new Float32Array(dout));
  }
  return { weights, biases };
}

/** Deep copy of a parameter set. */
export function cloneParams(p: MlpParams): MlpParams {
  return { weights: p.weights.map((w) => w.slice()), biases: p.biases.map((b) => b.slice()) };
}

/** Total number of scalar parameters. */
export function paramCount(spec: MlpSpec): number {
  let n = 0;
  for (let l = 0; l + 1 < spec.sizes.length; l++) n += spec.sizes[l]! * spec.sizes[l + 1]! + spec.sizes[l + 1]!;
  return n;
}

/** Parameter tensor names: W0, b0, W1, b1, ... (after `prefix`). */
function paramNames(L: number, prefix = ''): { W: string[]; b: string[] } {
  return { W: Array.from({ length: L }, (_, l) => `${prefix}W${l}`), b: Array.from({ length: L }, (_, l) => `${prefix}b${l}`) };
}

/** Declares the params as graph inputs, or bakes them as initializers when given. */
function addParams(g: GraphBuilder, spec: MlpSpec, params: MlpParams | undefined, prefix = ''): { W: string[]; b: string[] } {
  const L = spec.sizes.length - 1;
  const names = paramNames(L, prefix);
  for (let l = 0; l < L; l++) {
    const din = spec.sizes[l]!;
    const dout = spec.sizes[l + 1]!;
    if (params) {
      g.init(names.W[l]!, params.weights[l]!, [din, dout]);
      g.init(names.b[l]!, params.biases[l]!, [dout]);
    } else {
      g.input(names.W[l]!, DType.FLOAT, [din, dout]);
      g.input(names.b[l]!, DType.FLOAT, [dout]);
    }
  }
  return names;
}

/** Forward pass nodes; returns the pre-activations z_l and hidden inputs h_l (h₀ = x). */
function addForward(g: GraphBuilder, spec: MlpSpec, x: string, W: string[], b: string[], yName: string): { z: string[]; h: string[] } {
  const L = spec.sizes.length - 1;
  const h = [x];
  const z: string[] = [];
  for (let l = 0; l < L; l++) {
    const zl = g.op1('Gemm', [h[l]!, W[l]!, b[l]!], {}, l === L - 1 ? yName : undefined);
    z.push(zl);
    if (l < L - 1) h.push(spec.activation === 'relu' ? g.op1('Relu', [zl]) : g.op1('LeakyRelu', [zl], { alpha: { float: LEAKY_SLOPE } }));
  }
  return { z, h };
}

/** δ ⊙ σ′(z). */
function addActivationGrad(g: GraphBuilder, spec: MlpSpec, delta: string, z: string, zero: string): string {
  const pos = g.op1('Greater', [z, zero]);
  const neg = spec.activation === 'relu' ? zero : g.op1('Mul', [delta, g.f32([LEAKY_SLOPE], [])]);
  return g.op1('Where', [pos, delta, neg]);
}

/**
 * Backward pass from δ_{L−1} = ∂E/∂y. Param grads are written when `gradNames` is given;
 * returns ∂E/∂x when `wantInputGrad`.
 */
function addBackward(
  g: GraphBuilder,
  spec: MlpSpec,
  fwd: { z: string[]; h: string[] },
  W: string[],
  dy: string,
  gradNames: { W: string[]; b: string[] } | null,
  wantInputGrad: boolean,
): string | null {
  const L = spec.sizes.length - 1;
  const zero = g.f32([0], []);
  const axis0 = g.i64([0]);
  let delta = dy;
  for (let l = L - 1; l >= 0; l--) {
    if (gradNames) {
      g.op1('Gemm', [fwd.h[l]!, delta], { transA: 1 }, gradNames.W[l]!); // h_lᵀ·δ_l  [d_l, d_{l+1}]
      g.op1('ReduceSum', [delta, axis0], { keepdims: 0 }, gradNames.b[l]!); // Σ_rows δ_l  [d_{l+1}]
    }
    if (l === 0 && !wantInputGrad) break;
    const back = g.op1('Gemm', [delta, W[l]!], { transB: 1 }); // δ_l·W_lᵀ  [N, d_l]
    if (l === 0) return back;
    delta = addActivationGrad(g, spec, back, fwd.z[l - 1]!, zero);
  }
  return null;
}

/**
 * Forward pass of the MLP:
 *   input  `x` [N, d₀]  →  output `y` [N, d_L] = f(x)  (see the module comment for f).
 * Without `params`, the parameters are graph inputs `W0` [d₀, d₁], `b0` [d₁], `W1`, `b1`, ...
 * (one session serves every training step); with `params` they are baked in as initializers
 * (for scoring, so ORT can pre-pack the weights).
 */
export function buildMlpForwardGraph(spec: MlpSpec, params?: MlpParams): Uint8Array {
  checkSpec(spec);
  if (params) checkParams(spec, params);
  const g = new GraphBuilder('kensa_mlp_forward');
  const din = spec.sizes[0]!;
  const dout = spec.sizes[spec.sizes.length - 1]!;
  g.input('x', DType.FLOAT, ['N', din]);
  const { W, b } = addParams(g, spec, params);
  addForward(g, spec, 'x', W, b, 'y');
  g.output('y', DType.FLOAT, ['N', dout]);
  return g.toModel();
}

export type MlpLoss = 'mse' | 'bce';

/**
 * One training step's loss and gradients.
 *
 * loss 'mse' (regression):
 *   inputs  `x` [N, d₀], `t` [N, d_L] (targets), `W0` [d₀, d₁], `b0` [d₁], `W1`, `b1`, ...
 *   `loss` [] = (1/N) Σ_n Σ_j (f(x)_nj − t_nj)²   (per row: squared L2 error summed over the
 *               output dims; then the mean over the N rows — no division by d_L)
 *   backward from δ_{L−1} = ∂loss/∂y = (2/N)(y − t), N read from x's shape at run time.
 * loss 'bce' (binary classification on the logits y, weighted rows):
 *   inputs  also `w` [N, d_L] row weights (class balancing), t ∈ {0, 1}
 *   `loss` [] = Σ_nj w_nj (softplus(y_nj) − t_nj y_nj) / Σ_nj w_nj       (= weighted BCE with logits)
 *   backward from δ_{L−1} = w ⊙ (σ(y) − t) / Σ w.
 * outputs `gW0` [d₀, d₁], `gb0` [d₁], `gW1`, `gb1`, ...   = ∂loss/∂W_l, ∂loss/∂b_l
 */
export function buildMlpTrainStepGraph(spec: MlpSpec, loss: MlpLoss = 'mse'): Uint8Array {
  checkSpec(spec);
  const L = spec.sizes.length - 1;
  const din = spec.sizes[0]!;
  const dout = spec.sizes[L]!;
  const g = new GraphBuilder('kensa_mlp_train_step');
  g.input('x', DType.FLOAT, ['N', din]);
  g.input('t', DType.FLOAT, ['N', dout]);
  const { W, b } = addParams(g, spec, undefined);
  const fwd = addForward(g, spec, 'x', W, b, 'y');
  let dy: string;
  if (loss === 'mse') {
    const err = g.op1('Sub', ['y', 't']); // [N, d_L]
    const perRow = g.op1('ReduceSumSquare', [err], { axes: [1], keepdims: 0 }); // [N]
    g.op1('ReduceMean', [perRow], { keepdims: 0 }, 'loss'); // []
    const n = g.op1('Cast', [g.op1('Gather', [g.op1('Shape', ['x']), g.i64([0], [])], { axis: 0 })], { to: DType.FLOAT }); // []
    const scale = g.op1('Div', [g.f32([2], []), n]);
    dy = g.op1('Mul', [err, scale]);
  } else {
    g.input('w', DType.FLOAT, ['N', dout]);
    const wsum = g.op1('ReduceSum', ['w'], { keepdims: 0 }); // [] (no axes: all)
    const per = g.op1('Sub', [g.op1('Softplus', ['y']), g.op1('Mul', ['t', 'y'])]);
    g.op1('Div', [g.op1('ReduceSum', [g.op1('Mul', ['w', per])], { keepdims: 0 }), wsum], {}, 'loss');
    dy = g.op1('Div', [g.op1('Mul', ['w', g.op1('Sub', [g.op1('Sigmoid', ['y']), 't'])]), wsum]);
  }
  const grads = { W: W.map((w) => `g${w}`), b: b.map((v) => `g${v}`) };
  addBackward(g, spec, fwd, W, dy, grads, false);
  g.output('loss', DType.FLOAT, []);
  for (let l = 0; l < L; l++) {
    g.output(grads.W[l]!, DType.FLOAT, [spec.sizes[l]!, spec.sizes[l + 1]!]);
    g.output(grads.b[l]!, DType.FLOAT, [spec.sizes[l + 1]!]);
  }
  return g.toModel();
}

/**
 * Autoencoder reconstruction error and its gradient w.r.t. the input (params baked in;
 * requires d₀ = d_L = D):
 *   input   `x` [N, D]
 *   outputs `y` [N, D] = f(x)
 *           `r` [N, D] = x − f(x)
 *           `recon` [N] = ‖x − f(x)‖²  per row
 *           `gx` [N, D] = ∂‖x − f(x)‖²/∂x  per row  = 2r − 2·J_f(x)ᵀ r
 * J_fᵀ r is the backward pass seeded with δ_{L−1} = r.
 */
export function buildMlpInputGradGraph(spec: MlpSpec, params: MlpParams): Uint8Array {
  checkSpec(spec);
  checkParams(spec, params);
  const L = spec.sizes.length - 1;
  const D = spec.sizes[0]!;
  if (spec.sizes[L] !== D) throw invalid(`input-gradient graph needs an autoencoder (input size ${D} = output size ${spec.sizes[L]})`);
  const g = new GraphBuilder('kensa_mlp_input_grad');
  g.input('x', DType.FLOAT, ['N', D]);
  const { W, b } = addParams(g, spec, params);
  addMlpInputGradNodes(g, spec, W, b, 'x', { y: 'y', r: 'r', recon: 'recon', gx: 'gx' });
  g.output('y', DType.FLOAT, ['N', D]);
  g.output('r', DType.FLOAT, ['N', D]);
  g.output('recon', DType.FLOAT, ['N']);
  g.output('gx', DType.FLOAT, ['N', D]);
  return g.toModel();
}

function addMlpInputGradNodes(g: GraphBuilder, spec: MlpSpec, W: string[], b: string[], x: string, names: { y?: string; r?: string; recon?: string; gx?: string } = {}): { y: string; r: string; recon: string; gx: string } {
  const yName = names.y ?? g.tmp('y');
  const fwd = addForward(g, spec, x, W, b, yName);
  const r = g.op1('Sub', [x, yName], {}, names.r);
  const recon = g.op1('ReduceSumSquare', [r], { axes: [1], keepdims: 0 }, names.recon);
  const jtr = addBackward(g, spec, fwd, W, r, null, true)!; // J_fᵀ r
  const gx = g.op1('Mul', [g.op1('Sub', [r, jtr]), g.f32([2], [])], {}, names.gx);
  return { y: yName, r, recon, gx };
}

/** Bakes an MLP's parameters into a graph as initializers named `${prefix}W0`, `${prefix}b0`, …; returns their names. */
export function addMlpParams(g: GraphBuilder, spec: MlpSpec, params: MlpParams, prefix: string): { W: string[]; b: string[] } {
  checkSpec(spec);
  checkParams(spec, params);
  return addParams(g, spec, params, prefix);
}

/** The forward pass added to any graph (the export graph uses it): x [N, d₀] → y [N, d_L]. */
export function addMlpForward(g: GraphBuilder, spec: MlpSpec, W: string[], b: string[], x: string): string {
  const y = g.tmp('y');
  addForward(g, spec, x, W, b, y);
  return y;
}

/**
 * The nodes of buildMlpInputGradGraph added to any graph (the export graph unrolls the
 * projection with them): x [N, D] → r = x − f(x) [N, D], gx = ∂‖x − f(x)‖²/∂x [N, D].
 */
export function addMlpInputGrad(g: GraphBuilder, spec: MlpSpec, W: string[], b: string[], x: string): { r: string; gx: string } {
  const { r, gx } = addMlpInputGradNodes(g, spec, W, b, x);
  return { r, gx };
}

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 penalty added to the gradient (g ← g + λ·p, as torch.optim.Adam's weight_decay). */
  weightDecay?: number;
}

/**
 * Adam (Kingma & Ba) with bias correction, updating the parameter arrays in place:
 *   g ← g + λp;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
 *   p ← p − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
 * Defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8, λ = 0.
 */
export class Adam {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private t = 0;
  private readonly tensors: Float32Array[];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  constructor(params: MlpParams, opts: AdamOptions) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.tensors = [...params.weights, ...params.biases];
    this.m = this.tensors.map((p) => new Float32Array(p.length));
    this.v = this.tensors.map((p) => new Float32Array(p.length));
  }

  /** Steps taken so far. */
  get steps(): number {
    return this.t;
  }

  step(grads: MlpParams): void {
    const gs = [...grads.weights, ...grads.biases];
    if (gs.length !== this.tensors.length) throw invalid(`Adam: ${gs.length} gradient tensors for ${this.tensors.length} parameters`);
    this.t += 1;
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    const stepSize = this.lr / c1;
    const sqrtC2 = Math.sqrt(c2);
    for (let k = 0; k < gs.length; k++) {
      const p = this.tensors[k]!;
      const g = gs[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      if (g.length !== p.length) throw invalid(`Adam: gradient ${k} has ${g.length} values, parameter has ${p.length}`);
      for (let i = 0; i < p.length; i++) {
        const gi = wd === 0 ? g[i]! : g[i]! + wd * p[i]!;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i]! - (stepSize * mi) / (Math.sqrt(vi) / sqrtC2 + eps);
      }
    }
  }
}

export interface TrainData {
  /** Inputs [rows, d₀] row-major. */
  x: Float32Array;
  /** Targets [rows, d_L] row-major. */
  t: Float32Array;
  /** Row weights [rows, d_L] (loss 'bce' only; default 1). */
  w?: Float32Array;
  rows: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  rng: Rng;
  ep?: ExecutionProvider;
  /** Intra-op threads of the session (default: session.ts's default). */
  threads?: number;
  weightDecay?: number;
  signal?: AbortSignal;
  /** After every step: steps done, steps in total, that step's loss. */
  onProgress?: (done: number, total: number, loss: number) => void;
  /** Use only the first this-many rows of each epoch's shuffle (sub-sampled epochs). */
  maxRowsPerEpoch?: number;
  /** 'mse' (default) or 'bce' (weighted binary cross-entropy on logits), see buildMlpTrainStepGraph. */
  loss?: MlpLoss;
}

/**
 * Minibatch Adam on the MSE loss of buildMlpTrainStepGraph, updating `params` in place. Rows
 * are shuffled each epoch with `rng` (deterministic); the last, partial batch of an epoch is
 * kept. Returns each epoch's mean loss over its rows. Same seed + data ⇒ identical params.
 */
export async function trainMlp(spec: MlpSpec, params: MlpParams, data: TrainData, opts: TrainOptions): Promise<{ losses: number[] }> {
  checkSpec(spec);
  checkParams(spec, params);
  const L = spec.sizes.length - 1;
  const din = spec.sizes[0]!;
  const dout = spec.sizes[L]!;
  const { rows } = data;
  if (!Number.isInteger(rows) || rows <= 0) throw invalid(`trainMlp needs at least one row, got ${rows}`);
  if (data.x.length !== rows * din) throw invalid(`trainMlp: x has ${data.x.length} values, expected ${rows}×${din}`);
  if (data.t.length !== rows * dout) throw invalid(`trainMlp: t has ${data.t.length} values, expected ${rows}×${dout}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize <= 0) throw invalid(`trainMlp: batchSize must be a positive integer`);
  throwIfCancelled(opts.signal);

  const perEpoch = Math.min(rows, opts.maxRowsPerEpoch ?? rows);
  const batch = Math.min(opts.batchSize, perEpoch);
  const stepsPerEpoch = Math.ceil(perEpoch / batch);
  const total = stepsPerEpoch * opts.epochs;
  const lossKind = opts.loss ?? 'mse';
  if (data.w && data.w.length !== rows * dout) throw invalid(`trainMlp: w has ${data.w.length} values, expected ${rows}×${dout}`);
  const xb = new Float32Array(batch * din);
  const tb = new Float32Array(batch * dout);
  const wb = new Float32Array(batch * dout).fill(1);
  const fullX = new ort.Tensor('float32', xb, [batch, din]);
  const fullT = new ort.Tensor('float32', tb, [batch, dout]);
  const fullW = new ort.Tensor('float32', wb, [batch, dout]);
  // The tensors wrap the parameter arrays themselves: Adam's in-place updates are seen by the next run.
  const paramFeeds: Record<string, ort.Tensor> = {};
  for (let l = 0; l < L; l++) {
    paramFeeds[`W${l}`] = new ort.Tensor('float32', params.weights[l]!, [spec.sizes[l]!, spec.sizes[l + 1]!]);
    paramFeeds[`b${l}`] = new ort.Tensor('float32', params.biases[l]!, [spec.sizes[l + 1]!]);
  }
  const adam = new Adam(params, { lr: opts.lr, weightDecay: opts.weightDecay ?? 0 });
  const losses: number[] = [];
  const session = await createSession(buildMlpTrainStepGraph(spec, lossKind), opts.threads === undefined ? { ep: opts.ep ?? 'cpu' } : { ep: opts.ep ?? 'cpu', threads: opts.threads });
  try {
    let done = 0;
    for (let e = 0; e < opts.epochs; e++) {
      const perm = opts.rng.permutation(rows);
      let sum = 0;
      for (let s = 0; s < perEpoch; s += batch) {
        throwIfCancelled(opts.signal);
        const n = Math.min(batch, perEpoch - s);
        for (let i = 0; i < n; i++) {
          const r = perm[s + i]!;
          xb.set(data.x.subarray(r * din, (r + 1) * din), i * din);
          tb.set(data.t.subarray(r * dout, (r + 1) * dout), i * dout);
          if (data.w) wb.set(data.w.subarray(r * dout, (r + 1) * dout), i * dout);
        }
        const feeds: Record<string, ort.Tensor> = {
          ...paramFeeds,
          x: n === batch ? fullX : new ort.Tensor('float32', xb.subarray(0, n * din), [n, din]),
          t: n === batch ? fullT : new ort.Tensor('float32', tb.subarray(0, n * dout), [n, dout]),
        };
        if (lossKind === 'bce') feeds.w = n === batch ? fullW : new ort.Tensor('float32', wb.subarray(0, n * dout), [n, dout]);
        const out = await session.run(feeds);
        const grads: MlpParams = { weights: [], biases: [] };
        for (let l = 0; l < L; l++) {
          grads.weights.push(out[`gW${l}`]!.data as Float32Array);
          grads.biases.push(out[`gb${l}`]!.data as Float32Array);
        }
        adam.step(grads);
        const loss = (out.loss!.data as Float32Array)[0]!;
        sum += loss * n;
        done += 1;
        opts.onProgress?.(done, total, loss);
      }
      losses.push(sum / perEpoch);
    }
  } finally {
    await session.release();
  }
  return { losses };
}

/** Forward pass for scoring, params baked into one session: x [rows, d₀] → y [rows, d_L]. */
export class MlpRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: MlpSpec,
  ) {}

  static async create(spec: MlpSpec, params: MlpParams, ep: ExecutionProvider = 'cpu'): Promise<MlpRunner> {
    return new MlpRunner(await createSession(buildMlpForwardGraph(spec, params), { ep }), spec);
  }

  async run(x: Float32Array, rows: number): Promise<Float32Array> {
    const din = this.spec.sizes[0]!;
    if (x.length !== rows * din) throw invalid(`MlpRunner: x has ${x.length} values, expected ${rows}×${din}`);
    const out = await this.session.run({ x: new ort.Tensor('float32', x, [rows, din]) });
    return out.y!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

export interface InputGradResult {
  /** f(x) [rows, D] */
  y: Float32Array;
  /** x − f(x) [rows, D] */
  r: Float32Array;
  /** ‖x − f(x)‖² [rows] */
  recon: Float32Array;
  /** ∂‖x − f(x)‖²/∂x [rows, D] */
  gx: Float32Array;
}

/** Runs buildMlpInputGradGraph (params baked): x [rows, D] → y, r, recon, gx. */
export class MlpInputGradRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly spec: MlpSpec,
  ) {}

  static async create(spec: MlpSpec, params: MlpParams, ep: ExecutionProvider = 'cpu'): Promise<MlpInputGradRunner> {
    return new MlpInputGradRunner(await createSession(buildMlpInputGradGraph(spec, params), { ep }), spec);
  }

  async run(x: Float32Array, rows: number): Promise<InputGradResult> {
    const D = this.spec.sizes[0]!;
    if (x.length !== rows * D) throw invalid(`MlpInputGradRunner: x has ${x.length} values, expected ${rows}×${D}`);
    const out = await this.session.run({ x: new ort.Tensor('float32', x, [rows, D]) });
    return {
      y: out.y!.data as Float32Array,
      r: out.r!.data as Float32Array,
      recon: out.recon!.data as Float32Array,
      gx: out.gx!.data as Float32Array,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
