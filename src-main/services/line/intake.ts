/**
 * Hot folders: watches folders the line drops part images into, decides when each file is
 * complete, and CLAIMS it by moving it into the project's inbox, in arrival order, at most
 * as many as the scorer has room for (back-pressure: the rest wait in the watched folder).
 *
 * When is a file complete?
 *   - 'rename': the writer writes under a temporary name and renames when done; a file is
 *     complete when it appears under its final name. Its completion time is the inode change
 *     time (a rename sets it), so the latency a result reports starts at the rename.
 *   - 'stable': the writer writes in place; a file is complete when its size and modification
 *     time have not changed for `stableMs`. Its completion time is its last modification.
 * In both modes these names are never taken (they are how writers mark work in progress):
 * a leading '.' or '~', and the endings .part .partial .tmp .temp .crdownload .filepart
 * .download; also Thumbs.db and desktop.ini.
 *
 * The claim is a rename into `<project>/line/inbox/` (same file system: atomic; across file
 * systems: copy, fsync, rename into place, then unlink the source). The inbox name carries
 * everything needed to go on after a crash: `<claim seq>~<completeAt ms>~<folder index>~<name>`.
 * A part is therefore always in exactly one place: the watched folder, the inbox, or the
 * project's parts folder (see line-service.ts for the steps after the claim).
 *
 * A watched folder that disappears (an unplugged share) is reported as missing and watched
 * again until it comes back; nothing is lost, because nothing was taken from it yet.
 */
import { constants } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { FolderStatus, WatchedFolder } from '../../shared/line';

export type { FolderStatus };

const IGNORED_ENDINGS = ['.part', '.partial', '.tmp', '.temp', '.crdownload', '.filepart', '.download'];
const IGNORED_NAMES = new Set(['thumbs.db', 'desktop.ini']);

/** Names a writer uses for work in progress (never claimed). */
export function isWorkInProgress(name: string): boolean {
  const lower = name.toLowerCase();
  return name.startsWith('.') || name.startsWith('~') || IGNORED_NAMES.has(lower) || IGNORED_ENDINGS.some((e) => lower.endsWith(e));
}

export interface ClaimedFile {
  /** Absolute path in the inbox. */
  inboxPath: string;
  /** The name it arrived under. */
  name: string;
  /** The watched folder (as configured). */
  source: string;
  folderIndex: number;
  completeAt: number;
  claimedAt: number;
  claimSeq: number;
}

interface Seen {
  size: number;
  mtimeMs: number;
  /** When size/mtime were first seen at their current values (epoch ms). */
  since: number;
}

/** Parses an inbox name back into its parts (null: not one of ours). */
export function parseInboxName(file: string): { claimSeq: number; completeAt: number; folderIndex: number; name: string } | null {
  const m = /^(\d{1,16})~(\d{1,16})~(\d{1,3})~(.+)$/.exec(path.basename(file));
  if (!m) return null;
  return { claimSeq: Number(m[1]), completeAt: Number(m[2]), folderIndex: Number(m[3]), name: m[4]! };
}

function inboxName(seq: number, completeAt: number, folderIndex: number, name: string): string {
  return `${String(seq).padStart(12, '0')}~${Math.round(completeAt)}~${folderIndex}~${name}`;
}

/** Moves a file; across file systems: copy, fsync, rename into place, unlink the source. */
export async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    const tmp = `${to}.partial`;
    await copyFile(from, tmp, constants.COPYFILE_EXCL);
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, to);
    await unlink(from);
  }
}

export interface IntakeOptions {
  /** The project folder (watched folders may be relative to it). */
  projectDir: string;
  inboxDir: string;
  folders: WatchedFolder[];
  /** Folders never claimed from even when inside a watched folder (the quarantine). */
  exclude?: string[];
  /** How many more files may be claimed now (back-pressure). */
  capacity: () => number;
  onClaim: (f: ClaimedFile) => void;
  /** A claim that failed (the file vanished, no permission): reported, the file stays where it is. */
  onError?: (file: string, message: string) => void;
  pollMs?: number;
  now?: () => number;
}

export class Intake {
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private seq = 0;
  private readonly seen = new Map<string, Seen>();
  private readonly status: FolderStatus[];
  private stopped = true;

  constructor(private readonly o: IntakeOptions) {
    this.status = o.folders.map((f) => ({ path: f.path, abs: path.resolve(o.projectDir, f.path), ok: true, message: null, waiting: 0, writing: 0 }));
  }

