/**
 * The line service: parts from watched folders → scored as they arrive → results back to the
 * line. One per open project, started when the project's line settings say so and a model is
 * active.
 *
 * A part's way, and where it is after a crash at any point:
 *   1. watched folder → inbox (intake.ts: a rename; the inbox name keeps the arrival facts).
 *      Crash: the file is in the watched folder or in the inbox, never both, never neither.
 *   2. inbox: read (twice-checked: size and mtime must not change while it is read), sha256,
 *      decoded once to prove it is an image. A bad file goes to the quarantine folder with a
 *      `.error.json` beside it and an import error in the database; a file whose content is
 *      already a part goes there too, naming that part (never a silent skip).
 *   3. transaction 1: the image row + its line_parts row (store addLinePart), with its final
 *      path under parts/<day>/; then the inbox file is renamed to that path.
 *      Crash before the rename: on restart the inbox file's content is found as a line part
 *      whose file is missing, and is moved into place (not a new part, not scored twice).
 *   4. scored by the engine's stream job (a worker thread with the model loaded once).
 *   5. transaction 2: score + result + outbox row (store commitLineResult). A part with a
 *      result is never scored again; one without (a crash during 4) is scored at restart.
 *   6. the publisher sends the outbox to the sinks (publisher.ts), each at its own pace.
 *
 * Back-pressure: at most `maxInFlight` parts are between steps 1 and 5; the rest wait in the
 * watched folder, where the line can see them pile up; the status says so.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isKensaError, KensaError } from '../../shared/errors';
import type { LineSettings, LineStatus } from '../../shared/line';
import { loadImage, loadImageFromBuffer, type ResizeMode } from '../../engine/imaging/load';
import { writeMapPng } from '../../engine/imaging/mapfile';
import { metadata as oipMetadata, infer as oipInfer } from '../serve/oip-client';
import type { EngineClient } from '../../jobs/engine-client';
import type { ScoreItem, StreamItem } from '../../jobs/protocol';
import {
  addLinePart,
  commitLineResult,
  findImageBySha256,
  lastOutboxSeq,
  type Db,
  lineTotals,
  lineWindowStats,
  recordImportErrors,
  unscoredLineParts,
} from '../../store/index';
import { mapScaleMax, type ProjectService } from '../project-service';
import { Intake, parseInboxName, type ClaimedFile } from './intake';
import { Publisher } from './publisher';
import { createSinks } from './sinks/index';
import type { ResultSink } from './types';

interface Fed {
  imageId: number;
  file: string;
  version: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface LineServiceOptions {
  /** A separate engine client (its own worker thread), so a fit never delays the line. */
  engine: EngineClient;
  actor?: string;
  /** Extra sinks (tests); the project's enabled sinks are always made from its settings. */
  sinks?: ResultSink[];
  pollMs?: number;
  /** Called after each result is committed (the workstation refreshes counts). */
  onResult?: () => void;
}

export type { LineStatus };

export class LineService {
  private state: LineStatus['state'] = 'off';
  private message: string | null = null;
  private intake: Intake | null = null;
  private publisher: Publisher | null = null;
  private stream: ReturnType<EngineClient['stream']> | null = null;
  private streamVersion: number | null = null;
  private fifo: Fed[] = [];
  private readonly fedIds = new Set<number>();
  /** Claimed files waiting for step 2, in claim order (one at a time keeps arrival order). */
  private readonly prepQueue: ClaimedFile[] = [];
  private prepping = false;
  private inFlight = 0;
  private readonly quarantined: LineStatus['quarantined'] = [];
  private modelTimer: NodeJS.Timeout | null = null;
  /** The remote scorer (settings.scorer 'oip') once its model is known to be one of this project's versions. */
  private remote: { url: string; model: string; token: string | null; width: number; height: number; resize: ResizeMode; version: number; max: number } | null = null;
  private remoteChain: Promise<void> = Promise.resolve();
  private readonly settings: LineSettings;
  private readonly actor: string;

  constructor(
    private readonly p: ProjectService,
    private readonly o: LineServiceOptions,
  ) {
    this.settings = p.settings().line;
    this.actor = o.actor ?? 'line';
  }

  get inboxDir(): string {
    return path.join(this.p.dir, 'line', 'inbox');
  }

  private get quarantineDir(): string {
    return path.resolve(this.p.dir, this.settings.quarantineDir);
  }

