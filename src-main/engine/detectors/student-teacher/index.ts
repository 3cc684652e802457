/**
 * Student–teacher anomaly detection ("Uninformed Students", Bergmann et al., CVPR 2020) as a
 * Kensa detector.
 *
 * Teacher T: the pretrained backbone's patch descriptors (the shared taps, 3×3 aggregated,
 *   [h·w, D] per image), standardised per channel with their mean μ_T and std σ_T over the
 *   training patches (paper §3.2: "normalise the teacher's descriptors").
 * Students S_1..S_M (M ≥ 3): MLPs [768 → H → H → D] from random initialisation (distinct seeds),
 *   trained on good parts to regress the standardised teacher descriptor of each patch from the
 *   PIXELS of that patch's 32 px window (./student-input.ts). Students never see the teacher's
 *   output as input.
 * Score of a patch (paper Eq. 6–8):
 *   μ   = (1/M) Σ_i S_i(x)                                   ensemble mean
 *   e   = ‖μ − T̂(x)‖²                                        regression error
 *   v   = (1/M) Σ_i ‖S_i(x)‖² − ‖μ‖²                          predictive variance
 *   s   = (e − e_mean)/e_std + (v − v_mean)/v_std             each normalised on good parts
 * Image score: the maximum of the blurred map (shared map step).
 *
 * Deviations from the paper, each for the 2-core CPU budget (fit 200 parts ≤ 120 s):
 *   - one receptive field (32 px at the model input) instead of the paper's three scales;
 *   - students are MLPs on the pixel window (= a strided conv + 1×1 convs), not deep CNNs;
 *   - the teacher is the ImageNet backbone's taps, not a teacher distilled from ResNet-18
 *     with the paper's decoder/metric-learning losses;
 *   - training sub-samples patches (maxRows, seeded) and runs a fixed number of epochs;
 *   - e_mean/e_std/v_mean/v_std come from a held-out set of good training patches (the paper
 *     uses the training set), so they are not biased low by the students' fit.
 */
import { Rng } from '../../core/random';
import { KensaError, throwIfCancelled } from '../../errors';
import { f32Section, type LoadedModel } from '../../model-file';
import type { EmbeddingConfig } from '../../backbone/extractor';
import type { ExecutionProvider } from '../../ort/session';
import { initMlp, MlpRunner, trainMlp, type MlpSpec } from '../../ort/mlp';
import type { Detector, FeatureSet, Head, HeadOutput } from '../types';
import { channelStats, needPositive, needPositiveInt, paramsFromModel, paramsToArrays, sampleRows, standardise } from '../common/channels';
import { StudentInput, WINDOW_DIM } from './student-input';
import type { Patches } from '../../backbone/feature-extractor';

export interface StudentTeacherConfig extends Record<string, unknown> {
  /** M, the ensemble size (paper: 3). */
  students: number;
  /** Width H of the students' hidden layers. */
  hidden: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  /** Training patches sub-sampled per fit (seeded), bounding memory and time. */
  maxRows: number;
  /** Rows seen per epoch. */
  rowsPerEpoch: number;
}

export const DEFAULT_STUDENT_TEACHER: StudentTeacherConfig = {
  students: 3,
  hidden: 256,
  epochs: 12,
  batchSize: 512,
  learningRate: 1e-3,
  weightDecay: 1e-5,
  maxRows: 80_000,
  rowsPerEpoch: 40_000,
};

function resolve(partial: Record<string, unknown> = {}): StudentTeacherConfig {
  const c = { ...DEFAULT_STUDENT_TEACHER, ...partial } as StudentTeacherConfig;
  const m = needPositiveInt(c.students, 'students', 16);
  if (m < 3) throw new KensaError('INVALID_ARGUMENT', `student–teacher needs at least 3 students (the ensemble variance is part of the score), got ${m}`);
  needPositiveInt(c.hidden, 'hidden width', 4096);
  needPositiveInt(c.epochs, 'epochs', 1000);
  needPositiveInt(c.batchSize, 'batch size', 65536);
  needPositive(c.learningRate, 'learning rate');
  if (!(c.weightDecay >= 0)) throw new KensaError('INVALID_ARGUMENT', `weight decay must be ≥ 0, got ${String(c.weightDecay)}`);
  needPositiveInt(c.maxRows, 'maxRows', 10_000_000);
  needPositiveInt(c.rowsPerEpoch, 'rowsPerEpoch', 10_000_000);
  return c;
}

const specOf = (cfg: { hidden: number }, dim: number): MlpSpec => ({ sizes: [WINDOW_DIM, cfg.hidden, cfg.hidden, dim], activation: 'leaky_relu' });

