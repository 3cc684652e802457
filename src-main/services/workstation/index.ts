/**
 * The main side of the API contract (src-main/shared/api.ts): one object that owns the open
 * project, the engine worker and the running job, validates every call's arguments, runs it,
 * and answers with an envelope. Both transports (Electron IPC, the loopback web host) call
 * `call(method, args)` and forward `onEvent` — the same code serves the desktop app and the
 * headless/browser workstation. No electron import here.
 *
 * Layout: this file (lifecycle, dispatch, the context the handlers share), `settings.ts`
 * (the user's settings file), `job-runner.ts` (the one running job), `dto.ts` (records →
 * API shapes), `handlers/<namespace>.ts` (one module per API namespace).
 */
import { EngineClient } from '../../jobs/engine-client';
import type { ApiMethod, ApiResult, KensaEvent, ProjectState } from '../../shared/api';
import { API_METHODS } from '../../shared/api';
import { KensaError } from '../../shared/errors';
import type { OpenOptions } from '../../store/index';
import { ProjectService } from '../project-service';
import { validateArgs } from '../validate';
import type { Handlers, WorkstationContext } from './context';
import { projectState, toApiError } from './dto';
import { appHandlers } from './handlers/app';
import { imageHandlers } from './handlers/images';
import { jobHandlers } from './handlers/jobs';
import { modelHandlers } from './handlers/models';
import { projectHandlers } from './handlers/projects';
import { regionHandlers, reportHandlers } from './handlers/report';
import { reviewHandlers } from './handlers/review';
import { thresholdHandlers } from './handlers/threshold';
import { accountHandlers } from './handlers/accounts';
import { lineHandlers } from './handlers/line';
import { authorize, type Action } from '../accounts';
import { countActiveAccounts, releaseStationClaims, type Account } from '../../store/index';
import { stationHandlers } from './handlers/stations';
import { watchProject, type ProjectWatcher, type StationChange } from '../stations/watch';
import { storageHandlers } from './handlers/storage';
import { JobRunner } from './job-runner';
import { lineFigures, LineService, scorerLabel } from '../line/line-service';
import type { LineStatus } from '../../shared/line';
import { applyRetention } from '../storage';
import { configDirDefault, loadUserSettings, saveUserSettings, type UserSettings } from './settings';

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

class WorkstationImpl implements Workstation, WorkstationContext {
  project: ProjectService | null = null;
  readonly engine = new EngineClient();
  readonly jobs: JobRunner;
  settings: UserSettings = { reviewer: null, recent: [] };
  lastEp: string | null = null;
  signedIn: Account | null = null;

  readonly shell: 'electron' | 'browser';
  readonly configDir: string;
  readonly printPdf: ((html: string) => Promise<Uint8Array>) | undefined;
  readonly pickFolder: ((title: string) => Promise<string | null>) | undefined;
  readonly showInFolder: ((file: string) => void) | undefined;
  readonly sqliteLabel: string;
  private readonly sqlite: { nativeBinding?: string; label: string; missing?: string };
  private readonly listeners = new Set<(e: KensaEvent) => void>();
  private readonly handlers: Handlers;
  /** The line's own engine worker, so a fit or a score job never delays parts on the line. */
  private lineEngine: EngineClient | null = null;
  private line: LineService | null = null;
  private lineError: string | null = null;
  private stateTimer: NodeJS.Timeout | null = null;
  private retentionTimer: NodeJS.Timeout | null = null;
  private watcher: ProjectWatcher | null = null;
  /** Colour scales of loaded models (read once per version from the model file header). */
  private readonly colourScales = new Map<number, { low: number; high: number }>();

  constructor(opts: WorkstationOptions) {
    this.shell = opts.shell;
    this.configDir = opts.configDir ?? configDirDefault();
    this.printPdf = opts.printPdf;
    this.pickFolder = opts.pickFolder;
    this.showInFolder = opts.showInFolder;
    this.sqlite = opts.sqlite ?? { label: 'node' };
    this.sqliteLabel = this.sqlite.label;
    this.jobs = new JobRunner(this.engine, (e) => this.emit(e), () => {
      if (this.project) this.emitState();
    });
    this.handlers = {
      ...appHandlers(this),
      ...projectHandlers(this),
      ...imageHandlers(this),
      ...jobHandlers(this),
      ...modelHandlers(this),
      ...reviewHandlers(this),
      ...thresholdHandlers(this),
      ...reportHandlers(this),
      ...regionHandlers(this),
      ...lineHandlers(this),
      ...storageHandlers(this),
      ...accountHandlers(this),
      ...stationHandlers(this),
    };
  }

  async init(projectDir?: string): Promise<void> {
    this.settings = await loadUserSettings(this.configDir);
    if (projectDir) await this.openProject(projectDir);
  }

  // ---- dispatch -----------------------------------------------------------------------------

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

  handler<M extends ApiMethod>(method: M): Handlers[M] {
    return this.handlers[method];
  }

  onEvent(listener: (e: KensaEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(e: KensaEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        // A failing listener (a closed window or socket) must not break the others.
      }
    }
  }

  emitState(): void {
    this.emit({ topic: 'project', state: this.project ? this.state() : null });
  }

  async close(): Promise<void> {
    this.jobs.cancelAny();
    await this.stopLine();
    await this.lineEngine?.terminate();
    await this.engine.terminate();
    this.closeProject();
  }

  // ---- the context the handlers share -------------------------------------------------------

  need(): ProjectService {
    if (!this.project) throw new KensaError('NOT_FOUND', 'no project is open: create or open one first');
    return this.project;
  }

