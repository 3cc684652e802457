/**
 * Greedy k-center coreset subsampling (PatchCore §3.2, Algorithm 1).
 *
 * Input: patch features X [N, D] row-major. Output: the indices of the k rows chosen for the
 * memory bank 𝓜_C, in the order greedy picked them (the first is a seeded random start; every
 * later pick is the point farthest from everything chosen so far).
 *
 * - Distances are measured after a seeded Gaussian random projection ψ to `projectDim`
 *   dimensions (Johnson–Lindenstrauss), as in the paper.
 * - No N×N matrix: the running minimum distance of every point to the chosen set is updated
 *   one centre at a time, inside an ONNX Loop (./ort/graphs.ts), many iterations per call.
 * - Bounded cost: k = min(ratio·N, maxSize). When N exceeds `groupSize`, a first stage runs
 *   greedy independently on G random groups at once (batched, G× fewer sequential steps),
 *   each keeping `oversample`·k/G candidates; the second stage runs exact greedy over the
 *   union of candidates. Every point is within the first-stage radius of a candidate, and the
 *   second stage picks the k that cover the candidates best; with N ≤ groupSize the result
 *   is exactly Algorithm 1.
 */
import { Rng } from './core/random';
import { throwIfCancelled } from './errors';
import { buildCoresetLoopGraph, buildMinDistGraph, buildProjectGraph } from './ort/graphs';
import { createSession, ort, type ExecutionProvider } from './ort/session';

export interface CoresetOptions {
  /** Fraction of patches to keep (paper: 1–25 %, default 10 %). */
  ratio: number;
  /** Upper bound on the bank size (keeps scoring cost bounded). */
  maxSize: number;
  /** Random projection dimension for the distance computations. */
  projectDim: number;
  /** Above this many patches, the two-stage grouped greedy is used. */
  groupSize: number;
  /** First-stage candidates per final centre. */
  oversample: number;
  seed: number;
}

export const DEFAULT_CORESET: CoresetOptions = {
  ratio: 0.1,
  maxSize: 20_000,
  projectDim: 64,
  groupSize: 40_000,
  oversample: 2,
  seed: 0,
};

