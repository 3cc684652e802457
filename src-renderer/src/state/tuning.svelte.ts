/**
 * Threshold tuning: the candidate threshold and everything the tuning screen shows for it.
 *
 * The main side computes every figure (`threshold.stats`: confusion, recall, precision,
 * review load, per-type recall, curves, the zero-miss proposal, the bands); nothing is
 * recomputed here. Two queries:
 *   - the BASE query (no threshold: the one in force) gives the histogram and the score range
 *     the slider spans; it is redone only when the data change (project event, log toggle);
 *   - the CANDIDATE query (threshold = the candidate, the margin, the reject threshold) gives
 *     the rest; the slider re-sends it debounced (~80 ms), late answers are dropped.
 *
 * A candidate that came from "Use zero-miss threshold" stays LINKED to the proposal: changing
 * the margin moves it with the proposal, and `threshold.set` records that margin. Moving the
 * slider (or typing a value) unlinks it. Values are kept exact, never snapped to the slider's
 * step: rounding a zero-miss threshold up could pass the weakest reviewed defect.
 */
import type { ArgsOf, ProjectState, ReportExport, ThresholdInfo, TuningData } from '../../../src-main/shared/api';
import { api, describeError, isApiCallError, onEvent, transportKind } from '../lib/api';
import { project } from './project.svelte';
import { queue } from './queue.svelte';
import { toasts } from './toasts.svelte';

export type MarginKind = 'absolute' | 'spread';
export type ReportFormat = ReportExport['format'];
/** Where the candidate came from. */
export type CandidateSource = 'in-force' | 'slider' | 'zero-miss';

export const REPORT_FORMATS: readonly { id: ReportFormat; label: string }[] = [
  { id: 'pdf', label: 'PDF' },
  { id: 'html', label: 'HTML' },
  { id: 'csv', label: 'CSV' },
  { id: 'json', label: 'JSON' },
];

const MIME: Record<ReportFormat, string> = {
  pdf: 'application/pdf',
  html: 'text/html',
  csv: 'text/csv',
  json: 'application/json',
};

/** Slider re-query delay (ms): live while dragging, without one call per pixel. */
export const DRAG_DEBOUNCE_MS = 80;
const EVENT_DEBOUNCE_MS = 200;
const BINS = 40;

// ---- formatting (never NaN, never undefined) ------------------------------------------------

/** A threshold or score: 4 decimals, as the audit report prints them. */
export function fmtT(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 10000) return v.toFixed(0);
  if (a >= 1000) return v.toFixed(2);
  return v.toFixed(4);
}

/** A share as a percentage with one decimal ("—" when undefined). */
export function fmtPct(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  return `${(100 * x).toFixed(1)} %`;
}

/** The margin as entered (a plain number, "—" when not a number). */
export function fmtMargin(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return String(Number(v.toPrecision(6)));
}

export function fmtCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}