  reviewer(): string {
    if (!this.settings.reviewer) throw new KensaError('INVALID_ARGUMENT', 'choose a reviewer name first: every verdict records who gave it');
    return this.settings.reviewer;
  }

  actor(): string {
    return this.signedIn?.name ?? this.settings.reviewer ?? 'kensa';
  }

  authorize(action: Action, always = false): string {
    const p = this.need();
    const required = p.settings().requireSignIn;
    // Managing accounts needs an administrator once the project has any account.
    const check = required || (always && countActiveAccounts(p.db) > 0);
    return authorize(check, this.signedIn, action, () => this.reviewer());
  }

  saveSettings(): Promise<void> {
    return saveUserSettings(this.configDir, this.settings);
  }

  /** Options for opening the project database: the native build chosen by the app layer. */
  dbOptions(): OpenOptions {
    return {
      ...(this.sqlite.nativeBinding ? { nativeBinding: this.sqlite.nativeBinding } : {}),
      ...(this.sqlite.missing ? { nativeBindingHint: this.sqlite.missing } : {}),
    };
  }

  async openProject(dir: string, create?: string, store?: string): Promise<ProjectState> {
    this.jobs.assertIdle('wait for it or cancel it before switching projects');
    const next = create !== undefined ? await ProjectService.create(dir, create, this.actor(), this.dbOptions(), store) : ProjectService.open(dir, this.dbOptions());
    await this.stopLine();
    this.closeProject();
    this.project = next;
    this.watcher = watchProject(next.db, (c) => this.onStationChange(c));
    const name = this.state().name;
    this.settings.recent = [{ dir: next.dir, name, openedAt: new Date().toISOString() }, ...this.settings.recent.filter((r) => r.dir !== next.dir)].slice(0, 10);
    await this.saveSettings();
    await this.ensureColourScale();
    await this.startLine().catch(() => undefined); // the line view shows why it did not start
    this.scheduleRetention();
    this.emitState();
    return this.state();
  }

  closeProject(): void {
    if (this.line) throw new KensaError('CONFLICT', 'stop the line before closing the project');
    this.signedIn = null; // accounts belong to the project
    void this.watcher?.close();
    this.watcher = null;
    if (this.project) {
      try {
        releaseStationClaims(this.project.db, this.project.station); // the parts this station had open go back to the others
      } catch {
        // unreachable: the claims expire by themselves
      }
    }
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.retentionTimer = null;
    this.project?.close();
    this.project = null;
  }

  // ---- the line -----------------------------------------------------------------------------

  async startLine(): Promise<void> {
    const p = this.need();
    this.lineError = null;
    if (this.line || !p.settings().line.enabled) return;
    this.lineEngine ??= new EngineClient();
    const line = new LineService(p, {
      engine: this.lineEngine,
      actor: 'line',
      onResult: () => this.stateSoon(),
    });
    try {
      await line.start();
      this.line = line;
    } catch (e) {
      this.lineError = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  async stopLine(): Promise<void> {
    const line = this.line;
    this.line = null;
    await line?.stop();
  }

  lineStatus(): LineStatus {
    const p = this.need();
    if (this.line) return this.line.status();
    const settings = p.settings().line;
    // Off: the totals still show what came through the line before.
    return {
      state: this.lineError ? 'failed' : 'off',
      message: this.lineError ?? (settings.enabled ? null : 'the line is off'),
      station: settings.station,
      modelVersion: null,
      scorer: scorerLabel(settings),
      folders: [],
      inFlight: 0,
      maxInFlight: settings.maxInFlight,
      backPressure: false,
      ...lineFigures(p.db),
      sinks: [],
      quarantined: [],
    };
  }

  lineKick(): void {
    this.line?.kick();
  }

  feedMode(): 'notify' | 'poll' {
    return this.watcher?.mode() ?? 'poll';
  }

  /** A change from the feed: passed on at once (the renderer refreshes what shows it), the project state soon after. */
  private onStationChange(c: StationChange): void {
    this.emit({ topic: 'station', change: c });
    this.stateSoon();
  }

  /** Project state at most every 500 ms while line results come in. */
  private stateSoon(): void {
    if (this.stateTimer) return;
    this.stateTimer = setTimeout(() => {
      this.stateTimer = null;
      if (this.project) this.emitState();
    }, 500);
  }

  /** The retention policy runs at open and every hour while the project is open. */
  private scheduleRetention(): void {
    const run = (): void => {
      const p = this.project;
      if (p) void applyRetention(p).catch(() => undefined);
    };
    run();
    this.retentionTimer = setInterval(run, 3_600_000);
    this.retentionTimer.unref();
  }

  state(): ProjectState {
    const p = this.need();
    const active = p.activeModel();
    return projectState(p, active ? (this.colourScales.get(active.version) ?? null) : null, this.jobs.progress);
  }

  /** Loads the active model's colour scale into the cache (state() reads it synchronously). */
  async ensureColourScale(): Promise<void> {
    const active = this.project?.activeModel();
    if (active) await this.colourScaleOf(active.version).catch(() => undefined);
  }

  async colourScaleOf(version: number): Promise<{ low: number; high: number }> {
    let cs = this.colourScales.get(version);
    if (!cs) {
      const m = await this.need().loadModelFile(version);
      cs = m.header.stats.colourScale;
      this.colourScales.set(version, cs);
    }
    return cs;
  }
}

export async function createWorkstation(opts: WorkstationOptions): Promise<Workstation> {
  const w = new WorkstationImpl(opts);
  await w.init(opts.projectDir);
  return w;
}
