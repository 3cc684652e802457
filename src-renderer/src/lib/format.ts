/** Number, time and path formatting for the UI (pure functions). */

/** A raw score with enough digits to compare it with a threshold. */
export function fmtScore(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  if (a >= 0.01 || a === 0) return v.toFixed(3);
  return v.toExponential(2);
}

export function fmtInt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  // As toLocaleString('en-US'), without loading the locale data (tens of ms on a first call).
  return String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Seconds → "4.2 s", "1 m 05 s", "1 h 02 m". */
export function fmtDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

/** ISO time → "2026-11-23 14:05" in local time. */
export function fmtTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** ISO time → "3 min ago" (falls back to the date after a week). */
export function fmtAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const s = Math.max(0, (now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 7 * 86400) return `${Math.round(s / 86400)} d ago`;
  return fmtTime(iso);
}

/** The last part of a path (either separator). */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] || p;
}

/** A long path shortened in the middle, keeping its end. */
export function shortPath(p: string, max = 60): string {
  if (p.length <= max) return p;
  return `…${p.slice(p.length - max + 1)}`;
}

export function pct(part: number, whole: number): string {
  if (whole <= 0) return '—';
  return `${((100 * part) / whole).toFixed(part === whole || part === 0 ? 0 : 1)} %`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

/** Upper-cases a known execution provider id ('cpu' → 'CPU', 'cuda' → 'GPU (CUDA)'). */
export function fmtEp(ep: string | null | undefined): string {
  if (!ep) return '—';
  const e = ep.toLowerCase();
  if (e === 'cpu') return 'CPU';
  if (e === 'cuda') return 'GPU (CUDA)';
  if (e === 'tensorrt') return 'GPU (TensorRT)';
  if (e === 'webgpu') return 'GPU (WebGPU)';
  if (e === 'dml' || e === 'directml') return 'GPU (DirectML)';
  if (e === 'coreml') return 'CoreML';
  return ep;
}

/** A detector's fact about a fitted model, value and unit ("12,345 patches", "10 %", "0.0123"). */
export function fmtFact(f: { value: number | string; unit?: string | undefined }): string {
  const v = typeof f.value === 'number' ? (Number.isInteger(f.value) ? fmtInt(f.value) : String(Number(f.value.toPrecision(4)))) : f.value;
  return f.unit ? `${v} ${f.unit}` : v;
}

/** The same with its label, for compact places ("Memory bank 12,345 patches"). */
export function fmtFactLine(f: { label: string; value: number | string; unit?: string | undefined }): string {
  return `${f.label} ${fmtFact(f)}`;
}

/**
 * A small rate as a percentage: one decimal ("3.0 %"), but two significant digits when it is
 * above 0 and below 0.1 % ("0.03 %"), so a small nonzero bound never reads as 0.
 */
export function fmtRatePct(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  const p = 100 * x;
  if (p > 0 && p < 0.1) return `${Number(p.toPrecision(2)).toString()} %`;
  return `${p.toFixed(1)} %`;
}

/**
 * The tuning screen's line for the leave-one-out miss rate of the zero-miss rule
 * (TuningData.zeroMiss.expectedMiss): "Expected miss rate on new parts: 10.0 % (LOO,
 * 10 defects; ≤ 39.4 % at 95 %)". Without an estimate (fewer than 2 defects) the rate is "—"
 * and no bound is given.
 */
export function fmtExpectedMiss(e: { defects: number; rate: number | null; upper95: number }): string {
  const n = `${fmtInt(e.defects)} defect${e.defects === 1 ? '' : 's'}`;
  if (e.rate === null || !Number.isFinite(e.rate)) return `Expected miss rate on new parts: — (LOO, ${n})`;
  return `Expected miss rate on new parts: ${fmtRatePct(e.rate)} (LOO, ${n}; ≤ ${fmtRatePct(e.upper95)} at 95 %)`;
}
