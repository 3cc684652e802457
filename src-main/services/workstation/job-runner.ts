/**
 * The workstation's one running job (fit, score, refit, learn, compare): progress with an
 * ETA per phase, cancel (also before the engine job exists, or between two engine jobs of
 * one use-case), and the done / failed events. One job at a time: a second start is a
 * CONFLICT naming the running one.
 */
import { randomUUID } from 'node:crypto';
import type { EngineClient } from '../../jobs/engine-client';
import type { JobKind, JobProgress, KensaEvent } from '../../shared/api';
import { KensaError } from '../../shared/errors';
import type { Engine } from '../project-service';
import { toApiError } from './dto';

export type ProgressHandler = (p: { phase: string; done: number; total: number }) => void;
export type JobBody = (handlers: { onProgress: ProgressHandler }, setCancel: (c: () => void) => void) => Promise<{ summary: string; dropped?: number; version?: number }>;

interface RunningJob {
  id: string;
  kind: JobKind;
  cancel: () => void;
  progress: JobProgress;
  started: number;
  phaseStarted: number;
}

export class JobRunner {
  private job: RunningJob | null = null;

  constructor(
    private readonly engine: EngineClient,
    private readonly emit: (e: KensaEvent) => void,
    /** Called when a job starts and after it ends (the project state shows the job). */
    private readonly onChange: () => void,
  ) {}

  get running(): { id: string; kind: JobKind } | null {
    return this.job;
  }

  get progress(): JobProgress | null {
    return this.job?.progress ?? null;
  }

  /** Throws CONFLICT when a job runs: `what` says what would have been done. */
  assertIdle(what: string): void {
    if (this.job) throw new KensaError('CONFLICT', `a job is running: ${what}`);
  }

  cancel(jobId: string): void {
    if (!this.job || this.job.id !== jobId) throw new KensaError('NOT_FOUND', `no running job ${jobId}`);
    this.job.cancel();
  }

  cancelAny(): void {
    this.job?.cancel();
  }

  start(kind: JobKind, run: JobBody): { jobId: string } {
    if (this.job) throw new KensaError('CONFLICT', `a ${this.job.kind} job is already running`);
    const id = randomUUID();
    const now = performance.now();
    let cancelled = false;
    let cancelEngine: (() => void) | null = null;
    const setCancel = (c: () => void): void => {
      cancelEngine = c;
      if (cancelled) c();
    };
    const job: RunningJob = {
      id,
      kind,
      cancel: () => {
        cancelled = true;
        cancelEngine?.();
      },
      started: now,
      phaseStarted: now,
      progress: { jobId: id, kind, phase: 'starting', done: 0, total: 0, elapsedSeconds: 0, etaSeconds: null },
    };
    this.job = job;
    const onProgress: ProgressHandler = (p) => {
      const t = performance.now();
      if (p.phase !== job.progress.phase) job.phaseStarted = t;
      const phaseSecs = (t - job.phaseStarted) / 1000;
      const eta = p.done > 0 && p.total > p.done ? (phaseSecs / p.done) * (p.total - p.done) : p.total > 0 && p.done >= p.total ? 0 : null;
      job.progress = { jobId: id, kind, phase: p.phase, done: p.done, total: p.total, elapsedSeconds: (t - job.started) / 1000, etaSeconds: eta };
      this.emit({ topic: 'job', event: { type: 'progress', progress: job.progress } });
    };
    this.onChange();
    void run({ onProgress }, setCancel)
      .then((r) => {
        this.job = null;
        this.emit({ topic: 'job', event: { type: 'done', jobId: id, kind, summary: r.summary, ...(r.dropped === undefined ? {} : { dropped: r.dropped }), ...(r.version === undefined ? {} : { version: r.version }) } });
      })
      .catch((e: unknown) => {
        this.job = null;
        this.emit({ topic: 'job', event: { type: 'failed', jobId: id, kind, error: toApiError(e) } });
      })
      .finally(() => this.onChange());
    return { jobId: id };
  }

  /** The engine for a project job, capturing each engine job's cancel for `jobs.cancel`. */
  cancellableEngine(setCancel: (c: () => void) => void): Engine {
    const engine = this.engine;
    return {
      run: ((job, handlers) => {
        const h = engine.run(job, handlers);
        setCancel(h.cancel);
        return h;
      }) as Engine['run'],
    };
  }
}
