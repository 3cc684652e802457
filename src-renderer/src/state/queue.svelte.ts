/**
 * The review queue and the selection: the inspect parts under the active model, sorted by
 * score (highest first, unscored last), read from the host a page at a time for the current
 * filter (keyset pages: see QueuePage), with the host's counts per filter.
 * Verdicts and undo go through here; after a verdict the next UNREVIEWED part opens.
 *
 * Several stations on one project: the open part is claimed for this station (`review.claim`,
 * once the selection rests on it, renewed every minute while it stays open, released when the
 * selection moves on or the project closes), so that the others see who is reviewing it.
 * J / K and the part opened after a verdict pass over parts another station is reviewing
 * while an unclaimed one is left (a click still opens any part). The change feed ('station'
 * events) keeps the loaded parts current: another station's verdict refreshes that part (and
 * the open part's history), a claim notice updates that part's `claim`, and 'any' (a
 * one-machine SQLite project, polled) reloads the loaded pages; none of it moves the selection.
 */
import type { ClaimInfo, PartDetail, ProjectState, QueueCursor, QueueEntry, QueueFilter, QueuePage, RegionSetData, StationChange, VerdictValue } from '../../../src-main/shared/api';
import { api, describeError, sendOnExit } from '../lib/api';
import { claimedElsewhere, claimFromChange, nextFreeIndex, otherClaim } from '../lib/claims';
import { limiter } from '../lib/concurrency';
import { loadPart, prefetchParts, type LoadedPart } from '../lib/parts';
import { project } from './project.svelte';
import { stations } from './stations.svelte';

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

/** Parts per page asked of the host (it allows up to 500). */
export const PAGE_SIZE = 200;

const NO_COUNTS: Record<QueueFilter, number> = { all: 0, unreviewed: 0, flagged: 0, passed: 0, good: 0, defect: 0 };

const thumbLimit = limiter(4);
/** Thumbnails kept in memory (about 5 KB each). */
const THUMB_CACHE = 400;
/** Thumbnails wait at most this long for the selected part's view (the part comes first). */
const THUMB_WAIT_MS = 1500;
/** Parts below the selection whose photo and map are loaded ahead (J shows them from memory). */
const PREFETCH_AHEAD = 3;
/** The open part is claimed once the selection has rested on it this long (J held down claims nothing on the way). */
const CLAIM_DELAY_MS = 250;
/** A claim lasts 120 s on the host: renewed every minute while the part stays open. */
const CLAIM_RENEW_MS = 60_000;
/** Change-feed notices that need a reload (or new counts) are gathered this long. */
const CHANGE_DEBOUNCE_MS = 1000;
/** Other stations' claims that ran out without a notice (a station that died) are dropped this often. */
const CLAIM_SWEEP_MS = 15_000;

/** The unreviewed scored part a (re)load opens: the highest-scoring one no other station is reviewing, else the highest-scoring one. */
function firstToOpen(items: readonly QueueEntry[]): QueueEntry | undefined {
  const open = (e: QueueEntry): boolean => e.verdict === null && e.score !== null;
  return items.find((e) => open(e) && !claimedElsewhere(e)) ?? items.find(open);
}

function sameClaim(a: ClaimInfo | null | undefined, b: ClaimInfo | null | undefined): boolean {
  if (!a || !b) return !a && !b;
  return a.station === b.station && a.reviewer === b.reviewer && a.expiresAt === b.expiresAt && a.mine === b.mine;
}

export class QueueState {
  /**
   * The pages of the current filter read so far, in queue order (score desc, unscored last,
   * then id). The host pages on (score, id), which no verdict changes, so appending the next
   * page never repeats nor skips a part that still matches the filter.
   */
  entries = $state.raw<QueueEntry[]>([]);
  /** Where the next page starts; null when every page of this filter is loaded. */
  next = $state.raw<QueueCursor | null>(null);
  /** Parts per filter in the whole queue (from the host, kept up to date after verdicts). */
  counts = $state.raw<Record<QueueFilter, number>>(NO_COUNTS);
  filter = $state<QueueFilter>('all');
  selectedId = $state<number | null>(null);
  loading = $state(false);
  loadingMore = $state(false);
  loaded = $state(false);
  detail = $state.raw<PartDetail | null>(null);
  /** The selected part's photo and heatmap, once loaded. */
  part = $state.raw<LoadedPart | null>(null);
  partLoading = $state(false);
  partError = $state<{ message: string; file?: string } | null>(null);
  /** A verdict or undo call is in flight (keys are ignored meanwhile: no double verdicts). */
  saving = $state(false);
  /**
   * The open part's claim: this station's (it is reviewing the part) or another station's
   * (the part panel says who is reviewing it there). Null: unclaimed, or not asked yet.
   */
  claim = $state.raw<ClaimInfo | null>(null);

