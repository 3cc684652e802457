/**
 * The steps every detector shares, written once:
 *
 *   decode (sharp / own BMP, read-ahead) → patch features through the backbone taps, in
 *   batches → held-out calibration split (seeded) → detector.fit → open its head →
 *   calibration images scored → good-part statistics + fixed colour scale → model header.
 *
 *   scoring: decode → features → head (patch scores [h·w]) → map step (bilinear upsample to
 *   the input size + Gaussian σ, one ORT graph) → image score (the head's own, else the map max).
 *
 * Layouts: features [n·h·w, D] row-major image-major; pixels uint8 [n, H, W, 3]; maps [H·W].
 * Plain Node (no electron, no database); long runs take an AbortSignal and report progress.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { loadBackbone, sha256, type BackboneFile } from '../backbone/backbone';
import { IMAGENET_MEAN, IMAGENET_STD } from '../backbone/extractor';
import { FeatureExtractor, type Patches } from '../backbone/feature-extractor';
import { gaussianKernel } from '../core/gaussian';
import { Rng } from '../core/random';
import { KensaError, isKensaError, throwIfCancelled, toSerializedError, type SerializedKensaError } from '../errors';
import { loadImageFromBuffer, readImageFile, type LoadedImage } from '../imaging/load';
import { MODEL_FORMAT_VERSION, type LoadedModel, type ModelArrays } from '../model-file';
import type { DetectorId, GoodStats, InputConfig, ModelHeader, ModelHeaderDraft, Quantiles } from '../model-types';
import { buildAnomalyMapGraph } from '../ort/graphs';
import { chooseExecutionProvider, createSession, ort, type EpRequest, type ExecutionProvider } from '../ort/session';
import { KENSA_VERSION } from '../../shared/version';
import { ReviewedHead, reviewArrays } from '../review/head';
import type { AnyDetector, FeatureSet, FileError, Head, HeadContext, MapStep, Progress, RunOptions } from './types';

export const DEFAULT_INPUT: InputConfig = {
  embedding: { width: 224, height: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD, aggregation: 3, projectDim: null },
  resize: 'stretch',
  blurSigma: 4,
  calibrationShare: 0.1,
  calibrationMax: 20,
  batchSize: 4,
  taps: null,
  seed: 0,
};

export type PartialInput = Partial<Omit<InputConfig, 'embedding'>> & { embedding?: Partial<InputConfig['embedding']> };

const bad = (m: string): never => {
  throw new KensaError('INVALID_ARGUMENT', m);
};

export function resolveInput(partial: PartialInput = {}): InputConfig {
  const cfg: InputConfig = { ...DEFAULT_INPUT, ...partial, embedding: { ...DEFAULT_INPUT.embedding, ...partial.embedding } };
  if (!(cfg.blurSigma > 0)) bad(`blur sigma must be > 0, got ${cfg.blurSigma}`);
  const { width, height } = cfg.embedding;
  if (!(width >= 32 && height >= 32 && width <= 4096 && height <= 4096)) bad(`input size must be 32–4096 px, got ${width}×${height}`);
  if (!['stretch', 'crop', 'pad'].includes(cfg.resize)) bad(`resize must be stretch, crop or pad, got ${cfg.resize}`);
  if (!(cfg.calibrationShare >= 0 && cfg.calibrationShare < 1)) bad(`calibration share must be in [0, 1), got ${cfg.calibrationShare}`);
  if (!(Number.isInteger(cfg.calibrationMax) && cfg.calibrationMax >= 0)) bad(`calibration max must be an integer ≥ 0, got ${cfg.calibrationMax}`);
  const pd = cfg.embedding.projectDim;
  if (pd !== null && !(Number.isInteger(pd) && pd >= 1)) bad(`projection dimension must be a positive integer, got ${pd}`);
  if (!(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1 && cfg.batchSize <= 64)) bad(`batch size must be 1–64, got ${cfg.batchSize}`);
  if (!(Number.isInteger(cfg.seed) && cfg.seed >= 0)) bad(`seed must be an integer ≥ 0, got ${cfg.seed}`);
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Decoding with read-ahead: decode (sharp, libuv threads) overlaps the ORT run.

export interface Decoded {
  file: string;
  image?: LoadedImage;
  sha256?: string;
  error?: SerializedKensaError;
}

export async function decodeOne(file: string, cfg: InputConfig): Promise<Decoded> {
  try {
    const buf = await readImageFile(file);
    const image = await loadImageFromBuffer(buf, file, { width: cfg.embedding.width, height: cfg.embedding.height, resize: cfg.resize });
    return { file, image, sha256: sha256(buf) };
  } catch (e) {
    return { file, error: isKensaError(e) ? e.toJSON() : toSerializedError(e) };
  }
}

/** Yields decoded images in order, keeping up to `ahead` decodes in flight. */
export async function* decodeAll(files: string[], cfg: InputConfig, ahead = 4): AsyncGenerator<Decoded> {
  const pending: Promise<Decoded>[] = [];
  let next = 0;
  while (next < files.length && pending.length < ahead) pending.push(decodeOne(files[next++]!, cfg));
  while (pending.length > 0) {
    const d = await pending.shift()!;
    if (next < files.length) pending.push(decodeOne(files[next++]!, cfg));
    yield d;
  }
}

