/**
 * The main side of the API contract (src-main/shared/api.ts): one object that owns the open
 * project, the engine worker and the running job, validates every call's arguments, runs it,
 * and answers with an envelope. Both transports (Electron IPC, the loopback web host) call
 * `call(method, args)` and forward `onEvent` — the same code serves the desktop app and the
 * headless/browser workstation. No electron import here.
 *
 * User settings (reviewer name, recent projects) live in `<configDir>/settings.json`
 * (`KENSA_CONFIG_DIR`, else ~/.config/kensa).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, realpath, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { downloadBackbone, loadManifest, resolveBackbonePath } from '../engine/backbone/backbone';
import { fitWithin } from '../engine/imaging/heatmap';
import { loadImage } from '../engine/imaging/load';
import { readMapPng } from '../engine/imaging/mapfile';
import { EngineClient } from '../jobs/engine-client';
import type {
  ApiError,
  ApiMethod,
  ApiResult,
  AppInfo,
  ArgsOf,
  ImageData,
  JobKind,
  JobProgress,
  KensaEvent,
  ModelSummary,
  ProjectState,
  QueueEntry,
  ResultOf,
  TuningData,
} from '../shared/api';
import { API_METHODS } from '../shared/api';
import { isKensaError, KensaError } from '../shared/errors';
import { KENSA_VERSION } from '../shared/version';
import { getImage, getScore, thresholdHistory, verdictHistory, type ModelRecord, type Verdict } from '../store/index';
import { getDetector, listDetectors } from '../engine/detectors/registry';
import { compareVersions, scoreReviewed } from './compare';
import { acceptVersion, learn, learnPreview, outOfFoldScores, propose } from './learning';
import { exportReport } from './report';
import { bandStats, tuningStats } from './threshold';
import { writeDemoImages } from './demo';
import type { OpenOptions } from '../store/index';
import { mapScaleMax, ProjectService, type Engine, type QueueItem } from './project-service';
import { validateArgs } from './validate';

export interface Workstation {
  /** Validates args and runs the call; never throws: errors come back as { ok: false, error }. */
  call(method: string, args: unknown): Promise<ApiResult<unknown>>;
  onEvent(listener: (e: KensaEvent) => void): () => void;
  close(): Promise<void>;
}

export interface WorkstationOptions {
  shell: 'electron' | 'browser';
  configDir?: string;
  /** Open this project at start. */
  projectDir?: string;
  /** Prints report HTML to PDF bytes (Electron: webContents.printToPDF); default: headless Chromium. */
  printPdf?: (html: string) => Promise<Uint8Array>;
  /** The native folder dialog (Electron); absent in a browser, where paths are typed. */
  pickFolder?: (title: string) => Promise<string | null>;
  /** Reveals a file in the system's file manager (Electron's shell module, injected by the app layer); absent in a browser. */
  showInFolder?: (file: string) => void;
  /**
   * The better-sqlite3 native build the project database is opened with (the app layer
   * chooses it: the Electron build inside Electron, else the default Node build), and the
   * label shown in the About box. `missing`: the Electron build is absent; a failed open says so.
   */
  sqlite?: { nativeBinding?: string; label: string; missing?: string };
}

interface Settings {
  reviewer: string | null;
  recent: { dir: string; name: string; openedAt: string }[];
}

type Handlers = { [M in ApiMethod]: (args: ArgsOf<M>) => Promise<ResultOf<M>> };

function toApiError(e: unknown): ApiError {
  if (isKensaError(e)) return e.file === undefined ? { code: e.code, message: e.message } : { code: e.code, message: e.message, file: e.file };
  return { code: 'INTERNAL', message: `unexpected error: ${e instanceof Error ? e.message : String(e)}` };
}

function configDirDefault(): string {
  if (process.env.KENSA_CONFIG_DIR) return process.env.KENSA_CONFIG_DIR;
  const base = process.env.XDG_CONFIG_HOME ?? path.join(os.homedir(), '.config');
  return path.join(base, 'kensa');
}

