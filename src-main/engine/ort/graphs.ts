/**
 * The ONNX graphs Kensa builds at runtime for PatchCore's heavy math. Each builder returns
 * serialized model bytes; sessions are created elsewhere (./session.ts).
 *
 * Layouts (row-major, float32 unless said otherwise):
 *   patches   [M, D]  patch embeddings of the images being scored (M = images × h × w)
 *   bank      [B, D]  memory bank 𝓜 (coreset of the good patches)
 *   X         [G, n, d]  coreset input: G independent groups of n projected patches
 */
import { DType, GraphBuilder, type Dim } from './onnx-builder';

/**
 * Nearest-neighbour search of patches against a fixed memory bank, the bank baked in as
 * initializers (so ORT can pre-pack it for its GEMM):
 *   dist²(q, m) = ‖q‖² − 2 q·m + ‖m‖²
 * Outputs, per patch: `dist` [M] = min_m ‖q − m‖₂ (the patch score s(q), clamped at 0 before
 * the square root) and `index` [M] int64 = argmin (the nearest bank patch m*).
 * The [M, B] distance matrix is produced in column chunks of `chunk` bank entries so that it
 * stays in cache; chunk minima are then combined.
 */
export function buildNearestNeighbourGraph(bank: Float32Array, bankSize: number, dim: number, chunk = 4096): Uint8Array {
  const g = new GraphBuilder('kensa_nn');
  const q = g.input('patches', DType.FLOAT, ['M', dim]);
  const { dist, index } = addNearestNeighbour(g, q, bank, bankSize, dim, chunk, '', { dist: 'dist', index: 'index' });
  g.output(dist, DType.FLOAT, ['M']);
  g.output(index, DType.INT64, ['M']);
  return g.toModel();
}

/**
 * The nodes of buildNearestNeighbourGraph added to any graph (the export graph uses them too):
 *   q [M, D] → dist [M] float, index [M] int64.
 * `prefix` names the bank initializers (`${prefix}bankT_${c}`) so several banks can share a graph.
 */
export function addNearestNeighbour(
  g: GraphBuilder,
  q: string,
  bank: Float32Array,
  bankSize: number,
  dim: number,
  chunk = 4096,
  prefix = '',
  names: { dist?: string; index?: string } = {},
): { dist: string; index: string } {
  if (bank.length !== bankSize * dim) throw new Error(`bank has ${bank.length} values, expected ${bankSize}×${dim}`);
  const q2 = g.op1('ReduceSumSquare', [q], { axes: [1], keepdims: 1 }); // [M,1]
  // q gets a last column of ones and each bank chunk a last row of −½‖m‖², so ONE MatMul gives
  //   q·m − ½‖m‖²  (maximised by the nearest m:  dist² = ‖q‖² − 2 (q·m − ½‖m‖²))
  // and ONE TopK(k = 1) pass gives its max and argmax: the [M, n] product is written once and
  // read once (a separate Add, ReduceMax and ArgMax would read it three times).
  const q1 = g.op1('Pad', [q, g.i64([0, 0, 0, 1], [4]), g.f32([1], [])], { mode: 'constant' }); // [M, D+1]
  const mins: string[] = [];
  const args: string[] = [];
  const chunks = Math.max(1, Math.ceil(bankSize / chunk));
  const one = g.i64([1], [1]);
  for (let c = 0; c < chunks; c++) {
    const start = c * chunk;
    const end = Math.min(bankSize, start + chunk);
    const n = end - start;
    const bt = new Float32Array((dim + 1) * n); // [D+1, n]
    for (let j = 0; j < n; j++) {
      let s = 0;
      const row = (start + j) * dim;
      for (let k = 0; k < dim; k++) {
        const v = bank[row + k]!;
        bt[k * n + j] = v;
        s += v * v;
      }
      bt[dim * n + j] = -0.5 * s;
    }
    const btName = g.init(`${prefix}bankT_${c}`, bt, [dim + 1, n]);
    const sc = g.op1('MatMul', [q1, btName]); // [M, n]
    const [mx, am0] = g.op('TopK', [sc, one], 2, { axis: 1, largest: 1, sorted: 1 }) as [string, string]; // [M,1] each
    let am = am0;
    if (start > 0) am = g.op1('Add', [am, g.i64([start], [1])]);
    mins.push(mx);
    args.push(am);
  }
  let best: string;
  let bestIdx: string;
  if (chunks === 1) {
    best = mins[0]!;
    bestIdx = args[0]!;
  } else {
    const all = g.op1('Concat', mins, { axis: 1 }); // [M, chunks]
    const allIdx = g.op1('Concat', args, { axis: 1 });
    best = g.op1('ReduceMax', [all], { axes: [1], keepdims: 1 });
    const which = g.op1('ArgMax', [all], { axis: 1, keepdims: 1 });
    bestIdx = g.op1('GatherElements', [allIdx, which], { axis: 1 });
  }
  const d2 = g.op1('Sub', [q2, g.op1('Mul', [best, g.f32([2], [])])]);
  const d2c = g.op1('Relu', [d2]);
  const dist = g.op1('Sqrt', [d2c]);
  return {
    dist: g.op1('Squeeze', [dist, g.i64([1])], {}, names.dist),
    index: g.op1('Squeeze', [bestIdx, g.i64([1])], {}, names.index),
  };
}

