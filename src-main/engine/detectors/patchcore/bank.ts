/**
 * The memory bank 𝓜_C and its Eq. 7 support: 𝒩_b(m) of every bank entry, the b nearest bank
 * entries (the entry itself first), found in query chunks through an ORT TopK graph.
 *
 * Layouts: bank [B, D] float32 row-major; bankNeighbours [B, b] int32 row-major.
 */
import { throwIfCancelled } from '../../errors';
import { buildTopKGraph } from '../../ort/graphs';
import { createSession, ort, type ExecutionProvider } from '../../ort/session';
import type { RunOptions } from '../types';

/** Top-b neighbours of every bank entry. */
export async function bankNeighbours(bank: Float32Array, size: number, dim: number, b: number, ep: ExecutionProvider, run: RunOptions): Promise<Int32Array> {
  const k = Math.min(b, size);
  const out = new Int32Array(size * b);
  const sess = await createSession(buildTopKGraph(dim, k), { ep });
  try {
    const bankT = new ort.Tensor('float32', bank, [size, dim]);
    const chunk = 512;
    for (let s = 0; s < size; s += chunk) {
      throwIfCancelled(run.signal);
      const e = Math.min(size, s + chunk);
      const r = await sess.run({ queries: new ort.Tensor('float32', bank.subarray(s * dim, e * dim), [e - s, dim]), bank: bankT });
      const idx = r.indices!.data as BigInt64Array;
      for (let i = 0; i < e - s; i++) {
        // The entry itself comes first (distance 0); pad with it when the bank is smaller than b.
        out[(s + i) * b] = s + i;
        let w = 1;
        for (let j = 0; j < k && w < b; j++) {
          const m = Number(idx[i * k + j]);
          if (m !== s + i) out[(s + i) * b + w++] = m;
        }
        while (w < b) out[(s + i) * b + w++] = s + i;
      }
      run.onProgress?.({ phase: 'neighbours', done: e, total: size });
    }
    return out;
  } finally {
    await sess.release();
  }
}