export interface CoresetRun {
  ep: ExecutionProvider;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Number of centres for N patches. */
export function coresetSize(n: number, opts: Pick<CoresetOptions, 'ratio' | 'maxSize'>): number {
  return Math.max(1, Math.min(n, opts.maxSize, Math.round(n * opts.ratio)));
}

const ITERS_PER_CALL = 256;
const sessionCache = new Map<string, Promise<ort.InferenceSession>>();

function session(key: string, build: () => Uint8Array, ep: ExecutionProvider): Promise<ort.InferenceSession> {
  const k = `${key}:${ep}`;
  let s = sessionCache.get(k);
  if (!s) {
    s = createSession(build(), { ep });
    sessionCache.set(k, s);
  }
  return s;
}

/** ψ(X): the seeded Gaussian projection to `target` dims (identity when target ≥ D), and ‖ψ(x)‖². */
export async function projectForCoreset(
  x: Float32Array,
  n: number,
  dim: number,
  target: number,
  seed: number,
  ep: ExecutionProvider,
): Promise<{ xp: Float32Array; x2: Float32Array; d: number }> {
  const d = Math.min(target, dim);
  const p = new Float32Array(dim * d);
  if (d === dim) {
    for (let i = 0; i < dim; i++) p[i * d + i] = 1;
  } else {
    const rng = new Rng(seed ^ 0x9e3779b9);
    const s = 1 / Math.sqrt(d);
    for (let i = 0; i < p.length; i++) p[i] = rng.normal() * s;
  }
  const sess = await session(`project:${dim}:${d}`, () => buildProjectGraph(dim, d), ep);
  const out = await sess.run({ X: new ort.Tensor('float32', x, [n, dim]), P: new ort.Tensor('float32', p, [dim, d]) });
  return { xp: out.Xp!.data as Float32Array, x2: out.x2!.data as Float32Array, d };
}

interface GroupedInput {
  /** [G, n, d] */
  x: Float32Array;
  /** [G, n] */
  x2: Float32Array;
  /** [G, n] initial running minimum: +∞ for real points, −1 for padding. */
  mind: Float32Array;
  groups: number;
  n: number;
  d: number;
  /** Real points per group. */
  valid: number[];
}

/**
 * Runs greedy k-center on each group; returns per group the chosen local indices (start first).
 * `picks` = centres per group including the start.
 */
async function greedyGroups(
  inp: GroupedInput,
  picks: number,
  rng: Rng,
  run: CoresetRun,
  progress: { done: number; total: number },
  starts?: number[],
): Promise<number[][]> {
  const { groups, n, d } = inp;
  const sess = await session(`kcenter:${d}`, () => buildCoresetLoopGraph('G', 'n', d), run.ep);
  const chosen: number[][] = [];
  const last = new BigInt64Array(groups);
  for (let g = 0; g < groups; g++) {
    const start = starts?.[g] ?? rng.int(inp.valid[g]!);
    last[g] = BigInt(start);
    chosen.push([start]);
  }
  const X = new ort.Tensor('float32', inp.x, [groups, n, d]);
  const x2 = new ort.Tensor('float32', inp.x2, [groups, n]);
  let mind: ort.Tensor = new ort.Tensor('float32', inp.mind, [groups, n]);
  let lastT: ort.Tensor = new ort.Tensor('int64', last, [groups]);
  let remaining = picks - 1;
  while (remaining > 0) {
    throwIfCancelled(run.signal);
    const iters = Math.min(ITERS_PER_CALL, remaining);
    const out = await sess.run({ X, x2, mind, last: lastT, iters: new ort.Tensor('int64', BigInt64Array.of(BigInt(iters)), []) });
    mind = out.mind_out as ort.Tensor;
    lastT = out.last_out as ort.Tensor;
    const picked = out.picked!.data as BigInt64Array; // [iters, G]
    for (let i = 0; i < iters; i++) for (let g = 0; g < groups; g++) chosen[g]!.push(Number(picked[i * groups + g]));
    remaining -= iters;
    progress.done += iters;
    run.onProgress?.(progress.done, progress.total);
  }
  return chosen;
}

/**
 * Greedy coreset of X [N, dim]. Returns the chosen row indices (selection order, unique).
 */
export async function greedyCoreset(x: Float32Array, n: number, dim: number, opts: CoresetOptions, run: CoresetRun): Promise<Int32Array> {
  if (x.length !== n * dim) throw new Error(`coreset: ${x.length} values for ${n}×${dim}`);
  if (!(opts.ratio > 0 && opts.ratio <= 1)) throw new Error(`coreset ratio must be in (0, 1], got ${opts.ratio}`);
  const k = coresetSize(n, opts);
  const rng = new Rng(opts.seed);
  const { xp, x2, d } = await projectForCoreset(x, n, dim, opts.projectDim, opts.seed, run.ep);
  if (k >= n) return Int32Array.from({ length: n }, (_, i) => i);

  const single = (rows: Uint32Array | null, count: number): GroupedInput => {
    if (rows === null) return { x: xp, x2, mind: new Float32Array(count).fill(Infinity), groups: 1, n: count, d, valid: [count] };
    const gx = new Float32Array(count * d);
    const g2 = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const r = rows[i]!;
      gx.set(xp.subarray(r * d, r * d + d), i * d);
      g2[i] = x2[r]!;
    }
    return { x: gx, x2: g2, mind: new Float32Array(count).fill(Infinity), groups: 1, n: count, d, valid: [count] };
  };

  if (n <= opts.groupSize) {
    const progress = { done: 0, total: k - 1 };
    const [picked] = await greedyGroups(single(null, n), k, rng, run, progress);
    return Int32Array.from(new Set(picked!));
  }