  /** Starts polling; claim numbers continue after the highest one in the inbox. */
  async start(): Promise<void> {
    await mkdir(this.o.inboxDir, { recursive: true });
    for (const f of await readdir(this.o.inboxDir)) this.seq = Math.max(this.seq, parseInboxName(f)?.claimSeq ?? 0);
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  folders(): FolderStatus[] {
    return this.status.map((s) => ({ ...s }));
  }

  /** Polls now (after the current poll, if one runs): called when capacity frees up. */
  kick(): void {
    if (!this.stopped && !this.busy) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      await this.scan();
    } finally {
      this.busy = false;
      this.schedule(this.o.pollMs ?? 50);
    }
  }

  private async scan(): Promise<void> {
    const now = this.o.now ?? Date.now;
    const ready: { abs: string; name: string; folderIndex: number; completeAt: number; size: number; mtimeMs: number }[] = [];
    const excluded = (this.o.exclude ?? []).map((e) => path.resolve(this.o.projectDir, e));
    const live = new Set<string>();
    for (const [i, f] of this.o.folders.entries()) {
      const st = this.status[i]!;
      let names: string[];
      try {
        const entries = await readdir(st.abs, { withFileTypes: true });
        names = entries.filter((e) => e.isFile()).map((e) => e.name);
        st.ok = true;
        st.message = null;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        st.ok = false;
        st.message =
          code === 'ENOENT' ? `${st.abs} is missing: waiting for it to come back` : code === 'ENOTDIR' ? `${st.abs} is not a folder` : code === 'EACCES' || code === 'EPERM' ? `no permission to read ${st.abs}` : `cannot read ${st.abs}: ${(e as Error).message}`;
        st.waiting = 0;
        st.writing = 0;
        continue;
      }
      let waiting = 0;
      let writing = 0;
      for (const name of names) {
        if (isWorkInProgress(name)) {
          writing += 1;
          continue;
        }
        const abs = path.join(st.abs, name);
        if (excluded.some((x) => abs === x || abs.startsWith(x + path.sep))) continue;
        const t = now();
        const prev = this.seen.get(abs);
        if (f.completion === 'rename' && prev) {
          // Complete since it appeared: no need to stat it again on every poll while it waits.
          live.add(abs);
          ready.push({ abs, name, folderIndex: i, completeAt: prev.since, size: prev.size, mtimeMs: prev.mtimeMs });
          waiting += 1;
          continue;
        }
        let s;
        try {
          s = await stat(abs);
        } catch {
          continue; // gone between readdir and stat
        }
        live.add(abs);
        if (!prev || prev.size !== s.size || prev.mtimeMs !== s.mtimeMs) {
          this.seen.set(abs, { size: s.size, mtimeMs: s.mtimeMs, since: t });
        }
        const cur = this.seen.get(abs)!;
        if (f.completion === 'rename') {
          const completeAt = Math.min(t, Math.max(s.ctimeMs, s.mtimeMs));
          this.seen.set(abs, { size: s.size, mtimeMs: s.mtimeMs, since: completeAt });
          ready.push({ abs, name, folderIndex: i, completeAt, size: s.size, mtimeMs: s.mtimeMs });
          waiting += 1;
        } else if (t - cur.since >= f.stableMs && s.size > 0) {
          ready.push({ abs, name, folderIndex: i, completeAt: Math.min(t, s.mtimeMs), size: s.size, mtimeMs: s.mtimeMs });
          waiting += 1;
        } else {
          writing += 1;
        }
      }
      st.waiting = waiting;
      st.writing = writing;
    }
    for (const k of this.seen.keys()) if (!live.has(k)) this.seen.delete(k);

    // Arrival order across folders: completion time, then name.
    ready.sort((a, b) => a.completeAt - b.completeAt || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let room = this.o.capacity();
    for (const r of ready) {
      if (room <= 0 || this.stopped) break;
      // Re-check just before the move: a file rewritten since the scan is not complete after all.
      try {
        const s = await stat(r.abs);
        if (s.size !== r.size || s.mtimeMs !== r.mtimeMs) continue;
      } catch {
        continue;
      }
      const seq = ++this.seq;
      const inboxPath = path.join(this.o.inboxDir, inboxName(seq, r.completeAt, r.folderIndex, r.name));
      try {
        await moveFile(r.abs, inboxPath);
      } catch (e) {
        this.o.onError?.(r.abs, `could not take ${r.abs} from the watched folder: ${(e as Error).message}`);
        continue;
      }
      this.seen.delete(r.abs);
      const st = this.status[r.folderIndex]!;
      st.waiting = Math.max(0, st.waiting - 1);
      room -= 1;
      this.o.onClaim({ inboxPath, name: r.name, source: this.o.folders[r.folderIndex]!.path, folderIndex: r.folderIndex, completeAt: r.completeAt, claimedAt: now(), claimSeq: seq });
    }
  }
}