  /** The selection was made by load(), not by the reviewer: a later load may pick better. */
  private autoSelected = false;
  private detailSeq = 0;
  private partSeq = 0;
  /** Bumped by every (re)load: pages of an older load are dropped. */
  private gen = 0;
  /** Thumbnails as data: URLs, most recently used last (at most THUMB_CACHE: memory stays flat however far the list is scrolled). */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a request cache, not UI state
  private thumbs = new Map<number, Promise<string>>();
  /** How many shown rows want each thumbnail (see releaseThumbnail). */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- request bookkeeping, not UI state
  private thumbWanted = new Map<number, number>();
  /** Settles when the selected part's view has loaded: thumbnails wait for it (the part comes first). */
  private viewSettled: Promise<void> = Promise.resolve();
  /** The first pages, asked for at start-up before the project state is known (see warmStart). */
  private warm: { all: Promise<QueuePage>; unreviewed: Promise<QueuePage> } | null = null;
  /** The part this page holds a claim on (released when the selection moves away). */
  private held: number | null = null;
  /** This station's name as its own claims tell it (until stations.status has said). */
  private myStation: string | null = null;
  private claimTimer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by every selection: a claim answer for an older one is not shown. */
  private claimSeq = 0;
  private reloadTimer: ReturnType<typeof setTimeout> | null = null;
  private countsTimer: ReturnType<typeof setTimeout> | null = null;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  /** Refreshes of one part after a change notice, latest wins. */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- request bookkeeping, not UI state
  private refreshSeq = new Map<number, number>();

  /** The loaded parts that match the filter (a part reviewed out of it drops out at once). */
  readonly visible = $derived(this.entries.filter((e) => matchesFilter(e, this.filter)));
  /** Parts in this filter in the whole queue (loaded or not). */
  readonly total = $derived(this.counts[this.filter]);
  readonly hasMore = $derived(this.next !== null);
  /** The selected part: from the loaded pages, else (a part further down) from its detail. */
  readonly selected = $derived(
    this.entries.find((e) => e.imageId === this.selectedId) ?? (this.detail && this.detail.entry.imageId === this.selectedId ? this.detail.entry : null),
  );
  readonly position = $derived(this.visible.findIndex((e) => e.imageId === this.selectedId));
  /** Another station is reviewing the open part: its claim (the part panel's banner); else null. */
  readonly heldElsewhere = $derived(this.claim && this.claim.imageId === this.selectedId && !this.claim.mine ? this.claim : null);
  /** Defect types named on the loaded parts (suggestions for the defect prompt). */
  readonly defectTypes = $derived(
    this.entries
      .map((e) => e.defectType)
      .filter((t, i, all): t is string => !!t && all.indexOf(t) === i)
      .sort(),
  );
  readonly scoredCount = $derived(this.counts.flagged + this.counts.passed);

