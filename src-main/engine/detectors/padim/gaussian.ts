/**
 * The numeric core of PaDiM (Defard et al., "PaDiM: a Patch Distribution Modeling Framework
 * for Anomaly Detection and Localization", 2020): one multivariate Gaussian 𝒩(μ_ij, Σ_ij) per
 * patch position (i, j) of the feature grid, fitted on the patch embeddings x_ij^k of the N good
 * images k = 1..N, and at test time the Mahalanobis distance of each patch embedding to the
 * Gaussian of its position:
 *
 *   μ_ij = 1/N Σ_k x_ij^k
 *   Σ_ij = 1/(N−1) Σ_k (x_ij^k − μ_ij)(x_ij^k − μ_ij)ᵀ + ε·I                      (paper, §3.2)
 *   M(x_ij) = sqrt((x_ij − μ_ij)ᵀ Σ_ij⁻¹ (x_ij − μ_ij))                           (paper, Eq. 2)
 *
 * Here the positions (i, j) are flattened to p = i·w + j, P = h·w of them. The paper
 * regularises with ε·I only (ε = 0.01); this module also offers shrinkage towards the scaled
 * identity, with a fixed α or the Ledoit–Wolf optimal α per position:
 *
 *   Σ̂_p = (1 − α)·Σ_p + α·(tr Σ_p / d)·I + ε·I
 *
 * The paper also reduces the embedding to d randomly chosen channels (e.g. 100 of 448 for
 * ResNet-18), which `chooseChannels` draws.
 *
 * Layouts (row-major, float32 unless said otherwise):
 *   feats / patches  [N·P, D]   N images, image-major: image i's position p is row i·P + p;
 *                               D = the full embedding width (`fullDim`), or d when the caller
 *                               already restricted the embedding to the chosen channels
 *   channels         [d] int32  sorted channel indices into D (null: all D channels, d = D)
 *   mean             [P, d]     μ_p
 *   covInv           [P, d, d]  Σ̂_p⁻¹ (symmetric)
 *   dist             [N·P]      M(x), same row order as `patches`
 *
 * Where the work is done:
 *   - accumulation (fit): the sums Σ_k y, Σ_k y yᵀ (and the two higher moments Ledoit–Wolf
 *     needs) of each batch run in an ONNX Runtime graph, the outer products as one batched
 *     MatMul [P, d, n]×[P, n, d] → [P, d, d]; the per-batch results are added up in float64.
 *     (Plain JS float64 for P=784, d=100, N=200 is ~1.6 G multiply-adds: several seconds.)
 *     Numerical care: every image is first centred by a per-position reference r_p, the first
 *     image's features (y = x − r_p), so the float32 sums hold deviations of the size of the
 *     spread, not of the raw feature values, and the final centering
 *     Σ (y − ȳ)(y − ȳ)ᵀ = Σ y yᵀ − N ȳ ȳᵀ does not cancel catastrophically (shifted-data
 *     algorithm).
 *   - finish: centering, regularisation, Cholesky decomposition and inversion per position in
 *     float64 JS (done once; d³/2 multiply-adds per position).
 *   - scoring: one ORT graph with μ and Σ̂⁻¹ baked in as initializers.
 */
import { Rng } from '../../core/random';
import { KensaError, throwIfCancelled } from '../../errors';
import { DType, GraphBuilder } from '../../ort/onnx-builder';
import { createSession, ort, type ExecutionProvider } from '../../ort/session';

/**
 * The paper's random channel subset: `count` distinct channels of `dim`, sorted ascending,
 * the same for the same seed. `count ≥ dim` gives every channel.
 */
export function chooseChannels(dim: number, count: number, seed: number): Int32Array {
  if (!Number.isInteger(dim) || dim < 1) throw new KensaError('INVALID_ARGUMENT', `embedding width must be a positive integer, got ${dim}`);
  if (!Number.isInteger(count) || count < 1) throw new KensaError('INVALID_ARGUMENT', `channel count must be a positive integer, got ${count}`);
  if (count >= dim) return Int32Array.from({ length: dim }, (_, i) => i);
  const perm = new Rng(seed).permutation(dim);
  return Int32Array.from(perm.subarray(0, count)).sort();
}

