/**
 * Confidence bounds for a rate estimated on held-out parts (e.g. the leave-one-out miss rate of
 * the zero-miss threshold, services/threshold.ts). Pure TypeScript, no Node APIs.
 *
 * `clopperPearsonUpper(k, n, c)` is the one-sided exact (Clopper–Pearson) upper confidence
 * limit of a binomial proportion after k events in n trials: the p_U with
 *
 *     P(X ≤ k | n, p_U) = 1 − c          (X ~ Binomial(n, p_U)),  k < n
 *
 * i.e. the c-quantile of Beta(k + 1, n − k); p_U = 1 when k = n or n = 0 (nothing observed
 * rules anything out). For k = 0 it has the closed form 1 − (1 − c)^(1/n), which for c = 0.95
 * is the "rule of three": 1 − 0.05^(1/n) ≈ −ln(0.05)/n ≈ 3/n.
 * Otherwise it is found by bisection on the binomial CDF (evaluated in log space, so large n
 * neither underflows nor overflows); the CDF is strictly decreasing in p, so the root is unique.
 */
import { KensaError } from '../errors';

function nonNegativeInteger(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new KensaError('INVALID_ARGUMENT', `holdout: ${what} must be a non-negative integer, got ${String(v)}`);
  return v;
}

/** P(X ≤ k) for X ~ Binomial(n, p), 0 < p < 1, 0 ≤ k ≤ n; summed as log terms (log-sum-exp). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (p <= 0) return 1;
  if (p >= 1) return k >= n ? 1 : 0;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  // log C(n, j) built up term by term: C(n, j + 1) = C(n, j) · (n − j) / (j + 1)
  const logs = new Float64Array(k + 1);
  let logC = 0;
  let max = -Infinity;
  for (let j = 0; j <= k; j++) {
    if (j > 0) logC += Math.log(n - j + 1) - Math.log(j);
    const t = logC + j * lp + (n - j) * lq;
    logs[j] = t;
    if (t > max) max = t;
  }
  let sum = 0;
  for (let j = 0; j <= k; j++) sum += Math.exp(logs[j]! - max);
  return Math.min(1, Math.exp(max) * sum);
}

/**
 * One-sided Clopper–Pearson (exact binomial) upper confidence limit on a rate after `k`
 * events in `n` trials, at `confidence` (default 0.95). See the module comment.
 */
export function clopperPearsonUpper(k: number, n: number, confidence = 0.95): number {
  nonNegativeInteger(k, 'k');
  nonNegativeInteger(n, 'n');
  if (k > n) throw new KensaError('INVALID_ARGUMENT', `holdout: k (${k}) must not exceed n (${n})`);
  if (typeof confidence !== 'number' || !(confidence > 0 && confidence < 1)) {
    throw new KensaError('INVALID_ARGUMENT', `holdout: confidence must be in (0, 1), got ${String(confidence)}`);
  }
  if (n === 0 || k === n) return 1;
  const alpha = 1 - confidence;
  if (k === 0) return -Math.expm1(Math.log(alpha) / n); // 1 − α^(1/n), without cancellation
  let lo = 0; // CDF(lo) = 1 > α
  let hi = 1; // CDF(hi) = 0 < α
  for (let it = 0; it < 200; it++) {
    const mid = (lo + hi) / 2;
    if (mid <= lo || mid >= hi) break; // adjacent doubles: as exact as it gets
    if (binomialCdf(k, n, mid) > alpha) lo = mid;
    else hi = mid;
  }
  return hi;
}
