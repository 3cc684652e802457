/**
 * Parity of an exported graph with the engine: the same parts scored twice, by the engine's own
 * Scorer (onnxruntime-node, MLAS kernels, the heads' JavaScript steps such as Eq. 7) and by the
 * exported graph alone in a SEPARATE runtime, onnxruntime-web's WebAssembly build (its own
 * kernels, its own copy of onnxruntime-common), both fed the same decoded pixels (decodeOne,
 * the engine's sharp pipeline).
 *
 * Per part: Δscore = export − engine; Δmap = max over pixels of |export map − engine map|.
 * Tolerance: |Δscore| ≤ τ, with τ = `relative` (default 1e-3) × s, where s is the model's own
 * score scale from its good-part statistics,
 *   s = max(colour-scale span (high − low), |mean good image score|, std of good image scores),
 * a number in raw score units of the detector (PatchCore L2 distances, PaDiM Mahalanobis units,
 * the fused z-scores, …), so one relative tolerance fits every detector. Why 1e-3: two float32
 * runtimes running the same graph differ by ~1e-6–1e-5 relative (summation order in GEMMs and
 * convolutions), which is two orders below τ; a wrong export (one weight changed, a step left
 * out, a wrong layout) moves scores by far more than τ; and τ is small against the gaps the
 * threshold is set in (the zero-miss margin is a share of the good-score spread, ~s/10 and more).
 * The map is what a person looks at, through the model's fixed colour scale: max |Δmap| ≤ τ_map =
 * (colour-scale high − low) / 256, less than one step of an 8-bit heatmap. It is looser than τ
 * because the autoencoder's projection (sign and clip in every step) lets float32 differences
 * grow at a few pixels away from the score's maximum (measured: ≤ 2e-3 of the span there, the
 * other detectors ≤ 1e-4), while the score itself stays within 1e-6.
 *
 * Verdicts, when a threshold is in force (flagged ⇔ score ≥ threshold): the export is refused
 * when a part the engine flags would pass, when a reviewed defect would pass, or when a score
 * or map differs by more than τ; a good part that only the export flags is reported, not
 * refused (it goes to a person). The report names the worst part (largest |Δscore|).
 */
import * as ortWeb from 'onnxruntime-web';
import { KensaError, isKensaError, throwIfCancelled, toSerializedError } from '../errors';
import { decodeOne } from '../detectors/pipeline';
import { openScorer } from '../detectors/registry';
import type { RunOptions } from '../detectors/types';
import type { LoadedModel } from '../model-file';
import type { ModelHeader } from '../model-types';
import { defaultThreads, ort as ortNode, type EpRequest } from '../ort/session';
import { EXPORT_IO } from './graph';

export const DEFAULT_PARITY_TOLERANCE = 1e-3;

export interface ParityPart {
  file: string;
  /** The reviewer's verdict, when known (project parts): a 'defect' must not pass. */
  label?: 'good' | 'defect' | null;
}

export interface ParityOptions extends RunOptions {
  /** Threshold in force (flagged ⇔ score ≥ threshold); null = no verdict check. */
  threshold?: number | null;
  /** τ relative to the model's score scale (module comment). */
  tolerance?: number;
  /** Backbone path/id override for the engine side (must have the model's sha256). */
  backbone?: string;
  /** Execution provider of the engine side (default 'auto', as the engine scores). */
  ep?: EpRequest;
  /** Images per export run (default 4). */
  batch?: number;
  /** onnxruntime-web wasm threads (default: the engine's thread count, at most 4; fixed by the first session of the process). */
  threads?: number;
}

export interface PartParity {
  file: string;
  label: 'good' | 'defect' | null;
  engineScore: number;
  exportScore: number;
  deltaScore: number;
  maxDeltaMap: number;
  engineFlagged: boolean | null;
  exportFlagged: boolean | null;
}

export interface ParitySummary {
  ok: boolean;
  /** The runtime that ran the exported graph. */
  runtime: string;
  /** The engine it was compared with. */
  engine: string;
  parts: number;
  scored: number;
  failed: number;
  /** τ = relative × scale for scores; τ_map for maps (module comment). */
  tolerance: { relative: number; scale: number; absolute: number; map: number };
  maxAbsDeltaScore: number;
  maxRelDeltaScore: number;
  maxAbsDeltaMap: number;
  maxRelDeltaMap: number;
  worst: { file: string; deltaScore: number; engineScore: number; exportScore: number } | null;
  threshold: number | null;
  /** Parts whose verdict differs between engine and export at the threshold. */
  verdictChanges: number;
  /** Parts labelled as reviewed defects (the export must flag each of them). */
  reviewedDefects: number;
  /** Reviewed defects the export would pass at the threshold. */
  defectsPassing: number;
  /** Why the export was refused (empty when ok). */
  reasons: string[];
}

export interface ParityReport extends ParitySummary {
  createdAt: string;
  items: PartParity[];
  errors: { file: string; code: string; message: string }[];
}

