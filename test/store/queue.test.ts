/**
 * The review queue in SQL (src-main/store/queue.ts): keyset pages in queue order (score desc,
 * unscored last, ties by id), filters and counts, and the paging rule under verdicts given
 * between pages: the order does not depend on verdicts, so no part is returned twice and no
 * part is skipped that matches the filter when its page is read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  putScores,
  queueAll,
  queueCounts,
  queuePage,
  queueRow,
  recordVerdict,
  scoredQueue,
  VERDICT_CODE,
  setThreshold,
  undoVerdict,
  type Db,
  type QueueCursor,
  type QueueFilterName,
  type QueueRow,
  type QueueScope,
} from '../../src-main/store/index';
import { newProject, readyModel, seedImages, tempDir } from './helpers/fixtures';

const N = 3000;
const UNSCORED = 250;
const T = 5;

let cleanup: () => void;
let db: Db;
let ids: number[];
let scope: QueueScope;

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

beforeEach(() => {
  let dir: string;
  ({ dir, cleanup } = tempDir());
  ({ db } = newProject(dir));
  seedImages(db, 20, 'train', 'tr');
  ids = seedImages(db, N);
  const m = readyModel(db);
  const r = rng(42);
  // Scores on a coarse grid (many ties), the last UNSCORED parts without a score.
  putScores(
    db,
    m.version,
    ids.slice(0, N - UNSCORED).map((id) => ({ imageId: id, score: Math.round(r() * 100) / 10, maxPatchScore: 1 })),
  );
  setThreshold(db, { modelVersion: m.version, value: T, setBy: 'alice', reason: 'test' });
  scope = { modelVersion: m.version, threshold: T };
});

afterEach(() => {
  db.close();
  cleanup();
});

const key = (q: QueueRow): string => `${q.image.id}`;

/** The queue order, computed in JS from a full read: score desc, unscored last, then id. */
function reference(): QueueRow[] {
  return [...queueAll(db, scope)].sort((a, b) => {
    const sa = a.score ?? -Infinity;
    const sb = b.score ?? -Infinity;
    return sa !== sb ? sb - sa : a.image.id - b.image.id;
  });
}

function matches(q: QueueRow, f: QueueFilterName): boolean {
  const v = q.verdict?.verdict ?? null;
  switch (f) {
    case 'all':
      return true;
    case 'unreviewed':
      return v === null;
    case 'flagged':
      return q.flagged;
    case 'passed':
      return q.score !== null && !q.flagged;
    case 'good':
      return v === 'good';
    case 'defect':
      return v === 'defect';
  }
}

const FILTERS: QueueFilterName[] = ['all', 'unreviewed', 'flagged', 'passed', 'good', 'defect'];

describe('queue pages', () => {
  it('reads the whole queue in order (score desc, unscored last, ties by id), page by page', () => {
    const all = queueAll(db, scope);
    expect(all).toHaveLength(N); // inspect parts only
    expect(all.map(key)).toEqual(reference().map(key));
    expect(all.slice(-UNSCORED).every((q) => q.score === null)).toBe(true);
    const seen: string[] = [];
    let after: QueueCursor | null = null;
    let pages = 0;
    do {
      const p = queuePage(db, scope, { after, limit: 200 });
      expect(p.items.length).toBeLessThanOrEqual(200);
      seen.push(...p.items.map(key));
      after = p.next;
      pages += 1;
    } while (after !== null);
    expect(seen).toEqual(all.map(key));
    expect(pages).toBe(Math.ceil(N / 200) + (N % 200 === 0 ? 1 : 0));
  });

  it('filters and counts in SQL agree with the rows', () => {
    for (const id of ids.slice(0, 40)) recordVerdict(db, { imageId: id, verdict: id % 3 === 0 ? 'defect' : 'good', reviewer: 'bo' });
    recordVerdict(db, { imageId: ids[N - 1]!, verdict: 'good', reviewer: 'bo' }); // an unscored part reviewed
    undoVerdict(db, ids[5]!, 'bo'); // back to unreviewed
    const all = reference();
    const counts = queueCounts(db, scope);
    for (const f of FILTERS) {
      const expected = all.filter((q) => matches(q, f)).map(key);
      const got: string[] = [];
      let after: QueueCursor | null = null;
      do {
        const p = queuePage(db, scope, { filter: f, after, limit: 97 });
        got.push(...p.items.map(key));
        after = p.next;
      } while (after !== null);
      expect(got, f).toEqual(expected);
      expect(counts[f], f).toBe(expected.length);
    }
    expect(counts.flagged + counts.passed).toBe(N - UNSCORED);
    expect(queueRow(db, scope, ids[5]!)).toMatchObject({ verdict: null });
    expect(queueRow(db, scope, ids[N - 1]!)).toMatchObject({ score: null, flagged: false, verdict: { verdict: 'good' } });
    expect(queueRow(db, scope, 1)).toBeNull(); // a train image is not in the queue
  });

  it('without a model or a threshold: every part unscored / nothing flagged', () => {
    expect(queueCounts(db, { modelVersion: null, threshold: null })).toMatchObject({ all: N, flagged: 0, passed: 0, unreviewed: N });
    expect(queuePage(db, { modelVersion: null, threshold: null }, { limit: 3 }).items.map((q) => q.image.id)).toEqual(ids.slice(0, 3));
    const noT = { modelVersion: scope.modelVersion, threshold: null };
    expect(queueCounts(db, noT)).toMatchObject({ flagged: 0, passed: N - UNSCORED });
    expect(queuePage(db, noT, { filter: 'flagged' })).toEqual({ items: [], next: null });
  });

  it('counts and the scored columns leave out scores of train images (an evaluation may score them)', () => {
    const before = queueCounts(db, scope);
    putScores(db, scope.modelVersion!, [1, 2, 3].map((id) => ({ imageId: id, score: T + id, maxPatchScore: 1 }))); // train images 1..3: two flagged
    expect(queueCounts(db, scope)).toEqual(before);
    const cols = scoredQueue(db, scope.modelVersion!);
    expect(cols.ids).toHaveLength(N - UNSCORED);
    expect([...cols.ids].some((id) => id <= 3)).toBe(false);
  });

  it('scoredQueue: the scored parts in queue order with their current verdicts, as columns', () => {
    for (const id of ids.slice(0, 30)) recordVerdict(db, { imageId: id, verdict: id % 4 === 0 ? 'defect' : 'good', defectType: id % 4 === 0 ? `t${id % 3}` : null, reviewer: 'bo' });
    recordVerdict(db, { imageId: ids[1]!, verdict: 'defect', reviewer: 'bo' }); // changed: the latest counts, no type
    undoVerdict(db, ids[2]!, 'bo'); // back to unreviewed
    const cols = scoredQueue(db, scope.modelVersion!);
    const rows = reference().filter((q) => q.score !== null);
    expect([...cols.ids]).toEqual(rows.map((q) => q.image.id));
    expect([...cols.scores]).toEqual(rows.map((q) => q.score));
    expect([...cols.verdicts]).toEqual(rows.map((q) => (q.verdict?.verdict === 'defect' ? VERDICT_CODE.defect : q.verdict?.verdict === 'good' ? VERDICT_CODE.good : 0)));
    const types = new Map(rows.flatMap((q, i) => (q.verdict?.verdict === 'defect' ? [[i, q.verdict.defectType] as const] : [])));
    expect(cols.defectTypes).toEqual(types);
    expect(types.get(rows.findIndex((q) => q.image.id === ids[1]))).toBeNull();
  });

  it('refuses a limit over 500 and a malformed cursor', () => {
    expect(() => queuePage(db, scope, { limit: 501 })).toThrow(/at most 500/);
    expect(() => queuePage(db, scope, { limit: 0 })).toThrow();
    expect(() => queuePage(db, scope, { after: { score: Number.NaN, id: 1 } })).toThrow(/after.score/);
  });
});

