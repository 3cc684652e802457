/**
 * App/session state and the wiring between the others: which screen is shown, the reviewer,
 * which overlay has the keyboard, the event-channel connection, and what happens when the
 * main side reports a project change or a finished job.
 */
import type { AppInfo, DetectorInfo, KensaEvent, ProjectState } from '../../../src-main/shared/api';
import { api, describeError, onConnection, onEvent, onReconnect, type ConnectionStatus } from '../lib/api';
import { clearParts } from '../lib/parts';
import { comparison } from './compare.svelte';
import { imports } from './imports.svelte';
import { JOB_LABEL, jobs, type JobOutcome } from './jobs.svelte';
import { learnPreview, proposal } from './learning.svelte';
import { project } from './project.svelte';
import { queue } from './queue.svelte';
import { stations } from './stations.svelte';
import { toasts } from './toasts.svelte';

export type View = 'start' | 'import' | 'fit' | 'review' | 'threshold' | 'models' | 'line';

export const VIEW_LABEL: Record<View, string> = {
  start: 'Projects',
  import: 'Import',
  fit: 'Fit & score',
  review: 'Review',
  threshold: 'Threshold',
  models: 'Models',
  line: 'Line',
};

/** Overlays that take the keyboard while open (the global shortcuts stand back). */
export type Overlay = 'help' | 'defect' | 'dialog';

export class AppState {
  info = $state.raw<AppInfo | null>(null);
  view = $state<View>('start');
  overlay = $state<Overlay | null>(null);
  connection = $state<ConnectionStatus>('open');
  booted = $state(false);
  bootError = $state<{ title: string; message: string } | null>(null);

  readonly reviewer = $derived(this.info?.reviewer ?? null);
  /** The detectors a fit can use, the default first. */
  readonly detectors = $derived<DetectorInfo[]>(this.info?.detectors ?? []);

  /** What the workstation says about detector `id` (null when this build does not list it). */
  detector(id: string | null | undefined): DetectorInfo | null {
    return this.detectors.find((d) => d.id === id) ?? null;
  }

  /** A detector's display name ("PatchCore"); the id itself when unknown. */
  detectorTitle(id: string): string {
    return this.detector(id)?.title ?? id;
  }

  private wired = false;
  private openedDir: string | null = null;

  async boot(): Promise<void> {
    if (!this.wired) {
      this.wired = true;
      onEvent((e) => this.onEvent(e));
      onConnection((s) => (this.connection = s));
      onReconnect(() => void this.resync());
      jobs.onFinished((o) => void this.afterJob(o));
      // The part this station had open goes back to the others at once, not when its claim runs out.
      if (typeof window !== 'undefined') window.addEventListener('pagehide', () => queue.releaseOnExit());
    }
    this.bootError = null;
    try {
      // All at once: the app info, the project state and the queue's first pages (round trips
      // less before the first part shows).
      const state = api.projects.state();
      const warm = queue.warmStart(state.catch(() => null));
      const [info, st] = await Promise.all([api.app.info(), state]);
      await warm; // the first part's image is asked for before the screen is drawn
      this.info = info;
      if (st) this.opened(st);
      else this.view = 'start';
    } catch (e) {
      const d = describeError(e);
      this.bootError = { title: d.title, message: d.message };
    } finally {
      this.booted = true;
    }
  }

  async setReviewer(name: string): Promise<void> {
    this.info = await api.app.setReviewer({ name });
  }

  /** Refreshes the workstation info (recent projects) without touching the view. */
  /** Downloads a backbone (checksummed; the manifest's first downloadable default) and refreshes the info. */
  async downloadBackbone(): Promise<AppInfo> {
    this.info = await api.app.downloadBackbone({});
    return this.info;
  }

  async refreshInfo(): Promise<void> {
    try {
      this.info = await api.app.info();
    } catch {
      // keep the old info; the next call will report a real problem
    }
  }

  go(view: View): void {
    if (view !== 'start' && !project.isOpen) return;
    this.view = view;
  }