export interface GaussianAccumulatorOptions {
  /** Execution provider of the accumulation graph (default cpu). */
  ep?: ExecutionProvider;
  /**
   * Channel subset: `add` then takes rows of `fullDim` values and keeps these channels (a
   * Gather inside the graph); `dim` must equal `channels.length`. Null/absent: rows of `dim`.
   */
  channels?: Int32Array | null;
  fullDim?: number;
}

export interface FinishOptions {
  /** α of Σ̂ = (1−α)Σ + α(tr Σ/d)I + εI, in [0, 1]; 'ledoit-wolf' estimates it per position. */
  shrinkage: number | 'ledoit-wolf';
  /** ε ≥ 0 (the paper: 0.01). */
  epsilon: number;
}

export interface GaussianFit {
  /** μ_p, [P, d]. */
  mean: Float32Array;
  /** Σ̂_p⁻¹, [P, d, d], symmetric. */
  covInv: Float32Array;
  /** α as given, or the Ledoit–Wolf α of each position ([P]). */
  shrinkage: number[] | number;
  /** N, the number of images accumulated. */
  images: number;
}

/**
 * Accumulation graph: one batch of n images → its shifted moment sums.
 *   inputs   feats [n·P, D]  (D = fullDim with a channel subset, else d)
 *            ref   [P, d]    per-position reference r_p (the first image's features)
 *   outputs  s1 [P, d]     = Σ_k y_k               (y_k = x_k − r_p, per position)
 *            s2 [P, d, d]  = Σ_k y_k y_kᵀ         (batched MatMul [P, d, n]×[P, n, d])
 *            t  [P, d]     = Σ_k ‖y_k‖² y_k        (Ledoit–Wolf)
 *            q  [P]        = Σ_k ‖y_k‖⁴            (Ledoit–Wolf)
 */
export function buildMomentGraph(positions: number, dim: number, channels: Int32Array | null, fullDim: number): Uint8Array {
  const g = new GraphBuilder('kensa_padim_moments');
  let x = g.input('feats', DType.FLOAT, ['M', channels ? fullDim : dim]);
  g.input('ref', DType.FLOAT, [positions, dim]);
  if (channels) x = g.op1('Gather', [x, g.i64(Array.from(channels))], { axis: 1 }); // [M, d]
  const x3 = g.op1('Reshape', [x, g.i64([-1, positions, dim])]); // [n, P, d]
  const y = g.op1('Sub', [x3, 'ref']); // [n, P, d]
  g.op1('ReduceSum', [y, g.i64([0])], { keepdims: 0 }, 's1'); // [P, d]
  const yPnd = g.op1('Transpose', [y], { perm: [1, 0, 2] }); // [P, n, d]
  const yPdn = g.op1('Transpose', [y], { perm: [1, 2, 0] }); // [P, d, n]
  g.op1('MatMul', [yPdn, yPnd], {}, 's2'); // [P, d, d]
  const a = g.op1('ReduceSumSquare', [y], { axes: [2], keepdims: 1 }); // [n, P, 1] = ‖y‖²
  const aP1n = g.op1('Transpose', [a], { perm: [1, 2, 0] }); // [P, 1, n]
  const t = g.op1('MatMul', [aP1n, yPnd]); // [P, 1, d]
  g.op1('Reshape', [t, g.i64([positions, dim])], {}, 't');
  g.op1('ReduceSumSquare', [a], { axes: [0, 2], keepdims: 0 }, 'q'); // [P]
  g.output('s1', DType.FLOAT, [positions, dim]);
  g.output('s2', DType.FLOAT, [positions, dim, dim]);
  g.output('t', DType.FLOAT, [positions, dim]);
  g.output('q', DType.FLOAT, [positions]);
  return g.toModel();
}

