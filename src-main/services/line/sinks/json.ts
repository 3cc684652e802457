/**
 * The JSON result file: one file per part, holding that part's latest result (the LineResult
 * as pretty-printed JSON), for lines that read files.
 *
 * Where it goes:
 *   mode 'beside':  <project>/<storedPath>.result.json       (next to the stored image)
 *   mode 'folder':  <dir>/<file name without extension>.<partId>.result.json
 *                   (dir absolute or relative to the project folder; created when missing)
 * The part id in the folder name keeps two parts that arrived under the same file name apart.
 *
 * Guarantees: a reader never sees a half-written file. Each result is written to a temporary
 * name in the same folder (`.<name>.<random>.tmp`), fsynced, renamed over the result file and
 * the folder fsynced; deliver resolves only after that. A later 'verdict' for the same part
 * replaces the file, so it always holds the part's latest result (the publisher delivers in
 * seq order). A result may be written twice around a crash (at least once), never lost.
 *
 * Failure: any error (folder missing in 'beside' mode, disk full, permissions, a reader on
 * Windows holding the file open for longer than the retries) throws LINE_OUTPUT naming the
 * file, the temporary file is removed, and the previous result file stays as it was.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, parse, relative, resolve, isAbsolute } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KensaError } from '../../../shared/errors';
import type { LineOutputSettings, LineResult, ResultSink, SinkStatus } from '../types';
import { errorText, fsyncDir, outputError, resolveInProject, serialiser } from './common';

export interface JsonSinkOptions {
  projectDir: string;
  settings: LineOutputSettings['json'];
}

/** Where the result file of `result` goes (see the module comment). */
export function jsonResultPath(projectDir: string, settings: LineOutputSettings['json'], result: Pick<LineResult, 'storedPath' | 'file' | 'partId'>): string {
  if (settings.mode === 'beside') {
    const project = resolve(projectDir);
    const image = resolve(project, result.storedPath);
    const rel = relative(project, image);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) {
      throw outputError('json', `the stored path ${JSON.stringify(result.storedPath)} of part ${result.partId} is not inside the project folder`);
    }
    return `${image}.result.json`;
  }
  const dir = resolveInProject(projectDir, settings.dir ?? '');
  const stem = parse(basename(result.file)).name || 'part';
  return join(dir, `${stem}.${result.partId}.result.json`);
}

/** Writes `data` to `file` atomically: temp file in the same folder, fsync, rename, folder fsync. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await renameWithRetry(tmp, file);
    renamed = true;
    await fsyncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
}

/** On Windows a rename over a file that a reader has open fails for a moment (EPERM/EACCES/EBUSY): retry briefly. */
async function renameWithRetry(from: string, to: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await rename(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (attempt >= 4 || !(code === 'EPERM' || code === 'EACCES' || code === 'EBUSY')) throw e;
      await sleep(25 * 2 ** attempt);
    }
  }
}

export class JsonSink implements ResultSink {
  readonly name = 'json' as const;
  private readonly projectDir: string;
  private readonly settings: LineOutputSettings['json'];
  private readonly serial = serialiser();
  private started = false;
  private ready = false;
  private lastError: string | null = null;

  constructor(options: JsonSinkOptions) {
    const { projectDir, settings } = options;
    if (settings.mode !== 'beside' && settings.mode !== 'folder') {
      throw new KensaError('INVALID_ARGUMENT', `json result files: unknown mode ${JSON.stringify(settings.mode)} (beside or folder)`);
    }
    if (settings.mode === 'folder' && !settings.dir?.trim()) {
      throw new KensaError('INVALID_ARGUMENT', "json result files: mode 'folder' needs a folder (dir)");
    }
    this.projectDir = resolve(projectDir);
    this.settings = { ...settings };
  }

  /** The folder ('folder' mode) or the pattern ('beside' mode) results go to. */
  get target(): string {
    return this.settings.mode === 'folder'
      ? resolveInProject(this.projectDir, this.settings.dir ?? '')
      : join(this.projectDir, '<stored image>.result.json');
  }

  async start(): Promise<void> {
    this.started = true;
    if (this.settings.mode !== 'folder') {
      this.ready = true;
      return;
    }
    try {
      await mkdir(this.target, { recursive: true });
      this.ready = true;
    } catch (e) {
      // Not fatal: deliver tries again (and throws with the reason) until the folder can be made.
      this.ready = false;
      this.lastError = `cannot create ${this.target}: ${errorText(e)}`;
    }
  }

  deliver(result: LineResult): Promise<void> {
    return this.serial(async () => {
      if (!this.started) throw outputError('json', 'deliver before start()');
      let file: string | undefined;
      try {
        file = jsonResultPath(this.projectDir, this.settings, result);
        if (this.settings.mode === 'folder') await mkdir(dirname(file), { recursive: true });
        await writeFileAtomic(file, `${JSON.stringify(result, null, 2)}\n`);
      } catch (e) {
        const err = e instanceof KensaError ? e : outputError('json', `could not write ${file ?? 'the result file'} for part ${result.partId} (seq ${result.seq}): ${errorText(e)}`, { file, cause: e });
        this.ready = false;
        this.lastError = err.message;
        throw err;
      }
      this.ready = true;
      this.lastError = null;
    });
  }

  status(): SinkStatus {
    return { name: 'json', ready: this.started && this.ready, lastError: this.lastError, target: this.target };
  }

  async close(): Promise<void> {
    await this.serial(async () => undefined);
    this.started = false;
    this.ready = false;
  }
}

export function createJsonSink(options: JsonSinkOptions): JsonSink {
  return new JsonSink(options);
}