class WorkstationImpl implements Workstation {
  private project: ProjectService | null = null;
  private readonly engine = new EngineClient();
  private readonly listeners = new Set<(e: KensaEvent) => void>();
  private job: { id: string; kind: JobKind; cancel: () => void; progress: JobProgress; started: number; phaseStarted: number } | null = null;

  private settings: Settings = { reviewer: null, recent: [] };
  private lastEp: string | null = null;
  private readonly handlers: Handlers;

  private readonly shell: 'electron' | 'browser';
  private readonly configDir: string;
  private readonly printPdf: ((html: string) => Promise<Uint8Array>) | undefined;
  private readonly pickFolder: ((title: string) => Promise<string | null>) | undefined;
  private readonly showInFolder: ((file: string) => void) | undefined;
  private readonly sqlite: { nativeBinding?: string; label: string; missing?: string };

  constructor(opts: WorkstationOptions) {
    this.shell = opts.shell;
    this.configDir = opts.configDir ?? configDirDefault();
    this.printPdf = opts.printPdf;
    this.pickFolder = opts.pickFolder;
    this.showInFolder = opts.showInFolder;
    this.sqlite = opts.sqlite ?? { label: 'node' };
    this.handlers = this.makeHandlers();
  }

  /** Options for opening the project database: the native build chosen by the app layer. */
  private dbOptions(): OpenOptions {
    return {
      ...(this.sqlite.nativeBinding ? { nativeBinding: this.sqlite.nativeBinding } : {}),
      ...(this.sqlite.missing ? { nativeBindingHint: this.sqlite.missing } : {}),
    };
  }

  async init(projectDir?: string): Promise<void> {
    try {
      const raw = JSON.parse(await readFile(path.join(this.configDir, 'settings.json'), 'utf8')) as Partial<Settings>;
      this.settings = { reviewer: typeof raw.reviewer === 'string' ? raw.reviewer : null, recent: Array.isArray(raw.recent) ? raw.recent.slice(0, 10) : [] };
    } catch {
      // First run (or unreadable settings): start clean.
    }
    if (projectDir) await this.openProject(projectDir);
  }

  private async saveSettings(): Promise<void> {
    await mkdir(this.configDir, { recursive: true });
    const file = path.join(this.configDir, 'settings.json');
    await writeFile(`${file}.tmp`, JSON.stringify(this.settings, null, 2));
    await rename(`${file}.tmp`, file);
  }

  onEvent(listener: (e: KensaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(e: KensaEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A failing listener (a closed window or socket) must not break the others.
      }
    }
  }

  private emitState(): void {
    this.emit({ topic: 'project', state: this.project ? this.state() : null });
  }