/**
 * Streams batches of good images' patch embeddings into per-position moment sums (float64),
 * then `finish` turns them into μ_p and Σ̂_p⁻¹. Await each `add` before the next (calls made
 * without waiting are queued in order).
 */
export class GaussianAccumulator {
  private readonly ep: ExecutionProvider;
  private readonly channels: Int32Array | null;
  private readonly rowWidth: number;
  private session: ort.InferenceSession | null = null;
  private ref: Float32Array | null = null;
  private readonly s1: Float64Array;
  private readonly s2: Float64Array;
  private readonly t: Float64Array;
  private readonly q: Float64Array;
  private count = 0;
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;
  private finished = false;

  constructor(
    readonly positions: number,
    readonly dim: number,
    opts: GaussianAccumulatorOptions = {},
  ) {
    if (!Number.isInteger(positions) || positions < 1) throw new KensaError('INVALID_ARGUMENT', `positions must be a positive integer, got ${positions}`);
    if (!Number.isInteger(dim) || dim < 1) throw new KensaError('INVALID_ARGUMENT', `dim must be a positive integer, got ${dim}`);
    this.ep = opts.ep ?? 'cpu';
    this.channels = opts.channels ?? null;
    if (this.channels) {
      const fullDim = opts.fullDim ?? 0;
      checkChannels(this.channels, dim, fullDim);
      this.rowWidth = fullDim;
    } else {
      this.rowWidth = dim;
    }
    this.s1 = new Float64Array(positions * dim);
    this.s2 = new Float64Array(positions * dim * dim);
    this.t = new Float64Array(positions * dim);
    this.q = new Float64Array(positions);
  }

  /** Images accumulated so far. */
  get images(): number {
    return this.count;
  }

  /** Adds n images: `feats` [n·P, D], image-major (image i's position p at row i·P + p). */
  add(feats: Float32Array, n: number, signal?: AbortSignal): Promise<void> {
    const expected = n * this.positions * this.rowWidth;
    let why: string | null = null;
    if (this.finished) why = 'GaussianAccumulator: add() after finish()';
    else if (!Number.isInteger(n) || n < 0) why = `image count must be a non-negative integer, got ${n}`;
    else if (feats.length !== expected) why = `features have ${feats.length} values, expected ${n}×${this.positions}×${this.rowWidth} = ${expected}`;
    if (why !== null) return Promise.reject(new KensaError('INVALID_ARGUMENT', why));
    this.pending += 1;
    const run = this.queue.then(() => this.addNow(feats, n, signal));
    this.queue = run.then(
      () => {
        this.pending -= 1;
      },
      () => {
        this.pending -= 1;
      },
    );
    return run;
  }

  private async addNow(feats: Float32Array, n: number, signal: AbortSignal | undefined): Promise<void> {
    throwIfCancelled(signal);
    if (n === 0) return;
    const P = this.positions;
    const d = this.dim;
    if (!this.ref) {
      // r_p = the first image's (channel-restricted) features.
      const ref = new Float32Array(P * d);
      for (let p = 0; p < P; p++) {
        const row = p * this.rowWidth;
        for (let c = 0; c < d; c++) ref[p * d + c] = feats[row + (this.channels ? this.channels[c]! : c)]!;
      }
      this.ref = ref;
    }
    this.session ??= await createSession(buildMomentGraph(P, d, this.channels, this.rowWidth), { ep: this.ep });
    const out = await this.session.run({
      feats: new ort.Tensor('float32', feats, [n * P, this.rowWidth]),
      ref: new ort.Tensor('float32', this.ref, [P, d]),
    });
    addInto(this.s1, out.s1!.data as Float32Array);
    addInto(this.s2, out.s2!.data as Float32Array);
    addInto(this.t, out.t!.data as Float32Array);
    addInto(this.q, out.q!.data as Float32Array);
    for (const v of Object.values(out)) v.dispose();
    this.count += n;
  }

