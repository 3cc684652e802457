/**
 * The line in the store (src-main/store/line.ts): a part's two transactions (arrival, result),
 * the outbox in order with verdicts and undos going out again, dispositions, sink cursors that
 * only move forward, and the window statistics of the line view.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  addLinePart,
  advanceSinkCursor,
  commitLineResult,
  disposition,
  lastOutboxSeq,
  lineTotals,
  lineWindowStats,
  outboxAfter,
  recordVerdict,
  sinkCursor,
  startSinkAtEnd,
  undoVerdict,
  unscoredLineParts,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { newProject, readyModel, sha, tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;

beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = newProject(t.dir).db;
  readyModel(db);
});

afterEach(() => {
  db.close();
  cleanup();
});

function arrive(name: string, completeAt: number, content = name) {
  return addLinePart(
    db,
    { image: { path: `parts/${name}`, sha256: sha(content), bytes: 100, width: 8, height: 8, format: 'png' }, source: '/line/in', file: name, completeAt, claimedAt: completeAt + 5 },
    'line',
  );
}

function result(imageId: number, score: number, scoredAt: number, threshold: number | null = 1, reviewUpper: number | null = 3) {
  return commitLineResult(db, { imageId, modelVersion: 1, score, maxPatchScore: score * 2, mapFile: `maps/v0001/${imageId}.png`, mapBytes: 1234, threshold, reviewUpper, scoredAt, scorer: 'local' });
}

describe('line parts', () => {
  it('arrival then result: the result goes out once, a second commit changes nothing, a duplicate file is the same part', () => {
    const a = arrive('a.png', 1000);
    expect(a.duplicate).toBe(false);
    expect(unscoredLineParts(db).map((p) => p.imageId)).toEqual([a.imageId]);
    const seq = result(a.imageId, 0.5, 1100);
    expect(seq).toBe(1);
    expect(result(a.imageId, 9, 1200)).toBeNull(); // scored once, never twice
    expect(unscoredLineParts(db)).toEqual([]);
    const out = outboxAfter(db, 0);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ seq: 1, event: 'scored', partId: a.imageId, file: 'a.png', storedPath: 'parts/a.png', score: 0.5, disposition: 'pass', verdict: null, modelVersion: 1, threshold: 1, reviewUpper: 3, latencyMs: 100 });
    expect(out[0]!.scoredAt).toBe(new Date(1100).toISOString());
    // The same content arriving under another name is the part already known.
    const again = arrive('a-copy.png', 2000, 'a.png');
    expect(again).toEqual({ imageId: a.imageId, duplicate: true });
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('a verdict and an undo on a line part go out again, in order, each with the disposition it made', () => {
    const ids = ['p1', 'p2', 'p3'].map((n, i) => arrive(`${n}.png`, 1000 + i).imageId);
    result(ids[0]!, 0.2, 2000); // pass
    result(ids[1]!, 1.5, 2001); // review
    result(ids[2]!, 4.0, 2002); // reject (over the review band)
    expect(outboxAfter(db, 0).map((r) => r.disposition)).toEqual(['pass', 'review', 'reject']);
    recordVerdict(db, { imageId: ids[1]!, verdict: 'defect', reviewer: 'alice', modelVersion: 1, threshold: 1.2, scoreShown: 1.5 });
    recordVerdict(db, { imageId: ids[1]!, verdict: 'good', reviewer: 'bob', modelVersion: 1, threshold: 1.2, scoreShown: 1.5 });
    undoVerdict(db, ids[1]!, 'bob');
    const later = outboxAfter(db, 3);
    expect(later.map((r) => [r.seq, r.event, r.verdict, r.reviewer, r.disposition])).toEqual([
      [4, 'verdict', 'defect', 'alice', 'reject'],
      [5, 'verdict', 'good', 'bob', 'pass'],
      [6, 'verdict', 'defect', 'bob', 'reject'], // the undo restores alice's defect verdict
    ]);
    expect(later[0]!.threshold).toBe(1.2); // the threshold the reviewer saw
    expect(outboxAfter(db, 0, 2).map((r) => r.seq)).toEqual([1, 2]);
    expect(lastOutboxSeq(db)).toBe(6);
  });

  it('a verdict on a part that has no line result yet adds nothing to the outbox', () => {
    const a = arrive('x.png', 1);
    recordVerdict(db, { imageId: a.imageId, verdict: 'good', reviewer: 'alice' });
    expect(lastOutboxSeq(db)).toBe(0);
  });

  it('disposition: verdict first, no threshold → review, then threshold and review band', () => {
    expect(disposition(5, 1, null, 'good')).toBe('pass');
    expect(disposition(0, 1, null, 'defect')).toBe('reject');
    expect(disposition(0, null, null, null)).toBe('review');
    expect(disposition(0.99, 1, 2, null)).toBe('pass');
    expect(disposition(1, 1, 2, null)).toBe('review');
    expect(disposition(2, 1, 2, null)).toBe('reject');
    expect(disposition(100, 1, null, null)).toBe('review');
  });

  it('sink cursors only move forward; a sink switched on starts at the end of the outbox', () => {
    const a = arrive('a.png', 1);
    result(a.imageId, 0.1, 2);
    expect(sinkCursor(db, 'mqtt')).toBe(0);
    advanceSinkCursor(db, 'mqtt', 1);
    advanceSinkCursor(db, 'mqtt', 0);
    expect(sinkCursor(db, 'mqtt')).toBe(1);
    startSinkAtEnd(db, 'csv');
    expect(sinkCursor(db, 'csv')).toBe(1);
    startSinkAtEnd(db, 'mqtt'); // already has a cursor: unchanged
    expect(sinkCursor(db, 'mqtt')).toBe(1);
  });

  it('window statistics and totals: dispositions, rate, latency percentiles, backlog', () => {
    const now = 10 * 60_000;
    for (let i = 0; i < 20; i++) {
      const id = arrive(`w${i}.png`, now - 60_000 + i * 1000).imageId;
      // 10 pass, 6 review, 4 reject; latency 50 + 10 i ms
      const score = i < 10 ? 0.5 : i < 16 ? 2 : 5;
      result(id, score, now - 60_000 + i * 1000 + 50 + 10 * i);
    }
    const old = arrive('old.png', 0).imageId;
    result(old, 2, 1000); // long before the window
    const s = lineWindowStats(db, now, 120_000);
    expect([s.pass, s.review, s.reject]).toEqual([10, 6, 4]);
    expect(s.partsPerMinute).toBeCloseTo(10);
    expect(s.latencyP50Ms).toBe(150);
    expect(s.latencyP95Ms).toBe(230); // nearest rank: the 19th of 20
    expect(s.reviewBacklog).toBe(10);
    const t = lineTotals(db);
    expect(t).toMatchObject({ parts: 21, pass: 10, review: 7, reject: 4, unscored: 0, backlog: 11 });
  });
});