// ---------------------------------------------------------------------------------------------
// Batched feature extraction.

export interface Extracted {
  set: FeatureSet;
  used: Decoded[];
  skipped: FileError[];
}

/** Decodes (read-ahead) and embeds every file in batches; unreadable files are listed, not fatal. */
export async function extractAll(files: string[], extractor: FeatureExtractor, cfg: InputConfig, run: RunOptions): Promise<Extracted> {
  const skipped: FileError[] = [];
  const used: Decoded[] = [];
  const { width, height } = cfg.embedding;
  const px = width * height * 3;
  const rgbAll = new Uint8Array(files.length * px);
  const acc: { feats: Float32Array | null; perImage: number; grid: [number, number] } = { feats: null, perImage: 0, grid: [0, 0] };
  let batch: Decoded[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rgb = rgbAll.subarray(used.length * px, (used.length + batch.length) * px);
    batch.forEach((d, i) => rgb.set(d.image!.rgb, i * px));
    const p = await extractor.extract(rgb, batch.length);
    if (acc.feats === null) {
      acc.perImage = p.h * p.w;
      acc.grid = [p.h, p.w];
      acc.feats = new Float32Array(files.length * acc.perImage * p.dim);
    }
    acc.feats.set(p.data, used.length * acc.perImage * p.dim);
    used.push(...batch);
    batch = [];
    run.onProgress?.({ phase: 'features', done: used.length + skipped.length, total: files.length });
  };
  for await (const d of decodeAll(files, cfg)) {
    throwIfCancelled(run.signal);
    if (d.error) {
      skipped.push({ file: d.file, error: d.error });
      continue;
    }
    batch.push(d);
    if (batch.length >= cfg.batchSize) await flush();
  }
  await flush();
  if (used.length === 0 || acc.feats === null) {
    throw new KensaError('NO_IMAGES', `none of the ${files.length} images could be read (first error: ${skipped[0]?.error.message ?? 'none'})`);
  }
  const dim = extractor.dim;
  return {
    set: { feats: acc.feats.subarray(0, used.length * acc.perImage * dim), rgb: rgbAll.subarray(0, used.length * px), n: used.length, dim, grid: acc.grid, width, height },
    used,
    skipped,
  };
}