  /**
   * (Re)loads the queue of the current filter from its first page, as many pages as were
   * loaded before (so the selection stays in the list); keeps the selection when it can.
   */
  async load(opts: { fresh?: boolean; keep?: boolean } = {}): Promise<void> {
    const gen = ++this.gen;
    const want = opts.fresh ? PAGE_SIZE : Math.max(PAGE_SIZE, this.entries.length);
    const filter = this.filter;
    // `keep` (a reload for changes made elsewhere): the open part stays open, whoever chose it.
    const autoSelect = this.selectedId === null || (this.autoSelected && !opts.keep);
    this.loading = true;
    // Pages asked for at start-up (warmStart) serve the first load of the 'all' filter.
    const warm = this.warm && filter === 'all' && want === PAGE_SIZE ? this.warm : null;
    this.warm = null;
    // The part to open when the first page holds no unreviewed scored part: asked for at the
    // same time as the page, not after it (one round trip less before the first part shows).
    const unreviewed = autoSelect ? (warm ? warm.unreviewed.then((p) => firstToOpen(p.items) ?? p.items[0]) : this.firstUnreviewed()).catch(() => undefined) : null;
    try {
      let items: QueueEntry[] = [];
      let next: QueueCursor | null = null;
      let counts = this.counts;
      do {
        const after: QueueCursor | null = next;
        const ask = (): Promise<QueuePage> => api.review.queue({ filter, limit: Math.min(500, want - items.length), ...(after ? { after } : {}) });
        const page: QueuePage = warm && items.length === 0 ? await warm.all.catch(ask) : await ask();
        if (gen !== this.gen) return;
        items = items.concat(page.items);
        next = page.next;
        counts = page.counts;
      } while (next !== null && items.length < want);
      this.entries = items;
      this.next = next;
      this.counts = counts;
      this.loaded = true;
      this.sweepTimer ??= setInterval(() => this.sweepClaims(), CLAIM_SWEEP_MS);
      if (this.selectedId === null || (this.autoSelected && !opts.keep)) {
        // The highest-scoring unreviewed part (one no other station is reviewing first), else the top of the list.
        let first = firstToOpen(this.entries) ?? null;
        if (!first && this.counts.unreviewed > 0) first = (await (unreviewed ?? this.firstUnreviewed())) ?? null;
        if (gen !== this.gen) return;
        first ??= this.visible[0] ?? this.entries[0] ?? null;
        this.select(first?.imageId ?? null);
        this.autoSelected = true;
      } else {
        void this.loadDetail(this.selectedId);
        if (!opts.keep) void this.loadView(this.selectedId);
        this.syncOpenClaim();
      }
    } finally {
      if (gen === this.gen) this.loading = false;
    }
  }

  /**
   * Start-up: asks for the first page of the queue and the first unreviewed part at once,
   * alongside the project state (`state`), instead of after it; when all three are in, the
   * part the queue will open is loaded into the part cache. The next load() of the 'all'
   * filter takes these pages. With no project open the calls fail and are ignored.
   */
  warmStart(state: Promise<ProjectState | null>): Promise<void> {
    const all = api.review.queue({ filter: 'all', limit: PAGE_SIZE });
    const unreviewed = api.review.queue({ filter: 'unreviewed', limit: 2 });
    this.warm = { all, unreviewed };
    // Settles once the first part has been asked for (or there is none): the caller renders
    // the screen after that, so the part's image is on its way while the screen is drawn.
    return Promise.all([all, unreviewed, state])
      .then(([a, u, st]) => {
        if (!st) return;
        // The same choice as load(): the highest-scoring unreviewed part, else the top of the list.
        const first = firstToOpen(a.items) ?? (a.counts.unreviewed > 0 ? (firstToOpen(u.items) ?? u.items[0]) : undefined) ?? a.items[0];
        if (first) prefetchParts([first.imageId], st.activeModel?.version ?? null);
      })
      .catch(() => {});
  }

  /** The next page of the current filter, appended (no-op when all are loaded or one is in flight). */
  async loadMore(): Promise<void> {
    const after = this.next;
    if (after === null || this.loadingMore || this.loading) return;
    const gen = this.gen;
    const filter = this.filter;
    this.loadingMore = true;
    try {
      const page = await api.review.queue({ filter, after, limit: PAGE_SIZE });
      if (gen !== this.gen || this.next !== after) return;
      // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a local lookup, not UI state
      const have = new Set(this.entries.map((e) => e.imageId));
      this.entries = [...this.entries, ...page.items.filter((e) => !have.has(e.imageId))];
      this.next = page.next;
      this.counts = page.counts;
    } finally {
      this.loadingMore = false;
    }
  }