describe('paging while verdicts are given between pages', () => {
  /** Gives ~`n` random verdicts (and some undos) anywhere in the queue, behind and ahead of the cursor. */
  function review(r: () => number, n: number, log: Set<number>): void {
    for (let k = 0; k < n; k++) {
      const id = ids[Math.floor(r() * N)]!;
      log.add(id);
      if (r() < 0.2) {
        try {
          undoVerdict(db, id, 'bo');
        } catch {
          // nothing to undo on this part
        }
      } else {
        recordVerdict(db, { imageId: id, verdict: r() < 0.3 ? 'defect' : 'good', reviewer: 'bo' });
      }
    }
  }

  it("'all' (and the score filters): every part exactly once, in order", () => {
    for (const f of ['all', 'flagged', 'passed'] as const) {
      const expected = reference().filter((q) => matches(q, f)).map(key);
      const r = rng(7);
      const touched = new Set<number>();
      const got: string[] = [];
      let after: QueueCursor | null = null;
      do {
        const p = queuePage(db, scope, { filter: f, after, limit: 150 });
        got.push(...p.items.map(key));
        after = p.next;
        review(r, 15, touched);
      } while (after !== null);
      expect(touched.size).toBeGreaterThan(100);
      expect(got, f).toEqual(expected);
    }
  });

  it("'unreviewed': no part twice; every returned part was unreviewed when read; none skipped that stayed unreviewed", () => {
    const r = rng(11);
    const touched = new Set<number>();
    const seen = new Set<number>();
    let after: QueueCursor | null = null;
    let lastPos = -1;
    const order = new Map(reference().map((q, i) => [q.image.id, i]));
    do {
      const p = queuePage(db, scope, { filter: 'unreviewed', after, limit: 120 });
      for (const q of p.items) {
        expect(seen.has(q.image.id)).toBe(false);
        seen.add(q.image.id);
        expect(q.verdict).toBeNull();
        const pos = order.get(q.image.id)!;
        expect(pos).toBeGreaterThan(lastPos); // strictly forward in the (verdict-independent) order
        lastPos = pos;
      }
      after = p.next;
      // Review some of the parts just read, and some anywhere (ahead of the cursor too).
      for (const q of p.items.slice(0, 10)) {
        recordVerdict(db, { imageId: q.image.id, verdict: 'good', reviewer: 'bo' });
        touched.add(q.image.id);
      }
      review(r, 10, touched);
    } while (after !== null);
    // Every part never touched while paging was unreviewed throughout: each one was returned.
    const untouched = ids.filter((id) => !touched.has(id));
    expect(untouched.length).toBeGreaterThan(1000);
    for (const id of untouched) expect(seen.has(id)).toBe(true);
  });
});
