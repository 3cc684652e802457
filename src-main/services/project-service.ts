/**
 * One inspection project, its use-cases end to end: import parts, fit, score (resumable),
 * verdicts and undo, thresholds, refit from reviewed false alarms, rollback, audit check.
 *
 * A project is a folder:
 *   kensa.db                 the store (SQLite, WAL): images, models, scores, verdicts, audit
 *   models/v0001.kensa       model files, one per version, written atomically by the worker
 *   maps/v0001/<image>.png   raw anomaly maps (16-bit PNG, engine/imaging/mapfile)
 *
 * Heavy work goes to the engine worker (../jobs); this module only orchestrates and records.
 * A model version becomes active only after its file is complete and checksummed, so a crash
 * or cancel during a fit or refit leaves the previous model active and loadable.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { KensaError, isKensaError } from '../shared/errors';
import { KENSA_VERSION } from '../shared/version';
import { rasterize, toCoco, validateRegions } from './regions';
import { withStationLock, withStationLockSync } from './stations/locks';
import { defaultStationName, readSharedProject, writeSharedProject } from './stations/shared-project';
import { loadBackbone } from '../engine/backbone/backbone';
import { listImages as listImageFiles, loadImageFromBuffer, readImageFile } from '../engine/imaging/load';
import { loadModel } from '../engine/model-file';
import type { PartialInput } from '../engine/detectors/pipeline';
import { getDetector } from '../engine/detectors/registry';
import type { ModelHeaderDraft } from '../engine/model-types';
import type { EpRequest } from '../engine/ort/session';
import type { EngineClient, JobHandlers } from '../jobs/engine-client';

/** What the project needs of the engine: a way to run jobs (the worker client, or a wrapper). */
export type Engine = Pick<EngineClient, 'run'>;
import type { ScoreItem } from '../jobs/protocol';
import {
  confirmedVerdictIds,
  addImages,
  backupDb,
  beginModel,
  closeProjectDb,
  completeModel,
  countImages,
  currentThreshold,
  writeTx,
  projectFiles,
  isPgLocator,
  currentVerdict,
  currentVerdicts,
  failModel,
  getActiveModel,
  getImage,
  getModel,
  getScore,
  goodVerdictsSince,
  absorbedImages,
  initProject,
  listImages,
  listModels,
  openProjectDb,
  changeStamp,
  type OpenOptions,
  putScores,
  queueAll,
  queueCounts,
  queuePage,
  queueRow,
  readTx,
  type QueueCounts,
  type QueueCursor,
  type QueuePageOptions,
  type QueueScope,
  recordImportErrors,
  recordVerdict,
  requireProject,
  rollbackModel,
  scoresFor,
  setThreshold,
  updateSettings,
  undoVerdict,
  verifyAudit,
  type AuditVerification,
  type Db,
  type ImageRecord,
  type ImageRole,
  type ModelRecord,
  type NewImage,
  type ProjectSettings,
  type Threshold,
  type Verdict,
  type VerdictValue,
} from '../store/index';

export const DB_FILE = 'kensa.db';

/** Images added per write transaction by an import (see importImages). */
export const IMPORT_TX_ROWS = 500;

export interface ImportResult {
  batch: string;
  added: number;
  existing: number;
  ids: number[];
  errors: { path: string; code: string; message: string }[];
}

export interface FitRequest {
  /** Detector id (default patchcore). */
  detector?: string;
  backbone?: string;
  /** Shared input settings (size, blur, seed, …). */
  input?: PartialInput;
  /** The detector's own settings. */
  config?: Record<string, unknown>;
  ep?: EpRequest;
}

export interface ScoreRunResult {
  version: number;
  scored: number;
  failed: { imageId: number; path: string; code: string; message: string }[];
  /** Images already scored by this version (a resumed run skips them). */
  skipped: number;
}

export interface RefitResult {
  model: ModelRecord;
  /** Parts (inspect images) flagged under the parent version / under the new one, same threshold. */
  flaggedBefore: number;
  flaggedAfter: number;
  /** Image ids that were flagged before the refit and are not any more. */
  dropped: number[];
}

/**
 * What the project state shows after every verdict, kept between writes: reading it again
 * means counting every part (milliseconds at 100,000 parts, on every verdict). `stamp` is the
 * database's write stamp when it was read (or moved by a verdict of this service).
 */
