/**
 * The review queue and the selection: every inspect part under the active model, sorted by
 * score (highest first, unscored last), filtered locally by status, with counts per filter.
 * Verdicts and undo go through here; after a verdict the next UNREVIEWED part opens.
 */
import type { PartDetail, QueueEntry, QueueFilter, RegionSetData, VerdictValue } from '../../../src-main/shared/api';
import { api, describeError } from '../lib/api';
import { limiter } from '../lib/concurrency';
import { loadPart, prefetchParts, type LoadedPart } from '../lib/parts';
import { project } from './project.svelte';

export const FILTERS: readonly QueueFilter[] = ['all', 'unreviewed', 'flagged', 'passed', 'good', 'defect'];

export const FILTER_LABEL: Record<QueueFilter, string> = {
  all: 'All',
  unreviewed: 'Unreviewed',
  flagged: 'Flagged',
  passed: 'Passed',
  good: 'Good',
  defect: 'Defect',
};

export function matchesFilter(e: QueueEntry, f: QueueFilter): boolean {
  switch (f) {
    case 'all':
      return true;
    case 'unreviewed':
      return e.verdict === null;
    case 'flagged':
      return e.flagged;
    case 'passed':
      return e.score !== null && !e.flagged;
    case 'good':
      return e.verdict === 'good';
    case 'defect':
      return e.verdict === 'defect';
  }
}

function byScore(a: QueueEntry, b: QueueEntry): number {
  const sa = a.score ?? -Infinity;
  const sb = b.score ?? -Infinity;
  if (sa !== sb) return sb - sa;
  return a.imageId - b.imageId;
}

const thumbLimit = limiter(4);

export class QueueState {
  entries = $state.raw<QueueEntry[]>([]);
  filter = $state<QueueFilter>('all');
  selectedId = $state<number | null>(null);
  loading = $state(false);
  loaded = $state(false);
  detail = $state.raw<PartDetail | null>(null);
  /** The selected part's photo and heatmap, once loaded. */
  part = $state.raw<LoadedPart | null>(null);
  partLoading = $state(false);
  partError = $state<{ message: string; file?: string } | null>(null);
  /** A verdict or undo call is in flight (keys are ignored meanwhile: no double verdicts). */
  saving = $state(false);

  /** The selection was made by load(), not by the reviewer: a later load may pick better. */
  private autoSelected = false;
  private detailSeq = 0;
  private partSeq = 0;
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a request cache, not UI state
  private thumbs = new Map<number, Promise<string>>();

  readonly visible = $derived(this.entries.filter((e) => matchesFilter(e, this.filter)));
  readonly counts = $derived.by(() => {
    const c: Record<QueueFilter, number> = { all: 0, unreviewed: 0, flagged: 0, passed: 0, good: 0, defect: 0 };
    for (const e of this.entries) for (const f of FILTERS) if (matchesFilter(e, f)) c[f] += 1;
    return c;
  });
  readonly selected = $derived(this.entries.find((e) => e.imageId === this.selectedId) ?? null);
  readonly position = $derived(this.visible.findIndex((e) => e.imageId === this.selectedId));
  readonly defectTypes = $derived(
    this.entries
      .map((e) => e.defectType)
      .filter((t, i, all): t is string => !!t && all.indexOf(t) === i)
      .sort(),
  );
  readonly scoredCount = $derived(this.entries.filter((e) => e.score !== null).length);

  /** (Re)loads the queue; keeps the selection when the part is still there. */
  async load(): Promise<void> {
    this.loading = true;
    try {
      const list = await api.review.queue({ filter: 'all' });
      this.entries = [...list].sort(byScore);
      this.loaded = true;
      if (this.selectedId === null || this.autoSelected || !this.entries.some((e) => e.imageId === this.selectedId)) {
        // The highest-scoring unreviewed part, else the top of the list.
        const first = this.entries.find((e) => e.verdict === null && e.score !== null) ?? this.visible[0] ?? this.entries[0];
        this.select(first?.imageId ?? null);
        this.autoSelected = true;
      } else {
        void this.loadDetail(this.selectedId);
        void this.loadView(this.selectedId);
      }
    } finally {
      this.loading = false;
    }
  }

  reset(): void {
    this.entries = [];
    this.loaded = false;
    this.selectedId = null;
    this.autoSelected = false;
    this.detail = null;
    this.part = null;
    this.partError = null;
    this.filter = 'all';
    this.thumbs.clear();
  }

  select(imageId: number | null): void {
    this.autoSelected = false;
    this.selectedId = imageId;
    if (imageId === null) {
      this.detail = null;
      this.part = null;
      return;
    }
    void this.loadDetail(imageId);
    void this.loadView(imageId);
    // Warm the viewer for the neighbours in the visible order.
    const i = this.visible.findIndex((e) => e.imageId === imageId);
    if (i >= 0) {
      const next = [this.visible[i + 1], this.visible[i - 1], this.visible[i + 2]].filter((e): e is QueueEntry => !!e).map((e) => e.imageId);
      prefetchParts(next, project.modelVersion);
    }
  }