  /**
   * The highest-scoring unreviewed scored part in the whole queue (one small page from the
   * host); `free`: only one no other station is reviewing (among the first 20).
   */
  private async firstUnreviewed(exclude?: number, free = false): Promise<QueueEntry | undefined> {
    const page = await api.review.queue({ filter: 'unreviewed', limit: free ? 20 : 2 });
    const ok = page.items.filter((e) => e.imageId !== exclude);
    return free ? ok.find((e) => !claimedElsewhere(e)) : (firstToOpen(ok) ?? ok[0]);
  }

  reset(): void {
    this.gen += 1;
    this.entries = [];
    this.next = null;
    this.counts = NO_COUNTS;
    this.loaded = false;
    this.loading = false;
    this.selectedId = null;
    this.autoSelected = false;
    this.detail = null;
    this.part = null;
    this.partError = null;
    this.filter = 'all';
    this.thumbs.clear();
    this.thumbWanted.clear();
    // The host lets this station's claims go when it closes or switches the project.
    for (const t of [this.claimTimer, this.reloadTimer, this.countsTimer]) if (t) clearTimeout(t);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.claimTimer = this.reloadTimer = this.countsTimer = this.sweepTimer = null;
    this.claimSeq += 1;
    this.held = null;
    this.claim = null;
    this.refreshSeq.clear();
  }

  select(imageId: number | null): void {
    this.autoSelected = false;
    this.selectedId = imageId;
    this.followClaim(imageId);
    if (imageId === null) {
      this.detail = null;
      this.part = null;
      return;
    }
    void this.loadDetail(imageId);
    const view = this.loadView(imageId);
    // Warm the viewer for the parts J and K open next, in the visible order: the next
    // PREFETCH_AHEAD below, then the one above; one at a time, after the selected part.
    const i = this.visible.findIndex((e) => e.imageId === imageId);
    if (i >= 0) {
      const next = [...this.visible.slice(i + 1, i + 1 + PREFETCH_AHEAD), this.visible[i - 1]].filter((e): e is QueueEntry => !!e).map((e) => e.imageId);
      void view.then(() => prefetchParts(next, project.modelVersion));
      // Near the end of what is loaded: fetch the next page before J gets there.
      if (i >= this.visible.length - 20) void this.loadMore();
    }
  }

  /** Loads the photo and heatmap of a part for the viewer (latest request wins). */
  loadView(imageId: number): Promise<void> {
    const done = this.showPart(imageId);
    this.viewSettled = done;
    return done;
  }

  private async showPart(imageId: number): Promise<void> {
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

  /**
   * Moves the selection by `delta` within the visible (filtered) list; past the last loaded
   * part it loads the next page first (J / K keep working across page boundaries). ±Infinity
   * (Home / End) go to the first / last LOADED part.
   */
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
    // J / K: over the parts other stations are reviewing, while an unclaimed one is left that way.
    const free = delta === 1 || delta === -1 ? list[nextFreeIndex(list, i, delta)] : undefined;
    if (free) {
      if (free.imageId !== this.selectedId) this.select(free.imageId);
      return;
    }
    if (this.next !== null && (delta === 1 || (Number.isFinite(delta) && i + delta >= list.length))) {
      // Past what is loaded (for J: no unclaimed part left below): the next page first.
      const before = this.entries.length;
      const from = this.selectedId;
      const neighbour = list[i + 1];
      void this.loadMore().then(() => {
        if (this.entries.length > before || this.next === null) this.move(delta);
        else if (delta === 1 && neighbour && this.selectedId === from) this.select(neighbour.imageId);
      });
      return;
    }
    const j = Math.max(0, Math.min(list.length - 1, i + delta));
    const target = list[j];
    if (target && target.imageId !== this.selectedId) this.select(target.imageId);
  }

  /** Shows another filter: its first page from the host (the loaded parts that match show meanwhile). */
  setFilter(f: QueueFilter): void {
    this.filter = f;
    void this.load({ fresh: true }).then(() => {
      if (this.filter === f && !this.visible.some((e) => e.imageId === this.selectedId)) this.select(this.visible[0]?.imageId ?? this.selectedId);
    });
  }

  cycleFilter(): void {
    const i = FILTERS.indexOf(this.filter);
    this.setFilter(FILTERS[(i + 1) % FILTERS.length] ?? 'all');
  }