  /**
   * μ_p and Σ̂_p⁻¹ from the images added so far (N ≥ 2). Releases the accumulation session.
   *
   * Ledoit–Wolf (Ledoit & Wolf 2004, as in scikit-learn's `ledoit_wolf_shrinkage`), per
   * position, with x_k the centred samples and S = 1/N Σ_k x_k x_kᵀ (the biased estimate):
   *   m  = tr(S)/d
   *   δ² = ‖S − m·I‖²_F / d
   *   β² = 1/N² Σ_k ‖x_k x_kᵀ − S‖²_F / d  =  (1/N Σ_k ‖x_k‖⁴ − ‖S‖²_F) / (N·d)
   *   α  = min(β², δ²) / δ²     (0 when δ² = 0)
   * α is scale-free, so applying it to the unbiased Σ = N/(N−1)·S gives the same shrinkage.
   * Σ_k ‖x_k‖⁴ comes from the shifted sums: with y_k = x_k + ȳ, ȳ = s1/N, c = ‖ȳ‖²,
   *   Σ_k ‖x_k‖⁴ = q − 4 t·ȳ + 4 ȳᵀ s2 ȳ + 2c·tr(s2) − 3N c².
   *
   * Throws FIT_FAILED naming the position when Σ̂_p is not positive definite at the precision
   * of the float32 sums: a Cholesky pivot (the part of a channel's variance that the earlier
   * channels do not explain) at or below 2⁻²⁰ of the channel's variance. Without any
   * regularisation (α = ε = 0) and with N − 1 < d images, Σ_p is singular by construction at
   * every position, which is reported up front rather than left to round-off.
   */
  finish(opts: FinishOptions): GaussianFit {
    if (this.pending > 0) throw new KensaError('INVALID_ARGUMENT', 'GaussianAccumulator: finish() while add() is still running');
    const { shrinkage, epsilon } = opts;
    if (shrinkage !== 'ledoit-wolf' && !(shrinkage >= 0 && shrinkage <= 1)) {
      throw new KensaError('INVALID_ARGUMENT', `shrinkage must be in [0, 1] or 'ledoit-wolf', got ${shrinkage}`);
    }
    if (!(epsilon >= 0) || !Number.isFinite(epsilon)) throw new KensaError('INVALID_ARGUMENT', `epsilon must be ≥ 0, got ${epsilon}`);
    const N = this.count;
    if (N < 2) throw new KensaError('FIT_FAILED', `a Gaussian per patch position needs at least 2 good images, got ${N}`);
    if (N - 1 < this.dim && shrinkage === 0 && epsilon === 0) {
      // Σ_p has rank ≤ N − 1 < d at every position: singular regardless of round-off.
      throw new KensaError(
        'FIT_FAILED',
        `the covariance is singular at every patch position (from position 0): ${N} good images give rank at most ${N - 1} < ${this.dim} channels; ` +
          'use more good images, fewer channels, or regularisation (epsilon, shrinkage)',
      );
    }
    this.finished = true;
    this.releaseSession();

    const P = this.positions;
    const d = this.dim;
    const dd = d * d;
    const ref = this.ref!;
    const mean = new Float32Array(P * d);
    const covInv = new Float32Array(P * dd);
    const alphas: number[] = [];
    const ybar = new Float64Array(d);
    const A = new Float64Array(dd); // Σ_p, then Σ̂_p, then its Cholesky factor L (lower)
    const W = new Float64Array(dd); // L⁻¹ (lower)
    const C = new Float64Array(dd); // Σ̂_p⁻¹ = L⁻ᵀ L⁻¹
    for (let p = 0; p < P; p++) {
      const s1 = this.s1.subarray(p * d, (p + 1) * d);
      const s2 = this.s2.subarray(p * dd, (p + 1) * dd);
      for (let i = 0; i < d; i++) {
        ybar[i] = s1[i]! / N;
        mean[p * d + i] = ref[p * d + i]! + ybar[i]!;
      }
      // Σ = (Σ y yᵀ − N ȳ ȳᵀ) / (N − 1), symmetrised (the float32 GEMM need not be).
      for (let i = 0; i < d; i++) {
        for (let j = 0; j <= i; j++) {
          const v = (0.5 * (s2[i * d + j]! + s2[j * d + i]!) - N * ybar[i]! * ybar[j]!) / (N - 1);
          A[i * d + j] = v;
          A[j * d + i] = v;
        }
      }
      let trace = 0;
      for (let i = 0; i < d; i++) trace += A[i * d + i]!;
      let alpha: number;
      if (shrinkage === 'ledoit-wolf') {
        alpha = ledoitWolf(A, trace, N, d, s2, ybar, this.t.subarray(p * d, (p + 1) * d), this.q[p]!);
        alphas.push(alpha);
      } else {
        alpha = shrinkage;
      }
      // Σ̂ = (1 − α)Σ + α(tr Σ / d)I + εI
      if (alpha !== 0) for (let i = 0; i < dd; i++) A[i] = A[i]! * (1 - alpha);
      const diagAdd = (alpha * trace) / d + epsilon;
      for (let i = 0; i < d; i++) A[i * d + i] = A[i * d + i]! + diagAdd;
      const bad = choleskyInPlace(A, d);
      if (bad >= 0) {
        throw new KensaError(
          'FIT_FAILED',
          `the covariance at patch position ${p} is not positive definite (channel ${bad} is constant or a combination of others over the ${N} good images): ` +
            'use more good images, or raise the regularisation (epsilon, shrinkage)',
        );
      }
      invertFromCholesky(A, W, C, d);
      const off = p * dd;
      for (let i = 0; i < dd; i++) covInv[off + i] = C[i]!;
    }
    return { mean, covInv, shrinkage: shrinkage === 'ledoit-wolf' ? alphas : shrinkage, images: N };
  }