/** Student windows of every image of a set [n·h·w, 768], in batches. */
async function windowsOf(input: StudentInput, set: FeatureSet, signal?: AbortSignal): Promise<Float32Array> {
  const per = set.grid[0] * set.grid[1];
  const px = set.width * set.height * 3;
  const out = new Float32Array(set.n * per * WINDOW_DIM);
  const b = 8;
  for (let i = 0; i < set.n; i += b) {
    throwIfCancelled(signal);
    const n = Math.min(b, set.n - i);
    out.set(await input.windows(set.rgb.subarray(i * px, (i + n) * px), n), i * per * WINDOW_DIM);
  }
  return out;
}

interface RawScores {
  e: Float32Array;
  v: Float32Array;
}

/** e and v of every row (see the module doc), from the students' outputs and the standardised teacher. */
function errorAndVariance(outs: Float32Array[], teacher: Float32Array, rows: number, dim: number): RawScores {
  const M = outs.length;
  const e = new Float32Array(rows);
  const v = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let err = 0;
    let sq = 0;
    let mu2 = 0;
    for (let k = 0; k < dim; k++) {
      let s = 0;
      let s2 = 0;
      for (let i = 0; i < M; i++) {
        const y = outs[i]![r * dim + k]!;
        s += y;
        s2 += y * y;
      }
      const mu = s / M;
      err += (mu - teacher[r * dim + k]!) ** 2;
      sq += s2 / M;
      mu2 += mu * mu;
    }
    e[r] = err;
    v[r] = Math.max(0, sq - mu2);
  }
  return { e, v };
}

export { errorAndVariance };

function meanStd(a: Float32Array): [number, number] {
  let s = 0;
  for (const x of a) s += x;
  const m = s / a.length;
  let q = 0;
  for (const x of a) q += (x - m) ** 2;
  return [m, Math.sqrt(q / Math.max(1, a.length - 1)) + 1e-12];
}

class StudentTeacherHead implements Head {
  constructor(
    private readonly input: StudentInput,
    private readonly students: MlpRunner[],
    private readonly tMean: Float32Array,
    private readonly tStd: Float32Array,
    private readonly norm: { eMean: number; eStd: number; vMean: number; vStd: number },
  ) {}

  async raw(p: Patches, rgb: Uint8Array, i: number): Promise<RawScores> {
    const per = p.h * p.w;
    const px = rgb.length / p.n;
    const win = await this.input.windows(rgb.subarray(i * px, (i + 1) * px), 1);
    const teacher = standardise(p.data.subarray(i * per * p.dim, (i + 1) * per * p.dim), p.dim, this.tMean, this.tStd);
    const outs: Float32Array[] = [];
    for (const s of this.students) outs.push(await s.run(win, per));
    return errorAndVariance(outs, teacher, per, p.dim);
  }

  async score(p: Patches, rgb: Uint8Array, i: number): Promise<HeadOutput> {
    const { e, v } = await this.raw(p, rgb, i);
    const { eMean, eStd, vMean, vStd } = this.norm;
    const patch = new Float32Array(e.length);
    for (let r = 0; r < e.length; r++) patch[r] = (e[r]! - eMean) / eStd + (v[r]! - vMean) / vStd;
    return { patch };
  }

  async release(): Promise<void> {
    await Promise.all([this.input.release(), ...this.students.map((s) => s.release())]);
  }
}

/** Opens the students and the pixel-window graph of a fitted (or just trained) model. */
async function openStudents(model: LoadedModel, cfg: StudentTeacherConfig, dim: number, embedding: EmbeddingConfig, norm: StudentTeacherHeadNorm, ep: ExecutionProvider): Promise<StudentTeacherHead> {
  const spec = specOf(cfg, dim);
  const input = await StudentInput.create(embedding.height, embedding.width, embedding.mean, embedding.std, ep);
  const students: MlpRunner[] = [];
  for (let i = 0; i < cfg.students; i++) students.push(await MlpRunner.create(spec, paramsFromModel(model, `s${i}/`, spec), ep));
  return new StudentTeacherHead(input, students, f32Section(model, 'teacherMean', dim), f32Section(model, 'teacherStd', dim), norm);
}

type StudentTeacherHeadNorm = { eMean: number; eStd: number; vMean: number; vStd: number };