interface Figures {
  stamp: string;
  scope: QueueScope;
  queue: QueueCounts;
  images: { train: number; inspect: number };
  /** goodVerdictsSince(active version), image id order. */
  pending: Verdict[];
  /** Images whose patches are already in the active version's bank (they never count as pending). */
  absorbed: Set<number>;
}

export interface QueueItem {
  image: ImageRecord;
  score: number | null;
  flagged: boolean;
  verdict: Verdict | null;
}

function sha256File(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const pad = (v: number): string => String(v).padStart(4, '0');

/** Files read and decoded at once during an import (sharp's thread pool has 4 threads by default). */
export const IMPORT_READ_AHEAD = 8;

/**
 * Runs `fn` over `items` with up to `ahead` calls in flight and yields the results in the
 * order of `items` (a call that finishes early waits for the ones before it). `fn` must not
 * reject: it returns its failure as a value, so one bad item cannot hide the others.
 */
export async function* inOrder<T, R>(items: readonly T[], ahead: number, fn: (item: T) => Promise<R>): AsyncGenerator<R> {
  if (!(Number.isInteger(ahead) && ahead >= 1)) throw new KensaError('INVALID_ARGUMENT', `read-ahead must be a positive integer, got ${String(ahead)}`);
  const pending: Promise<R>[] = [];
  let next = 0;
  while (next < items.length && pending.length < ahead) pending.push(fn(items[next++]!));
  while (pending.length > 0) {
    const r = await pending.shift()!;
    if (next < items.length) pending.push(fn(items[next++]!));
    yield r;
  }
}

/** Where a project's records and files are (ProjectService.storeInfo). */
export interface StoreInfo {
  engine: 'sqlite' | 'postgres';
  label: string;
  files: 'project-folder' | 'shared-folder';
}

export class ProjectService {
  /** The queue and image counts and the pending refit list, kept between writes (see figuresNow). */
  private figures: Figures | null = null;

  /** This station's name on claims and locks (services/stations). */
  station: string = defaultStationName();
  private store: StoreInfo | null = null;

  private constructor(
    readonly dir: string,
    readonly db: Db,
  ) {}

  /**
   * Creates the project folder and database (or opens an existing one with that name).
   * `store`: a postgres:// URL makes it a shared project (several stations): the records go
   * to that PostgreSQL schema and the folder gets kensa-project.json instead of kensa.db
   * (see stations/shared-project.ts); the folder must then be one every station can mount.
   */
  static async create(dir: string, name: string, actor: string, dbOptions: OpenOptions = {}, store?: string): Promise<ProjectService> {
    const abs = path.resolve(dir);
    await mkdir(abs, { recursive: true });
    if (store !== undefined && !isPgLocator(store)) throw new KensaError('INVALID_ARGUMENT', `a shared project's store must be a postgres:// URL, got ${store}`);
    if (store !== undefined && existsSync(path.join(abs, DB_FILE))) throw new KensaError('CONFLICT', `${abs} already holds a one-station project (${DB_FILE})`);
    const existing = readSharedProject(abs);
    const db = openProjectDb(existing?.store ?? store ?? path.join(abs, DB_FILE), dbOptions);
    try {
      initProject(db, name, actor);
      if (store !== undefined && !existing) {
        const files = projectFiles(db);
        await writeSharedProject(abs, { store, folderUid: files.folderUid, name });
      }
      if (existing) checkFolder(db, abs, existing.folderUid);
    } catch (e) {
      closeProjectDb(db);
      throw e;
    }
    return new ProjectService(abs, db);
  }

  /** `dbOptions`: e.g. the Electron build of better-sqlite3 (`nativeBinding`), from the app layer. */
  static open(dir: string, dbOptions: OpenOptions = {}): ProjectService {
    const abs = path.resolve(dir);
    const shared = readSharedProject(abs);
    const file = path.join(abs, DB_FILE);
    if (!shared && !existsSync(file)) throw new KensaError('NOT_FOUND', `${abs} is not a Kensa project (no ${DB_FILE})`, { file: abs });
    const db = openProjectDb(shared ? shared.store : file, dbOptions);
    try {
      requireProject(db);
      if (shared) checkFolder(db, abs, shared.folderUid);
    } catch (e) {
      closeProjectDb(db);
      throw e;
    }
    return new ProjectService(abs, db);
  }

  /** Where the store is: 'sqlite' (kensa.db here) or 'postgres' (a shared project), with a label for people. */
  storeInfo(): StoreInfo {
    // Fixed while the project is open (asked for on every stations.status): read once.
    if (!this.store) {
      const shared = readSharedProject(this.dir);
      const files = projectFiles(this.db).location;
      this.store = shared ? { engine: 'postgres', label: shared.store, files } : { engine: 'sqlite', label: path.join(this.dir, DB_FILE), files };
    }
    return { ...this.store };
  }

  close(): void {
    closeProjectDb(this.db);
  }

  // ---- paths --------------------------------------------------------------------------------

  /** Absolute path of a stored (project-relative or absolute) path. */
  abs(p: string): string {
    return path.isAbsolute(p) ? p : path.join(this.dir, p);
  }

  /** Stored form of a path: relative when inside the project folder. */
  private rel(p: string): string {
    const r = path.relative(this.dir, p);
    return r.startsWith('..') || path.isAbsolute(r) ? p : r.split(path.sep).join('/');
  }

  modelFile(version: number): string {
    return path.join('models', `v${pad(version)}.kensa`);
  }

  mapsDir(version: number): string {
    return path.join('maps', `v${pad(version)}`);
  }

  // ---- import -------------------------------------------------------------------------------

  /**
   * Imports image files and folders (recursively) for a role. Each file is fully decoded once
   * to prove it can be used; the ones that cannot are listed with a specific reason and the
   * rest are imported. Re-importing the same content is a no-op.
   */
  async importImages(inputs: string[], role: ImageRole, actor: string, onProgress?: (done: number, total: number) => void): Promise<ImportResult> {
    const batch = `${new Date().toISOString()}-${randomUUID().slice(0, 8)}`;
    const files: string[] = [];
    const errors: ImportResult['errors'] = [];
    for (const input of inputs) {
      const p = path.resolve(input);
      try {
        const s = await stat(p);
        if (s.isDirectory()) files.push(...(await listImageFiles(p, { recursive: true, onProblem: (x) => errors.push({ path: x.path, code: x.code, message: x.message }) })));
        else files.push(p);
      } catch (e) {
        if (isKensaError(e)) errors.push({ path: p, code: e.code, message: e.message });
        else errors.push({ path: p, code: 'IMAGE_NOT_FOUND', message: `not found: ${p}` });
      }
    }
    // Reading and decoding overlap (sharp decodes on libuv threads): IMPORT_READ_AHEAD files in
    // flight, results taken in file order, so rows and errors come out as a sequential loop's.
    const rows: NewImage[] = [];
    let done = 0;
    for await (const r of inOrder(files, IMPORT_READ_AHEAD, (file) => this.checkImage(file, role))) {
      if ('row' in r) rows.push(r.row);
      else errors.push(r.error);
      onProgress?.(++done, files.length);
    }
    // In transactions of IMPORT_TX_ROWS: each holds the project's write lock, and on a shared
    // project the other stations' verdicts wait for it (an import is idempotent, so one cut
    // short is finished by importing the same files again).
    const r = { added: 0, existing: 0, ids: [] as number[] };
    for (let i = 0; i < rows.length || i === 0; i += IMPORT_TX_ROWS) {
      const part = addImages(this.db, batch, rows.slice(i, i + IMPORT_TX_ROWS), actor);
      r.added += part.added;
      r.existing += part.existing;
      r.ids.push(...part.ids);
    }
    if (errors.length > 0) recordImportErrors(this.db, batch, errors);
    return { batch, added: r.added, existing: r.existing, ids: r.ids, errors };
  }

  /** Reads and fully decodes one file for an import: its row, or why it cannot be imported. */
  private async checkImage(file: string, role: ImageRole): Promise<{ row: NewImage } | { error: ImportResult['errors'][number] }> {
    try {
      const bytes = await readImageFile(file);
      const img = await loadImageFromBuffer(bytes, file, { width: 32, height: 32 });
      return { row: { path: this.rel(file), sha256: sha256File(bytes), bytes: bytes.length, width: img.info.width, height: img.info.height, format: img.info.format, role } };
    } catch (e) {
      const err = isKensaError(e) ? e : new KensaError('IMAGE_UNREADABLE', `cannot read ${file}: ${(e as Error).message}`, { file });
      return { error: { path: file, code: err.code, message: err.message } };
    }
  }

  // ---- models -------------------------------------------------------------------------------

  activeModel(): ModelRecord | null {
    return getActiveModel(this.db);
  }

  models(): ModelRecord[] {
    return listModels(this.db);
  }

  /** Fits a model on every 'train' image; the new version becomes active when complete. */
  /** Fits a new version, under the project's 'refit' lock (one model change at a time across stations). */
  async fit(engine: Engine, req: FitRequest, actor: string, handlers: JobHandlers = {}): Promise<ModelRecord> {
    return withStationLock(this.db, 'refit', { station: this.station, reviewer: actor }, `fit (${req.detector ?? 'patchcore'})`, () => this.fitUnderLock(engine, req, actor, handlers));
  }

  private async fitUnderLock(engine: Engine, req: FitRequest, actor: string, handlers: JobHandlers): Promise<ModelRecord> {
    const train = listImages(this.db, { role: 'train' });
    if (train.length === 0) throw new KensaError('NO_IMAGES', 'no training images imported: import good parts as training images first');
    const detector = getDetector(req.detector ?? 'patchcore');
    detector.resolveConfig(req.config); // bad settings fail before a version is begun
    const backbone = await loadBackbone(req.backbone);
    const model = beginModel(
      this.db,
      { kind: 'fit', detector: detector.id, backboneId: backbone.id, backboneSha256: backbone.sha256, config: { ...(req.input ?? {}), ...(req.config ?? {}) } as Record<string, unknown> },
      actor,
    );
    const out = this.modelFile(model.version);
    try {
      await mkdir(path.join(this.dir, 'models'), { recursive: true });
      const r = await engine.run(
        {
          kind: 'fit',
          files: train.map((i) => this.abs(i.path)),
          out: this.abs(out),
          backbone: backbone.file,
          baseDir: this.dir,
          detector: detector.id,
          ...(req.input ? { input: req.input } : {}),
          ...(req.config ? { config: req.config } : {}),
          ...(req.ep ? { ep: req.ep } : {}),
        },
        handlers,
      ).result;
      const done = await this.complete(model.version, out, r.header, r.header.fit.seconds, actor);
      // A first model gets a starting threshold so the queue is usable at once; it is an
      // ordinary audited threshold version that the reviewer will replace when tuning.
      if (currentThreshold(this.db, model.version) === null) {
        const s = r.header.stats;
        if (s.imageScores.length > 0) {
          setThreshold(this.db, {
            modelVersion: model.version,
            value: s.imageScore.mean + s.imageScore.std,
            setBy: actor,
            reason: `initial threshold after the first fit: mean + 1σ of ${s.images} held-out good parts (no defects reviewed yet)`,
          });
        }
      }
      return done;
    } catch (e) {
      failModel(this.db, model.version, isKensaError(e) ? `${e.code}: ${e.message}` : String(e));
      throw e;
    }
  }

  /** Records a finished model file as the ready version (facts from its detector). */
  async complete(version: number, out: string, header: ModelHeaderDraft, seconds: number, actor: string): Promise<ModelRecord> {
    const bytes = await readFile(this.abs(out));
    const facts: Record<string, { label: string; value: number | string; unit?: string }> = Object.fromEntries(
      getDetector(header.detector).facts({ ...header, sections: [] }).map(({ key, ...f }) => [key, f]),
    );
    const r = header.review;
    if (r) {
      facts.review = { label: 'Learned from review', value: `${r.defects} defects, ${r.goods} good parts (weight ${r.weight.toFixed(2)})` };
    }
    const bankSize = header.detector === 'patchcore' ? Number(header.state.bankSize) : null;
    return completeModel(this.db, version, { modelFile: out.split(path.sep).join('/'), modelSha256: sha256File(bytes), facts, bankSize, fitSeconds: seconds, ep: header.fit.ep }, actor);
  }

  /** Loads a version's model file, checking it is the file the store recorded. */
  async loadModelFile(version: number): Promise<Awaited<ReturnType<typeof loadModel>>> {
    const m = getModel(this.db, version);
    if (!m || m.status !== 'ready' || !m.modelFile) throw new KensaError('NOT_FOUND', `model version ${version} is not a ready model`);
    const file = this.abs(m.modelFile);
    const bytes = await readFile(file).catch(() => {
      throw new KensaError('MODEL_NOT_FOUND', `model file of version ${version} is missing: ${file}`, { file });
    });
    if (sha256File(bytes) !== m.modelSha256) throw new KensaError('MODEL_INVALID', `model file ${file} does not match the checksum recorded for version ${version}`, { file });
    return loadModel(file);
  }

  rollback(version: number, actor: string, reason: string): ModelRecord {
    return rollbackModel(this.db, version, actor, reason);
  }

  // ---- scoring ------------------------------------------------------------------------------

  /**
   * Scores the 'inspect' images with a version (default: the active one). Resumable: images
   * that already have a score from this version are skipped unless `rescore`.
   */
  async score(engine: Engine, opts: { version?: number; rescore?: boolean; imageIds?: number[] } = {}, handlers: JobHandlers = {}): Promise<ScoreRunResult> {
    const model = opts.version !== undefined ? getModel(this.db, opts.version) : getActiveModel(this.db);
    if (!model || model.status !== 'ready' || !model.modelFile) throw new KensaError('NOT_FOUND', 'no ready model to score with: fit one first');
    const loaded = await this.loadModelFile(model.version);
    const done = new Set(opts.rescore ? [] : scoresFor(this.db, model.version).map((s) => s.imageId));
    let images = listImages(this.db, { role: 'inspect' });
    if (opts.imageIds) {
      const want = new Set(opts.imageIds);
      images = images.filter((i) => want.has(i.id));
    }
    const todo = images.filter((i) => !done.has(i.id));
    const result: ScoreRunResult = { version: model.version, scored: 0, failed: [], skipped: images.length - todo.length };
    if (todo.length === 0) return result;
    const byFile = new Map(todo.map((i) => [this.abs(i.path), i]));
    const mapsDir = this.mapsDir(model.version);
    const pending: { imageId: number; score: number; maxPatchScore: number; mapFile: string | null }[] = [];
    const flush = (): void => {
      if (pending.length === 0) return;
      putScores(this.db, model.version, pending.splice(0));
    };
    const onItem = (item: ScoreItem): void => {
      const img = byFile.get(item.file);
      handlers.onItem?.(item);
      if (!img) return;
      if (!item.ok) {
        result.failed.push({ imageId: img.id, path: img.path, code: item.error.code, message: item.error.message });
        return;
      }
      if (item.sha256 !== img.sha256) {
        result.failed.push({ imageId: img.id, path: img.path, code: 'CONFLICT', message: `${item.file} changed since it was imported (content differs): re-import it` });
        return;
      }
      pending.push({ imageId: img.id, score: item.score, maxPatchScore: item.maxPatchScore, mapFile: item.map ? path.join(mapsDir, item.map).split(path.sep).join('/') : null });
      result.scored += 1;
      if (pending.length >= 16) flush();
    };
    try {
      await engine.run(
        {
          kind: 'score',
          model: loaded.file,
          files: [...byFile.keys()],
          maps: { dir: this.abs(mapsDir), names: todo.map((i) => `${i.id}.png`), max: mapScaleMax(loaded.header.stats.colourScale.high) },
        },
        { ...(handlers.onProgress ? { onProgress: handlers.onProgress } : {}), onItem },
      ).result;
    } finally {
      flush(); // what was scored before a cancel or a crash of the worker is kept (resume)
    }
    return result;
  }

  // ---- review -------------------------------------------------------------------------------

  threshold(version?: number | null): Threshold | null {
    const v = version === undefined ? (getActiveModel(this.db)?.version ?? null) : version;
    return currentThreshold(this.db, v) ?? currentThreshold(this.db, null);
  }

  /**
   * Sets the threshold in force, under the project's 'threshold' lock. `basedOn` (the id of
   * the threshold the person tuned against; null: none was in force) refuses the change with
   * CONFLICT when another station set a threshold in the meantime, naming who and what, so
   * that nobody overwrites a change they never saw.
   */
  setThreshold(
    value: number,
    reason: string,
    actor: string,
    extra: { margin?: number; marginKind?: 'absolute' | 'spread'; reviewUpper?: number } = {},
    basedOn?: number | null,
  ): Threshold {
    return withStationLockSync(this.db, 'threshold', { station: this.station, reviewer: actor }, 'threshold change', () =>
      writeTx(this.db, () => {
        const version = getActiveModel(this.db)?.version ?? null;
        if (basedOn !== undefined) {
          const now = this.threshold(version);
          if ((now?.id ?? null) !== basedOn) {
            throw new KensaError(
              'CONFLICT',
              now
                ? `${now.setBy} set the threshold to ${now.value} at ${now.createdAt} while you were tuning ("${now.reason}"): look at it before changing it again`
                : 'the threshold you tuned against has been replaced: look at the one in force before changing it',
            );
          }
        }
        return setThreshold(this.db, { modelVersion: version, value, setBy: actor, reason, ...extra });
      }),
    );
  }

  /** What orders and flags the queue: the active model's scores and the threshold in force. */
  queueScope(): QueueScope {
    return { modelVersion: getActiveModel(this.db)?.version ?? null, threshold: this.threshold()?.value ?? null };
  }

  /**
   * The WHOLE review queue under the active model (inspect images with score, flag and
   * verdict; score desc, unscored last, then id): for reports, tuning and benches inside
   * main. The API serves it a page at a time (queuePage).
   */
  queue(): QueueItem[] {
    return readTx(this.db, () => queueAll(this.db, this.queueScope()));
  }

  /** One page of the queue (keyset on (score, id): see store/queue.ts for the rule it keeps). */
  queuePage(opts: QueuePageOptions = {}): { items: QueueItem[]; next: QueueCursor | null; counts: QueueCounts } {
    return readTx(this.db, () => {
      const f = this.figuresNow();
      return { ...queuePage(this.db, f.scope, opts), counts: { ...f.queue } };
    });
  }

  /** How many parts each queue filter holds (from the figures kept between writes). */
  queueCounts(): QueueCounts {
    return { ...this.figuresNow().queue };
  }

  /** Every connection's writes as one value (any process, any station): see store changeStamp. */
  private writeStamp(): string {
    return changeStamp(this.db);
  }

  /**
   * The queue counts, image counts and pending refit list, read again only when the database
   * has changed since they were read (any write by any connection); see `Figures`.
   */
  private figuresNow(): Figures {
    return readTx(this.db, () => {
      const stamp = this.writeStamp();
      if (this.figures && this.figures.stamp === stamp) return this.figures;
      const scope = this.queueScope();
      const model = getActiveModel(this.db);
      this.figures = {
        stamp,
        scope,
        queue: queueCounts(this.db, scope),
        images: { train: countImages(this.db, 'train'), inspect: countImages(this.db, 'inspect') },
        pending: model ? goodVerdictsSince(this.db, model.version) : [],
        absorbed: model ? absorbedImages(this.db, model.version) : new Set(),
      };
      return this.figures;
    });
  }

  /**
   * Records a verdict-table write (`write` returns the image's new latest verdict row) and
   * moves the kept figures by what it changed: the image's current verdict went from `before`
   * to the new one. When anything else was written since the figures were read, they are
   * simply read again next time.
   */
  private afterVerdictWrite(imageId: number, write: () => Verdict): Verdict {
    // Both stamps are read inside the write transaction, under the project's write lock: no
    // other connection (another process, another station) can commit between them, so the
    // figures are moved only when they were current at the start, and then they are current
    // after it. (Reading them outside the lock, another station's commit in between would
    // be folded into "our" stamp and its change never counted.)
    const seen: { f: Figures | null; before: VerdictValue | null; post: string } = { f: null, before: null, post: '' };
    const row = writeTx(this.db, () => {
      const pre = this.writeStamp();
      seen.f = this.figures && this.figures.stamp === pre ? this.figures : null;
      seen.before = seen.f ? (currentVerdict(this.db, imageId)?.verdict ?? null) : null;
      const r = write();
      seen.post = this.writeStamp();
      return r;
    });
    const { f, before, post } = seen;
    if (!f) return row;
    const after = row.verdict;
    const inspect = getImage(this.db, imageId)?.role === 'inspect';
    if (inspect && before !== after) {
      const q = f.queue;
      const move = (v: VerdictValue | null, by: number): void => {
        if (v === null) q.unreviewed += by;
        else q[v] += by;
      };
      move(before, -1);
      move(after, +1);
    }
    const pending = f.pending.filter((p) => p.imageId !== imageId);
    if (row.verdict === 'good' && row.scoreShown !== null && row.threshold !== null && row.scoreShown >= row.threshold && !f.absorbed.has(imageId)) {
      const at = pending.findIndex((p) => p.imageId > imageId);
      pending.splice(at < 0 ? pending.length : at, 0, row);
    }
    f.pending = pending;
    f.stamp = post;
    return row;
  }

  /** One part as the queue shows it, or null when no inspect image has that id. */
  queueItem(imageId: number): QueueItem | null {
    return queueRow(this.db, this.queueScope(), imageId);
  }

  /** Records a verdict with the context the reviewer saw: active model, its score, the threshold. */
  verdict(v: { imageId: number; verdict: VerdictValue; defectType?: string | null; regions?: unknown; comment?: string | null }, reviewer: string): Verdict {
    if (!getImage(this.db, v.imageId)) throw new KensaError('NOT_FOUND', `no image with id ${v.imageId}`);
    const regions = v.regions === undefined || v.regions === null ? null : validateRegions(v.regions);
    if (regions && v.verdict !== 'defect') throw new KensaError('INVALID_ARGUMENT', 'regions can only be marked on a defect verdict');
    const model = getActiveModel(this.db);
    const score = model ? getScore(this.db, v.imageId, model.version) : null;
    const threshold = this.threshold()?.value ?? null;
    return this.afterVerdictWrite(v.imageId, () =>
      recordVerdict(this.db, {
        ...v,
        regions,
        reviewer,
        modelVersion: model?.version ?? null,
        threshold,
        scoreShown: score?.score ?? null,
      }),
    );
  }

  undo(imageId: number, reviewer: string): Verdict {
    return this.afterVerdictWrite(imageId, () => undoVerdict(this.db, imageId, reviewer));
  }

  currentVerdict(imageId: number): Verdict | null {
    return currentVerdict(this.db, imageId);
  }

  /** Good verdicts on flagged parts whose patches are not yet in the active model's bank. */
  pendingRefit(): Verdict[] {
    const pending = [...this.figuresNow().pending];
    if (!this.settings().fourEyes) return pending;
    // Four eyes: only good verdicts a second reviewer confirmed go into the bank.
    const confirmed = confirmedVerdictIds(this.db);
    return pending.filter((v) => confirmed.has(v.id));
  }

  // ---- refit --------------------------------------------------------------------------------

  /**
   * Adds the patches of the reviewed false alarms to the active model's bank (a new version),
   * makes it active, carries the threshold over, rescores the inspect images and reports how
   * many flagged parts dropped below the threshold.
   */
  async refit(engine: Engine, actor: string, handlers: JobHandlers = {}): Promise<RefitResult> {
    const parent = getActiveModel(this.db);
    return withStationLock(this.db, 'refit', { station: this.station, reviewer: actor }, `refit of v${parent?.version ?? '?'}`, () => this.refitUnderLock(engine, actor, handlers));
  }

  private async refitUnderLock(engine: Engine, actor: string, handlers: JobHandlers): Promise<RefitResult> {
    const parent = getActiveModel(this.db);
    if (!parent) throw new KensaError('NOT_FOUND', 'no active model to refit');
    const detector = getDetector(parent.detector);
    if (!detector.canRefit) {
      throw new KensaError('REFIT_UNSUPPORTED', `the active model v${parent.version} is ${detector.title}, which cannot take reviewed parts in a refit: fit a new version, or make a PatchCore version active`);
    }
    const pending = this.pendingRefit();
    if (pending.length === 0) throw new KensaError('CONFLICT', 'no new good verdicts on flagged parts: nothing to refit');
    const parentFile = await this.loadModelFile(parent.version);
    backupDb(this.db, path.join(this.dir, DB_FILE), `before-refit-of-v${parent.version}`);
    const images = pending.map((v) => getImage(this.db, v.imageId)!);
    const t = this.threshold(parent.version);
    const flaggedBefore = new Set(scoresFor(this.db, parent.version).filter((s) => t !== null && s.score >= t.value).map((s) => s.imageId));
    const model = beginModel(
      this.db,
      { kind: 'refit', parentVersion: parent.version, detector: parent.detector, backboneId: parent.backboneId, backboneSha256: parent.backboneSha256, config: parent.config as Record<string, unknown>, addedImageIds: images.map((i) => i.id), verdictIds: pending.map((v) => v.id) },
      actor,
    );
    const out = this.modelFile(model.version);
    let done: ModelRecord;
    try {
      const r = await engine.run({ kind: 'refit', model: parentFile.file, files: images.map((i) => this.abs(i.path)), out: this.abs(out), baseDir: this.dir }, handlers).result;
      if (r.skipped.length > 0) throw new KensaError('IMAGE_UNREADABLE', `refit could not read ${r.skipped.map((s) => s.file).join(', ')}: ${r.skipped[0]!.error.message}`);
      done = await this.complete(model.version, out, r.header, r.header.refit?.seconds ?? r.header.fit.seconds, actor);
    } catch (e) {
      failModel(this.db, model.version, isKensaError(e) ? `${e.code}: ${e.message}` : String(e));
      throw e;
    }
    if (t !== null) {
      setThreshold(this.db, {
        modelVersion: done.version,
        value: t.value,
        ...(t.margin !== null ? { margin: t.margin } : {}),
        ...(t.marginKind !== null ? { marginKind: t.marginKind } : {}),
        ...(t.reviewUpper !== null ? { reviewUpper: t.reviewUpper } : {}),
        setBy: actor,
        reason: `carried over from v${parent.version} on refit v${done.version} (same feature space, same units)`,
      });
    }
    await this.score(engine, { version: done.version }, handlers);
    const after = new Set(scoresFor(this.db, done.version).filter((s) => t !== null && s.score >= t.value).map((s) => s.imageId));
    return { model: done, flaggedBefore: flaggedBefore.size, flaggedAfter: after.size, dropped: [...flaggedBefore].filter((id) => !after.has(id)) };
  }

  settings(): ProjectSettings {
    return requireProject(this.db).settings;
  }

  updateSettings(patch: Partial<ProjectSettings>, actor: string): ProjectSettings {
    return updateSettings(this.db, patch, actor).settings;
  }

  // ---- region export ------------------------------------------------------------------------

  /**
   * Exports the marked defect regions of every part whose current verdict is 'defect': a PNG
   * mask per part (`masks/<image id>_<name>_mask.png`, 255 = defect, the image's size) and
   * `coco.json` (COCO instances, category = defect type). Returns what was written.
   */
  async exportRegions(outDir: string): Promise<{ masks: string[]; coco: string; annotations: number }> {
    const masksDir = path.join(outDir, 'masks');
    await mkdir(masksDir, { recursive: true });
    const parts: Parameters<typeof toCoco>[0] = [];
    const masks: string[] = [];
    for (const v of currentVerdicts(this.db).values()) {
      if (v.verdict !== 'defect' || v.regions === null) continue;
      const img = getImage(this.db, v.imageId)!;
      const set = validateRegions(v.regions);
      const mask = rasterize(set);
      const png = Buffer.from(mask.map((m) => (m ? 255 : 0)));
      const name = `${img.id}_${path.basename(img.path, path.extname(img.path))}_mask.png`;
      await sharp(png, { raw: { width: set.width, height: set.height, channels: 1 } }).png().toFile(path.join(masksDir, name));
      masks.push(name);
      parts.push({ imageId: img.id, fileName: img.path, defectType: v.defectType, regions: set });
    }
    const coco = toCoco(parts, { description: `Kensa defect regions: ${requireProject(this.db).name}`, version: KENSA_VERSION, date: new Date().toISOString() });
    const cocoFile = path.join(outDir, 'coco.json');
    await writeFile(cocoFile, `${JSON.stringify(coco, null, 2)}\n`);
    return { masks: masks.sort(), coco: cocoFile, annotations: coco.annotations.length };
  }

  // ---- audit --------------------------------------------------------------------------------

  verifyAudit(): AuditVerification {
    return verifyAudit(this.db);
  }

  counts(): { train: number; inspect: number } {
    return { ...this.figuresNow().images };
  }
}

/** The top of the stored map scale for a model: twice its heatmap colour scale's hot end. */
export function mapScaleMax(colourHigh: number): number {
  return Math.max(1e-6, 2 * colourHigh);
}

/** A shared project's folder must be the one its database was made with (folder_uid). */
function checkFolder(db: Db, dir: string, folderUid: string): void {
  const files = projectFiles(db);
  if (files.location !== 'shared-folder' || files.folderUid !== folderUid) {
    throw new KensaError(
      'CONFLICT',
      `${dir} does not belong to this project's database: its kensa-project.json names folder ${folderUid.slice(0, 8)}…, the database records ${files.location} ${files.folderUid.slice(0, 8)}…`,
      { file: dir },
    );
  }
}