  async start(): Promise<void> {
    if (this.state !== 'off' && this.state !== 'failed') return;
    this.state = 'starting';
    try {
      this.publisher = new Publisher(this.p.db, this.settings.station, [...createSinks({ projectDir: this.p.dir, station: this.settings.station, settings: this.settings.outputs }), ...(this.o.sinks ?? [])]);
      await this.publisher.start();
      this.intake = new Intake({
        projectDir: this.p.dir,
        inboxDir: this.inboxDir,
        folders: this.settings.folders,
        exclude: [this.quarantineDir],
        capacity: () => (this.streamVersion === null ? 0 : this.settings.maxInFlight - this.inFlight),
        onClaim: (c) => this.claimed(c),
        onError: (file, message) => this.note(file, 'IMAGE_UNREADABLE', message),
        ...(this.o.pollMs === undefined ? {} : { pollMs: this.o.pollMs }),
      });
      await this.checkModel();
      await this.recover();
      await this.intake.start();
      this.modelTimer = setInterval(() => void this.checkModel(), 1000);
    } catch (e) {
      this.state = 'failed';
      this.message = e instanceof Error ? e.message : String(e);
      await this.stop().catch(() => undefined);
      this.state = 'failed';
      throw e;
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'off') return;
    this.state = 'stopping';
    if (this.modelTimer) clearInterval(this.modelTimer);
    this.modelTimer = null;
    this.intake?.stop();
    const s = this.stream;
    this.stream = null;
    this.streamVersion = null;
    this.remote = null;
    if (s) {
      s.cancel();
      await s.result.catch(() => undefined);
    }
    await this.remoteChain.catch(() => undefined);
    await this.publisher?.stop();
    this.publisher = null;
    this.fifo = [];
    this.fedIds.clear();
    this.inFlight = 0;
    this.state = 'off';
  }

