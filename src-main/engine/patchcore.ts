/**
 * PatchCore (Roth et al., "Towards Total Recall in Industrial Anomaly Detection", CVPR 2022)
 * on ONNX Runtime: fit a memory bank on good images, score new images.
 *
 * fit:    images → patch embeddings [N, D] (./backbone) → greedy coreset 𝓜_C (./coreset)
 *         → 𝒩_b of every bank entry (Eq. 7 support) → good-part statistics from held-out
 *         calibration images (colour scale, score distribution)
 * score:  image → patches [P, D] → nearest bank distance per patch (Eq. 6, ORT graph)
 *         → image score (Eq. 7, ./core/scoring) + anomaly map (upsample + Gaussian σ, ORT graph)
 *
 * Everything here is plain Node (no electron, no database); long runs take an AbortSignal and
 * report progress, and are run off the main thread by ../jobs.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { loadBackbone, type BackboneFile } from './backbone/backbone';
import { IMAGENET_MEAN, IMAGENET_STD } from './backbone/extractor';
import { FeatureExtractor, type Patches } from './backbone/feature-extractor';
import { gaussianKernel } from './core/gaussian';
import { Rng } from './core/random';
import { imageScore } from './core/scoring';
import { DEFAULT_CORESET, extendCoreset, greedyCoreset } from './coreset';
import { KensaError, isKensaError, throwIfCancelled, toSerializedError, type SerializedKensaError } from './errors';
import { loadImageFromBuffer, readImageFile, type LoadedImage } from './imaging/load';
import { MODEL_FORMAT_VERSION, type LoadedModel, type ModelArrays } from './model-file';
import type { GoodStats, ModelHeader, PatchCoreConfig, Quantiles } from './model-types';
import { buildAnomalyMapGraph, buildNearestNeighbourGraph, buildTopKGraph } from './ort/graphs';
import { chooseExecutionProvider, createSession, ort, type EpRequest, type ExecutionProvider } from './ort/session';
import { sha256 } from './backbone/backbone';
import { KENSA_VERSION } from '../shared/version';

export const DEFAULT_CONFIG: PatchCoreConfig = {
  embedding: { width: 224, height: 224, mean: IMAGENET_MEAN, std: IMAGENET_STD, aggregation: 3, projectDim: null },
  resize: 'stretch',
  coreset: DEFAULT_CORESET,
  neighbours: 9,
  blurSigma: 4,
  calibrationShare: 0.1,
  calibrationMax: 20,
  batchSize: 4,
  taps: null,
};

export type PartialConfig = Partial<Omit<PatchCoreConfig, 'embedding' | 'coreset'>> & {
  embedding?: Partial<PatchCoreConfig['embedding']>;
  coreset?: Partial<PatchCoreConfig['coreset']>;
};

export function resolveConfig(partial: PartialConfig = {}): PatchCoreConfig {
  const cfg: PatchCoreConfig = {
    ...DEFAULT_CONFIG,
    ...partial,
    embedding: { ...DEFAULT_CONFIG.embedding, ...partial.embedding },
    coreset: { ...DEFAULT_CONFIG.coreset, ...partial.coreset },
  };
  const bad = (m: string): never => {
    throw new KensaError('INVALID_ARGUMENT', m);
  };
  if (!(cfg.coreset.ratio > 0 && cfg.coreset.ratio <= 1)) bad(`coreset ratio must be in (0, 1], got ${cfg.coreset.ratio}`);
  if (!(cfg.neighbours >= 1 && Number.isInteger(cfg.neighbours))) bad(`neighbours must be a positive integer, got ${cfg.neighbours}`);
  if (!(cfg.blurSigma > 0)) bad(`blur sigma must be > 0, got ${cfg.blurSigma}`);
  const { width, height } = cfg.embedding;
  if (!(width >= 32 && height >= 32 && width <= 4096 && height <= 4096)) bad(`input size must be 32–4096 px, got ${width}×${height}`);
  if (!['stretch', 'crop', 'pad'].includes(cfg.resize)) bad(`resize must be stretch, crop or pad, got ${cfg.resize}`);
  if (!(cfg.calibrationShare >= 0 && cfg.calibrationShare < 1)) bad(`calibration share must be in [0, 1), got ${cfg.calibrationShare}`);
  if (!(Number.isInteger(cfg.calibrationMax) && cfg.calibrationMax >= 0)) bad(`calibration max must be an integer ≥ 0, got ${cfg.calibrationMax}`);
  const pd = cfg.embedding.projectDim;
  if (pd !== null && !(Number.isInteger(pd) && pd >= 1)) bad(`projection dimension must be a positive integer, got ${pd}`);
  if (!(Number.isInteger(cfg.batchSize) && cfg.batchSize >= 1 && cfg.batchSize <= 64)) bad(`batch size must be 1–64, got ${cfg.batchSize}`);
  return cfg;
}

export interface Progress {
  phase: 'features' | 'coreset' | 'neighbours' | 'calibrate' | 'score';
  done: number;
  total: number;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface FileError {
  file: string;
  error: SerializedKensaError;
}

// ---------------------------------------------------------------------------------------------
// Image decoding with read-ahead: decode (sharp, libuv threads) overlaps the ORT run.

interface Decoded {
  file: string;
  image?: LoadedImage;
  sha256?: string;
  error?: SerializedKensaError;
}

async function decodeOne(file: string, cfg: PatchCoreConfig): Promise<Decoded> {
  try {
    const buf = await readImageFile(file);
    const image = await loadImageFromBuffer(buf, file, { width: cfg.embedding.width, height: cfg.embedding.height, resize: cfg.resize });
    return { file, image, sha256: sha256(buf) };
  } catch (e) {
    return { file, error: isKensaError(e) ? e.toJSON() : toSerializedError(e) };
  }
}

/** Yields decoded images in order, keeping up to `ahead` decodes in flight. */
async function* decodeAll(files: string[], cfg: PatchCoreConfig, ahead = 4): AsyncGenerator<Decoded> {
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
// The scoring head: bank + NN session + map session.

export interface ScoreTiming {
  decodeMs: number;
  backboneMs: number;
  nnMs: number;
  mapMs: number;
}

export interface PatchScores {
  score: number;
  maxPatchScore: number;
  /** Anomaly map [H, W] (model input size), raw score units. */
  map: Float32Array;
  width: number;
  height: number;
}

class ScoringHead {
  private constructor(
    private readonly nn: ort.InferenceSession,
    private readonly mapper: ort.InferenceSession,
    private readonly bank: Float32Array,
    private readonly neighbours: Int32Array,
    private readonly dim: number,
    private readonly b: number,
    private readonly cfg: PatchCoreConfig,
  ) {}

  static async create(bank: Float32Array, neighbours: Int32Array, dim: number, cfg: PatchCoreConfig, ep: ExecutionProvider): Promise<ScoringHead> {
    const size = bank.length / dim;
    const nn = await createSession(buildNearestNeighbourGraph(bank, size, dim, 2048), { ep });
    const mapper = await createSession(buildAnomalyMapGraph(cfg.embedding.height, cfg.embedding.width, gaussianKernel(cfg.blurSigma)), { ep });
    return new ScoringHead(nn, mapper, bank, neighbours, dim, cfg.neighbours, cfg);
  }

  /** Scores the i-th image of a patch batch. */
  async score(p: Patches, i: number, timing?: ScoreTiming): Promise<PatchScores> {
    const per = p.h * p.w;
    const patches = p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim);
    let t = performance.now();
    const out = await this.nn.run({ patches: new ort.Tensor('float32', patches, [per, p.dim]) });
    const dist = out.dist!.data as Float32Array;
    const index = out.index!.data as BigInt64Array;
    const s = imageScore(dist, index, patches, this.bank, this.neighbours, this.dim, this.b);
    if (timing) timing.nnMs += performance.now() - t;
    t = performance.now();
    const m = await this.mapper.run({ scores: new ort.Tensor('float32', dist, [1, 1, p.h, p.w]) });
    if (timing) timing.mapMs += performance.now() - t;
    return { score: s.score, maxPatchScore: s.maxPatchScore, map: m.map!.data as Float32Array, width: this.cfg.embedding.width, height: this.cfg.embedding.height };
  }

  async release(): Promise<void> {
    await Promise.all([this.nn.release(), this.mapper.release()]);
  }
}

