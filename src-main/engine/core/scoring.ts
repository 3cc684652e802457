/**
 * Image-level anomaly score, PatchCore Eq. 6–7.
 *
 *   s*      = max over test patches of min over bank ‖m_test − m‖₂      (Eq. 6)
 *   m_test,* = the test patch attaining s*,  m* = its nearest bank patch
 *   w       = 1 − exp‖m_test,* − m*‖ / Σ_{m ∈ 𝒩_b(m*)} exp‖m_test,* − m‖  (Eq. 7)
 *   s       = w · s*
 *
 * 𝒩_b(m*) are the b nearest bank neighbours of m* (m* itself first, as in the reference
 * implementations), precomputed at fit time as `bankNeighbours` [B, b] (row-major int32).
 * The softmax is evaluated with the maximum subtracted, so large distances do not overflow.
 * With b = 1 the weight is undefined (it would always be 0) and s = s*.
 *
 * Layouts: patchDist [P] (s(q) per patch), nnIndex [P], patches [P, D], bank [B, D].
 */
export interface ImageScore {
  /** Eq. 7 reweighted score (the image's raw anomaly score). */
  score: number;
  /** s* of Eq. 6 (max patch score). */
  maxPatchScore: number;
  /** Index of m_test,* among the image's patches. */
  maxPatch: number;
  /** The Eq. 7 weight w. */
  weight: number;
}

export function imageScore(
  patchDist: Float32Array,
  nnIndex: ArrayLike<number | bigint>,
  patches: Float32Array,
  bank: Float32Array,
  bankNeighbours: Int32Array,
  dim: number,
  b: number,
): ImageScore {
  let maxPatch = 0;
  for (let i = 1; i < patchDist.length; i++) if (patchDist[i]! > patchDist[maxPatch]!) maxPatch = i;
  const sStar = patchDist[maxPatch]!;
  if (b <= 1) return { score: sStar, maxPatchScore: sStar, maxPatch, weight: 1 };
  const mStar = Number(nnIndex[maxPatch]);
  const q = maxPatch * dim;
  const dists = new Float64Array(b);
  for (let j = 0; j < b; j++) {
    const m = bankNeighbours[mStar * b + j]!;
    let s = 0;
    for (let k = 0; k < dim; k++) {
      const d = patches[q + k]! - bank[m * dim + k]!;
      s += d * d;
    }
    dists[j] = Math.sqrt(s);
  }
  // Eq. 7 uses ‖m_test,* − m*‖ in the numerator: that is s* (the first neighbour is m* itself).
  dists[0] = sStar;
  let mx = -Infinity;
  for (let j = 0; j < b; j++) mx = Math.max(mx, dists[j]!);
  let denom = 0;
  for (let j = 0; j < b; j++) denom += Math.exp(dists[j]! - mx);
  const weight = 1 - Math.exp(sStar - mx) / denom;
  return { score: weight * sStar, maxPatchScore: sStar, maxPatch, weight };
}