  async call(method: string, args: unknown): Promise<ApiResult<unknown>> {
    if (!(API_METHODS as readonly string[]).includes(method)) return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `unknown method "${method}"` } };
    try {
      const m = method as ApiMethod;
      const clean = validateArgs(m, args);
      const handler = this.handlers[m] as (a: unknown) => Promise<unknown>;
      return { ok: true, value: await handler(clean) };
    } catch (e) {
      return { ok: false, error: toApiError(e) };
    }
  }

  async close(): Promise<void> {
    this.job?.cancel();
    await this.engine.terminate();
    this.project?.close();
    this.project = null;
  }

  // ---- helpers ------------------------------------------------------------------------------

  private need(): ProjectService {
    if (!this.project) throw new KensaError('NOT_FOUND', 'no project is open: create or open one first');
    return this.project;
  }

  private reviewer(): string {
    if (!this.settings.reviewer) throw new KensaError('INVALID_ARGUMENT', 'choose a reviewer name first: every verdict records who gave it');
    return this.settings.reviewer;
  }

  private async openProject(dir: string, create?: string): Promise<ProjectState> {
    if (this.job) throw new KensaError('CONFLICT', 'a job is running: wait for it or cancel it before switching projects');
    const next = create !== undefined ? await ProjectService.create(dir, create, this.settings.reviewer ?? 'kensa', this.dbOptions()) : ProjectService.open(dir, this.dbOptions());
    this.project?.close();
    this.project = next;
    const name = this.state().name;
    this.settings.recent = [{ dir: next.dir, name, openedAt: new Date().toISOString() }, ...this.settings.recent.filter((r) => r.dir !== next.dir)].slice(0, 10);
    await this.saveSettings();
    await this.ensureColourScale();
    this.emitState();
    return this.state();
  }

  private modelSummary(m: ModelRecord, active: number | null): ModelSummary {
    return {
      version: m.version,
      parentVersion: m.parentVersion,
      kind: m.kind,
      status: m.status,
      backboneId: m.backboneId,
      detector: m.detector,
      facts: Object.entries(m.facts).map(([key, f]) => ({ key, ...f })),
      fitSeconds: m.fitSeconds,
      ep: m.ep,
      createdAt: m.createdAt,
      createdBy: m.createdBy,
      addedImages: m.addedImageIds.length,
      active: m.version === active,
    };
  }

  private state(): ProjectState {
    const p = this.need();
    const active = p.activeModel();
    const qc = p.queueCounts();
    const t = p.threshold();
    const models = p.models();
    const colourScale = active ? (this.colourScales.get(active.version) ?? null) : null;
    return {
      dir: p.dir,
      name: (p.db.prepare('SELECT name FROM project WHERE id = 1').get() as { name: string }).name,
      counts: {
        ...p.counts(),
        scored: qc.flagged + qc.passed,
        flagged: qc.flagged,
        reviewed: qc.all - qc.unreviewed,
        unscored: qc.all - qc.flagged - qc.passed,
      },
      activeModel: active ? this.modelSummary(active, active.version) : null,
      models: models.map((m) => this.modelSummary(m, active?.version ?? null)).reverse(),
      threshold: t ? { value: t.value, reason: t.reason, setBy: t.setBy, createdAt: t.createdAt, modelVersion: t.modelVersion, reviewUpper: t.reviewUpper } : null,
      pendingRefit: p.pendingRefit().length,
      autoRefitAfter: p.settings().autoRefitAfter,
      colourScale,
      job: this.job?.progress ?? null,
    };
  }

  /** Colour scales of loaded models (read once per version from the model file header). */
  private readonly colourScales = new Map<number, { low: number; high: number }>();

  /** Loads the active model's colour scale into the cache (state() reads it synchronously). */
  private async ensureColourScale(): Promise<void> {
    const active = this.project?.activeModel();
    if (active) await this.colourScaleOf(active.version).catch(() => undefined);
  }

  private async colourScaleOf(version: number): Promise<{ low: number; high: number }> {
    let cs = this.colourScales.get(version);
    if (!cs) {
      const m = await this.need().loadModelFile(version);
      cs = m.header.stats.colourScale;
      this.colourScales.set(version, cs);
    }
    return cs;
  }

  private entry(q: QueueItem): QueueEntry {
    return {
      imageId: q.image.id,
      name: path.basename(q.image.path),
      path: q.image.path,
      width: q.image.width,
      height: q.image.height,
      score: q.score,
      flagged: q.flagged,
      verdict: q.verdict?.verdict ?? null,
      defectType: q.verdict?.defectType ?? null,
      reviewer: q.verdict?.verdict ? q.verdict.reviewer : null,
    };
  }

  private entryFor(imageId: number): QueueEntry {
    const q = this.need().queueItem(imageId);
    if (!q) throw new KensaError('NOT_FOUND', `no part to inspect with id ${imageId}`);
    return this.entry(q);
  }

  private async encodeImage(file: string, maxSide: number, quality = 88): Promise<ImageData> {
    const info = await loadImage(file, { width: 8, height: 8 }).then((r) => r.info);
    const size = fitWithin(info.width, info.height, maxSide);
    const img = await loadImage(file, { ...size, resize: 'stretch' });
    const jpeg = await sharp(img.rgb, { raw: { width: size.width, height: size.height, channels: 3 } }).jpeg({ quality }).toBuffer();
    return { mime: 'image/jpeg', dataBase64: jpeg.toString('base64'), width: size.width, height: size.height, originalWidth: info.width, originalHeight: info.height };
  }

  // ---- jobs ---------------------------------------------------------------------------------

  private startJob(kind: JobKind, run: (handlers: { onProgress: (p: { phase: string; done: number; total: number }) => void }, setCancel: (c: () => void) => void) => Promise<{ summary: string; dropped?: number; version?: number }>): { jobId: string } {
    if (this.job) throw new KensaError('CONFLICT', `a ${this.job.kind} job is already running`);
    const id = randomUUID();
    const now = performance.now();
    // Cancel may arrive before the engine job exists (the service is still preparing) or
    // between two engine jobs of one use-case (refit, then rescoring): remember it.
    let cancelled = false;
    let cancelEngine: (() => void) | null = null;
    const setCancel = (c: () => void): void => {
      cancelEngine = c;
      if (cancelled) c();
    };
    const job = {
      id,
      kind,
      cancel: () => {
        cancelled = true;
        cancelEngine?.();
      },
      started: now,
      phaseStarted: now,
      progress: { jobId: id, kind, phase: 'starting', done: 0, total: 0, elapsedSeconds: 0, etaSeconds: null } as JobProgress,
    };
    this.job = job;
    const onProgress = (p: { phase: string; done: number; total: number }): void => {
      const t = performance.now();
      if (p.phase !== job.progress.phase) job.phaseStarted = t;
      const phaseSecs = (t - job.phaseStarted) / 1000;
      const eta = p.done > 0 && p.total > p.done ? (phaseSecs / p.done) * (p.total - p.done) : p.total > 0 && p.done >= p.total ? 0 : null;
      job.progress = { jobId: id, kind, phase: p.phase, done: p.done, total: p.total, elapsedSeconds: (t - job.started) / 1000, etaSeconds: eta };
      this.emit({ topic: 'job', event: { type: 'progress', progress: job.progress } });
    };
    this.emitState();
    void run({ onProgress }, setCancel)
      .then((r) => {
        this.job = null;
        this.emit({ topic: 'job', event: { type: 'done', jobId: id, kind, summary: r.summary, ...(r.dropped === undefined ? {} : { dropped: r.dropped }), ...(r.version === undefined ? {} : { version: r.version }) } });
      })
      .catch((e: unknown) => {
        this.job = null;
        this.emit({ topic: 'job', event: { type: 'failed', jobId: id, kind, error: toApiError(e) } });
      })
      .finally(() => {
        if (this.project) this.emitState();
      });
    return { jobId: id };
  }

  /** The engine for a project job, capturing each engine job's cancel for `jobs.cancel`. */
  private cancellableEngine(setCancel: (c: () => void) => void): Engine {
    const engine = this.engine;
    return {
      run: ((job, handlers) => {
        const h = engine.run(job, handlers);
        setCancel(h.cancel);
        return h;
      }) as Engine['run'],
    };
  }

  // ---- the calls ----------------------------------------------------------------------------

  private makeHandlers(): Handlers {
    const h: Handlers = {
      'app.info': async () => this.info(),
      'app.setReviewer': async ({ name }) => {
        this.settings.reviewer = name;
        await this.saveSettings();
        return this.info();
      },
      'app.pickFolder': async ({ title }) => {
        if (!this.pickFolder) throw new KensaError('NOT_FOUND', 'no folder dialog in the browser: type the folder path');
        return { path: await this.pickFolder(title ?? 'Choose a folder') };
      },
      'app.downloadBackbone': async ({ id }) => {
        const manifest = loadManifest();
        const chosen = id ?? manifest.default.find((d) => manifest.backbones.some((b) => b.id === d && b.url)) ?? manifest.backbones.find((b) => b.url)?.id;
        if (!chosen) throw new KensaError('BACKBONE_NOT_FOUND', 'no backbone in the manifest can be downloaded: place an .onnx file in the models folder');
        await downloadBackbone(chosen);
        return this.info();
      },
      'app.showInFolder': async ({ path: target }) => {
        const p = this.need();
        const abs = path.resolve(p.dir, target);
        const rel = path.relative(p.dir, abs);
        if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
          throw new KensaError('INVALID_ARGUMENT', `only files inside the open project's folder can be shown (${p.dir})`, { file: abs });
        }
        // Symlinks must not lead out of the project either.
        let real: string;
        try {
          real = await realpath(abs);
        } catch {
          throw new KensaError('NOT_FOUND', `${abs} does not exist`, { file: abs });
        }
        const realRel = path.relative(await realpath(p.dir), real);
        if (realRel === '' || realRel.startsWith('..') || path.isAbsolute(realRel)) {
          throw new KensaError('INVALID_ARGUMENT', `only files inside the open project's folder can be shown (${p.dir})`, { file: abs });
        }
        if (!this.showInFolder) {
          return { shown: false, path: abs, message: `the browser cannot open a file manager: the file is at ${abs}` };
        }
        this.showInFolder(abs);
        return { shown: true, path: abs, message: null };
      },
      'projects.create': async ({ dir, name }) => {
        if (existsSync(path.join(path.resolve(dir), 'kensa.db'))) throw new KensaError('CONFLICT', `${path.resolve(dir)} already holds a Kensa project: open it instead`);
        return this.openProject(dir, name);
      },
      'projects.open': async ({ dir }) => this.openProject(dir),
      'projects.createDemo': async ({ dir }) => {
        const target = path.resolve(dir ?? path.join(this.configDir, 'sample-project'));
        if (existsSync(path.join(target, 'kensa.db'))) return this.openProject(target);
        const state = await this.openProject(target, 'Sample: machined washers');
        const layout = await writeDemoImages(target);
        const actor = this.settings.reviewer ?? 'kensa';
        await this.need().importImages([layout.trainDir], 'train', actor);
        await this.need().importImages([layout.inspectDir], 'inspect', actor);
        this.emitState();
        void state;
        return this.state();
      },
      'projects.state': async () => (this.project ? this.state() : null),
      'projects.close': async () => {
        if (this.job) throw new KensaError('CONFLICT', 'a job is running: cancel it first');
        this.project?.close();
        this.project = null;
        this.emitState();
        return null;
      },
      'projects.updateSettings': async ({ autoRefitAfter }) => {
        this.need().updateSettings({ autoRefitAfter }, this.reviewer());
        this.emitState();
        return this.state();
      },
      'regions.export': async () => {
        const p = this.need();
        const dir = path.join(p.dir, 'exports', `regions-${new Date().toISOString().replace(/[:.]/g, '-')}`);
        const r = await p.exportRegions(dir);
        return { dir, masks: r.masks.length, annotations: r.annotations };
      },
      'images.import': async ({ paths, role }) => {
        const r = await this.need().importImages(paths, role, this.settings.reviewer ?? 'kensa');
        this.emitState();
        return { added: r.added, existing: r.existing, errors: r.errors };
      },
      'images.upload': async ({ files, role }) => {
        const p = this.need();
        const dir = path.join(p.dir, 'imports', `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 6)}`);
        await mkdir(dir, { recursive: true });
        const written: string[] = [];
        for (const f of files) {
          const file = path.join(dir, f.name);
          await writeFile(file, Buffer.from(f.dataBase64, 'base64'));
          written.push(file);
        }
        const r = await p.importImages(written, role, this.settings.reviewer ?? 'kensa');
        this.emitState();
        return { added: r.added, existing: r.existing, errors: r.errors };
      },
      'images.get': async ({ imageId, maxSide }) => {
        const img = getImage(this.need().db, imageId);
        if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
        return this.encodeImage(this.need().abs(img.path), maxSide ?? 2048);
      },
      'images.thumbnail': async ({ imageId }) => {
        const p = this.need();
        const img = getImage(p.db, imageId);
        if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
        const cache = path.join(p.dir, 'thumbs', `${imageId}.jpg`);
        if (existsSync(cache)) {
          const buf = await readFile(cache);
          const meta = await sharp(buf).metadata();
          return { mime: 'image/jpeg', dataBase64: buf.toString('base64'), width: meta.width ?? 0, height: meta.height ?? 0, originalWidth: img.width, originalHeight: img.height };
        }
        const data = await this.encodeImage(p.abs(img.path), 160, 80);
        await mkdir(path.dirname(cache), { recursive: true });
        await writeFile(cache, Buffer.from(data.dataBase64, 'base64'));
        return data;
      },
      'images.map': async ({ imageId }) => {
        const p = this.need();
        const model = p.activeModel();
        if (!model) return null;
        const s = getScore(p.db, imageId, model.version);
        if (!s?.mapFile) return null;
        const cs = await this.colourScaleOf(model.version);
        const { map, width, height } = await readMapPng(p.abs(s.mapFile), mapScaleMax(cs.high));
        return { width, height, valuesBase64: Buffer.from(map.buffer, map.byteOffset, map.byteLength).toString('base64'), colourScale: cs, modelVersion: model.version };
      },
      'jobs.fit': async ({ backbone, coresetRatio, detector }) => {
        const p = this.need();
        const actor = this.settings.reviewer ?? 'kensa';
        return this.startJob('fit', async (handlers, setCancel) => {
          const m = await p.fit(
            this.cancellableEngine(setCancel),
            { ...(backbone ? { backbone } : {}), ...(detector ? { detector } : {}), ...(coresetRatio ? { config: { coreset: { ratio: coresetRatio } } } : {}) },
            actor,
            handlers,
          );
          this.lastEp = m.ep;
          await this.colourScaleOf(m.version);
          return { summary: `model v${m.version}: ${m.detector}${Object.values(m.facts).slice(0, 1).map((f) => `, ${f.label.toLowerCase()} ${f.value}${f.unit ? ` ${f.unit}` : ''}`).join('')}, fitted in ${(m.fitSeconds ?? 0).toFixed(1)} s on ${m.ep}` };
        });
      },
      'jobs.score': async () => {
        const p = this.need();
        return this.startJob('score', async (handlers, setCancel) => {
          const r = await p.score(this.cancellableEngine(setCancel), {}, handlers);
          const failed = r.failed.length > 0 ? `; ${r.failed.length} could not be scored (${r.failed[0]!.message})` : '';
          return { summary: `scored ${r.scored} parts with v${r.version} (${r.skipped} already scored)${failed}` };
        });
      },
      'jobs.refit': async () => {
        const p = this.need();
        const actor = this.reviewer();
        return this.startJob('refit', async (handlers, setCancel) => {
          const r = await p.refit(this.cancellableEngine(setCancel), actor, handlers);
          await this.colourScaleOf(r.model.version);
          return {
            summary: `model v${r.model.version}: ${r.model.addedImageIds.length} false alarms added to the bank; ${r.dropped.length} of ${r.flaggedBefore} flagged parts dropped below the threshold`,
            dropped: r.dropped.length,
          };
        });
      },
      'jobs.compare': async () => {
        const p = this.need();
        return this.startJob('compare', async (handlers, setCancel) => {
          const runs = await scoreReviewed(p, this.cancellableEngine(setCancel), handlers);
          const scored = runs.reduce((a, r) => a + r.scored, 0);
          return { summary: runs.length === 0 ? 'every version has scored the reviewed parts' : `scored ${scored} reviewed parts with ${runs.map((r) => `v${r.version}`).join(', ')}` };
        });
      },
      'models.compare': async () => compareVersions(this.need()),
      'jobs.learn': async () => {
        const p = this.need();
        const actor = this.reviewer();
        return this.startJob('learn', async (handlers, setCancel) => {
          const m = await learn(p, this.cancellableEngine(setCancel), actor, handlers);
          await this.colourScaleOf(m.version);
          const pv = await learnPreview(p, m.version);
          return {
            summary: `learning step v${m.version} ready to review: ${pv.dropped.length} flagged parts would drop below the threshold, ${pv.raised.length} would rise over it (not active until accepted)`,
            version: m.version,
          };
        });
      },
      'models.learnPreview': async ({ version }) => learnPreview(this.need(), version),
      'models.accept': async ({ version, reason }) => {
        if (this.job) throw new KensaError('CONFLICT', 'a job is running: wait for it before changing the active version');
        acceptVersion(this.need(), version, this.reviewer(), reason);
        await this.ensureColourScale();
        this.emitState();
        return this.state();
      },
      'models.propose': async () => propose(this.need()),
      'jobs.cancel': async ({ jobId }) => {
        if (!this.job || this.job.id !== jobId) throw new KensaError('NOT_FOUND', `no running job ${jobId}`);
        this.job.cancel();
        return null;
      },
      'review.queue': async ({ filter, after, limit }) => {
        const page = this.need().queuePage({ ...(filter ? { filter } : {}), ...(after ? { after } : {}), ...(limit ? { limit } : {}) });
        return { items: page.items.map((q) => this.entry(q)), next: page.next, counts: page.counts };
      },
      'review.part': async ({ imageId }) => {
        const p = this.need();
        const img = getImage(p.db, imageId);
        if (!img) throw new KensaError('NOT_FOUND', `no image with id ${imageId}`);
        const model = p.activeModel();
        return {
          entry: this.entryFor(imageId),
          format: img.format,
          bytes: img.bytes,
          sha256: img.sha256,
          modelVersion: model?.version ?? null,
          threshold: p.threshold()?.value ?? null,
          history: verdictHistory(p.db, imageId).map((v: Verdict) => ({
            id: v.id,
            action: v.action,
            verdict: v.verdict,
            defectType: v.defectType,
            comment: v.comment,
            reviewer: v.reviewer,
            createdAt: v.createdAt,
            modelVersion: v.modelVersion,
            threshold: v.threshold,
            scoreShown: v.scoreShown,
            regions: (v.regions as never) ?? null,
          })),
        };
      },
      'review.verdict': async (a) => {
        const p = this.need();
        p.verdict(
          {
            imageId: a.imageId,
            verdict: a.verdict,
            ...(a.defectType ? { defectType: a.defectType } : {}),
            ...(a.comment ? { comment: a.comment } : {}),
            ...(a.regions ? { regions: a.regions } : {}),
          },
          this.reviewer(),
        );
        this.maybeAutoRefit();
        this.emitState();
        return this.entryFor(a.imageId);
      },
      'review.undo': async ({ imageId }) => {
        this.need().undo(imageId, this.reviewer());
        this.emitState();
        return this.entryFor(imageId);
      },
      'threshold.set': async ({ value, reason, margin, marginKind, reviewUpper }) => {
        this.need().setThreshold(value, reason, this.reviewer(), {
          ...(margin != null && marginKind != null ? { margin, marginKind } : {}),
          ...(reviewUpper != null ? { reviewUpper } : {}),
        });
        this.emitState();
        return this.state();
      },
      'threshold.stats': async (a) => this.tuning(a),
      'report.export': async ({ format, from, to }) => {
        const p = this.need();
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const out = path.join(p.dir, 'exports', `audit-report-${stamp}.${format}`);
        const r = await exportReport(p, out, {
          kensaVersion: KENSA_VERSION,
          ...(from ? { from } : {}),
          ...(to ? { to } : {}),
          ...(this.printPdf ? { printPdf: this.printPdf } : {}),
        });
        const data = r.bytes <= 50 * 1024 * 1024 ? (await readFile(r.file)).toString('base64') : null;
        return { file: r.file, format: r.format, bytes: r.bytes, parts: r.parts, auditOk: r.auditOk, dataBase64: data };
      },
      'models.rollback': async ({ version, reason }) => {
        if (this.job) throw new KensaError('CONFLICT', 'a job is running: wait for it before rolling back');
        this.need().rollback(version, this.reviewer(), reason);
        await this.ensureColourScale();
        this.emitState();
        return this.state();
      },
    };
    return h;
  }

  /** The project setting `autoRefitAfter`: start a refit once enough good verdicts are pending. */
  private maybeAutoRefit(): void {
    const p = this.need();
    const n = p.settings().autoRefitAfter;
    if (n === null || this.job || p.pendingRefit().length < n) return;
    const active = p.activeModel();
    if (!active || !getDetector(active.detector).canRefit) return; // the Fit screen says why refit is unavailable
    // A refit that cannot start now is started by hand later; the verdict itself stands.
    this.handlers['jobs.refit']({}).catch(() => undefined);
  }

  private async tuning(a: ArgsOf<'threshold.stats'>): Promise<TuningData> {
    const p = this.need();
    const model = p.activeModel();
    // A learning step's own training parts are scored out-of-fold here, so the zero-miss
    // threshold is not set on scores the head was fitted to.
    const honest = model ? await outOfFoldScores(p, model.version) : null;
    const q = p
      .queue()
      .filter((x) => x.score !== null)
      .map((x) => ({ ...x, score: honest?.get(x.image.id) ?? x.score }));
    const inForce = p.threshold();
    const threshold = a.threshold ?? inForce?.value ?? Math.max(0, ...q.map((x) => x.score!));
    const parts = q.filter((x) => x.verdict?.verdict).map((x) => ({ score: x.score!, verdict: x.verdict!.verdict!, defectType: x.verdict!.defectType }));
    const unreviewedScores = q.filter((x) => !x.verdict?.verdict).map((x) => x.score!);
    const s = tuningStats(parts, threshold, {
      unreviewedScores,
      minDefects: p.settings().minDefectsForZeroMiss,
      ...(a.margin ? { margin: a.margin } : {}),
      ...(a.bins !== undefined ? { bins: a.bins } : {}),
      ...(a.log !== undefined ? { log: a.log } : {}),
    });
    const finite = (xs: number[]): (number | null)[] => xs.map((x) => (Number.isFinite(x) ? x : null));
    const zm = s.zeroMiss;
    const defectScores = parts.filter((x) => x.verdict === 'defect').map((x) => x.score);
    const bands = a.reject != null ? bandStats(parts, threshold, a.reject, { unreviewedScores }) : null;
    return {
      threshold,
      modelVersion: model?.version ?? null,
      reviewed: s.reviewed,
      defects: s.defects,
      goods: s.goods,
      confusion: s.confusion,
      recall: s.recall,
      precision: s.precision,
      falseAlarmRate: s.falseAlarmRate,
      goodPassed: s.goodPassed,
      reviewLoad: s.reviewLoad,
      byDefectType: s.byDefectType,
      roc: s.roc ? { fpr: s.roc.fpr, tpr: s.roc.tpr, thresholds: finite(s.roc.thresholds) } : null,
      pr: s.pr ? { precision: s.pr.precision, recall: s.pr.recall, thresholds: finite(s.pr.thresholds) } : null,
      auroc: s.auroc,
      histogram: s.histogram,
      zeroMiss:
        zm.status === 'no-defects'
          ? zm
          : {
              status: 'ok',
              raw: zm.raw,
              threshold: zm.threshold,
              margin: zm.margin,
              freeMargin: zm.freeMargin,
              marginUsed: zm.marginUsed,
              spread: zm.spread,
              pg0: zm.pg0,
              pg0Raw: zm.pg0Raw,
              weakestDefectScore: defectScores[zm.weakestDefect]!,
              marginToWeakest: zm.marginToWeakest,
              defects: zm.defects,
              goods: zm.goods,
              fewDefects: zm.fewDefects,
              minDefects: zm.minDefects,
              expectedMiss: zm.expectedMiss,
            },
      bands,
      history: thresholdHistory(p.db, model?.version ?? null).map((t) => ({
        value: t.value,
        reason: t.reason,
        setBy: t.setBy,
        createdAt: t.createdAt,
        modelVersion: t.modelVersion,
        reviewUpper: t.reviewUpper,
      })),
    };
  }

  private async info(): Promise<AppInfo> {
    const backbones: AppInfo['backbones'] = [];
    for (const b of loadManifest().backbones) {
      try {
        const r = await resolveBackbonePath(b.id);
        backbones.push({ id: b.id, file: r.file });
      } catch {
        // not on this machine
      }
    }
    const active = this.project?.activeModel();
    return {
      version: KENSA_VERSION,
      reviewer: this.settings.reviewer,
      ep: active?.ep ?? this.lastEp,
      recent: this.settings.recent,
      shell: this.shell,
      nativeBinding: this.sqlite.label,
      backbones,
      detectors: listDetectors().map((d) => ({ id: d.id, title: d.title, summary: d.summary, trains: d.trains, canRefit: d.canRefit })),
    };
  }
}

export async function createWorkstation(opts: WorkstationOptions): Promise<Workstation> {
  const w = new WorkstationImpl(opts);
  await w.init(opts.projectDir);
  return w;
}