  // Stage 1: G random groups, greedy in each at once.
  const groups = Math.ceil(n / opts.groupSize);
  const perm = rng.permutation(n);
  const gn = Math.ceil(n / groups);
  const gx = new Float32Array(groups * gn * d);
  const g2 = new Float32Array(groups * gn);
  const gm = new Float32Array(groups * gn).fill(-1);
  const valid: number[] = [];
  for (let g = 0; g < groups; g++) {
    const from = g * gn;
    const to = Math.min(n, from + gn);
    valid.push(to - from);
    for (let i = from; i < to; i++) {
      const r = perm[i]!;
      const slot = g * gn + (i - from);
      gx.set(xp.subarray(r * d, r * d + d), slot * d);
      g2[slot] = x2[r]!;
      gm[slot] = Infinity;
    }
  }
  const perGroup = Math.min(Math.min(...valid), Math.ceil((opts.oversample * k) / groups));
  const progress = { done: 0, total: perGroup - 1 + k - 1 };
  const stage1 = await greedyGroups({ x: gx, x2: g2, mind: gm, groups, n: gn, d, valid }, perGroup, rng, run, progress);
  const candSet = new Set<number>();
  stage1.forEach((local, g) => local.forEach((li) => candSet.add(perm[g * gn + li]!)));
  const cand = Uint32Array.from(candSet);
  if (cand.length <= k) return Int32Array.from(cand);

  // Stage 2: exact greedy over the union of candidates.
  progress.total = progress.done + k - 1;
  const [picked] = await greedyGroups(single(cand, cand.length), k, rng, run, progress);
  return Int32Array.from(new Set(picked!.map((i) => cand[i]!)));
}

/**
 * Extends an existing coreset (a refit): Algorithm 1 continued over bank ∪ new patches, with
 * the bank as the centres already chosen. Each new patch starts at its distance to the
 * nearest bank entry; greedy then picks the `add` new patches that cover the new data worst
 * (the false alarms' unusual patches come first), without re-running the whole coreset.
 * Returns the chosen row indices into `x` (the new patches).
 *
 * Distances are in the same seeded projection as the original fit.
 */
export async function extendCoreset(
  bank: Float32Array,
  bankSize: number,
  x: Float32Array,
  n: number,
  dim: number,
  add: number,
  opts: CoresetOptions,
  run: CoresetRun,
): Promise<Int32Array> {
  if (x.length !== n * dim || bank.length !== bankSize * dim) throw new Error('extendCoreset: shape mismatch');
  const k = Math.min(add, n);
  if (k <= 0) return new Int32Array(0);
  const pb = await projectForCoreset(bank, bankSize, dim, opts.projectDim, opts.seed, run.ep);
  const px = await projectForCoreset(x, n, dim, opts.projectDim, opts.seed, run.ep);
  const d = px.d;
  const sess = await session(`mindist:${d}`, () => buildMinDistGraph(d), run.ep);
  const mind = new Float32Array(n);
  const bankT = new ort.Tensor('float32', pb.xp, [bankSize, d]);
  const chunk = 1024;
  for (let s = 0; s < n; s += chunk) {
    throwIfCancelled(run.signal);
    const e = Math.min(n, s + chunk);
    const out = await sess.run({ queries: new ort.Tensor('float32', px.xp.subarray(s * d, e * d), [e - s, d]), bank: bankT });
    mind.set(out.mind!.data as Float32Array, s);
  }
  let start = 0;
  for (let i = 1; i < n; i++) if (mind[i]! > mind[start]!) start = i;
  const progress = { done: 0, total: k - 1 };
  // The first pick is the new patch farthest from the bank: its distances are applied by the
  // loop's first step, exactly as Algorithm 1 continues.
  const [picked] = await greedyGroups({ x: px.xp, x2: px.x2, mind, groups: 1, n, d, valid: [n] }, k, new Rng(opts.seed), run, progress, [start]);
  return Int32Array.from(new Set(picked!));
}