  /** A project was opened or created: reset the per-project state and show a useful screen. */
  opened(st: ProjectState): void {
    if (this.openedDir !== st.dir) imports.reset();
    // The first project of the session: the part cache holds only what the queue's start-up
    // (warmStart) loaded for this very state, the part about to open. Otherwise: forget parts.
    if (this.openedDir !== null) clearParts();
    this.openedDir = st.dir;
    project.set(st);
    queue.reset();
    stations.reset();
    comparison.reset();
    proposal.reset();
    learnPreview.close();
    jobs.sync(st.job);
    this.view = defaultView(st);
    void queue.load().catch((e) => toasts.error(e));
    void stations.refresh();
    void this.refreshInfo();
  }

  async closeProject(): Promise<void> {
    await queue.releaseClaim();
    await project.close();
    queue.reset();
    stations.reset();
    clearParts();
    this.view = 'start';
    void this.refreshInfo();
  }

  private onEvent(e: KensaEvent): void {
    if (e.topic === 'job') {
      jobs.handle(e.event);
      return;
    }
    if (e.topic === 'station') {
      // Another station's change (or this one's): the queue and the status bar follow it; the
      // project state (counts, threshold, models) comes as its own event soon after.
      if (project.state && project.busy === false) {
        queue.onStation(e.change);
        stations.onChange(e.change);
      }
      return;
    }
    const before = project.state;
    // A create/open/demo call is in flight: its own result opens the project (the events
    // on the way show it half-made, e.g. a sample project before its parts exist).
    if (project.busy !== false && project.busy !== 'close') return;
    project.set(e.state);
    if (e.state === null) {
      if (before !== null) {
        queue.reset();
        stations.reset();
        this.view = 'start';
      }
      return;
    }
    if (before === null || before.dir !== e.state.dir) {
      this.opened(e.state);
      return;
    }
    if (!jobs.progress && e.state.job) jobs.sync(e.state.job);
    const beforeModel = before.activeModel?.version ?? null;
    const afterModel = e.state.activeModel?.version ?? null;
    const thresholdChanged = (before.threshold?.value ?? null) !== (e.state.threshold?.value ?? null);
    if (beforeModel !== afterModel) clearParts();
    if (beforeModel !== afterModel || thresholdChanged || before.counts.scored !== e.state.counts.scored || before.counts.inspect !== e.state.counts.inspect) {
      void queue.load().catch(() => {});
    }
  }

  /** After the event channel came back: events may have been missed. */
  private async resync(): Promise<void> {
    try {
      const st = await project.refresh();
      jobs.sync(st?.job ?? null);
      if (st) void stations.refresh();
      if (st) await queue.load({ keep: true });
    } catch {
      // reported by the next call
    }
  }

  private async afterJob(o: JobOutcome): Promise<void> {
    const label = JOB_LABEL[o.kind];
    if (o.status === 'done') {
      clearParts();
      if (o.kind === 'learn' && o.version !== undefined) {
        // The new version is not active: its preview opens on the Models screen.
        toasts.success(`Learning step v${o.version} ready`, 'Not active until you accept it: the preview on the Models screen shows what it would change.');
        void learnPreview.show(o.version);
      } else if (o.kind === 'refit' && o.dropped !== undefined) {
        toasts.success(`${label} finished`, `${o.dropped} flagged part${o.dropped === 1 ? '' : 's'} dropped below the threshold.`);
      } else {
        toasts.success(`${label} finished`, o.summary);
      }
    } else if (o.status === 'cancelled') {
      toasts.info(`${label} cancelled`, 'The previous model stays active.');
    } else if (o.error) {
      toasts.push({ kind: 'error', title: `${label} failed`, message: o.error.message, code: o.error.code, ...(o.error.file ? { file: o.error.file } : {}) });
    }
    try {
      await project.refresh();
      await queue.load();
    } catch (e) {
      toasts.error(e);
    }
  }
}

export function defaultView(st: ProjectState): View {
  if (st.counts.train + st.counts.inspect === 0) return 'import';
  if (!st.activeModel || st.counts.scored === 0) return 'fit';
  return 'review';
}

export const app = new AppState();