  /**
   * The next unreviewed part after `fromId`: in this filter first, then anywhere among the
   * loaded parts (loading further pages when none is left below), wrapping; then the
   * highest-scoring unreviewed part of the whole queue. Parts another station is reviewing
   * come last: they open only when no unclaimed unreviewed part is left.
   */
  async nextUnreviewed(fromId: number): Promise<number | null> {
    const gen = this.gen;
    const open = (e: QueueEntry): boolean => e.verdict === null && e.imageId !== fromId;
    for (let pages = 0; ; pages++) {
      const list = this.entries;
      const start = list.findIndex((e) => e.imageId === fromId);
      const below = list.slice(start + 1).find((e) => open(e) && matchesFilter(e, this.filter) && !claimedElsewhere(e));
      if (below) return below.imageId;
      if (this.next === null || pages >= 5 || gen !== this.gen) break;
      await this.loadMore();
      if (this.entries.length === list.length) break;
    }
    for (const free of [true, false]) {
      const list = this.entries;
      const n = list.length;
      const start = list.findIndex((e) => e.imageId === fromId);
      for (const inFilter of [true, false]) {
        for (let k = 1; k <= n; k++) {
          const e = list[(start + k + n) % n];
          if (!e || !open(e)) continue;
          if (inFilter && !matchesFilter(e, this.filter)) continue;
          if (free && claimedElsewhere(e)) continue;
          return e.imageId;
        }
      }
      if (this.counts.unreviewed === 0) return null;
      // Beyond the loaded pages: the host's highest-scoring unreviewed part (an unclaimed one first).
      const e = await this.firstUnreviewed(fromId, free);
      if (e) return e.imageId;
    }
    return null;
  }

  /** Puts the host's updated entry in place, and moves the counts by what changed (against the entry as it is now). */
  private replace(before: QueueEntry, updated: QueueEntry): void {
    const cur = this.entries.find((e) => e.imageId === updated.imageId) ?? before;
    // verdict / undo / part answers carry no claim: the part's claim stays as the feed last said.
    const next: QueueEntry = updated.claim === undefined ? { ...updated, claim: cur.claim ?? null } : updated;
    this.entries = this.entries.map((e) => (e.imageId === next.imageId ? next : e));
    const c = { ...this.counts };
    for (const f of FILTERS) c[f] += Number(matchesFilter(next, f)) - Number(matchesFilter(cur, f));
    this.counts = c;
  }

  // ---- stations: the open part's claim, and the change feed ---------------------------------

  /** This station's name (null until stations.status or an own claim has told it). */
  private station(): string | null {
    return stations.station ?? this.myStation;
  }

  /** The selection moved to `imageId`: let the part held before go, and claim this one once the selection rests. */
  private followClaim(imageId: number | null): void {
    if (this.held !== null && this.held !== imageId) {
      const prev = this.held;
      this.held = null;
      void this.releasePart(prev);
    }
    this.claimSeq += 1;
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = null;
    if (imageId === null) {
      this.claim = null;
      return;
    }
    // What the list knows already (the banner shows at once), until the host answers.
    const known = otherClaim(this.entries.find((e) => e.imageId === imageId)?.claim);
    this.claim = known ?? (this.claim?.imageId === imageId ? this.claim : null);
    this.scheduleClaim(CLAIM_DELAY_MS);
  }

  private scheduleClaim(ms: number): void {
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = setTimeout(() => {
      this.claimTimer = null;
      void this.claimOpen();
    }, ms);
  }

  /**
   * Claims (or renews the claim on) the open part. Held by another station: shown, and asked
   * again when that claim runs out; the other station's release (a notice) asks at once.
   */
  private async claimOpen(): Promise<void> {
    const id = this.selectedId;
    if (id === null) return;
    const seq = ++this.claimSeq;
    let again = CLAIM_RENEW_MS;
    try {
      const r = await api.review.claim({ imageId: id });
      if (r.claimed) this.myStation = r.claim.station;
      if (this.selectedId !== id) {
        // Moved on while the call was out: let it go again.
        if (r.claimed && this.held !== id) void this.releasePart(id);
        return;
      }
      if (r.claimed) this.held = id;
      if (seq !== this.claimSeq) return;
      this.claim = r.claim;
      this.setEntryClaim(id, r.claim);
      if (!r.claimed) again = Math.min(CLAIM_RENEW_MS, Math.max(2000, r.claim.expiresAt - Date.now() + 1000));
    } catch {
      // no project, an older host, unreachable for a moment: asked again at the next renewal
      if (seq !== this.claimSeq || this.selectedId !== id) return;
    }
    this.scheduleClaim(again);
  }