/** The images `idx` of a feature set (copied; `idx` ascending keeps the order). */
export function subset(set: FeatureSet, idx: number[]): FeatureSet {
  const per = set.grid[0] * set.grid[1] * set.dim;
  const px = set.width * set.height * 3;
  if (idx.length === set.n && idx.every((v, i) => v === i)) return set;
  const feats = new Float32Array(idx.length * per);
  const rgb = new Uint8Array(idx.length * px);
  idx.forEach((img, j) => {
    feats.set(set.feats.subarray(img * per, (img + 1) * per), j * per);
    rgb.set(set.rgb.subarray(img * px, (img + 1) * px), j * px);
  });
  return { ...set, feats, rgb, n: idx.length };
}

/** Image `i` of a feature set as a one-image patch batch (no copy). */
export function imagePatches(set: FeatureSet, i: number): { p: Patches; rgb: Uint8Array } {
  const per = set.grid[0] * set.grid[1];
  const px = set.width * set.height * 3;
  return {
    p: { data: set.feats.subarray(i * per * set.dim, (i + 1) * per * set.dim), n: 1, h: set.grid[0], w: set.grid[1], dim: set.dim },
    rgb: set.rgb.subarray(i * px, (i + 1) * px),
  };
}

/** Seeded split of n images into calibration (held out) and fit indices, both ascending. */
export function calibrationSplit(n: number, cfg: InputConfig): { cal: number[]; fit: number[] } {
  const nCal = n >= 5 && cfg.calibrationShare > 0 ? Math.min(cfg.calibrationMax, n - 1, Math.max(1, Math.round(n * cfg.calibrationShare))) : 0;
  const order = new Rng(cfg.seed + 1).permutation(n);
  const cal = Array.from(order.subarray(0, nCal)).sort((a, b) => a - b);
  const calSet = new Set(cal);
  return { cal, fit: Array.from({ length: n }, (_, i) => i).filter((i) => !calSet.has(i)) };
}

// ---------------------------------------------------------------------------------------------
// The map step and good-part statistics.

/** Bilinear upsample of patch scores to the input size + reflect-padded Gaussian blur (one ORT graph). */
export class MapRunner implements MapStep {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly grid: [number, number],
  ) {}

  static async create(cfg: InputConfig, grid: [number, number], ep: ExecutionProvider): Promise<MapRunner> {
    const bytes = buildAnomalyMapGraph(cfg.embedding.height, cfg.embedding.width, gaussianKernel(cfg.blurSigma));
    return new MapRunner(await createSession(bytes, { ep }), grid);
  }

  async map(patch: Float32Array): Promise<Float32Array> {
    const m = await this.session.run({ scores: new ort.Tensor('float32', patch, [1, 1, this.grid[0], this.grid[1]]) });
    return m.map!.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function quantiles(values: Float32Array): Quantiles {
  const s = Float32Array.from(values).sort();
  const q = (p: number): number => s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))]!;
  return { min: s[0]!, p50: q(0.5), p90: q(0.9), p99: q(0.99), p999: q(0.999), max: s[s.length - 1]! };
}

export function goodStats(imageScores: number[], maps: Float32Array[]): GoodStats {
  const total = maps.reduce((a, m) => a + m.length, 0);
  const all = new Float32Array(total);
  let o = 0;
  for (const m of maps) {
    all.set(m, o);
    o += m.length;
  }
  const pixel = quantiles(all);
  const n = imageScores.length;
  const mean = imageScores.reduce((a, b) => a + b, 0) / n;
  const std = Math.sqrt(imageScores.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1));
  return {
    images: n,
    imageScores,
    imageScore: { mean, std, max: Math.max(...imageScores) },
    pixel,
    colourScale: { low: pixel.p50, high: pixel.p999 + 2 * (pixel.p999 - pixel.p50) },
  };
}