/** s of the module comment: the model's score scale in its raw units. */
export function scoreScale(h: Pick<ModelHeader, 'stats'>): number {
  const s = h.stats;
  const candidates = [s.colourScale.high - s.colourScale.low, Math.abs(s.imageScore.mean), s.imageScore.std];
  const m = Math.max(...candidates.filter((v) => Number.isFinite(v)));
  return m > 0 ? m : 1;
}

let webThreads: number | null = null;
/** Sessions made by openWebSession (their tensors must be onnxruntime-web's own Tensor class). */
const webSessions = new WeakSet<object>();

/** A session of the exported graph on onnxruntime-web's wasm backend. */
export async function openWebSession(bytes: Uint8Array, threads = Math.min(4, defaultThreads())): Promise<ortWeb.InferenceSession> {
  // The wasm module is set up once per process, with the thread count of the first session.
  if (webThreads === null) {
    ortWeb.env.wasm.numThreads = threads;
    ortWeb.env.logLevel = 'error';
    webThreads = threads;
  }
  try {
    const session = await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all', logSeverityLevel: 3 });
    webSessions.add(session);
    return session;
  } catch (e) {
    throw new KensaError('EXPORT_PARITY', `onnxruntime-web could not load the exported graph: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
}

/** Runs an exported graph (either runtime's session) on n images [n, H, W, 3]. */
export async function runExported(
  session: ortWeb.InferenceSession | ortNode.InferenceSession,
  rgb: Uint8Array,
  n: number,
  height: number,
  width: number,
): Promise<{ score: Float32Array; map: Float32Array }> {
  const isWeb = webSessions.has(session);
  const dims = [n, height, width, 3];
  const input = isWeb ? new ortWeb.Tensor('uint8', rgb, dims) : new ortNode.Tensor('uint8', rgb, dims);
  const out = await (session as ortWeb.InferenceSession).run({ [EXPORT_IO.images]: input as ortWeb.Tensor });
  return { score: out[EXPORT_IO.score]!.data as Float32Array, map: out[EXPORT_IO.map]!.data as Float32Array };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > m || Number.isNaN(d)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

const fmt = (v: number): string => (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toFixed(4) : v.toExponential(3));

/**
 * Scores `parts` with the engine and with the exported graph `bytes` (onnxruntime-web) and
 * compares them (module comment). Never throws for a failed comparison: `ok` and `reasons`
 * say whether the export may be written; throws only when nothing could be scored.
 */
export async function checkParity(bytes: Uint8Array, model: LoadedModel, parts: ParityPart[], opts: ParityOptions = {}): Promise<ParityReport> {
  if (parts.length === 0) throw new KensaError('NO_IMAGES', 'the parity check needs parts to score (a folder of images, or a project with reviewed parts)');
  const h = model.header;
  const { width: W, height: H } = h.config.embedding;
  const relative = opts.tolerance ?? DEFAULT_PARITY_TOLERANCE;
  if (!(relative > 0)) throw new KensaError('INVALID_ARGUMENT', `parity tolerance must be > 0, got ${relative}`);
  const scale = scoreScale(h);
  const tol = relative * scale;
  const span = h.stats.colourScale.high - h.stats.colourScale.low;
  const mapTol = (span > 0 && Number.isFinite(span) ? span : scale) / 256;
  const threshold = opts.threshold ?? null;
  const batch = Math.max(1, opts.batch ?? 4);
  const scorer = await openScorer(model, { ...(opts.backbone === undefined ? {} : { backbone: opts.backbone }), ep: opts.ep ?? 'auto' });
  const engineEp = scorer.ep;
  let web: ortWeb.InferenceSession | null = null;
  const items: PartParity[] = [];
  const errors: ParityReport['errors'] = [];
  try {
    web = await openWebSession(bytes, opts.threads);
    for (let s = 0; s < parts.length; s += batch) {
      throwIfCancelled(opts.signal);
      const chunk = parts.slice(s, s + batch);
      const decoded = await Promise.all(chunk.map((p) => decodeOne(p.file, h.config)));
      const ok: { part: ParityPart; engine: { score: number; map: Float32Array }; rgb: Uint8Array }[] = [];
      for (const [i, d] of decoded.entries()) {
        if (d.error) {
          errors.push({ file: d.file, code: d.error.code, message: d.error.message });
          continue;
        }
        try {
          const r = await scorer.scoreDecoded(d, 0);
          ok.push({ part: chunk[i]!, engine: { score: r.score, map: r.map }, rgb: d.image!.rgb });
        } catch (e) {
          const err = isKensaError(e) ? e.toJSON() : toSerializedError(e);
          errors.push({ file: d.file, code: err.code, message: err.message });
        }
      }
      if (ok.length > 0) {
        const rgb = new Uint8Array(ok.length * H * W * 3);
        ok.forEach((o, i) => rgb.set(o.rgb, i * H * W * 3));
        const out = await runExported(web, rgb, ok.length, H, W);
        ok.forEach((o, i) => {
          const exportScore = out.score[i]!;
          const map = out.map.subarray(i * H * W, (i + 1) * H * W);
          items.push({
            file: o.part.file,
            label: o.part.label ?? null,
            engineScore: o.engine.score,
            exportScore,
            deltaScore: exportScore - o.engine.score,
            maxDeltaMap: maxAbsDiff(map, o.engine.map),
            engineFlagged: threshold === null ? null : o.engine.score >= threshold,
            exportFlagged: threshold === null ? null : exportScore >= threshold,
          });
        });
      }
      opts.onProgress?.({ phase: 'parity', done: Math.min(parts.length, s + batch), total: parts.length });
    }
  } finally {
    await Promise.all([scorer.release(), web?.release()]);
  }
  if (items.length === 0) {
    throw new KensaError('NO_IMAGES', `none of the ${parts.length} parity parts could be scored (first error: ${errors[0]?.message ?? 'none'})`);
  }
  const engine = `Kensa engine Scorer on onnxruntime-node ${ortNode.env.versions.node ?? ortNode.env.versions.common ?? '?'} (${engineEp})`;
  return summarise(items, errors, parts.length, { relative, scale, absolute: tol, map: mapTol }, threshold, engine);
}

function summarise(items: PartParity[], errors: ParityReport['errors'], total: number, tolerance: ParitySummary['tolerance'], threshold: number | null, engine: string): ParityReport {
  const abs = (p: PartParity): number => (Number.isNaN(p.deltaScore) ? Infinity : Math.abs(p.deltaScore));
  const worst = items.reduce((a, b) => (abs(b) > abs(a) ? b : a));
  const maxAbsDeltaScore = abs(worst);
  const maxAbsDeltaMap = Math.max(...items.map((p) => p.maxDeltaMap));
  const reasons: string[] = [];
  const t = tolerance.absolute;
  if (maxAbsDeltaScore > t) {
    reasons.push(
      `score differs by ${fmt(worst.deltaScore)} on ${worst.file} (engine ${fmt(worst.engineScore)}, export ${fmt(worst.exportScore)}; tolerance ${fmt(t)} = ${tolerance.relative} × score scale ${fmt(tolerance.scale)})`,
    );
  }
  if (maxAbsDeltaMap > tolerance.map) {
    const w = items.reduce((a, b) => (b.maxDeltaMap > a.maxDeltaMap ? b : a));
    reasons.push(`anomaly map differs by up to ${fmt(w.maxDeltaMap)} on ${w.file} (tolerance ${fmt(tolerance.map)}, 1/256 of the colour scale)`);
  }
  const changes = items.filter((p) => p.engineFlagged !== p.exportFlagged);
  const defectsPassing = items.filter((p) => p.label === 'defect' && p.exportFlagged === false);
  if (threshold !== null) {
    for (const p of items.filter((q) => q.engineFlagged === true && q.exportFlagged === false)) {
      reasons.push(`${p.file} would pass in the export although the engine flags it (engine ${fmt(p.engineScore)}, export ${fmt(p.exportScore)}, threshold ${fmt(threshold)})`);
    }
    for (const p of defectsPassing) {
      if (p.engineFlagged === true) continue; // named above
      reasons.push(`reviewed defect ${p.file} would pass at the threshold in force (${fmt(threshold)}): export ${fmt(p.exportScore)}, engine ${fmt(p.engineScore)} (the engine passes it too: the threshold misses this defect; lower it or pass --threshold)`);
    }
  }
  return {
    ok: reasons.length === 0,
    runtime: `onnxruntime-web ${ortWeb.env.versions.web ?? '?'} (wasm, ${webThreads ?? 1} thread${webThreads === 1 ? '' : 's'})`,
    engine,
    parts: total,
    scored: items.length,
    failed: errors.length,
    tolerance,
    maxAbsDeltaScore,
    maxRelDeltaScore: maxAbsDeltaScore / tolerance.scale,
    maxAbsDeltaMap,
    maxRelDeltaMap: maxAbsDeltaMap / tolerance.scale,
    worst: { file: worst.file, deltaScore: worst.deltaScore, engineScore: worst.engineScore, exportScore: worst.exportScore },
    threshold,
    verdictChanges: changes.length,
    reviewedDefects: items.filter((p) => p.label === 'defect').length,
    defectsPassing: defectsPassing.length,
    reasons,
    createdAt: new Date().toISOString(),
    items,
    errors,
  };
}

/**
 * The same comparison at another threshold (null: none), from a report's per-part scores:
 * which verdicts would change and whether the export would be refused there.
 */
export function rejudge(r: ParityReport, threshold: number | null): ParityReport {
  const items = r.items.map((p) => ({
    ...p,
    engineFlagged: threshold === null ? null : p.engineScore >= threshold,
    exportFlagged: threshold === null ? null : p.exportScore >= threshold,
  }));
  return summarise(items, r.errors, r.parts, r.tolerance, threshold, r.engine);
}

/** The summary of a report (what goes into the sidecar and the graph's metadata). */
export function paritySummary(r: ParityReport): ParitySummary {
  const { items: _i, errors: _e, createdAt: _c, ...summary } = r;
  return summary;
}