export const studentTeacher: Detector<StudentTeacherConfig> = {
  id: 'student-teacher',
  title: 'Student–teacher',
  summary: 'students trained on good parts regress the backbone’s patch descriptors from pixels; error + ensemble variance',
  trains: true,
  canRefit: false,
  needsPixels: true,
  resolveConfig: resolve,
  async fit(data, cfg, ctx) {
    const { train, calibration } = data;
    const dim = train.dim;
    const { mean: tMean, std: tStd } = channelStats(train.feats, dim);
    const { embedding } = ctx.input;
    const input = await StudentInput.create(embedding.height, embedding.width, embedding.mean, embedding.std, ctx.ep);
    const arrays = { teacherMean: tMean, teacherStd: tStd };
    const losses: number[][] = [];
    let norm: StudentTeacherHeadNorm;
    try {
      ctx.onProgress?.({ phase: 'windows', done: 0, total: train.n });
      const win = await windowsOf(input, train, ctx.signal);
      const rows = sampleRows(train.n * train.grid[0] * train.grid[1], cfg.maxRows, ctx.input.seed + 11);
      const x = new Float32Array(rows.length * WINDOW_DIM);
      rows.forEach((r, j) => x.set(win.subarray(r * WINDOW_DIM, (r + 1) * WINDOW_DIM), j * WINDOW_DIM));
      const t = standardise(train.feats, dim, tMean, tStd, rows);
      const spec = specOf(cfg, dim);
      const stepsPer = Math.ceil(Math.min(rows.length, cfg.rowsPerEpoch) / Math.min(cfg.batchSize, rows.length)) * cfg.epochs;
      for (let i = 0; i < cfg.students; i++) {
        // Each student starts from its own random initialisation (seed + i), as in the paper.
        const rng = new Rng(ctx.input.seed * 1000 + 101 + i);
        const params = initMlp(spec, rng);
        const r = await trainMlp(spec, params, { x, t, rows: rows.length }, {
          epochs: cfg.epochs,
          batchSize: cfg.batchSize,
          lr: cfg.learningRate,
          weightDecay: cfg.weightDecay,
          rng,
          ep: ctx.ep,
          maxRowsPerEpoch: cfg.rowsPerEpoch,
          ...(ctx.signal ? { signal: ctx.signal } : {}),
          onProgress: (done) => ctx.onProgress?.({ phase: 'train', done: i * stepsPer + done, total: cfg.students * stepsPer }),
        });
        losses.push(r.losses);
        paramsToArrays(`s${i}/`, params, arrays as Record<string, Float32Array>);
      }
      // Normalisation statistics of e and v on held-out good parts (see the module doc).
      const normSet = calibration ?? train;
      const trained = { arrays, file: '(fitting)' } as unknown as LoadedModel; // only its sections are read
      const head = await openStudents(trained, cfg, dim, embedding, { eMean: 0, eStd: 1, vMean: 0, vStd: 1 }, ctx.ep);
      try {
        const es: Float32Array[] = [];
        const vs: Float32Array[] = [];
        const per = normSet.grid[0] * normSet.grid[1];
        const px = normSet.width * normSet.height * 3;
        for (let j = 0; j < normSet.n; j++) {
          throwIfCancelled(ctx.signal);
          const p: Patches = { data: normSet.feats.subarray(j * per * dim, (j + 1) * per * dim), n: 1, h: normSet.grid[0], w: normSet.grid[1], dim };
          const raw = await head.raw(p, normSet.rgb.subarray(j * px, (j + 1) * px), 0);
          es.push(raw.e);
          vs.push(raw.v);
        }
        const cat = (a: Float32Array[]): Float32Array => {
          const o = new Float32Array(a.reduce((s, x) => s + x.length, 0));
          let k = 0;
          for (const x of a) {
            o.set(x, k);
            k += x.length;
          }
          return o;
        };
        const [eMean, eStd] = meanStd(cat(es));
        const [vMean, vStd] = meanStd(cat(vs));
        norm = { eMean, eStd, vMean, vStd };
      } finally {
        await head.release();
      }
    } finally {
      await input.release();
    }
    return {
      arrays,
      state: {
        norm,
        finalLoss: losses.map((l) => l[l.length - 1] ?? null),
        trainRows: Math.min(cfg.maxRows, train.n * train.grid[0] * train.grid[1]),
      },
    };
  },
  async openHead(model, ctx) {
    const h = model.header;
    return openStudents(model, h.detectorConfig as StudentTeacherConfig, h.features.dim, h.config.embedding, h.state.norm as StudentTeacherHeadNorm, ctx.ep);
  },
  facts(h) {
    const cfg = h.detectorConfig as StudentTeacherConfig;
    const loss = (h.state.finalLoss as (number | null)[] | undefined) ?? [];
    const mean = loss.length > 0 ? loss.reduce((a: number, b) => a + (b ?? 0), 0) / loss.length : null;
    return [
      { key: 'students', label: 'Students', value: cfg.students },
      { key: 'epochs', label: 'Epochs', value: cfg.epochs },
      { key: 'trainRows', label: 'Training patches', value: Number(h.state.trainRows ?? 0) },
      ...(mean !== null ? [{ key: 'finalLoss', label: 'Final loss (per patch)', value: Number(mean.toPrecision(4)) }] : []),
    ];
  },
};