  private async releasePart(imageId: number): Promise<void> {
    if (this.entries.find((e) => e.imageId === imageId)?.claim?.mine) this.setEntryClaim(imageId, null);
    try {
      await api.review.release({ imageId });
    } catch {
      // it runs out by itself
    }
  }

  /** Lets the open part go now (before the project closes). */
  async releaseClaim(): Promise<void> {
    if (this.claimTimer) clearTimeout(this.claimTimer);
    this.claimTimer = null;
    this.claimSeq += 1;
    const id = this.held;
    this.held = null;
    this.claim = null;
    if (id !== null) await this.releasePart(id);
  }

  /** The page is going away (tab closed, reload): the release is sent so that it outlives the page. */
  releaseOnExit(): void {
    if (this.held !== null) sendOnExit('review.release', { imageId: this.held });
  }

  private setEntryClaim(imageId: number, claim: ClaimInfo | null): void {
    const cur = this.entries.find((e) => e.imageId === imageId);
    if (!cur || sameClaim(cur.claim, claim)) return;
    this.entries = this.entries.map((e) => (e.imageId === imageId ? { ...e, claim } : e));
  }

  /** After a reload: the open part's claim as the host listed it (a one-machine project has no claim notices). */
  private syncOpenClaim(): void {
    const e = this.entries.find((x) => x.imageId === this.selectedId);
    if (!e) return;
    const other = otherClaim(e.claim);
    if (other) this.claim = other;
    else if (this.heldElsewhere) {
      // The other station let it go: this one is looking at it.
      this.claim = null;
      this.scheduleClaim(CLAIM_DELAY_MS);
    }
  }

  /** Other stations' claims that ran out unrenewed (a station that stopped) stop showing. */
  private sweepClaims(): void {
    const now = Date.now();
    const stale = (e: QueueEntry): boolean => !!e.claim && !e.claim.mine && e.claim.expiresAt <= now;
    if (this.entries.some(stale)) this.entries = this.entries.map((e) => (stale(e) ? { ...e, claim: null } : e));
  }

  /** A change another station (or this one) made, from the change feed. */
  onStation(c: StationChange): void {
    if (!this.loaded) return;
    switch (c.t) {
      case 'verdicts':
      case 'confirmations':
        if (typeof c.image_id !== 'number') {
          this.reloadSoon();
          return;
        }
        if (c.t === 'verdicts') this.applyVerdict(c.image_id, c);
        void this.refreshPart(c.image_id);
        return;
      case 'claims':
        this.applyClaim(c);
        return;
      case 'any':
        this.reloadSoon();
        return;
      default:
        // models, thresholds, scores, images, the project: the project state that follows
        // reloads what they change (app.svelte.ts); locks show in the status bar.
        return;
    }
  }

  /** A verdict, undo or confirmation on `imageId`: that part (and, when it is open, its history) from the host. */
  private async refreshPart(imageId: number): Promise<void> {
    if (imageId !== this.selectedId && !this.entries.some((e) => e.imageId === imageId)) {
      this.countsSoon(); // not loaded: only the counts change here
      return;
    }
    const gen = this.gen;
    const seq = (this.refreshSeq.get(imageId) ?? 0) + 1;
    this.refreshSeq.set(imageId, seq);
    let d: PartDetail;
    try {
      d = await api.review.part({ imageId });
    } catch {
      return; // the next notice or reload catches up
    }
    if (gen !== this.gen || this.refreshSeq.get(imageId) !== seq) return;
    this.refreshSeq.delete(imageId);
    if (this.selectedId === imageId) {
      this.detailSeq += 1; // an older answer for this part does not overwrite this one
      this.detail = d;
    }
    const cur = this.entries.find((e) => e.imageId === imageId);
    if (cur) this.replace(cur, d.entry);
    else this.countsSoon();
  }

