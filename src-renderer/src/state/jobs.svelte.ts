/**
 * Long jobs (fit, score, refit, compare, learn): the one running now, its progress from `job` events, and
 * the last outcome of each kind (done with its summary, failed with its error, cancelled).
 * Elapsed time and ETA tick locally between progress events.
 */
import type { ApiError, ArgsOf, JobEvent, JobKind, JobProgress } from '../../../src-main/shared/api';
import { api } from '../lib/api';

export interface JobOutcome {
  jobId: string;
  kind: JobKind;
  status: 'done' | 'failed' | 'cancelled';
  summary: string;
  dropped?: number;
  /** learn: the new version, waiting for acceptance. */
  version?: number;
  error?: ApiError;
  at: number;
}

export const JOB_LABEL: Record<JobKind, string> = { fit: 'Fit', score: 'Scoring', refit: 'Refit', compare: 'Comparison', learn: 'Learning step' };

export class JobState {
  progress = $state.raw<JobProgress | null>(null);
  /** A start call is in flight (before the first progress event). */
  starting = $state<JobKind | null>(null);
  cancelling = $state(false);
  outcomes = $state.raw<Partial<Record<JobKind, JobOutcome>>>({});
  /** Local clock for the elapsed/ETA display. */
  now = $state(Date.now());
  private receivedAt = Date.now();
  private ticker: ReturnType<typeof setInterval> | null = null;
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- callbacks, not UI state
  private finishedListeners = new Set<(o: JobOutcome) => void>();

  readonly running = $derived(this.progress !== null || this.starting !== null);
  readonly kind = $derived<JobKind | null>(this.progress?.kind ?? this.starting);
  readonly fraction = $derived(this.progress && this.progress.total > 0 ? Math.min(1, this.progress.done / this.progress.total) : null);
  readonly elapsed = $derived(this.progress ? this.progress.elapsedSeconds + Math.max(0, (this.now - this.receivedAt) / 1000) : null);
  readonly eta = $derived(
    this.progress && this.progress.etaSeconds !== null ? Math.max(0, this.progress.etaSeconds - Math.max(0, (this.now - this.receivedAt) / 1000)) : null,
  );

  onFinished(listener: (o: JobOutcome) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Starts a job; `args` (backbone, detector, coreset ratio) are for a fit. */
  async start(kind: JobKind, args: ArgsOf<'jobs.fit'> = {}): Promise<string> {
    this.starting = kind;
    try {
      const { jobId } =
        kind === 'fit'
          ? await api.jobs.fit(args)
          : kind === 'score'
            ? await api.jobs.score()
            : kind === 'refit'
              ? await api.jobs.refit()
              : kind === 'learn'
                ? await api.jobs.learn()
                : await api.jobs.compare();
      if (!this.progress || this.progress.jobId !== jobId) {
        // Show the job at once; the first progress event fills in the phase.
        const finished = Object.values(this.outcomes).some((o) => o?.jobId === jobId);
        if (!finished) this.setProgress({ jobId, kind, phase: 'starting', done: 0, total: 0, elapsedSeconds: 0, etaSeconds: null });
      }
      return jobId;
    } finally {
      this.starting = null;
    }
  }

  async cancel(): Promise<void> {
    const p = this.progress;
    if (!p) return;
    this.cancelling = true;
    try {
      await api.jobs.cancel({ jobId: p.jobId });
    } finally {
      this.cancelling = false;
    }
  }

  /** The running job as the project state reports it (after a reload or reconnect). */
  sync(job: JobProgress | null): void {
    if (job) this.setProgress(job);
    else if (this.progress && !this.starting) this.setProgress(null);
  }

  handle(e: JobEvent): void {
    if (e.type === 'progress') {
      if (Object.values(this.outcomes).some((o) => o?.jobId === e.progress.jobId)) return; // late event
      this.setProgress(e.progress);
      return;
    }
    const cancelled = e.type === 'failed' && e.error.code === 'CANCELLED';
    const outcome: JobOutcome =
      e.type === 'done'
        ? {
            jobId: e.jobId,
            kind: e.kind,
            status: 'done',
            summary: e.summary,
            ...(e.dropped !== undefined ? { dropped: e.dropped } : {}),
            ...(e.version !== undefined ? { version: e.version } : {}),
            at: Date.now(),
          }
        : { jobId: e.jobId, kind: e.kind, status: cancelled ? 'cancelled' : 'failed', summary: e.error.message, error: e.error, at: Date.now() };
    this.outcomes = { ...this.outcomes, [e.kind]: outcome };
    if (!this.progress || this.progress.jobId === e.jobId) this.setProgress(null);
    for (const l of this.finishedListeners) l(outcome);
  }

  private setProgress(p: JobProgress | null): void {
    this.progress = p;
    this.receivedAt = Date.now();
    this.now = this.receivedAt;
    if (p && !this.ticker) {
      this.ticker = setInterval(() => (this.now = Date.now()), 1000);
    } else if (!p && this.ticker) {
      clearInterval(this.ticker);
      this.ticker = null;
    }
  }
}

export const jobs = new JobState();