  /** Waits until every result so far has been delivered by every sink (tests, benches). */
  async drained(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.inFlight > 0 || this.prepQueue.length > 0 || this.prepping) {
      if (Date.now() > end) return false;
      await sleep(10);
    }
    const seq = lastOutboxSeq(this.p.db);
    return this.publisher ? this.publisher.drained(seq, Math.max(0, end - Date.now())) : true;
  }

  /** A new outbox row (a verdict on a line part): let the sinks know. */
  kick(): void {
    this.publisher?.kick(lastOutboxSeq(this.p.db));
  }

  // ---- the model ----------------------------------------------------------------------------

  /** Opens (or reopens) the stream job for the active model; without one the line waits. */
  private async checkModel(): Promise<void> {
    if (this.state === 'stopping' || this.state === 'off') return;
    if (this.settings.scorer.kind === 'oip') return this.checkRemote();
    const active = this.p.activeModel();
    if (!active || active.status !== 'ready' || !active.modelFile) {
      if (this.state !== 'waiting-for-model') {
        this.state = 'waiting-for-model';
        this.message = 'no active model: parts wait in the watched folders until one is fitted';
      }
      return;
    }
    if (this.streamVersion === active.version && this.stream) {
      if (this.state !== 'running') {
        this.state = 'running';
        this.message = null;
      }
      return;
    }
    const old = this.stream;
    const model = await this.p.loadModelFile(active.version);
    const stream = this.o.engine.stream(
      { kind: 'stream', model: model.file, maps: { dir: this.p.abs(this.p.mapsDir(active.version)), max: mapScaleMax(model.header.stats.colourScale.high) } },
      { onItem: (item) => this.scoredItem(stream, item) },
    );
    this.stream = stream;
    this.streamVersion = active.version;
    this.state = 'running';
    this.message = null;
    stream.result.catch((e: unknown) => this.streamFailed(stream, e));
    if (old) {
      // Parts already fed to the old version finish with it; new parts go to the new one.
      old.end();
    }
    this.feedUnscored();
    this.intake?.kick();
  }

  /** Stored line parts without a result (no model when they came, or a crash) go to the scorer. */
  private feedUnscored(): void {
    for (const u of unscoredLineParts(this.p.db)) {
      if (this.fedIds.has(u.imageId) || !existsSync(this.p.abs(u.path))) continue;
      this.inFlight += 1;
      this.feed(u.imageId, this.p.abs(u.path));
    }
  }

  /**
   * The remote scorer: the endpoint's model metadata must name a model id that is one of this
   * project's versions (an export or a `kensa serve` of it), so every result is stored under
   * the version that made it. Until then (endpoint down, another model) the line waits.
   */
  private async checkRemote(): Promise<void> {
    if (this.remote) return;
    const sc = this.settings.scorer;
    if (sc.kind !== 'oip') return;
    try {
      const meta = await oipMetadata(sc.url, sc.model, { ...(sc.token ? { token: sc.token } : {}), timeoutMs: 5000 });
      const id = meta.parameters.model_id;
      const input = meta.inputs.find((i) => i.name === 'images');
      if (!input || input.shape.length !== 4 || input.shape[3] !== 3) throw new KensaError('INFERENCE_SERVER', `${sc.url}: model ${sc.model} does not take images [N, H, W, 3]`);
      let version: number | null = null;
      let max = 1;
      for (const m of this.p.models().filter((x) => x.status === 'ready')) {
        const f = await this.p.loadModelFile(m.version).catch(() => null);
        if (f && f.header.id === id) {
          version = m.version;
          max = mapScaleMax(f.header.stats.colourScale.high);
        }
      }
      if (version === null) {
        this.state = 'waiting-for-model';
        this.message = `${sc.url} serves model ${String(id ?? '(no model id)')}, which is none of this project's versions: serve or export one of them`;
        return;
      }
      const r = meta.parameters.resize;
      await mkdir(this.p.abs(this.p.mapsDir(version)), { recursive: true });
      this.remote = { url: sc.url, model: sc.model, token: sc.token, height: input.shape[1]!, width: input.shape[2]!, resize: r === 'crop' || r === 'pad' ? r : 'stretch', version, max };
      this.streamVersion = version;
      this.state = 'running';
      this.message = null;
      this.feedUnscored();
      this.intake?.kick();
    } catch (e) {
      this.state = 'waiting-for-model';
      this.message = `the inference endpoint is not ready: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  /** Scores one part through the endpoint (one request at a time, in feed order). */
  private async scoreRemote(fed: Fed): Promise<void> {
    const r = this.remote;
    if (!r) {
      // The endpoint went away after this part was queued: it stays unscored and is fed again once it is back.
      const i = this.fifo.indexOf(fed);
      if (i >= 0) this.fifo.splice(i, 1);
      this.fedIds.delete(fed.imageId);
      this.release();
      return;
    }
    let item: ScoreItem;
    try {
      const img = await loadImage(fed.file, { width: r.width, height: r.height, resize: r.resize });
      const out = await oipInfer(r.url, r.model, { data: img.rgb, n: 1, h: r.height, w: r.width }, { ...(r.token ? { token: r.token } : {}) });
      const map = out.maps;
      let mapBytes: number | undefined;
      let maxMap = -Infinity;
      if (map) {
        for (const v of map) if (v > maxMap) maxMap = v;
        mapBytes = await writeMapPng(path.join(this.p.abs(this.p.mapsDir(r.version)), `${fed.imageId}.png`), map, r.width, r.height, r.max);
      }
      item = {
        ok: true,
        file: fed.file,
        score: out.scores[0]!,
        // The endpoint returns no patch scores: the map's peak stands in for the largest one.
        maxPatchScore: map ? maxMap : out.scores[0]!,
        imageWidth: img.info.width,
        imageHeight: img.info.height,
        sha256: '',
        timing: { decodeMs: 0, backboneMs: 0, headMs: 0, mapMs: 0 },
        ...(map ? { map: `${fed.imageId}.png`, mapBytes: mapBytes! } : {}),
      };
    } catch (e) {
      item = { ok: false, file: fed.file, error: isKensaError(e) ? e.toJSON() : { name: 'KensaError', code: 'INFERENCE_SERVER', message: (e as Error).message, file: fed.file } };
      // The endpoint went away: wait for it again (the part is retried at the next start or once it is back).
      this.remote = null;
      this.streamVersion = null;
      this.message = `the inference endpoint failed: ${item.error.message}`;
    }
    this.scoredItem(null, item);
  }

  private streamFailed(stream: ReturnType<EngineClient['stream']>, e: unknown): void {
    if (this.stream !== stream) return; // an old version's stream, ended on purpose
    this.stream = null;
    this.streamVersion = null;
    this.message = `the scorer stopped: ${e instanceof Error ? e.message : String(e)}; restarting`;
    const outstanding = this.fifo.splice(0);
    for (const f of outstanding) this.fedIds.delete(f.imageId);
    void this.checkModel().then(() => {
      for (const f of outstanding) this.feed(f.imageId, f.file);
    });
  }

  // ---- steps 2–4 ----------------------------------------------------------------------------

  private claimed(c: ClaimedFile): void {
    this.inFlight += 1;
    this.prepQueue.push(c);
    void this.drainPrep();
  }

  private async drainPrep(): Promise<void> {
    if (this.prepping) return;
    this.prepping = true;
    try {
      while (this.prepQueue.length > 0) {
        const c = this.prepQueue.shift()!;
        const kept = await this.prepare(c).catch((e: unknown) => {
          this.note(c.inboxPath, 'IMAGE_UNREADABLE', e instanceof Error ? e.message : String(e));
          return false;
        });
        if (!kept) this.release();
      }
    } finally {
      this.prepping = false;
    }
  }

  /** One slot is free again: let the intake claim another file. */
  private release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.intake?.kick();
  }

  /** Reads a claimed file while nothing writes to it; returns its bytes. */
  private async settledBytes(file: string): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const before = await stat(file);
      const bytes = await readFile(file);
      const after = await stat(file);
      if (before.size === after.size && before.mtimeMs === after.mtimeMs && bytes.length === after.size) return bytes;
      if (attempt >= 20) throw new KensaError('IMAGE_UNREADABLE', `${path.basename(file)} kept changing while it was read (still being written?)`, { file });
      await sleep(100);
    }
  }

  /** Steps 2–3 for one claimed file; true when the part goes on to scoring. */
  private async prepare(c: ClaimedFile): Promise<boolean> {
    const bytes = await this.settledBytes(c.inboxPath);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const known = findImageBySha256(this.p.db, sha, 'inspect');
    if (known) {
      const lp = this.p.db.prepare('SELECT scored_at FROM line_parts WHERE image_id = ?').get(known.id) as { scored_at: number | null } | undefined;
      if (lp && !existsSync(this.p.abs(known.path))) {
        // A crash between transaction 1 and the rename: finish the move, then go on.
        await mkdir(path.dirname(this.p.abs(known.path)), { recursive: true });
        await rename(c.inboxPath, this.p.abs(known.path));
        if (lp.scored_at === null) {
          this.feed(known.id, this.p.abs(known.path));
          return true;
        }
        return false;
      }
      await this.quarantine(c, 'CONFLICT', `same content as part #${known.id} (${known.path}), which is already in the project: not scored again`);
      return false;
    }
    let info;
    try {
      info = (await loadImageFromBuffer(bytes, c.name, { width: 32, height: 32 })).info;
    } catch (e) {
      const err = isKensaError(e) ? e : new KensaError('IMAGE_UNREADABLE', `${c.name}: ${(e as Error).message}`);
      await this.quarantine(c, err.code, err.message);
      return false;
    }
    const day = new Date(c.claimedAt).toISOString().slice(0, 10);
    const rel = ['parts', day, `${String(c.claimSeq).padStart(8, '0')}-${c.name}`].join('/');
    const { imageId } = addLinePart(
      this.p.db,
      { image: { path: rel, sha256: sha, bytes: bytes.length, width: info.width, height: info.height, format: info.format }, source: c.source, file: c.name, completeAt: c.completeAt, claimedAt: c.claimedAt },
      this.actor,
    );
    await mkdir(path.dirname(this.p.abs(rel)), { recursive: true });
    await rename(c.inboxPath, this.p.abs(rel));
    this.feed(imageId, this.p.abs(rel));
    return true;
  }

  private feed(imageId: number, file: string): void {
    if (this.fedIds.has(imageId)) return;
    if (this.settings.scorer.kind === 'oip') {
      if (!this.remote) {
        this.release();
        return;
      }
      const fed: Fed = { imageId, file, version: this.remote.version };
      this.fedIds.add(imageId);
      this.fifo.push(fed);
      this.remoteChain = this.remoteChain.then(() => this.scoreRemote(fed));
      return;
    }
    const stream = this.stream;
    const version = this.streamVersion;
    if (!stream || version === null) {
      // No model right now (rolled back to none?): the part stays unscored and is fed at restart.
      this.release();
      return;
    }
    this.fedIds.add(imageId);
    this.fifo.push({ imageId, file, version });
    const item: StreamItem = { file, map: `${imageId}.png` };
    stream.feed([item]);
  }

  /** Step 5 for one scored item. */
  private scoredItem(stream: ReturnType<EngineClient['stream']> | null, item: ScoreItem): void {
    const i = this.fifo.findIndex((f) => f.file === item.file);
    if (i < 0) return;
    const fed = this.fifo.splice(i, 1)[0]!;
    this.fedIds.delete(fed.imageId);
    void stream;
    try {
      if (!item.ok) {
        this.note(fed.file, item.error.code, `part #${fed.imageId} could not be scored: ${item.error.message} (it is kept and scored again at the next start)`);
        return;
      }
      const t = this.p.threshold(fed.version);
      const seq = commitLineResult(this.p.db, {
        imageId: fed.imageId,
        modelVersion: fed.version,
        score: item.score,
        maxPatchScore: item.maxPatchScore,
        mapFile: item.map ? [this.p.mapsDir(fed.version).split(path.sep).join('/'), item.map].join('/') : null,
        mapBytes: item.mapBytes ?? null,
        threshold: t?.value ?? null,
        reviewUpper: t?.reviewUpper ?? null,
        scoredAt: Date.now(),
        scorer: scorerLabel(this.settings),
      });
      if (seq !== null) this.publisher?.kick(seq);
      this.o.onResult?.();
    } catch (e) {
      this.note(fed.file, isKensaError(e) ? e.code : 'STORE_BUSY', `part #${fed.imageId}: the result could not be stored: ${(e as Error).message}`);
    } finally {
      this.release();
    }
  }

  // ---- recovery and quarantine --------------------------------------------------------------

  /** After a crash or a stop: the inbox first (claim order), then parts stored but not scored. */
  private async recover(): Promise<void> {
    await mkdir(this.inboxDir, { recursive: true });
    const names = (await readdir(this.inboxDir)).filter((n) => !n.endsWith('.partial')).sort();
    for (const n of names) {
      const parsed = parseInboxName(n);
      if (!parsed) continue;
      const folder = this.settings.folders[parsed.folderIndex];
      this.claimed({
        inboxPath: path.join(this.inboxDir, n),
        name: parsed.name,
        source: folder?.path ?? '(unknown folder)',
        folderIndex: parsed.folderIndex,
        completeAt: parsed.completeAt,
        claimedAt: Date.now(),
        claimSeq: parsed.claimSeq,
      });
    }
    await this.waitPrep();
    this.feedUnscored();
  }

  private async waitPrep(): Promise<void> {
    while (this.prepping || this.prepQueue.length > 0) await sleep(5);
  }

  private async quarantine(c: ClaimedFile, code: string, message: string): Promise<void> {
    const dir = path.join(this.quarantineDir, new Date(c.claimedAt).toISOString().slice(0, 10));
    await mkdir(dir, { recursive: true });
    const target = path.join(dir, `${String(c.claimSeq).padStart(8, '0')}-${c.name}`);
    await rename(c.inboxPath, target);
    const at = new Date().toISOString();
    await writeFile(`${target}.error.json`, JSON.stringify({ file: c.name, source: c.source, code, message, at, station: this.settings.station }, null, 2));
    recordImportErrors(this.p.db, 'line:quarantine', [{ path: target, code, message }]);
    this.note(target, code, message, at);
  }

  private note(file: string, code: string, message: string, at = new Date().toISOString()): void {
    this.quarantined.unshift({ file, code, message, at });
    this.quarantined.length = Math.min(this.quarantined.length, 50);
  }

  // ---- status -------------------------------------------------------------------------------

  status(now = Date.now()): LineStatus {
    const folders = this.intake?.folders() ?? [];
    return {
      state: this.state,
      message: this.message ?? folders.find((f) => !f.ok)?.message ?? null,
      station: this.settings.station,
      modelVersion: this.streamVersion,
      scorer: scorerLabel(this.settings),
      folders,
      inFlight: this.inFlight,
      maxInFlight: this.settings.maxInFlight,
      backPressure: this.inFlight >= this.settings.maxInFlight && folders.some((f) => f.waiting > 0),
      ...lineFigures(this.p.db, now),
      sinks: this.publisher?.status() ?? [],
      quarantined: this.quarantined.slice(0, 20),
    };
  }
}