  /**
   * A verdict notice shows on its row at once (verdict and reviewer are in the notice); the
   * defect type, an undo's outcome and the history follow from the host (refreshPart).
   */
  private applyVerdict(imageId: number, c: StationChange): void {
    const cur = this.entries.find((e) => e.imageId === imageId);
    const v = c['verdict'];
    if (!cur || c['action'] !== 'set' || (v !== 'good' && v !== 'defect') || typeof c.reviewer !== 'string') return;
    if (cur.verdict === v && cur.reviewer === c.reviewer) return;
    this.replace(cur, { ...cur, verdict: v, reviewer: c.reviewer, defectType: v === 'defect' && cur.verdict === 'defect' ? cur.defectType : null });
  }

  private applyClaim(c: StationChange): void {
    const info = claimFromChange(c, this.station(), this.held);
    if (info === undefined) {
      this.reloadSoon();
      return;
    }
    const imageId = Number(c.image_id);
    this.setEntryClaim(imageId, info);
    if (imageId !== this.selectedId) return;
    if (info) {
      this.claim = info;
      if (info.mine) this.held = imageId;
    } else if (this.claim?.imageId === imageId) {
      // Released (by the station that had it, or this one's claim ended): this one is looking at it.
      if (this.claim.mine) this.held = null;
      this.claim = null;
      this.scheduleClaim(CLAIM_DELAY_MS);
    }
  }

  /** Reloads the loaded pages once the notices stop for a moment (the selection stays). */
  private reloadSoon(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      if (this.loaded) void this.load({ keep: true }).catch(() => {});
    }, CHANGE_DEBOUNCE_MS);
  }

  /** New counts per filter (a part that is not loaded changed). */
  private countsSoon(): void {
    if (this.countsTimer) return;
    const gen = this.gen;
    this.countsTimer = setTimeout(() => {
      this.countsTimer = null;
      void api.review
        .queue({ filter: this.filter, limit: 1 })
        .then((p) => {
          if (gen === this.gen) this.counts = p.counts;
        })
        .catch(() => {});
    }, CHANGE_DEBOUNCE_MS);
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
      this.replace(sel, updated);
      const next = await this.nextUnreviewed(sel.imageId);
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
      this.replace(sel, updated);
      void this.loadDetail(sel.imageId);
      return true;
    } finally {
      this.saving = false;
    }
  }

  /**
   * The part's thumbnail as a data: URL (lazy, cached, at most 4 requests at once, after the
   * selected part's view has loaded). A caller that no longer shows it calls
   * `releaseThumbnail`: a request whose turn comes when nobody shows the part any more (a row
   * scrolled away) is not sent, and is asked for again if the row comes back.
   */
  thumbnail(imageId: number): Promise<string> {
    this.thumbWanted.set(imageId, (this.thumbWanted.get(imageId) ?? 0) + 1);
    const p = this.thumbs.get(imageId);
    if (p) {
      this.thumbs.delete(imageId);
      this.thumbs.set(imageId, p); // most recently used last
      return p;
    }
    const settled = Promise.race([this.viewSettled, new Promise<void>((r) => setTimeout(r, THUMB_WAIT_MS))]);
    const req: Promise<string> = settled
      .then(() =>
        thumbLimit(() => {
          if (!this.thumbWanted.has(imageId)) return Promise.reject(new Error('the part is no longer shown'));
          return api.images.thumbnail({ imageId });
        }),
      )
      .then((t) => `data:${t.mime};base64,${t.dataBase64}`);
    req.catch(() => {
      if (this.thumbs.get(imageId) === req) this.thumbs.delete(imageId);
    });
    this.thumbs.set(imageId, req);
    while (this.thumbs.size > THUMB_CACHE) {
      const oldest = this.thumbs.keys().next().value;
      if (oldest === undefined) break;
      this.thumbs.delete(oldest);
    }
    return req;
  }

  /** The caller of `thumbnail(imageId)` no longer shows it. */
  releaseThumbnail(imageId: number): void {
    const n = (this.thumbWanted.get(imageId) ?? 0) - 1;
    if (n > 0) this.thumbWanted.set(imageId, n);
    else this.thumbWanted.delete(imageId);
  }
}

export const queue = new QueueState();