/** A finite number or null (inputs, API values). */
function finite(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export interface ExportResult extends ReportExport {
  /** Object URL of the file for a browser download (null in the desktop app or when too large). */
  url: string | null;
  name: string;
}

export class TuningState {
  /** Figures at the candidate. */
  data = $state.raw<TuningData | null>(null);
  /** Figures at the threshold in force: the histogram and the slider's range. */
  base = $state.raw<TuningData | null>(null);
  loading = $state(false);
  /** A candidate query is scheduled or in flight (the figures shown lag the slider). */
  pending = $state(false);
  error = $state<{ title: string; message: string } | null>(null);

  candidate = $state<number | null>(null);
  source = $state<CandidateSource>('in-force');
  log = $state(false);
  marginKind = $state<MarginKind>('spread');
  /** The margin as entered: score units ('absolute') or a share of the good-score spread ('spread'). */
  marginValue = $state(0.1);
  bandsOn = $state(false);
  reject = $state<number | null>(null);

  reason = $state('');
  applying = $state(false);

  exportFormat = $state<ReportFormat>('pdf');
  exportFrom = $state('');
  exportTo = $state('');
  exporting = $state(false);
  lastExport = $state.raw<ExportResult | null>(null);

  private seq = 0;
  private baseSeq = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private eventTimer: ReturnType<typeof setTimeout> | null = null;
  private modelSeen: number | null | undefined = undefined;
  private dirSeen: string | null = null;

  // ---- derived --------------------------------------------------------------------------

  readonly inForce = $derived<ThresholdInfo | null>(project.threshold);
  readonly modelVersion = $derived(this.base?.modelVersion ?? project.modelVersion);
  /** Scored parts (reviewed or not). */
  readonly scored = $derived(this.base?.reviewLoad.total ?? 0);
  readonly marginOk = $derived(Number.isFinite(this.marginValue) && this.marginValue >= 0);
  readonly zeroMiss = $derived(this.data?.zeroMiss ?? this.base?.zeroMiss ?? null);
  readonly proposal = $derived(this.zeroMiss?.status === 'ok' ? this.zeroMiss.threshold : null);
  /** The candidate equals the zero-miss proposal (to the last bit). */
  readonly atProposal = $derived(this.proposal !== null && this.candidate === this.proposal);

  /** Score range of the slider and the histogram's x axis: every score, the thresholds in view, a little headroom. */
  readonly range = $derived.by(() => {
    const edges = this.base?.histogram.edges ?? [];
    let lo = edges.length > 0 ? edges[0]! : 0;
    let hi = edges.length > 0 ? edges[edges.length - 1]! : 1;
    for (const v of [this.candidate, this.proposal, this.inForce?.value ?? null, this.bandsOn ? this.reject : null, this.inForce?.reviewUpper ?? null]) {
      if (v === null || !Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi > lo)) {
      lo -= 0.5;
      hi += 0.5;
    }
    const span = hi - lo;
    // Headroom above the top score so "nothing flagged" is reachable.
    return { lo: lo - span * 0.01, hi: hi + span * 0.03 };
  });
  readonly step = $derived((this.range.hi - this.range.lo) / 1000);

  readonly reasonOk = $derived(this.reason.trim().length > 0);
  readonly rejectOk = $derived(this.reject !== null && this.candidate !== null && this.reject >= this.candidate);
  readonly canApply = $derived(
    this.candidate !== null &&
      this.reasonOk &&
      !this.applying &&
      !this.pending &&
      this.data !== null &&
      (!this.bandsOn || this.rejectOk) &&
      // a zero-miss candidate is applied with its margin: that must be a valid number
      (this.source !== 'zero-miss' || this.marginOk),
  );
  /** The candidate differs from the threshold in force. */
  readonly changed = $derived(this.candidate !== null && (this.inForce === null || this.candidate !== this.inForce.value || (this.bandsOn ? this.reject : null) !== this.inForce.reviewUpper));
  readonly history = $derived([...(this.data?.history ?? this.base?.history ?? [])].reverse());

  // ---- lifecycle --------------------------------------------------------------------------

  /** Wires the project events and loads; returns the detach function (call it on unmount). */
  attach(): () => void {
    const off = onEvent((e) => {
      if (e.topic === 'project') this.onProject(e.state);
    });
    void this.reload();
    return () => {
      off();
      if (this.timer) clearTimeout(this.timer);
      if (this.eventTimer) clearTimeout(this.eventTimer);
      this.timer = null;
      this.eventTimer = null;
    };
  }

  private onProject(st: ProjectState | null): void {
    if (st === null) {
      this.reset();
      return;
    }
    // Any change (verdicts, a new model, a threshold set here or elsewhere): refresh, debounced.
    if (this.eventTimer) clearTimeout(this.eventTimer);
    this.eventTimer = setTimeout(() => {
      this.eventTimer = null;
      void this.reload();
    }, EVENT_DEBOUNCE_MS);
  }

  reset(): void {
    this.data = null;
    this.base = null;
    this.candidate = null;
    this.source = 'in-force';
    this.reject = null;
    this.bandsOn = false;
    this.error = null;
    this.modelSeen = undefined;
    this.dirSeen = null;
  }

  /** Reloads the base (histogram, range) and then the candidate's figures. */
  async reload(): Promise<void> {
    const dir = project.state?.dir ?? null;
    if (dir !== this.dirSeen) {
      this.reset();
      this.dirSeen = dir;
    }
    if (dir === null) return;
    const seq = ++this.baseSeq;
    this.loading = this.base === null;
    try {
      const base = await api.threshold.stats({ log: this.log, bins: BINS, ...(this.marginOk ? { margin: { kind: this.marginKind, value: this.marginValue } } : {}) });
      if (seq !== this.baseSeq) return;
      if (this.modelSeen !== undefined && this.modelSeen !== base.modelVersion) {
        // Another model: scores are in other units; start again from its threshold in force.
        this.candidate = null;
        this.source = 'in-force';
        this.reject = null;
      }
      this.modelSeen = base.modelVersion;
      this.base = base;
      this.error = null;
      if (this.candidate === null) {
        this.candidate = base.threshold;
        this.source = 'in-force';
        const upper = project.threshold?.reviewUpper ?? null;
        if (upper !== null && this.reject === null) {
          this.reject = upper;
          this.bandsOn = true;
        }
      }
      await this.fetch();
    } catch (e) {
      if (seq === this.baseSeq) this.error = describeError(e);
    } finally {
      if (seq === this.baseSeq) this.loading = false;
    }
  }

  private args(): ArgsOf<'threshold.stats'> {
    const a: ArgsOf<'threshold.stats'> = { bins: BINS, log: this.log };
    if (this.candidate !== null) a.threshold = this.candidate;
    if (this.marginOk) a.margin = { kind: this.marginKind, value: this.marginValue };
    if (this.bandsOn && this.rejectOk) a.reject = this.reject;
    return a;
  }

  /** Queries the candidate's figures now (late answers of earlier queries are dropped). */
  private async fetch(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const seq = ++this.seq;
    this.pending = true;
    try {
      const d = await api.threshold.stats(this.args());
      if (seq !== this.seq) return;
      this.data = d;
      this.error = null;
      // A linked candidate follows the proposal (the margin changed).
      if (this.source === 'zero-miss') {
        if (d.zeroMiss.status === 'ok' && d.zeroMiss.threshold !== this.candidate) {
          this.candidate = d.zeroMiss.threshold;
          this.keepRejectAbove();
          await this.fetch();
          return;
        }
        if (d.zeroMiss.status !== 'ok') this.source = 'slider';
      }
    } catch (e) {
      if (seq === this.seq) this.error = describeError(e);
    } finally {
      if (seq === this.seq) this.pending = false;
    }
  }

  private schedule(delay = DRAG_DEBOUNCE_MS): void {
    this.pending = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.fetch();
    }, delay);
  }

  private keepRejectAbove(): void {
    if (this.candidate === null) return;
    if (this.reject === null || this.reject < this.candidate) this.reject = this.candidate;
  }

  // ---- actions ------------------------------------------------------------------------------

  /** The slider, the number field or a click on the histogram (unlinks the proposal). */
  setCandidate(v: number): void {
    const x = finite(v);
    if (x === null) return;
    this.candidate = x;
    this.source = 'slider';
    this.keepRejectAbove();
    this.schedule();
  }

  /** Moves the candidate to the zero-miss proposal and links it (its margin is recorded on apply). */
  useZeroMiss(): void {
    if (this.proposal === null) return;
    this.candidate = this.proposal;
    this.source = 'zero-miss';
    this.keepRejectAbove();
    void this.fetch();
  }

  /** Back to the threshold in force. */
  revert(): void {
    const t = this.inForce;
    if (!t) return;
    this.candidate = t.value;
    this.source = 'in-force';
    this.reject = t.reviewUpper;
    this.bandsOn = t.reviewUpper !== null;
    void this.fetch();
  }

  setMargin(kind: MarginKind, value: number): void {
    if (kind !== this.marginKind) {
      // A sensible start in the other unit: 10 % of the spread, or 1 % of the score range.
      this.marginKind = kind;
      this.marginValue = kind === 'spread' ? 0.1 : Number(((this.range.hi - this.range.lo) * 0.01).toPrecision(2));
    } else {
      this.marginValue = value;
    }
    if (this.marginOk) this.schedule(150);
  }

  setLog(on: boolean): void {
    this.log = on;
    void this.reload();
  }

  setBands(on: boolean): void {
    this.bandsOn = on;
    if (on && this.candidate !== null && (this.reject === null || this.reject < this.candidate)) {
      // Start the reject threshold halfway between the candidate and the top score.
      const top = this.base?.histogram.edges.at(-1) ?? this.candidate;
      this.reject = top > this.candidate ? this.candidate + (top - this.candidate) / 2 : this.candidate;
    }
    void this.fetch();
  }

  setReject(v: number): void {
    const x = finite(v);
    if (x === null) return;
    this.reject = this.candidate !== null ? Math.max(x, this.candidate) : x;
    this.schedule();
  }

  /** `threshold.set` with the reason (and the margin when the candidate is the zero-miss proposal). */
  async apply(): Promise<boolean> {
    const value = this.candidate;
    const reason = this.reason.trim();
    if (value === null || reason.length === 0 || this.applying) return false;
    // The threshold this screen shows in force: another station's change since is refused (CONFLICT, naming who) rather than overwritten.
    const args: ArgsOf<'threshold.set'> = { value, reason, basedOn: project.state?.threshold?.id ?? null };
    if (this.source === 'zero-miss' && this.marginOk) {
      args.margin = this.marginValue;
      args.marginKind = this.marginKind;
    }
    if (this.bandsOn && this.reject !== null && this.reject >= value) args.reviewUpper = this.reject;
    this.applying = true;
    try {
      const st = await api.threshold.set(args);
      project.set(st);
      this.reason = '';
      this.source = 'in-force';
      // The queue re-flags and re-sorts at the new threshold; the scores do not change.
      void queue.load().catch(() => {});
      await this.reload();
      // Another reload (the project-state event of this very change) may have overtaken ours and
      // left `data` one version behind: number the toast from the history as it is now.
      const n = (await api.threshold.stats({ bins: 10 })).history.length;
      toasts.success(`Threshold v${n} set`, `${fmtT(value)} on model v${st.activeModel?.version ?? '—'}${args.reviewUpper !== undefined ? `, reject at ${fmtT(args.reviewUpper)}` : ''}. The queue is re-flagged; nothing is rescored.`);
      return true;
    } catch (e) {
      toasts.error(e);
      // Another station changed it meanwhile: show the threshold now in force (the candidate stays).
      if (isApiCallError(e) && e.code === 'CONFLICT') void project.refresh().catch(() => {});
      return false;
    } finally {
      this.applying = false;
    }
  }

  readonly periodOk = $derived(this.exportFrom === '' || this.exportTo === '' || this.exportFrom <= this.exportTo);

  /** `report.export`; in a browser the file is also offered as a download. */
  async exportReport(): Promise<ExportResult | null> {
    if (this.exporting || !this.periodOk) return null;
    this.exporting = true;
    try {
      const r = await api.report.export({
        format: this.exportFormat,
        ...(this.exportFrom ? { from: this.exportFrom } : {}),
        ...(this.exportTo ? { to: this.exportTo } : {}),
      });
      if (this.lastExport?.url) URL.revokeObjectURL(this.lastExport.url);
      const name = r.file.split(/[\\/]/).pop() || `audit-report.${r.format}`;
      let url: string | null = null;
      if (transportKind === 'http' && r.dataBase64) {
        const bytes = Uint8Array.from(atob(r.dataBase64), (c) => c.charCodeAt(0));
        url = URL.createObjectURL(new Blob([bytes], { type: MIME[r.format] }));
      }
      const out: ExportResult = { ...r, dataBase64: null, url, name };
      this.lastExport = out;
      if (r.auditOk) toasts.success('Audit report written', `${r.parts} reviewed part${r.parts === 1 ? '' : 's'} · audit trail verified`);
      else toasts.warning('Audit report written, but the audit trail does NOT verify', 'See the report for what does not match.');
      return out;
    } catch (e) {
      toasts.error(e);
      return null;
    } finally {
      this.exporting = false;
    }
  }
}

export const tuning = new TuningState();