  /** Loads the photo and heatmap of a part for the viewer (latest request wins). */
  async loadView(imageId: number): Promise<void> {
    const seq = ++this.partSeq;
    this.partLoading = true;
    this.partError = null;
    try {
      const p = await loadPart(imageId, project.modelVersion);
      if (seq === this.partSeq) this.part = p;
    } catch (e) {
      if (seq === this.partSeq) {
        const d = describeError(e);
        this.part = null;
        this.partError = { message: d.message, ...(d.file ? { file: d.file } : {}) };
      }
    } finally {
      if (seq === this.partSeq) this.partLoading = false;
    }
  }

  private async loadDetail(imageId: number): Promise<void> {
    const seq = ++this.detailSeq;
    if (this.detail && this.detail.entry.imageId !== imageId) this.detail = null;
    try {
      const d = await api.review.part({ imageId });
      if (seq === this.detailSeq) this.detail = d;
    } catch {
      // the part view still shows the queue entry; history stays empty
      if (seq === this.detailSeq) this.detail = null;
    }
  }

  /** Moves the selection by `delta` within the visible (filtered) list. */
  move(delta: number): void {
    const list = this.visible;
    if (list.length === 0) return;
    let i = this.position;
    if (i < 0) {
      // The selected part is not in this filter: start from its place in the full order.
      const at = this.entries.findIndex((e) => e.imageId === this.selectedId);
      const after = list.findIndex((e) => this.entries.indexOf(e) > at);
      i = delta > 0 ? (after < 0 ? list.length : after) - 1 : after < 0 ? list.length : after;
    }
    const j = Math.max(0, Math.min(list.length - 1, i + delta));
    const target = list[j];
    if (target && target.imageId !== this.selectedId) this.select(target.imageId);
  }

  setFilter(f: QueueFilter): void {
    this.filter = f;
    if (!this.visible.some((e) => e.imageId === this.selectedId)) this.select(this.visible[0]?.imageId ?? this.selectedId);
  }

  cycleFilter(): void {
    const i = FILTERS.indexOf(this.filter);
    this.setFilter(FILTERS[(i + 1) % FILTERS.length] ?? 'all');
  }

  /** The next unreviewed part after `fromId` (in this filter first, then anywhere), wrapping. */
  nextUnreviewed(fromId: number): number | null {
    const list = this.entries;
    const n = list.length;
    const start = list.findIndex((e) => e.imageId === fromId);
    for (const inFilter of [true, false]) {
      for (let k = 1; k <= n; k++) {
        const e = list[(start + k + n) % n];
        if (!e || e.imageId === fromId || e.verdict !== null) continue;
        if (inFilter && !matchesFilter(e, this.filter)) continue;
        return e.imageId;
      }
    }
    return null;
  }

  private replace(updated: QueueEntry): void {
    this.entries = this.entries.map((e) => (e.imageId === updated.imageId ? updated : e));
  }

  /**
   * Records a verdict on the selected part and opens the next unreviewed one.
   * Returns false when nothing is left to review.
   */
  async verdict(verdict: VerdictValue, defectType: string | null, regions: RegionSetData | null = null): Promise<boolean> {
    const sel = this.selected;
    if (!sel || this.saving) return true;
    this.saving = true;
    try {
      const updated = await api.review.verdict({ imageId: sel.imageId, verdict, defectType: verdict === 'defect' ? defectType : null,
        ...(verdict === 'defect' && regions ? { regions } : {}),
      });
      this.replace(updated);
      const next = this.nextUnreviewed(sel.imageId);
      if (next !== null) this.select(next);
      else void this.loadDetail(sel.imageId);
      return next !== null;
    } finally {
      this.saving = false;
    }
  }

  /** Undoes the last verdict on the selected part. Returns false when there was none. */
  async undo(): Promise<boolean> {
    const sel = this.selected;
    if (!sel || this.saving) return true;
    if (sel.verdict === null) return false;
    this.saving = true;
    try {
      const updated = await api.review.undo({ imageId: sel.imageId });
      this.replace(updated);
      void this.loadDetail(sel.imageId);
      return true;
    } finally {
      this.saving = false;
    }
  }

  /** The part's thumbnail as a data: URL (lazy, cached, at most 4 requests at once). */
  thumbnail(imageId: number): Promise<string> {
    let p = this.thumbs.get(imageId);
    if (!p) {
      p = thumbLimit(() => api.images.thumbnail({ imageId })).then((t) => `data:${t.mime};base64,${t.dataBase64}`);
      p.catch(() => this.thumbs.delete(imageId));
      this.thumbs.set(imageId, p);
    }
    return p;
  }
}

export const queue = new QueueState();
