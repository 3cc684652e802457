/**
 * `kensa` — the headless command line over the engine.
 *
 *   kensa fit <good-images-dir|image>... --out model.kensa [--backbone FILE|ID] [--coreset 0.1]
 *   kensa score model.kensa <image|dir>... [--heatmaps DIR] [--json]
 *   kensa eval <dataset-dir> [--detector ID] [--backbone FILE|ID] [--out result.json]
 *   kensa compare <dataset-dir> [--detectors A,B] [--out table.json]
 *   kensa info model.kensa
 *   kensa export model.kensa --out DIR [--parts FOLDER] [--threshold T] [--name N]
 *   kensa report <project-dir> --out FILE.pdf|.html|.csv|.json [--from DATE] [--to DATE]
 *   kensa backbone list | download <id>
 *   kensa serve model.kensa|export-dir [--port N] [--host H] [--token T]   (./serve.ts)
 *
 * Results go to stdout, progress to stderr. An error is one line on stderr and a non-zero
 * exit code (1 = failure, 2 = usage). Long work runs in the engine worker thread.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { downloadBackbone, loadManifest, modelsDirs } from '../engine/backbone/backbone';
import { isKensaError, KensaError } from '../engine/errors';
import { exportModel } from '../engine/export';
import type { ParityPart } from '../engine/export/parity';
import { listImages } from '../engine/imaging/load';
import { loadModel } from '../engine/model-file';
import type { EpRequest } from '../engine/ort/session';
import type { PartialInput } from '../engine/detectors/pipeline';
import { DETECTOR_IDS } from '../engine/model-types';
import type { EvalReport } from '../engine/eval';
import { EngineClient } from '../jobs/engine-client';
import { ProjectService } from '../services/project-service';
import { isProjectDir } from '../services/stations/shared-project';
import { shareProject } from '../services/stations/share';
import { closeProjectDb, currentLock, isPgLocator, liveClaims, LOCK_NAMES, openProjectDb, redactLocator, verifyAudit } from '../store/index';
import { projectExportContext } from '../services/export';
import { exportReport, reportFormatOf } from '../services/report/index';
import { verifyReportFile } from '../services/report-signing';
import type { ScoreItem } from '../jobs/protocol';
import { KENSA_VERSION } from '../shared/version';
// ---- kensa serve (Open Inference Protocol server): its options, help and command live in ./serve.ts
import { cmdServe, SERVE_HELP, SERVE_OPTIONS } from './serve';

const HELP = `kensa ${KENSA_VERSION} — visual anomaly detection (PatchCore, PaDiM, student–teacher, autoencoder, fusion)

Usage:
  kensa fit <good-images-dir|image>... --out model.kensa [options]
  kensa score model.kensa <image|dir>... [--heatmaps DIR] [--json] [--backbone FILE|ID]
  kensa eval <dataset-dir> [--out result.json] [options]     (MVTec layout: train/good, test/<type>, ground_truth/<type>)
  kensa compare <dataset-dir> [--detectors A,B] [--out table.json]
                                                           fit every detector on the same parts, one table (AUROC, PRO, PG0, speed)
  kensa info model.kensa
  kensa export model.kensa --out DIR [--parts FOLDER] [--threshold T] [--review-upper U] [--name N] [--tolerance R]
                                                           one self-contained ONNX graph (uint8 images -> score, map) + sidecar,
                                                           Triton repository and KServe manifest; refused unless the graph,
                                                           run in onnxruntime-web, reproduces the engine on the parts (a model
                                                           in a project: its reviewed parts and threshold in force)
  kensa audit verify <project-dir|postgres://…?schema=S>   walk the project's audit chain; name the first edited or removed event
  kensa project create <dir> --name NAME [--store URL]     a new project; --store postgres://user@host:port/db?schema=S makes
                                                           it a shared one (several stations; password: PGPASSWORD or ~/.pgpass)
  kensa project info <dir>                                 where it is stored, the stations' claims and running changes
  kensa project share <dir> --store URL                    move a one-station project's records to PostgreSQL (ids, audit
                                                           chain and signatures as they are; kensa.db is kept, renamed)
  kensa report <project-dir> --out FILE.pdf|.html|.csv|.json [--from DATE] [--to DATE]
                                                           audit report of the verdicts in a period (dates YYYY-MM-DD, UTC,
                                                           both inclusive; PDF needs Chromium or KENSA_CHROMIUM)
  kensa report verify FILE [--project DIR]                 a signed report (.signed.json / .signed.html) against its
                                                           signatures and the project's audit chain
  kensa backbone list
  kensa backbone download <id>
${SERVE_HELP.trimEnd()}

Fit/eval options:
  --detector ID        ${DETECTOR_IDS.join(' | ')} (default patchcore)
  --backbone FILE|ID   backbone .onnx file or manifest id (default: first found of ${loadManifest().default.join(', ')})
  --coreset R          coreset ratio, 0 < R <= 1 (default 0.1)
  --max-bank N         memory bank size limit (default 20000)
  --size PX            model input size (default 224)
  --resize MODE        stretch (default, whole part, no crop) | crop (centre crop) | pad
  --taps A,B           backbone tensors to use as feature taps (default: auto)
  --project-dim N      project features to N dimensions
  --seed N             random seed (default 0)
  --ep EP              auto (default) | cpu | cuda | dml | coreml | webgpu
  --model-out FILE     (eval) also save the fitted model

Environment: KENSA_MODELS_DIR (backbone folder), KENSA_SHARED (folder with models/ and data/), KENSA_THREADS.
`;

class UsageError extends Error {}

const OPTIONS = {
  out: { type: 'string', short: 'o' },
  detector: { type: 'string' },
  detectors: { type: 'string' },
  backbone: { type: 'string' },
  coreset: { type: 'string' },
  'max-bank': { type: 'string' },
  size: { type: 'string' },
  resize: { type: 'string' },
  taps: { type: 'string' },
  'project-dim': { type: 'string' },
  seed: { type: 'string' },
  ep: { type: 'string' },
  heatmaps: { type: 'string' },
  json: { type: 'boolean' },
  'model-out': { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  parts: { type: 'string' },
  threshold: { type: 'string' },
  'review-upper': { type: 'string' },
  // --name is shared with kensa serve (SERVE_OPTIONS)
  tolerance: { type: 'string' },
  project: { type: 'string' },
  store: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  // kensa serve
  ...SERVE_OPTIONS,
} satisfies ParseArgsConfig['options'];

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function num(v: string | undefined, name: string, check: (n: number) => boolean, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${what}, got "${v}"`);
  return n;
}

/** Shared input settings and the detector's own settings from the command line. */
function configFrom(v: Values): { input: PartialInput; config: Record<string, unknown> } {
  const input: PartialInput = {};
  const config: Record<string, unknown> = {};
  const coreset: Record<string, number> = {};
  const ratio = num(v.coreset, 'coreset', (n) => n > 0 && n <= 1, 'a ratio in (0, 1]');
  if (ratio !== undefined) coreset.ratio = ratio;
  const maxBank = num(v['max-bank'], 'max-bank', (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
  if (maxBank !== undefined) coreset.maxSize = maxBank;
  if (Object.keys(coreset).length > 0) {
    if (v.detector !== undefined && v.detector !== 'patchcore') throw new UsageError('--coreset and --max-bank are PatchCore settings');
    config.coreset = coreset;
  }
  const seed = num(v.seed, 'seed', (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0');
  if (seed !== undefined) input.seed = seed;
  const size = num(v.size, 'size', (n) => Number.isInteger(n) && n >= 32 && n <= 4096, 'an integer from 32 to 4096');
  const projectDim = num(v['project-dim'], 'project-dim', (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
  if (size !== undefined || projectDim !== undefined) {
    input.embedding = {};
    if (size !== undefined) Object.assign(input.embedding, { width: size, height: size });
    if (projectDim !== undefined) input.embedding.projectDim = projectDim;
  }
  if (v.resize !== undefined) {
    if (!['stretch', 'crop', 'pad'].includes(v.resize)) throw new UsageError(`--resize must be stretch, crop or pad, got "${v.resize}"`);
    input.resize = v.resize as 'stretch' | 'crop' | 'pad';
  }
  if (v.taps !== undefined) input.taps = v.taps.split(',').map((s) => s.trim()).filter(Boolean);
  return { input, config };
}

function detectorFrom(v: Values): { detector?: string } {
  if (v.detector === undefined) return {};
  if (!(DETECTOR_IDS as readonly string[]).includes(v.detector)) throw new UsageError(`--detector must be one of ${DETECTOR_IDS.join(', ')}, got "${v.detector}"`);
  return { detector: v.detector };
}

function epFrom(v: Values): EpRequest | undefined {
  if (v.ep === undefined) return undefined;
  const ok = ['auto', 'cpu', 'cuda', 'dml', 'coreml', 'webgpu'];
  if (!ok.includes(v.ep)) throw new UsageError(`--ep must be one of ${ok.join(', ')}, got "${v.ep}"`);
  return v.ep as EpRequest;
}

/** Expands folders into their images; a folder with no images is an error naming it. */
async function expandInputs(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    let s;
    try {
      s = await stat(input);
    } catch {
      // A missing file is kept: the engine reports it per file, so the rest still run.
      files.push(path.resolve(input));
      continue;
    }
    if (s.isDirectory()) files.push(...(await listImages(input)));
    else files.push(path.resolve(input));
  }
  return files;
}

class ProgressLine {
  private lastLen = 0;
  private lastPhase = '';
  private lastPct = -1;
  private readonly t0 = performance.now();
  constructor(private readonly quiet: boolean) {}

  update(p: { phase: string; done: number; total: number }): void {
    if (this.quiet) return;
    const pct = p.total > 0 ? Math.floor((100 * p.done) / p.total) : 0;
    const secs = (performance.now() - this.t0) / 1000;
    const line = `${p.phase} ${p.done}/${p.total} (${pct}%) ${secs.toFixed(1)}s`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line.padEnd(this.lastLen)}`);
      this.lastLen = line.length;
    } else if (p.phase !== this.lastPhase || Math.floor(pct / 25) !== Math.floor(this.lastPct / 25)) {
      process.stderr.write(`${line}\n`);
    }
    this.lastPhase = p.phase;
    this.lastPct = pct;
  }

  done(): void {
    if (!this.quiet && process.stderr.isTTY && this.lastLen > 0) process.stderr.write(`\r${' '.repeat(this.lastLen)}\r`);
  }
}

/** Ctrl-C cancels the running job cleanly (the worker stops; nothing half-written stays). */
function cancelOnSigint(cancel: () => void): () => void {
  const h = (): void => {
    process.stderr.write('\ncancelling…\n');
    cancel();
  };
  process.once('SIGINT', h);
  return () => process.off('SIGINT', h);
}

async function cmdFit(args: string[], v: Values, engine: EngineClient): Promise<number> {
  if (args.length === 0) throw new UsageError('fit needs a folder (or files) of good images');
  if (!v.out) throw new UsageError('fit needs --out model.kensa');
  const files = await expandInputs(args);
  await mkdir(path.dirname(path.resolve(v.out)), { recursive: true }); // --out into a folder that does not exist yet
  const progress = new ProgressLine(v.quiet === true);
  const job = engine.run(
    {
      kind: 'fit',
      files,
      out: path.resolve(v.out),
      ...configFrom(v),
      ...detectorFrom(v),
      ...(v.backbone === undefined ? {} : { backbone: v.backbone }),
      ...(epFrom(v) === undefined ? {} : { ep: epFrom(v)! }),
    },
    { onProgress: (p) => progress.update(p) },
  );
  const off = cancelOnSigint(job.cancel);
  try {
    const r = await job.result;
    progress.done();
    for (const s of r.skipped) process.stderr.write(`skipped ${s.file}: ${s.error.message}\n`);
    const h = r.header;
    const summary = {
      model: r.out,
      images: h.fit.images,
      skipped: r.skipped.length,
      calibrationImages: h.fit.calibrationImages,
      detector: h.detector,
      state: h.state,
      dim: h.features.dim,
      backbone: h.backbone.id,
      taps: h.taps.map((t) => t.name),
      ep: h.fit.ep,
      seconds: Number(h.fit.seconds.toFixed(2)),
      goodScoreMax: h.stats.images > 0 ? h.stats.imageScore.max : null,
    };
    if (v.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    else {
      process.stdout.write(
        `fitted ${summary.images} images (${summary.skipped} skipped) in ${summary.seconds}s on ${summary.ep}\n` +
          `${summary.detector}: ${Object.entries(summary.state).map(([k, x]) => `${k} ${typeof x === 'number' ? Number(x.toPrecision(6)) : JSON.stringify(x)}`).join(', ')}; ${summary.dim}-dim features, backbone ${summary.backbone} [${summary.taps.join(', ')}]\n` +
          `model written to ${summary.model}\n`,
      );
    }
    return 0;
  } finally {
    off();
  }
}

async function cmdScore(args: string[], v: Values, engine: EngineClient): Promise<number> {
  if (args.length < 2) throw new UsageError('score needs a model file and at least one image or folder');
  const [model, ...inputs] = args as [string, ...string[]];
  const files = await expandInputs(inputs);
  const progress = new ProgressLine(v.quiet === true || files.length < 20);
  const items: ScoreItem[] = [];
  const job = engine.run(
    {
      kind: 'score',
      model: path.resolve(model),
      files,
      ...(v.heatmaps === undefined ? {} : { heatmapsDir: path.resolve(v.heatmaps) }),
      ...(v.backbone === undefined ? {} : { backbone: v.backbone }),
      ...(epFrom(v) === undefined ? {} : { ep: epFrom(v)! }),
    },
    {
      onProgress: (p) => progress.update(p),
      onItem: (item) => {
        items.push(item);
        if (!v.json) {
          progress.done();
          if (item.ok) process.stdout.write(`${item.score.toFixed(4)}\t${item.file}${item.heatmap ? `\t${item.heatmap}` : ''}\n`);
          else process.stderr.write(`error: ${item.error.message}\n`);
        }
      },
    },
  );
  const off = cancelOnSigint(job.cancel);
  try {
    const r = await job.result;
    progress.done();
    if (v.json) {
      const out = {
        model: r.model,
        ep: r.ep,
        results: items.map((i) => (i.ok ? { file: i.file, score: i.score, maxPatchScore: i.maxPatchScore, heatmap: i.heatmap ?? null } : { file: i.file, error: i.error })),
      };
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    }
    if (r.failed > 0) process.stderr.write(`${r.failed} of ${files.length} images could not be scored\n`);
    return r.failed > 0 ? 1 : 0;
  } finally {
    off();
  }
}

async function cmdEval(args: string[], v: Values, engine: EngineClient): Promise<number> {
  if (args.length !== 1) throw new UsageError('eval needs one dataset folder (MVTec layout)');
  const progress = new ProgressLine(v.quiet === true);
  const job = engine.run(
    {
      kind: 'eval',
      dataset: path.resolve(args[0]!),
      ...configFrom(v),
      ...detectorFrom(v),
      ...(v.backbone === undefined ? {} : { backbone: v.backbone }),
      ...(epFrom(v) === undefined ? {} : { ep: epFrom(v)! }),
      ...(v['model-out'] === undefined ? {} : { modelOut: path.resolve(v['model-out']) }),
    },
    { onProgress: (p) => progress.update(p) },
  );
  const off = cancelOnSigint(job.cancel);
  try {
    const { report } = await job.result;
    progress.done();
    const json = `${JSON.stringify(report, null, 2)}\n`;
    if (v.out) await writeFile(v.out, json);
    const m = report.metrics;
    const f = (x: number | null): string => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(4));
    const text =
      `dataset   ${report.dataset}\n` +
      `images    train ${report.counts.train}, test good ${report.counts.good}, defect ${report.counts.defect} (${report.counts.masks} masks), errors ${report.errors.length}\n` +
      `model     ${report.detector} (${report.facts.map((x) => `${x.label.toLowerCase()} ${x.value}${x.unit ? ` ${x.unit}` : ''}`).join(', ')}), ${report.backbone.id}, ${report.ep}\n` +
      `metrics   image AUROC ${f(m.imageAuroc)}  pixel AUROC ${f(m.pixelAuroc)}  PRO ${f(m.pro)}  F1-max ${f(m.f1Max)}  PG0 ${f(m.pg0)}\n` +
      `timing    fit ${report.timing.fitSeconds.toFixed(1)}s, score ${report.timing.scoreMsPerImage.toFixed(1)} ms/image, total ${report.timing.totalSeconds.toFixed(1)}s\n`;
    if (v.json) process.stdout.write(json);
    else process.stdout.write(text + (v.out ? `written to ${v.out}\n` : ''));
    return 0;
  } finally {
    off();
  }
}

export interface CompareRow {
  detector: string;
  imageAuroc: number;
  pixelAuroc: number | null;
  pro: number | null;
  pg0: number | null;
  fitSeconds: number;
  msPerPart: number;
}

/** Fits every detector (or --detectors) on the same good parts of a dataset and tabulates them. */
async function cmdCompare(args: string[], v: Values, engine: EngineClient): Promise<number> {
  if (args.length !== 1) throw new UsageError('compare needs one dataset folder (MVTec layout)');
  if (v.detector !== undefined) throw new UsageError('compare fits every detector: use --detectors A,B to choose some');
  const ids = v.detectors === undefined ? [...DETECTOR_IDS] : v.detectors.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) if (!(DETECTOR_IDS as readonly string[]).includes(id)) throw new UsageError(`--detectors: unknown detector "${id}" (known: ${DETECTOR_IDS.join(', ')})`);
  if (ids.length === 0) throw new UsageError('--detectors names no detector');
  const { input } = configFrom(v);
  const dataset = path.resolve(args[0]!);
  const rows: CompareRow[] = [];
  const reports: EvalReport[] = [];
  const f = (x: number | null, d = 4): string => (x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(d));
  if (!v.json) process.stdout.write(`${'detector'.padEnd(16)}${'img AUROC'.padStart(10)}${'px AUROC'.padStart(10)}${'PRO'.padStart(8)}${'PG0'.padStart(8)}${'fit s'.padStart(8)}${'ms/part'.padStart(9)}\n`);
  for (const id of ids) {
    const progress = new ProgressLine(v.quiet === true);
    const job = engine.run(
      { kind: 'eval', dataset, detector: id, input, ...(v.backbone === undefined ? {} : { backbone: v.backbone }), ...(epFrom(v) === undefined ? {} : { ep: epFrom(v)! }) },
      { onProgress: (p) => progress.update({ ...p, phase: `${id} ${p.phase}` }) },
    );
    const off = cancelOnSigint(job.cancel);
    try {
      const { report } = await job.result;
      progress.done();
      reports.push(report);
      const m = report.metrics;
      const row: CompareRow = {
        detector: id,
        imageAuroc: m.imageAuroc,
        pixelAuroc: m.pixelAuroc,
        pro: m.pro,
        pg0: m.pg0,
        fitSeconds: report.timing.fitSeconds,
        msPerPart: report.timing.scoreMsPerImage,
      };
      rows.push(row);
      if (!v.json) {
        process.stdout.write(
          `${id.padEnd(16)}${f(row.imageAuroc).padStart(10)}${f(row.pixelAuroc).padStart(10)}${f(row.pro, 3).padStart(8)}${f(row.pg0, 3).padStart(8)}${row.fitSeconds.toFixed(1).padStart(8)}${row.msPerPart.toFixed(1).padStart(9)}\n`,
        );
      }
    } finally {
      off();
    }
  }
  const first = reports[0]!;
  const out = { dataset, counts: first.counts, backbone: first.backbone, ep: first.ep, rows };
  const json = `${JSON.stringify(out, null, 2)}\n`;
  if (v.out) await writeFile(v.out, json);
  if (v.json) process.stdout.write(json);
  else if (v.out) process.stdout.write(`written to ${v.out}\n`);
  return 0;
}

async function cmdInfo(args: string[], v: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('info needs one model file');
  const m = await loadModel(args[0]!);
  const h = m.header;
  const info = {
    file: m.file,
    formatVersion: h.formatVersion,
    kensaVersion: h.kensaVersion,
    createdAt: h.createdAt,
    detector: h.detector,
    backbone: h.backbone,
    taps: h.taps,
    features: h.features,
    state: h.state,
    input: `${h.config.embedding.width}×${h.config.embedding.height} (${h.config.resize})`,
    detectorConfig: h.detectorConfig,
    fit: { images: h.fit.images, calibrationImages: h.fit.calibrationImages, seconds: h.fit.seconds, ep: h.fit.ep },
    goodScores: h.stats.imageScore,
    colourScale: h.stats.colourScale,
  };
  process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
  void v;
  return 0;
}

/**
 * Exports a model as one ONNX graph with its sidecar and serving files (engine/export). Runs in
 * this process (both runtimes, the engine's and onnxruntime-web, are needed side by side).
 */
async function cmdExport(args: string[], v: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('export needs one model file: kensa export model.kensa --out DIR');
  if (!v.out) throw new UsageError('export needs --out DIR (the folder the export is written to)');
  const threshold = num(v.threshold, 'threshold', () => true, 'a number');
  const reviewUpper = num(v['review-upper'], 'review-upper', () => true, 'a number');
  const tolerance = num(v.tolerance, 'tolerance', (n) => n > 0 && n < 1, 'a number in (0, 1)');
  const model = await loadModel(args[0]!);
  const project = projectExportContext(model.file);
  let parts: ParityPart[];
  if (v.parts !== undefined) {
    const p = path.resolve(v.parts);
    const files = (await stat(p).catch(() => null))?.isDirectory() ? await listImages(p, { recursive: true }) : [p];
    parts = files.map((file) => ({ file }));
    if (parts.length === 0) throw new UsageError(`--parts ${v.parts} holds no images`);
  } else if (project && project.parts.length > 0) {
    parts = project.parts;
  } else {
    throw new UsageError(
      project
        ? `the project ${project.dir} has no reviewed parts yet: give --parts FOLDER for the parity check`
        : 'export needs parts for its parity check: --parts FOLDER (images the export must score as the engine does)',
    );
  }
  const t = threshold ?? project?.threshold ?? null;
  const upper = reviewUpper ?? (threshold === undefined ? (project?.reviewUpper ?? null) : null);
  const source = threshold !== undefined ? 'option' : project?.threshold != null ? 'project' : 'none';
  const progress = new ProgressLine(v.quiet === true);
  const abort = new AbortController();
  const off = cancelOnSigint(() => abort.abort());
  try {
    const r = await exportModel(model, {
      outDir: v.out,
      parts,
      threshold: t,
      reviewUpper: upper,
      thresholdSource: source,
      projectVersion: project?.version ?? null,
      signal: abort.signal,
      onProgress: (p) => progress.update(p),
      ...(v.name === undefined ? {} : { name: v.name }),
      ...(tolerance === undefined ? {} : { tolerance }),
      ...(v.backbone === undefined ? {} : { backbone: v.backbone }),
      ...(epFrom(v) === undefined ? {} : { ep: epFrom(v)! }),
    });
    progress.done();
    const p = r.parity;
    const e = (x: number): string => x.toExponential(2);
    if (v.json) {
      process.stdout.write(`${JSON.stringify({ files: r.files, sidecar: r.info, parity: { ...p, items: undefined } }, null, 2)}\n`);
      return 0;
    }
    const rel = (f: string): string => path.relative(process.cwd(), f) || f;
    process.stdout.write(
      `parity: ${p.scored} of ${p.parts} parts scored by both ${p.engine} and ${p.runtime}${p.failed > 0 ? ` (${p.failed} unreadable)` : ''}\n` +
        `  max |Δscore| ${e(p.maxAbsDeltaScore)} (${e(p.maxRelDeltaScore)} of the score scale ${p.tolerance.scale.toPrecision(4)}; tolerance ${e(p.tolerance.absolute)})` +
        `${p.worst ? `, worst ${rel(p.worst.file)}` : ''}\n` +
        `  max |Δmap|   ${e(p.maxAbsDeltaMap)} (${e(p.maxRelDeltaMap)} of the score scale)\n` +
        (p.threshold === null
          ? '  no threshold in force: verdicts not compared (give --threshold T)\n'
          : `  threshold ${p.threshold} (${source}): ${p.verdictChanges} verdict change${p.verdictChanges === 1 ? '' : 's'}, ` +
            (p.reviewedDefects === 0 ? 'no reviewed defects among the parts\n' : `${p.defectsPassing} of ${p.reviewedDefects} reviewed defects passing\n`)) +
        `export ${r.name} (${r.info.model.detector}, opset ${r.info.onnx.opset}, ${(r.info.onnx.weightBytes / 1e6).toFixed(1)} MB of weights) written to ${rel(r.dir)}:\n` +
        r.files.map((f) => `  ${path.relative(r.dir, f)}\n`).join(''),
    );
    return 0;
  } finally {
    off();
  }
}

async function cmdAudit(args: string[], v: Values): Promise<number> {
  const [sub, dir] = args;
  if (sub !== 'verify' || !dir || args.length !== 2) throw new UsageError('usage: kensa audit verify <project-dir|postgres://…?schema=S>');
  // A PostgreSQL schema can be checked without the shared folder (an auditor's machine), read-only.
  const db = isPgLocator(dir) ? openProjectDb(dir, { readonly: true }) : null;
  const svc = db ? null : ProjectService.open(dir);
  try {
    const r = db ? verifyAudit(db) : svc!.verifyAudit();
    if (v.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    if (r.ok) {
      if (!v.json) process.stdout.write(`audit chain ok: ${r.events} events, head ${r.headHash ?? '(empty)'}\n`);
      return 0;
    }
    const bad = r.firstBad!;
    process.stderr.write(`kensa: audit chain BROKEN at ${bad.seq === null ? 'a row with no audit event' : `event ${bad.seq}`}: ${bad.reason}\n`);
    return 1;
  } finally {
    svc?.close();
    if (db) closeProjectDb(db);
  }
}

/** kensa project create DIR --name N [--store URL] | kensa project info DIR */
async function cmdProject(args: string[], v: Values): Promise<number> {
  const [sub, dir] = args;
  if (sub === 'create' && dir && args.length === 2) {
    if (!v.name) throw new UsageError('kensa project create needs --name');
    if (isProjectDir(path.resolve(dir))) throw new KensaError('CONFLICT', `${path.resolve(dir)} already holds a Kensa project`);
    const svc = await ProjectService.create(dir, v.name, process.env.USER ?? 'kensa', {}, v.store);
    try {
      const info = svc.storeInfo();
      if (v.json) process.stdout.write(`${JSON.stringify({ dir: svc.dir, ...info }, null, 2)}\n`);
      else process.stdout.write(`created ${svc.dir}: records in ${redactLocator(info.label)} (${info.engine}), files in ${info.files === 'shared-folder' ? 'this shared folder' : 'this folder'}\n`);
      return 0;
    } finally {
      svc.close();
    }
  }
  if (sub === 'info' && dir && args.length === 2) {
    const svc = ProjectService.open(dir);
    try {
      const info = svc.storeInfo();
      const claims = liveClaims(svc.db);
      const locks = LOCK_NAMES.map((n) => currentLock(svc.db, n)).filter((l) => l !== null);
      if (v.json) {
        process.stdout.write(`${JSON.stringify({ dir: svc.dir, ...info, claims, locks }, null, 2)}\n`);
        return 0;
      }
      process.stdout.write(`${svc.dir}\n  records: ${redactLocator(info.label)} (${info.engine})\n  files:   ${info.files}\n`);
      process.stdout.write(`  parts being reviewed: ${claims.length === 0 ? 'none' : claims.map((c) => `#${c.imageId} ${c.reviewer}@${c.station}`).join(', ')}\n`);
      process.stdout.write(`  running: ${locks.length === 0 ? 'nothing' : locks.map((l) => `${l!.purpose} by ${l!.holder}@${l!.station}`).join(', ')}\n`);
      return 0;
    } finally {
      svc.close();
    }
  }
  if (sub === 'share' && dir && args.length === 2) {
    if (!v.store) throw new UsageError('kensa project share needs --store postgres://user@host:port/db?schema=S');
    const r = await shareProject(dir, v.store, process.env.USER ?? 'kensa', (table, n) => {
      if (!v.json && !v.quiet) process.stderr.write(`  ${table}: ${n} rows\n`);
    });
    if (v.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else process.stdout.write(`shared: ${path.resolve(dir)} now keeps its records in ${r.store} (${r.events} audit events, head ${r.headHash}); the SQLite file is kept as ${r.keptAs}\n`);
    return 0;
  }
  throw new UsageError('usage: kensa project create <dir> --name NAME [--store postgres://…] | kensa project info <dir> | kensa project share <dir> --store postgres://…');
}

/** kensa report verify FILE [--project DIR]: a signed report against its signatures and the project's audit chain. */
async function cmdReportVerify(args: string[], v: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('usage: kensa report verify <report.signed.json|report.signed.html|report.json> [--project DIR]');
  const file = path.resolve(args[0]!);
  // The project: --project, else the folder above exports/ when the report lies in one.
  const guess = path.basename(path.dirname(file)) === 'exports' ? path.dirname(path.dirname(file)) : null;
  const dir = v.project ?? (guess && isProjectDir(guess) ? guess : null);
  const svc = dir ? ProjectService.open(dir) : null;
  try {
    const r = await verifyReportFile(file, svc?.db ?? null, svc?.dir ?? null);
    if (v.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else {
      for (const s of r.signatures) process.stdout.write(`${s.ok ? 'ok ' : 'BAD'} signature ${s.id}: ${s.printedName} (${s.signer}), ${s.meaning}, ${s.signedAt}${s.why ? ` — ${s.why}` : ''}\n`);
      if (r.project) process.stdout.write(`project ${r.project.dir}: audit chain ${r.project.auditOk ? 'ok' : 'BROKEN'}, report's audit head ${r.project.headInChain ? 'is in the chain' : 'NOT in the chain'}\n`);
      else process.stdout.write('no project found: the signatures were checked, the audit chain was not (give --project DIR)\n');
    }
    if (!r.ok) {
      process.stderr.write(`kensa: the report does NOT verify: ${r.problems[0]}\n`);
      return 1;
    }
    if (!v.json) process.stdout.write(`report verified: data ${r.contentHash}, ${r.signatures.length} signature${r.signatures.length === 1 ? '' : 's'}\n`);
    return 0;
  } finally {
    svc?.close();
  }
}

async function cmdReport(args: string[], v: Values): Promise<number> {
  if (args[0] === 'verify') return cmdReportVerify(args.slice(1), v);
  if (args.length !== 1) throw new UsageError('usage: kensa report <project-dir> --out FILE.pdf|.html|.csv|.json [--from DATE] [--to DATE]');
  if (!v.out) throw new UsageError('report needs --out FILE.pdf, .html, .csv or .json');
  reportFormatOf(v.out); // a bad extension fails before any work
  const svc = ProjectService.open(args[0]!);
  try {
    const r = await exportReport(svc, v.out, {
      kensaVersion: KENSA_VERSION,
      ...(v.from === undefined ? {} : { from: v.from }),
      ...(v.to === undefined ? {} : { to: v.to }),
    });
    if (v.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    else process.stdout.write(`report written to ${r.file} (${r.format}, ${r.bytes} bytes): ${r.parts} reviewed parts, ${r.thumbnails} thumbnails\n`);
    if (!r.auditOk) {
      process.stderr.write('kensa: the audit chain FAILS verification: the report says so on its first page (see kensa audit verify)\n');
      return 1;
    }
    return 0;
  } finally {
    svc.close();
  }
}

async function cmdBackbone(args: string[]): Promise<number> {
  const [sub, id] = args;
  if (sub === 'list') {
    const m = loadManifest();
    for (const b of m.backbones) process.stdout.write(`${b.id}\t${b.file}\t${b.url ? 'downloadable' : 'local file only'}\tsha256 ${b.sha256}\n`);
    process.stdout.write(`models folders searched: ${modelsDirs().join(', ')}\n`);
    return 0;
  }
  if (sub === 'download' && id) {
    const file = await downloadBackbone(id, (done, total) => process.stderr.write(`\r${((100 * done) / total).toFixed(0)}%`));
    process.stderr.write('\n');
    process.stdout.write(`${file}\n`);
    return 0;
  }
  throw new UsageError('usage: kensa backbone list | kensa backbone download <id>');
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`kensa: ${(e as Error).message.split('\n')[0]} (see kensa --help)\n`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const [cmd, ...args] = positionals;
  if (v.version) {
    process.stdout.write(`${KENSA_VERSION}\n`);
    return 0;
  }
  if (v.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd === undefined && !v.help ? 2 : 0;
  }
  const engine = new EngineClient();
  try {
    switch (cmd) {
      case 'fit':
        return await cmdFit(args, v, engine);
      case 'score':
        return await cmdScore(args, v, engine);
      case 'eval':
        return await cmdEval(args, v, engine);
      case 'compare':
        return await cmdCompare(args, v, engine);
      case 'info':
        return await cmdInfo(args, v);
      case 'export':
        return await cmdExport(args, v);
      case 'backbone':
        return await cmdBackbone(args);
      case 'audit':
        return await cmdAudit(args, v);
      case 'report':
        return await cmdReport(args, v);
      case 'project':
        return await cmdProject(args, v);
      // kensa serve: runs until Ctrl-C / SIGTERM (./serve.ts)
      case 'serve':
        return await cmdServe(args, v);
      default:
        throw new UsageError(`unknown command "${cmd}" (fit, score, eval, compare, info, audit, project, report, backbone, serve)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kensa: ${e.message}\n`);
      return 2;
    }
    if (isKensaError(e)) {
      process.stderr.write(`kensa: ${e.code === 'CANCELLED' ? 'cancelled' : 'error'}: ${e.message}\n`);
      return e.code === 'CANCELLED' ? 130 : 1;
    }
    process.stderr.write(`kensa: unexpected error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await engine.terminate();
  }
}

export { KensaError };
