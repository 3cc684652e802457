/**
 * The stations of the open project as the status bar shows them (`stations.status`): this
 * station's name, where the records are (SQLite in the folder, or PostgreSQL for a shared
 * project), whether the live change feed is on, and the project-wide changes running at some
 * station (a refit, a threshold change). Read when a project opens and again, at most every
 * few seconds, when the change feed reports something it shows.
 */
import type { StationChange, StationsInfo } from '../../../src-main/shared/api';
import { api } from '../lib/api';

/** At most one `stations.status` per this many ms while changes come in. */
const REFRESH_GAP_MS = 3000;
/** A shared project's status is read this often anyway (a lost feed sends no notice). */
const SHARED_POLL_MS = 30_000;

export class StationsState {
  info = $state.raw<StationsInfo | null>(null);

  /** Several stations can work on this project (its records are in PostgreSQL). */
  readonly shared = $derived(this.info?.store.engine === 'postgres');
  /** This station's name (on its claims and locks); null until known. */
  readonly station = $derived(this.info?.station ?? null);

  private timer: ReturnType<typeof setTimeout> | null = null;
  private inFlight = false;
  private last = 0;
  private gen = 0;
  private poll: ReturnType<typeof setInterval> | null = null;

  /** Reads the status now (a project opened, the event channel came back). */
  async refresh(): Promise<void> {
    const gen = this.gen;
    this.inFlight = true;
    this.last = Date.now();
    try {
      const info = await api.stations.status();
      if (gen === this.gen) {
        this.info = info;
        if (info.store.engine === 'postgres' && !this.poll) this.poll = setInterval(() => this.refreshSoon(), SHARED_POLL_MS);
      }
    } catch {
      // an older host, or no project: the status bar shows nothing of stations
      if (gen === this.gen) this.info = null;
    } finally {
      if (gen === this.gen) this.inFlight = false;
    }
  }

  /** A change from the feed: the locks, the feed mode (a notice after a lost feed) may have changed. */
  onChange(c: StationChange): void {
    if (c.t !== 'station_locks' && c.t !== 'any') return;
    this.refreshSoon();
  }

  /** At most one read every REFRESH_GAP_MS (the last change is always read). */
  refreshSoon(): void {
    if (this.timer) return;
    const wait = this.inFlight ? REFRESH_GAP_MS : Math.max(0, this.last + REFRESH_GAP_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, wait);
  }

  reset(): void {
    this.gen += 1;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    this.inFlight = false;
    this.info = null;
  }
}

export const stations = new StationsState();