/**
 * Greedy k-center (PatchCore Alg. 1) distance updates, many iterations per session call via
 * an ONNX Loop, for G independent groups at once (batched GEMV):
 *   state  mind [G, n]  = min over chosen centres of ‖x − c‖² (−1 marks padding: never chosen)
 *          last [G]     = the centre chosen last, whose distances are not yet applied
 *   each iteration:  c = X[g, last[g]];  mind = min(mind, ‖x‖² − 2x·c + ‖c‖²);  last = argmax mind
 * Outputs the new state and `picked` [iters, G] int64 (each iteration's new centre).
 */
export function buildCoresetLoopGraph(groups: Dim, n: Dim, d: number): Uint8Array {
  const body = new GraphBuilder('kcenter_step');
  body.input('iter', DType.INT64, []);
  body.input('cond_in', DType.BOOL, []);
  body.input('mind_in', DType.FLOAT, [groups, n]);
  body.input('last_in', DType.INT64, [groups]);
  // Outer-scope tensors X, x2 are visible inside the body.
  const lastCol = body.op1('Unsqueeze', ['last_in', body.i64([1], [1], 'ax1')]); // [G,1]
  const c = body.op1('GatherND', ['X', lastCol], { batch_dims: 1 }); // [G, d]
  const cCol = body.op1('Unsqueeze', [c, body.i64([2], [1], 'ax2')]); // [G, d, 1]
  const dots = body.op1('MatMul', ['X', cCol]); // [G, n, 1]
  const dotsSq = body.op1('Squeeze', [dots, 'ax2']); // [G, n]
  const c2 = body.op1('GatherElements', ['x2', lastCol], { axis: 1 }); // [G,1]
  const m2 = body.op1('Mul', [dotsSq, body.f32([-2], [], 'minus2')]);
  const dist = body.op1('Add', [body.op1('Add', ['x2', m2]), c2]);
  body.op1('Min', ['mind_in', dist], {}, 'mind_out');
  body.op1('ArgMax', ['mind_out'], { axis: 1, keepdims: 0 }, 'last_out');
  body.op1('Identity', ['cond_in'], {}, 'cond_out');
  body.op1('Identity', ['last_out'], {}, 'picked_step');
  body.output('cond_out', DType.BOOL, []);
  body.output('mind_out', DType.FLOAT, [groups, n]);
  body.output('last_out', DType.INT64, [groups]);
  body.output('picked_step', DType.INT64, [groups]);

  const g = new GraphBuilder('kensa_kcenter');
  g.input('X', DType.FLOAT, [groups, n, d]);
  g.input('x2', DType.FLOAT, [groups, n]);
  g.input('mind', DType.FLOAT, [groups, n]);
  g.input('last', DType.INT64, [groups]);
  g.input('iters', DType.INT64, []);
  const cond = g.init('cond_true', Uint8Array.of(1), []);
  // Loop's bool initializer must be BOOL typed: fix the dtype of the raw byte tensor.
  g.initializers[g.initializers.length - 1]!.dataType = DType.BOOL;
  g.op('Loop', ['iters', cond, 'mind', 'last'], ['mind_out', 'last_out', 'picked'], { body: { graph: body.graph() } });
  g.output('mind_out', DType.FLOAT, [groups, n]);
  g.output('last_out', DType.INT64, [groups]);
  g.output('picked', DType.INT64, ['iters', groups]);
  return g.toModel();
}

/** Random projection and squared norms for the coreset: Xp = X·P  [N, d],  x2 = ‖Xp‖² [N]. */
export function buildProjectGraph(dim: number, target: number): Uint8Array {
  const g = new GraphBuilder('kensa_project');
  g.input('X', DType.FLOAT, ['N', dim]);
  g.input('P', DType.FLOAT, [dim, target]);
  g.op1('MatMul', ['X', 'P'], {}, 'Xp');
  g.op1('ReduceSumSquare', ['Xp'], { axes: [1], keepdims: 0 }, 'x2');
  g.output('Xp', DType.FLOAT, ['N', target]);
  g.output('x2', DType.FLOAT, ['N']);
  return g.toModel();
}

