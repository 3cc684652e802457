/**
 * The Line screen's data: the line's live status (polled once a second while the screen is
 * open), its settings as stored, and what the project keeps on disk with the retention policy.
 */
import type { StorageUsageData } from '../../../src-main/shared/api';
import type { LineSettings, LineStatus, RetentionSettings } from '../../../src-main/shared/line';
import { api } from '../lib/api';

export class LineState {
  status = $state.raw<LineStatus | null>(null);
  settings = $state.raw<LineSettings | null>(null);
  usage = $state.raw<StorageUsageData | null>(null);
  /** The last status poll failed (shown, polling goes on). */
  pollError = $state<string | null>(null);
  private timer: ReturnType<typeof setInterval> | null = null;

  async load(): Promise<void> {
    const [status, settings] = await Promise.all([api.line.status(), api.line.settings()]);
    this.status = status;
    this.settings = settings;
  }

  async loadUsage(): Promise<void> {
    this.usage = await api.storage.usage();
  }

  /** Polls the status every second (and the storage figures every 10 s) until stop(). */
  start(): void {
    this.stop();
    let tick = 0;
    this.timer = setInterval(() => {
      tick += 1;
      if (tick % 10 === 0) void this.loadUsage().catch(() => undefined);
      api.line.status().then(
        (s) => {
          this.status = s;
          this.pollError = null;
        },
        (e: unknown) => (this.pollError = e instanceof Error ? e.message : String(e)),
      );
    }, 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async configure(patch: Partial<LineSettings>): Promise<LineStatus> {
    const status = await api.line.configure({ settings: JSON.parse(JSON.stringify(patch)) as Partial<LineSettings> });
    this.status = status;
    this.settings = await api.line.settings();
    return status;
  }

  async setRetention(retention: RetentionSettings): Promise<StorageUsageData> {
    const usage = await api.storage.configure({ retention: { ...retention } });
    this.usage = usage;
    return usage;
  }

  async applyRetention(): Promise<{ reduced: number; dropped: number; freedBytes: number }> {
    const r = await api.storage.apply();
    this.usage = r.usage;
    return r;
  }
}

/** Bytes as B / KB / MB / GB (binary multiples, one decimal above KB). */
export function fmtBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${Math.round(n)} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

export const line = new LineState();