/** 'local', or the endpoint's model URL: what results record as their scorer. */
export function scorerLabel(settings: LineSettings): string {
  const sc = settings.scorer;
  return sc.kind === 'local' ? 'local' : `${sc.url.replace(/\/+$/, '')}/v2/models/${sc.model}`;
}

/**
 * What the database says of the line, running or not: totals, the last minute and the last
 * 10 minutes, and the backlog alert (the backlog grows faster than it is reviewed).
 */
export function lineFigures(db: Db, now = Date.now()): Pick<LineStatus, 'totals' | 'lastMinute' | 'last10Minutes' | 'alert'> {
  const lastMinute = lineWindowStats(db, now, 60_000);
  const last10Minutes = lineWindowStats(db, now, 600_000);
  const totals = lineTotals(db);
  const growth = last10Minutes.flaggedPerMinute - last10Minutes.reviewedPerMinute;
  const alert =
    totals.backlog >= 10 && growth > 0.5 && last10Minutes.flaggedPerMinute > 0
      ? `The review backlog is growing: ${last10Minutes.flaggedPerMinute.toFixed(1)} parts/min flagged, ${last10Minutes.reviewedPerMinute.toFixed(1)}/min reviewed (last 10 min); ${totals.backlog} wait for a person.`
      : null;
  return { totals, lastMinute, last10Minutes, alert };
}