  /** Releases the accumulation session (also done by `finish`). */
  async release(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }

  private releaseSession(): void {
    this.release().catch(() => undefined);
  }
}

function addInto(acc: Float64Array, v: Float32Array): void {
  for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! + v[i]!;
}

function checkChannels(channels: Int32Array, dim: number, fullDim: number): void {
  if (channels.length !== dim) throw new KensaError('INVALID_ARGUMENT', `${channels.length} channels given for dim ${dim}`);
  if (!Number.isInteger(fullDim) || fullDim < dim) throw new KensaError('INVALID_ARGUMENT', `fullDim ${fullDim} is smaller than the ${dim} channels`);
  for (const c of channels) {
    if (c < 0 || c >= fullDim) throw new KensaError('INVALID_ARGUMENT', `channel ${c} is outside 0..${fullDim - 1}`);
  }
}

/**
 * Ledoit–Wolf α for one position (formula at GaussianAccumulator.finish). `cov` is the
 * unbiased Σ with trace `trace`; s2, t, q are the shifted sums and ȳ = s1/N.
 */
function ledoitWolf(cov: Float64Array, trace: number, N: number, d: number, s2: Float64Array, ybar: Float64Array, t: Float64Array, q: number): number {
  const k = (N - 1) / N; // S = k·Σ
  const m = (k * trace) / d;
  let frob2 = 0; // ‖S‖²_F
  for (let i = 0; i < d * d; i++) frob2 += cov[i]! * cov[i]!;
  frob2 *= k * k;
  const delta2 = (frob2 - 2 * m * k * trace + d * m * m) / d; // ‖S − mI‖²_F / d
  let ty = 0;
  let c = 0;
  let yS2y = 0;
  let trS2 = 0;
  for (let i = 0; i < d; i++) {
    ty += t[i]! * ybar[i]!;
    c += ybar[i]! * ybar[i]!;
    trS2 += s2[i * d + i]!;
    let row = 0;
    for (let j = 0; j < d; j++) row += s2[i * d + j]! * ybar[j]!;
    yS2y += ybar[i]! * row;
  }
  const sum4 = Math.max(0, q - 4 * ty + 4 * yS2y + 2 * c * trS2 - 3 * N * c * c); // Σ_k ‖x_k‖⁴
  const beta2 = Math.max(0, (sum4 / N - frob2) / (N * d));
  if (!(delta2 > 0)) return 0;
  return Math.min(beta2, delta2) / delta2;
}