// ---------------------------------------------------------------------------------------------
// Fit

export interface FitOptions extends RunOptions {
  /** Backbone id or .onnx path; default = the first default backbone found. */
  backbone?: string;
  config?: PartialConfig;
  ep?: EpRequest;
  /** Folder that training image names are stored relative to. */
  baseDir?: string;
}

export interface FitResult {
  header: Omit<ModelHeader, 'sections'>;
  arrays: ModelArrays;
  /** Training images that could not be used, each with its reason. */
  skipped: FileError[];
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

/** Top-b neighbours of every bank entry, in query chunks through an ORT TopK graph. */
async function bankNeighbours(bank: Float32Array, size: number, dim: number, b: number, ep: ExecutionProvider, run: RunOptions): Promise<Int32Array> {
  const k = Math.min(b, size);
  const out = new Int32Array(size * b);
  const sess = await createSession(buildTopKGraph(dim, k), { ep });
  try {
    return await topKRows(sess, bank, size, dim, b, k, run, out);
  } finally {
    await sess.release();
  }
}

async function topKRows(sess: ort.InferenceSession, bank: Float32Array, size: number, dim: number, b: number, k: number, run: RunOptions, out: Int32Array): Promise<Int32Array> {
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
}

interface Extracted {
  /** [used·h·w, D] */
  feats: Float32Array;
  used: Decoded[];
  skipped: FileError[];
  perImage: number;
  grid: [number, number];
}

/** Decodes (read-ahead) and embeds every file in batches; unreadable files are listed, not fatal. */
async function extractAll(files: string[], extractor: FeatureExtractor, cfg: PatchCoreConfig, run: RunOptions): Promise<Extracted> {
  const skipped: FileError[] = [];
  const used: Decoded[] = [];
  const { width, height } = cfg.embedding;
  const acc: { feats: Float32Array | null; perImage: number; grid: [number, number] } = { feats: null, perImage: 0, grid: [0, 0] };
  let batch: Decoded[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const rgb = new Uint8Array(batch.length * width * height * 3);
    batch.forEach((d, i) => rgb.set(d.image!.rgb, i * width * height * 3));
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
  return { feats: acc.feats.subarray(0, used.length * acc.perImage * extractor.dim), used, skipped, perImage: acc.perImage, grid: acc.grid };
}

export async function fitPatchCore(files: string[], opts: FitOptions = {}): Promise<FitResult> {
  const t0 = performance.now();
  if (files.length === 0) throw new KensaError('NO_IMAGES', 'no training images given');
  const cfg = resolveConfig(opts.config);
  const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
  const backbone = await loadBackbone(opts.backbone);
  const extractor = await FeatureExtractor.create(backbone, cfg.embedding, ep, cfg.taps ?? undefined);
  const progress = (p: Progress): void => opts.onProgress?.(p);
  try {
    // 1. Patch embeddings of every readable image.
    const { feats: all, used, skipped, perImage, grid } = await extractAll(files, extractor, cfg, opts);
    const dim = extractor.dim;

    // 2. Hold out calibration images (seeded), the rest feed the coreset.
    const rng = new Rng(cfg.coreset.seed + 1);
    const nCal = used.length >= 5 && cfg.calibrationShare > 0 ? Math.min(cfg.calibrationMax, used.length - 1, Math.max(1, Math.round(used.length * cfg.calibrationShare))) : 0;
    const order = rng.permutation(used.length);
    const calIdx = Array.from(order.subarray(0, nCal)).sort((a, b) => a - b);
    const calSet = new Set(calIdx);
    const fitIdx = Array.from({ length: used.length }, (_, i) => i).filter((i) => !calSet.has(i));
    const nFit = fitIdx.length * perImage;
    const fitFeats = nCal === 0 ? all.subarray(0, nFit * dim) : new Float32Array(nFit * dim);
    if (nCal > 0) fitIdx.forEach((img, j) => fitFeats.set(all.subarray(img * perImage * dim, (img + 1) * perImage * dim), j * perImage * dim));

    // 3. Coreset → memory bank.
    const chosen = await greedyCoreset(fitFeats, nFit, dim, cfg.coreset, {
      ep,
      signal: opts.signal,
      onProgress: (done, total) => progress({ phase: 'coreset', done, total }),
    });
    const bank = new Float32Array(chosen.length * dim);
    chosen.forEach((r, i) => bank.set(fitFeats.subarray(r * dim, (r + 1) * dim), i * dim));

    // 4. Eq. 7 support sets.
    const neighbours = await bankNeighbours(bank, chosen.length, dim, cfg.neighbours, ep, opts);

    // 5. Good-part statistics from the held-out images (or the training images themselves
    //    when there are too few to hold any out: optimistic, and flagged by stats.images = 0).
    const head = await ScoringHead.create(bank, neighbours, dim, cfg, ep);
    const calScores: number[] = [];
    const calMaps: Float32Array[] = [];
    const statImages = nCal > 0 ? calIdx : fitIdx;
    try {
      for (const [j, img] of statImages.entries()) {
        throwIfCancelled(opts.signal);
        const p: Patches = { data: all.subarray(img * perImage * dim, (img + 1) * perImage * dim), n: 1, h: grid[0], w: grid[1], dim };
        const s = await head.score(p, 0);
        calScores.push(s.score);
        calMaps.push(s.map);
        progress({ phase: 'calibrate', done: j + 1, total: statImages.length });
      }
    } finally {
      await head.release();
    }
    const stats = { ...goodStats(calScores, calMaps), images: nCal };

    const base = opts.baseDir ?? commonDir(files);
    const header: Omit<ModelHeader, 'sections'> = {
      formatVersion: MODEL_FORMAT_VERSION,
      id: randomUUID(),
      parentId: null,
      refit: null,
      kensaVersion: KENSA_VERSION,
      createdAt: new Date().toISOString(),
      backbone: { id: backbone.id, file: path.basename(backbone.file), sha256: backbone.sha256, bytes: backbone.bytes },
      taps: extractor.taps,
      config: { ...cfg, taps: extractor.taps.map((t) => t.name) },
      bank: { size: chosen.length, dim, grid, patchesBeforeCoreset: nFit },
      stats,
      fit: {
        images: used.length,
        calibrationImages: nCal,
        seconds: (performance.now() - t0) / 1000,
        ep,
        trainImages: used.map((d) => ({ name: path.relative(base, d.file).split(path.sep).join('/'), sha256: d.sha256! })),
      },
    };
    return { header, arrays: { bank, bankNeighbours: neighbours }, skipped };
  } finally {
    await extractor.release();
  }
}

function commonDir(files: string[]): string {
  if (files.length === 0) return process.cwd();
  let dir = path.dirname(path.resolve(files[0]!));
  for (const f of files) {
    const r = path.resolve(f);
    while (!r.startsWith(dir + path.sep) && dir !== path.dirname(dir)) dir = path.dirname(dir);
  }
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Refit: good parts that were false alarms join the memory bank

export interface RefitOptions extends RunOptions {
  /** Backbone path/id override (must have the model's sha256). */
  backbone?: string;
  ep?: EpRequest;
  baseDir?: string;
}

/**
 * A new model version whose bank is the parent's bank extended (greedy k-center continued,
 * ./coreset.ts extendCoreset) with the patches of `files`, good parts that were flagged; at
 * the bank size limit the most redundant old entries (nearest to another entry) make room. The
 * parent's colour scale and good-part statistics are kept, so heatmaps and scores stay
 * comparable across versions. Only parts reviewed as GOOD may be passed here: a defect in the
 * bank would teach the model that the defect is normal.
 */
export async function refitPatchCore(parent: LoadedModel, files: string[], opts: RefitOptions = {}): Promise<FitResult> {
  const t0 = performance.now();
  if (files.length === 0) throw new KensaError('NO_IMAGES', 'a refit needs at least one new good image');
  const h = parent.header;
  const cfg = h.config;
  const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
  const backbone = await loadBackbone(opts.backbone ?? h.backbone.id);
  if (backbone.sha256 !== h.backbone.sha256) {
    throw new KensaError('MODEL_BACKBONE_MISMATCH', `model ${parent.file} was fitted with backbone ${h.backbone.id}; ${backbone.file} is a different model`, { file: parent.file });
  }
  const extractor = await FeatureExtractor.create(backbone, cfg.embedding, ep, h.taps.map((t) => t.name));
  try {
    const { feats, used, skipped, perImage } = await extractAll(files, extractor, cfg, opts);
    const dim = h.bank.dim;
    const n = used.length * perImage;
    const wanted = Math.max(1, Math.round(n * cfg.coreset.ratio));
    const run = { ep, ...(opts.signal ? { signal: opts.signal } : {}), onProgress: (done: number, total: number) => opts.onProgress?.({ phase: 'coreset', done, total }) };
    const added = await extendCoreset(parent.bank, h.bank.size, feats, n, dim, wanted, cfg.coreset, run);
    // At the bank's size limit, make room by dropping the most redundant old entries: those
    // closest to another bank entry (their nearest neighbour covers them anyway).
    const over = Math.max(0, h.bank.size + added.length - cfg.coreset.maxSize);
    const keep = new Uint8Array(h.bank.size).fill(1);
    if (over > 0) {
      const b = cfg.neighbours;
      const redundancy = new Float64Array(h.bank.size);
      for (let i = 0; i < h.bank.size; i++) {
        const j = b > 1 ? parent.bankNeighbours[i * b + 1]! : i;
        let d2 = 0;
        for (let k = 0; k < dim; k++) d2 += (parent.bank[i * dim + k]! - parent.bank[j * dim + k]!) ** 2;
        redundancy[i] = j === i ? Infinity : d2;
      }
      const order = Array.from({ length: h.bank.size }, (_, i) => i).sort((x, y) => redundancy[x]! - redundancy[y]!);
      for (const i of order.slice(0, over)) keep[i] = 0;
    }
    const kept = h.bank.size - over;
    const bank = new Float32Array((kept + added.length) * dim);
    let o = 0;
    for (let i = 0; i < h.bank.size; i++) if (keep[i]) bank.set(parent.bank.subarray(i * dim, (i + 1) * dim), dim * o++);
    added.forEach((r) => bank.set(feats.subarray(r * dim, (r + 1) * dim), dim * o++));
    const addedPatches = added.length;
    const size = bank.length / dim;
    const neighbours = await bankNeighbours(bank, size, dim, cfg.neighbours, ep, opts);
    const base = opts.baseDir ?? commonDir(files);
    const seconds = (performance.now() - t0) / 1000;
    const images = used.map((d) => ({ name: path.relative(base, d.file).split(path.sep).join('/'), sha256: d.sha256! }));
    const header: Omit<ModelHeader, 'sections'> = {
      ...h,
      id: randomUUID(),
      parentId: h.id,
      kensaVersion: KENSA_VERSION,
      createdAt: new Date().toISOString(),
      bank: { ...h.bank, size, patchesBeforeCoreset: h.bank.patchesBeforeCoreset + n },
      fit: { ...h.fit, ep },
      refit: { parentBankSize: h.bank.size, images, addedPatches: addedPatches, seconds },
    };
    return { header, arrays: { bank, bankNeighbours: neighbours }, skipped };
  } finally {
    await extractor.release();
  }
}

// ---------------------------------------------------------------------------------------------
// Score

export interface ScoreResult extends PatchScores {
  file: string;
  sha256: string;
  /** Original image size. */
  imageWidth: number;
  imageHeight: number;
  timing: ScoreTiming;
}

export type ScoreOutcome = { ok: true; result: ScoreResult } | { ok: false; file: string; error: SerializedKensaError };

export class PatchCoreScorer {
  private constructor(
    readonly model: LoadedModel,
    readonly ep: ExecutionProvider,
    private readonly extractor: FeatureExtractor,
    private readonly head: ScoringHead,
    private readonly cfg: PatchCoreConfig,
  ) {}

  /**
   * Opens a scorer for a loaded model. The backbone is found by the model's backbone id (or
   * `backbone`, a path/id override) and must have the sha256 the model was fitted with.
   */
  static async create(model: LoadedModel, opts: { backbone?: string; ep?: EpRequest } = {}): Promise<PatchCoreScorer> {
    const h = model.header;
    let backbone: BackboneFile;
    try {
      backbone = await loadBackbone(opts.backbone ?? h.backbone.id);
    } catch (e) {
      if (isKensaError(e) && e.code === 'BACKBONE_NOT_FOUND' && opts.backbone === undefined) {
        throw new KensaError('BACKBONE_NOT_FOUND', `model ${model.file} needs backbone ${h.backbone.id} (${h.backbone.file}, sha256 ${h.backbone.sha256}): ${e.message}`, {
          file: model.file,
          cause: e,
        });
      }
      throw e;
    }
    if (backbone.sha256 !== h.backbone.sha256) {
      throw new KensaError(
        'MODEL_BACKBONE_MISMATCH',
        `model ${model.file} was fitted with backbone ${h.backbone.id} (sha256 ${h.backbone.sha256.slice(0, 12)}…), but ${backbone.file} is a different model (sha256 ${backbone.sha256.slice(0, 12)}…)`,
        { file: model.file },
      );
    }
    const cfg = h.config;
    const { ep } = await chooseExecutionProvider(opts.ep ?? 'auto');
    const extractor = await FeatureExtractor.create(backbone, cfg.embedding, ep, h.taps.map((t) => t.name));
    if (extractor.dim !== h.bank.dim) {
      await extractor.release();
      throw new KensaError('MODEL_BACKBONE_MISMATCH', `model ${model.file} has ${h.bank.dim}-dim features but backbone ${backbone.file} gives ${extractor.dim}`, { file: model.file });
    }
    const head = await ScoringHead.create(model.bank, model.bankNeighbours, h.bank.dim, cfg, ep);
    return new PatchCoreScorer(model, ep, extractor, head, cfg);
  }

  /** Scores files one by one; a file that fails yields an error outcome and the rest go on. */
  async *scoreFiles(files: string[], run: RunOptions = {}): AsyncGenerator<ScoreOutcome> {
    let done = 0;
    let tDecode = performance.now();
    for await (const d of decodeAll(files, this.cfg)) {
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
      run.onProgress?.({ phase: 'score', done, total: files.length });
      tDecode = performance.now();
    }
  }

  async scoreFile(file: string): Promise<ScoreResult> {
    const t = performance.now();
    const d = await decodeOne(file, this.cfg);
    if (d.error) throw KensaError.fromJSON(d.error);
    return this.scoreDecoded(d, performance.now() - t);
  }

  private async scoreDecoded(d: Decoded, decodeMs: number): Promise<ScoreResult> {
    const timing: ScoreTiming = { decodeMs, backboneMs: 0, nnMs: 0, mapMs: 0 };
    const t = performance.now();
    const p = await this.extractor.extract(d.image!.rgb, 1);
    timing.backboneMs = performance.now() - t;
    const s = await this.head.score(p, 0, timing);
    return { ...s, file: d.file, sha256: d.sha256!, imageWidth: d.image!.info.width, imageHeight: d.image!.info.height, timing };
  }

  async release(): Promise<void> {
    await Promise.all([this.extractor.release(), this.head.release()]);
  }
}