/**
 * k nearest bank entries of each query row (used at fit time for 𝒩_b(m*) of Eq. 7):
 *   queries [Q, D] (input), bank [B, D] (input) → `indices` [Q, k] int64, nearest first.
 */
export function buildTopKGraph(dim: number, k: number): Uint8Array {
  const g = new GraphBuilder('kensa_topk');
  g.input('queries', DType.FLOAT, ['Q', dim]);
  g.input('bank', DType.FLOAT, ['B', dim]);
  const bt = g.op1('Transpose', ['bank'], { perm: [1, 0] });
  const b2 = g.op1('Unsqueeze', [g.op1('ReduceSumSquare', ['bank'], { axes: [1], keepdims: 0 }), g.i64([0])]); // [1,B]
  const dots = g.op1('MatMul', ['queries', bt]); // [Q,B]
  // ‖q‖² is constant per row: rank by ‖m‖² − 2 q·m.
  const score = g.op1('Sub', [b2, g.op1('Mul', [dots, g.f32([2], [])])]);
  g.op('TopK', [score, g.i64([k])], ['values', 'indices'], { axis: 1, largest: 0, sorted: 1 });
  g.output('indices', DType.INT64, ['Q', k]);
  return g.toModel();
}

/**
 * Anomaly map (PatchCore §3.3): patch scores on the feature grid, bilinearly upsampled to
 * the model input size and smoothed with a Gaussian (separable, reflect padding):
 *   scores [N, 1, h, w] → map [N, 1, H, W]
 */
export function buildAnomalyMapGraph(height: number, width: number, kernel: Float32Array): Uint8Array {
  const g = new GraphBuilder('kensa_map');
  g.input('scores', DType.FLOAT, ['N', 1, 'h', 'w']);
  addAnomalyMap(g, 'scores', height, width, kernel, 'map');
  g.output('map', DType.FLOAT, ['N', 1, height, width]);
  return g.toModel();
}

/** The nodes of buildAnomalyMapGraph added to any graph: scores [N, 1, h, w] → map [N, 1, H, W]. */
export function addAnomalyMap(g: GraphBuilder, scores: string, height: number, width: number, kernel: Float32Array, out?: string): string {
  const r = (kernel.length - 1) / 2;
  const nc = g.op1('Slice', [g.op1('Shape', [scores]), g.i64([0]), g.i64([2])]);
  const sizes = g.op1('Concat', [nc, g.i64([height, width])], { axis: 0 });
  const empty = g.f32([], [0]);
  const up = g.op1('Resize', [scores, empty, empty, sizes], { mode: 'linear', coordinate_transformation_mode: 'half_pixel' });
  const padded = g.op1('Pad', [up, g.i64([0, 0, r, r, 0, 0, r, r])], { mode: 'reflect' });
  const kx = g.f32(kernel, [1, 1, 1, kernel.length]);
  const ky = g.f32(kernel, [1, 1, kernel.length, 1]);
  const bx = g.op1('Conv', [padded, kx], { kernel_shape: [1, kernel.length] });
  return g.op1('Conv', [bx, ky], { kernel_shape: [kernel.length, 1] }, out);
}

/**
 * Squared distance of each query to its nearest bank row, both given as inputs:
 *   queries [Q, d], bank [B, d] → `mind` [Q] = min_b ‖q − b‖² (clamped at 0).
 * Warm-starts greedy k-center when a bank is extended (refit).
 */
export function buildMinDistGraph(d: number): Uint8Array {
  const g = new GraphBuilder('kensa_mindist');
  g.input('queries', DType.FLOAT, ['Q', d]);
  g.input('bank', DType.FLOAT, ['B', d]);
  const q2 = g.op1('ReduceSumSquare', ['queries'], { axes: [1], keepdims: 0 }); // [Q]
  const b2 = g.op1('Unsqueeze', [g.op1('ReduceSumSquare', ['bank'], { axes: [1], keepdims: 0 }), g.i64([0])]); // [1,B]
  const dots = g.op1('MatMul', ['queries', g.op1('Transpose', ['bank'], { perm: [1, 0] })]); // [Q,B]
  const part = g.op1('ReduceMin', [g.op1('Sub', [b2, g.op1('Mul', [dots, g.f32([2], [])])])], { axes: [1], keepdims: 0 }); // [Q]
  g.op1('Relu', [g.op1('Add', [part, q2])], {}, 'mind');
  g.output('mind', DType.FLOAT, ['Q']);
  return g.toModel();
}