/** Pivot tolerance relative to the channel's own variance (see GaussianAccumulator.finish). */
const PIVOT_TOL = 2 ** -20;

/**
 * In-place Cholesky A = L·Lᵀ (lower triangle of A overwritten by L, upper part zeroed).
 * Returns −1 on success, or the channel whose pivot was not positive (see PIVOT_TOL).
 */
function choleskyInPlace(A: Float64Array, d: number): number {
  for (let j = 0; j < d; j++) {
    const rj = j * d;
    const ajj = A[rj + j]!;
    let s = ajj;
    for (let k = 0; k < j; k++) s -= A[rj + k]! * A[rj + k]!;
    if (!(s > ajj * PIVOT_TOL) || !(ajj > 0)) return j;
    const ljj = Math.sqrt(s);
    A[rj + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      const ri = i * d;
      let v = A[ri + j]!;
      for (let k = 0; k < j; k++) v -= A[ri + k]! * A[rj + k]!;
      A[ri + j] = v / ljj;
    }
    for (let k = j + 1; k < d; k++) A[rj + k] = 0;
  }
  return -1;
}

/** C = A⁻¹ = L⁻ᵀ·L⁻¹ from the Cholesky factor L (in A); W is scratch for L⁻¹. Row operations only. */
function invertFromCholesky(L: Float64Array, W: Float64Array, C: Float64Array, d: number): void {
  W.fill(0);
  // Row i of L⁻¹: (e_i − Σ_{k<i} L[i,k]·row_k(L⁻¹)) / L[i,i]; row k is non-zero in 0..k only.
  for (let i = 0; i < d; i++) {
    const ri = i * d;
    for (let k = 0; k < i; k++) {
      const f = L[ri + k]!;
      if (f === 0) continue;
      const rk = k * d;
      for (let j = 0; j <= k; j++) W[ri + j] = W[ri + j]! - f * W[rk + j]!;
    }
    const inv = 1 / L[ri + i]!;
    for (let j = 0; j < i; j++) W[ri + j] = W[ri + j]! * inv;
    W[ri + i] = inv;
  }
  // C = Wᵀ W = Σ_k row_k(W)ᵀ row_k(W): lower triangle, then mirrored.
  C.fill(0);
  for (let k = 0; k < d; k++) {
    const rk = k * d;
    for (let i = 0; i <= k; i++) {
      const wi = W[rk + i]!;
      if (wi === 0) continue;
      const ri = i * d;
      for (let j = 0; j <= i; j++) C[ri + j] = C[ri + j]! + wi * W[rk + j]!;
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) C[j * d + i] = C[i * d + j]!;
}

/**
 * Mahalanobis distance of every patch to the Gaussian of its position (paper Eq. 2), μ and
 * Σ̂⁻¹ baked in as initializers:
 *   input   patches [N·P, fullDim]  (N symbolic; rows image-major)
 *   output  dist    [N·P] = sqrt(max(0, (x_c − μ_p)ᵀ Σ̂_p⁻¹ (x_c − μ_p)))
 * where x_c is the row restricted to `channels` (Gather on axis 1; null: all, fullDim = dim).
 *   Gather → Reshape [N, P, d] → Sub μ → Transpose [P, N, d] → MatMul Σ̂⁻¹ [P, d, d]
 *   → Mul (x − μ) → ReduceSum over d → [P, N] → Transpose → [N·P] → Relu → Sqrt
 */
export function buildMahalanobisGraph(mean: Float32Array, covInv: Float32Array, positions: number, dim: number, channels: Int32Array | null, fullDim: number): Uint8Array {
  if (mean.length !== positions * dim) throw new KensaError('INVALID_ARGUMENT', `mean has ${mean.length} values, expected ${positions}×${dim}`);
  if (covInv.length !== positions * dim * dim) throw new KensaError('INVALID_ARGUMENT', `covInv has ${covInv.length} values, expected ${positions}×${dim}×${dim}`);
  if (channels) checkChannels(channels, dim, fullDim);
  else if (fullDim !== dim) throw new KensaError('INVALID_ARGUMENT', `fullDim ${fullDim} ≠ dim ${dim} without a channel subset`);
  const g = new GraphBuilder('kensa_padim_mahalanobis');
  const x = g.input('patches', DType.FLOAT, ['M', fullDim]);
  addMahalanobis(g, x, mean, covInv, positions, dim, channels, '', 'dist');
  g.output('dist', DType.FLOAT, ['M']);
  return g.toModel();
}

/**
 * The nodes of buildMahalanobisGraph added to any graph (the export graph uses them too):
 *   x [N·P, fullDim] → dist [N·P]. `prefix` names the μ and Σ̂⁻¹ initializers.
 */
export function addMahalanobis(g: GraphBuilder, input: string, mean: Float32Array, covInv: Float32Array, positions: number, dim: number, channels: Int32Array | null, prefix = '', out?: string): string {
  let x = input;
  if (channels) x = g.op1('Gather', [x, g.i64(Array.from(channels))], { axis: 1 }); // [M, d]
  const x3 = g.op1('Reshape', [x, g.i64([-1, positions, dim])]); // [N, P, d]
  const mu = g.f32(mean, [positions, dim], `${prefix}mean`);
  const inv = g.f32(covInv, [positions, dim, dim], `${prefix}cov_inv`);
  const delta = g.op1('Transpose', [g.op1('Sub', [x3, mu])], { perm: [1, 0, 2] }); // [P, N, d]
  const proj = g.op1('MatMul', [delta, inv]); // [P, N, d] = (x − μ)ᵀ Σ̂⁻¹
  const quad = g.op1('ReduceSum', [g.op1('Mul', [proj, delta]), g.i64([2])], { keepdims: 0 }); // [P, N]
  const flat = g.op1('Reshape', [g.op1('Transpose', [quad], { perm: [1, 0] }), g.i64([-1])]); // [N·P]
  return g.op1('Sqrt', [g.op1('Relu', [flat])], {}, out);
}

/** A session of `buildMahalanobisGraph`: scores batches of images' patches. */
export class MahalanobisScorer {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly positions: number,
    readonly fullDim: number,
  ) {}

  static async create(
    mean: Float32Array,
    covInv: Float32Array,
    positions: number,
    dim: number,
    channels: Int32Array | null,
    fullDim: number,
    ep: ExecutionProvider = 'cpu',
  ): Promise<MahalanobisScorer> {
    const model = buildMahalanobisGraph(mean, covInv, positions, dim, channels, fullDim);
    return new MahalanobisScorer(await createSession(model, { ep }), positions, fullDim);
  }

  /** `patches` [n·P, fullDim] (image-major) → Mahalanobis distances [n·P]. */
  async score(patches: Float32Array, n: number): Promise<Float32Array> {
    const rows = n * this.positions;
    if (!Number.isInteger(n) || n < 1 || patches.length !== rows * this.fullDim) {
      throw new KensaError('INVALID_ARGUMENT', `patches have ${patches.length} values, expected ${n}×${this.positions}×${this.fullDim}`);
    }
    const out = await this.session.run({ patches: new ort.Tensor('float32', patches, [rows, this.fullDim]) });
    return out.dist!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