function maxOf(a: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

export interface ScoredMap {
  score: number;
  maxPatchScore: number;
  /** [H·W] at the model input size, raw score units. */
  map: Float32Array;
}

/** Head output → the detector's final outputs (map at input size, image score). */
export async function finishScore(head: Head, p: Patches, rgb: Uint8Array, i: number, mapStep: MapStep, timing?: { headMs: number; mapMs: number }): Promise<ScoredMap> {
  let t = performance.now();
  const out = await head.score(p, rgb, i);
  if (timing) timing.headMs += performance.now() - t;
  t = performance.now();
  const map = await mapStep.map(out.patch);
  if (timing) timing.mapMs += performance.now() - t;
  const mapMax = maxOf(map);
  return { score: out.imageScore ?? mapMax, maxPatchScore: out.maxPatchScore ?? mapMax, map };
}

/** Scores every image of a set with a head; returns image scores and maps (for statistics). */
export async function scoreSet(head: Head, set: FeatureSet, mapStep: MapStep, run: RunOptions, phase = 'calibrate'): Promise<{ scores: number[]; maps: Float32Array[] }> {
  const scores: number[] = [];
  const maps: Float32Array[] = [];
  for (let i = 0; i < set.n; i++) {
    throwIfCancelled(run.signal);
    const { p, rgb } = imagePatches(set, i);
    const s = await finishScore(head, p, rgb, 0, mapStep);
    scores.push(s.score);
    maps.push(s.map);
    run.onProgress?.({ phase, done: i + 1, total: set.n });
  }
  return { scores, maps };
}

// ---------------------------------------------------------------------------------------------
// Backbone for a model: found by id or path, and it must be the one the model was fitted with.

export async function backboneFor(header: { backbone: { id: string; file: string; sha256: string } }, file: string, override?: string): Promise<BackboneFile> {
  let backbone: BackboneFile;
  try {
    backbone = await loadBackbone(override ?? header.backbone.id);
  } catch (e) {
    if (isKensaError(e) && e.code === 'BACKBONE_NOT_FOUND' && override === undefined) {
      throw new KensaError('BACKBONE_NOT_FOUND', `model ${file} needs backbone ${header.backbone.id} (${header.backbone.file}, sha256 ${header.backbone.sha256}): ${e.message}`, {
        file,
        cause: e,
      });
    }
    throw e;
  }
  if (backbone.sha256 !== header.backbone.sha256) {
    throw new KensaError(
      'MODEL_BACKBONE_MISMATCH',
      `model ${file} was fitted with backbone ${header.backbone.id} (sha256 ${header.backbone.sha256.slice(0, 12)}…), but ${backbone.file} is a different model (sha256 ${backbone.sha256.slice(0, 12)}…)`,
      { file },
    );
  }
  return backbone;
}

export function commonDir(files: string[]): string {
  if (files.length === 0) return process.cwd();
  let dir = path.dirname(path.resolve(files[0]!));
  for (const f of files) {
    const r = path.resolve(f);
    while (!r.startsWith(dir + path.sep) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  }
  return dir;
}

export const relName = (base: string, d: Decoded): { name: string; sha256: string } => ({ name: path.relative(base, d.file).split(path.sep).join('/'), sha256: d.sha256! });

// ---------------------------------------------------------------------------------------------
// Fit and refit through the seam.

export interface FitOptions extends RunOptions {
  /** Backbone id or .onnx path; default = the first default backbone found. */
  backbone?: string;
  /** Shared settings (input size, blur, calibration, seed). */
  input?: PartialInput;
  /** The detector's own settings. */
  config?: Record<string, unknown>;
  ep?: EpRequest;
  /** Folder that training image names are stored relative to. */
  baseDir?: string;
}

export interface FitResult {
  header: ModelHeaderDraft;
  arrays: ModelArrays;
  /** Training images that could not be used, each with its reason. */
  skipped: FileError[];
}

export interface FitEnv {
  resolve: (id: string) => AnyDetector;
}

/** A model in memory (a fit result) as if loaded from a file. */
export function inMemory(fit: { header: ModelHeaderDraft; arrays: ModelArrays }, file = '(in memory)'): LoadedModel {
  return { header: { ...fit.header, sections: [] }, arrays: fit.arrays, file };
}

/**
 * Fits `detector` on the good images `files`: features once, calibration images held out
 * (seeded), the detector's fit, then the good-part statistics of its head on the held-out
 * images (on the training images themselves when there are too few to hold any out:
 * optimistic, flagged by stats.images = 0).
 */
export async function fitWith(detector: AnyDetector, files: string[], opts: FitOptions, env: FitEnv): Promise<FitResult> {
  const t0 = performance.now();
  if (files.length === 0) throw new KensaError('NO_IMAGES', 'no training images given');
  const input = resolveInput(opts.input);
  const cfg = detector.resolveConfig(opts.config);
  const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
  const backbone = await loadBackbone(opts.backbone);
  const extractor = await FeatureExtractor.create(backbone, input.embedding, ep, input.taps ?? undefined);
  let features: Extracted;
  try {
    features = await extractAll(files, extractor, input, opts);
  } finally {
    await extractor.release();
  }
  const { set, used, skipped } = features;
  const split = calibrationSplit(set.n, input);
  const train = subset(set, split.fit);
  const calibration = split.cal.length > 0 ? subset(set, split.cal) : null;
  const ctx = { ep, input, resolve: env.resolve, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
  const fitted = await detector.fit({ train, calibration }, cfg, ctx);

  const base = opts.baseDir ?? commonDir(files);
  const draft: ModelHeaderDraft = {
    formatVersion: MODEL_FORMAT_VERSION,
    detector: detector.id,
    id: randomUUID(),
    parentId: null,
    refit: null,
    kensaVersion: KENSA_VERSION,
    createdAt: new Date().toISOString(),
    backbone: { id: backbone.id, file: path.basename(backbone.file), sha256: backbone.sha256, bytes: backbone.bytes },
    taps: extractor.taps,
    config: { ...input, taps: extractor.taps.map((t) => t.name) },
    detectorConfig: cfg,
    features: { dim: set.dim, grid: set.grid },
    state: fitted.state,
    stats: goodStats([0], [new Float32Array(1)]),
    fit: { images: used.length, calibrationImages: split.cal.length, seconds: 0, ep, trainImages: used.map((d) => relName(base, d)) },
  };
  const stats = await calibrate(detector, { header: draft, arrays: fitted.arrays }, calibration ?? train, ep, env, opts);
  draft.stats = { ...stats, images: split.cal.length };
  draft.fit.seconds = (performance.now() - t0) / 1000;
  return { header: draft, arrays: fitted.arrays, skipped };
}

/** Good-part statistics of a fitted (in-memory) model's head on a feature set. */
export async function calibrate(detector: AnyDetector, fit: { header: ModelHeaderDraft; arrays: ModelArrays }, set: FeatureSet, ep: ExecutionProvider, env: FitEnv, run: RunOptions): Promise<GoodStats> {
  const mapStep = await MapRunner.create(fit.header.config, fit.header.features.grid, ep);
  const head = await detector.openHead(inMemory(fit), { ep, mapStep, resolve: env.resolve });
  try {
    const { scores, maps } = await scoreSet(head, set, mapStep, run);
    return goodStats(scores, maps);
  } finally {
    await Promise.all([head.release(), mapStep.release()]);
  }
}

/** Features of `files` through a model's own backbone (the one it was fitted with) and taps. */
export async function extractForModel(model: LoadedModel, files: string[], ep: ExecutionProvider, backboneOverride: string | undefined, run: RunOptions): Promise<Extracted> {
  const h = model.header;
  const backbone = await backboneFor(h, model.file, backboneOverride);
  const extractor = await FeatureExtractor.create(backbone, h.config.embedding, ep, h.taps.map((t) => t.name));
  try {
    return await extractAll(files, extractor, h.config, run);
  } finally {
    await extractor.release();
  }
}

/** A new version's header from its parent's: a new id, the parent link, this Kensa, now, the EP that made it. */
export function childHeader(h: ModelHeader, ep: ExecutionProvider): ModelHeaderDraft {
  const { sections: _s, ...rest } = h;
  return { ...rest, formatVersion: MODEL_FORMAT_VERSION, id: randomUUID(), parentId: h.id, kensaVersion: KENSA_VERSION, createdAt: new Date().toISOString(), fit: { ...h.fit, ep } };
}

export interface RefitOptions extends RunOptions {
  /** Backbone path/id override (must have the model's sha256). */
  backbone?: string;
  ep?: EpRequest;
  baseDir?: string;
}

/**
 * A new model version from a parent and new good parts (reviewed false alarms), for
 * detectors that can refit. The parent's colour scale and good-part statistics are kept, so
 * heatmaps and scores stay comparable across versions.
 */
export async function refitWith(detector: AnyDetector, parent: LoadedModel, files: string[], opts: RefitOptions): Promise<FitResult> {
  const t0 = performance.now();
  if (!detector.canRefit || !detector.refit) {
    throw new KensaError('REFIT_UNSUPPORTED', `a ${detector.title} model cannot be refitted with reviewed parts: fit a new version instead (or use PatchCore, whose memory bank takes new good parts)`, {
      file: parent.file,
    });
  }
  if (files.length === 0) throw new KensaError('NO_IMAGES', 'a refit needs at least one new good image');
  const h = parent.header;
  const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
  const { set, used, skipped } = await extractForModel(parent, files, ep, opts.backbone, opts);
  const fitted = await detector.refit(parent, set, { ep, input: h.config, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  const base = opts.baseDir ?? commonDir(files);
  const seconds = (performance.now() - t0) / 1000;
  const header: ModelHeaderDraft = {
    ...childHeader(h, ep),
    state: fitted.state,
    refit: { parentSize: Number((h.state as { bankSize?: number }).bankSize ?? 0), images: used.map((d) => relName(base, d)), added: fitted.added ?? 0, seconds },
  };
  // A review head learned on the parent is kept: it learned from reviews, not from the bank.
  return { header, arrays: { ...fitted.arrays, ...reviewArrays(parent.arrays) }, skipped };
}

// ---------------------------------------------------------------------------------------------
// Scoring through the seam.

export interface ScoreTiming {
  decodeMs: number;
  backboneMs: number;
  /** The detector's own work (NN search, Mahalanobis, students, projection). */
  headMs: number;
  mapMs: number;
}

export interface ScoreResult extends ScoredMap {
  file: string;
  sha256: string;
  /** Map size (the model input size). */
  width: number;
  height: number;
  /** Original image size. */
  imageWidth: number;
  imageHeight: number;
  timing: ScoreTiming;
}

export type ScoreOutcome = { ok: true; result: ScoreResult } | { ok: false; file: string; error: SerializedKensaError };

/** A fitted model of any detector, ready to score image files. */
export class Scorer {
  private constructor(
    readonly model: LoadedModel,
    readonly ep: ExecutionProvider,
    private readonly extractor: FeatureExtractor,
    private readonly head: Head,
    private readonly mapStep: MapRunner,
  ) {}

  /**
   * Opens a scorer for a loaded model. The backbone is found by the model's backbone id (or
   * `backbone`, a path/id override) and must have the sha256 the model was fitted with.
   */
  static async create(model: LoadedModel, env: FitEnv, opts: { backbone?: string; ep?: EpRequest } = {}): Promise<Scorer> {
    const h = model.header;
    const detector = env.resolve(h.detector);
    const backbone = await backboneFor(h, model.file, opts.backbone);
    const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
    const extractor = await FeatureExtractor.create(backbone, h.config.embedding, ep, h.taps.map((t) => t.name));
    if (extractor.dim !== h.features.dim) {
      await extractor.release();
      throw new KensaError('MODEL_BACKBONE_MISMATCH', `model ${model.file} has ${h.features.dim}-dim features but backbone ${backbone.file} gives ${extractor.dim}`, { file: model.file });
    }
    let mapStep: MapRunner | null = null;
    try {
      mapStep = await MapRunner.create(h.config, h.features.grid, ep);
      const ctx: HeadContext & FitEnv = { ep, mapStep, resolve: env.resolve };
      const base = await detector.openHead(model, ctx);
      const head = h.review ? await ReviewedHead.create(base, model, h.review, ep).catch(async (e: unknown) => {
        await base.release();
        throw e;
      }) : base;
      return new Scorer(model, ep, extractor, head, mapStep);
    } catch (e) {
      await Promise.all([extractor.release(), mapStep?.release()]);
      throw e;
    }
  }

  /** Scores files one by one; a file that fails yields an error outcome and the rest go on. */
  async *scoreFiles(files: string[], run: RunOptions = {}): AsyncGenerator<ScoreOutcome> {
    let done = 0;
    let tDecode = performance.now();
    for await (const d of decodeAll(files, this.model.header.config)) {
      const decodeMs = performance.now() - tDecode;
      throwIfCancelled(run.signal);
      if (d.error) {
        yield { ok: false, file: d.file, error: d.error };
      } else {
        try {
          yield { ok: true, result: await this.scoreDecoded(d, decodeMs) };
        } catch (e) {
          yield { ok: false, file: d.file, error: isKensaError(e) ? e.toJSON() : toSerializedError(e) };
        }
      }
      done += 1;
      run.onProgress?.({ phase: 'score', done, total: files.length } satisfies Progress);
      tDecode = performance.now();
    }
  }

  async scoreFile(file: string): Promise<ScoreResult> {
    const t = performance.now();
    const d = await decodeOne(file, this.model.header.config);
    if (d.error) throw KensaError.fromJSON(d.error);
    return this.scoreDecoded(d, performance.now() - t);
  }

  /** Scores an image decoded by decodeOne (callers that overlap decoding with inference). */
  async scoreDecoded(d: Decoded, decodeMs: number): Promise<ScoreResult> {
    const timing: ScoreTiming = { decodeMs, backboneMs: 0, headMs: 0, mapMs: 0 };
    const t = performance.now();
    const p = await this.extractor.extract(d.image!.rgb, 1);
    timing.backboneMs = performance.now() - t;
    const s = await finishScore(this.head, p, d.image!.rgb, 0, this.mapStep, timing);
    const { width, height } = this.model.header.config.embedding;
    return { ...s, file: d.file, sha256: d.sha256!, width, height, imageWidth: d.image!.info.width, imageHeight: d.image!.info.height, timing };
  }

  /**
   * Scores `n` images already at the model input size: `rgb` is uint8 [n, H, W, 3] (what
   * decodeOne yields, images back to back), one backbone call for the batch. Serving and
   * callers that decode elsewhere use this; the scores are the ones scoreFile gives for the
   * same pixels. INVALID_ARGUMENT when the byte count is not n·H·W·3.
   */
  async scoreRgb(rgb: Uint8Array, n: number): Promise<ScoredMap[]> {
    const { width, height } = this.model.header.config.embedding;
    if (!(Number.isInteger(n) && n >= 1)) throw new KensaError('INVALID_ARGUMENT', `scoreRgb: the image count must be a positive integer, got ${n}`);
    if (rgb.length !== n * width * height * 3) {
      throw new KensaError('INVALID_ARGUMENT', `scoreRgb: ${rgb.length} bytes is not ${n} image(s) of ${width}×${height}×3 (${n * width * height * 3} bytes)`);
    }
    const p = await this.extractor.extract(rgb, n);
    const out: ScoredMap[] = [];
    for (let i = 0; i < n; i++) out.push(await finishScore(this.head, p, rgb, i, this.mapStep));
    return out;
  }

  async release(): Promise<void> {
    await Promise.all([this.extractor.release(), this.head.release(), this.mapStep.release()]);
  }
}

export type { DetectorId };
