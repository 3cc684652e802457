/**
 * The tuning screen's inputs (handlers/threshold.ts `tuningInputs`) read from the scored queue
 * as columns give the same reviewed parts, unreviewed scores and statistics as the whole queue
 * read part by part (the way it was computed before it had to hold 100,000 parts): ties,
 * undos back to unreviewed, unscored parts, a scored train image and out-of-fold scores.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { tuningInputs } from '../../../../src-main/services/workstation/handlers/threshold';
import { tuningStats } from '../../../../src-main/services/threshold';
import { putScores, queueAll, recordVerdict, scoredQueue, setThreshold, undoVerdict, type Db } from '../../../../src-main/store/index';
import { newProject, readyModel, seedImages, tempDir } from '../../../store/helpers/fixtures';

let cleanup: () => void;
let db: Db;
let ids: number[];
let version: number;

beforeEach(() => {
  let dir: string;
  ({ dir, cleanup } = tempDir());
  ({ db } = newProject(dir));
  const train = seedImages(db, 3, 'train', 'tr');
  ids = seedImages(db, 400);
  version = readyModel(db).version;
  // Coarse scores (many ties); the last 25 parts unscored; one train image scored too.
  putScores(db, version, ids.slice(0, 375).map((imageId, i) => ({ imageId, score: ((i * 37) % 60) / 10, maxPatchScore: 1 })));
  putScores(db, version, [{ imageId: train[0]!, score: 99, maxPatchScore: 99 }]);
  setThreshold(db, { modelVersion: version, value: 4, setBy: 'alice', reason: 'test' });
  ids.forEach((id, i) => {
    if (i % 5 === 0) recordVerdict(db, { imageId: id, verdict: i % 15 === 0 ? 'defect' : 'good', defectType: i % 30 === 0 ? 'scratch' : null, reviewer: 'bo' });
  });
  undoVerdict(db, ids[5]!, 'bo');
  recordVerdict(db, { imageId: ids[390]!, verdict: 'defect', reviewer: 'bo' }); // an unscored part reviewed
});

afterEach(() => {
  db.close();
  cleanup();
});

/** The tuning inputs as computed from the whole queue, one object per part. */
function fromQueue(honest: Map<number, number> | null): { parts: { score: number; verdict: 'good' | 'defect'; defectType: string | null }[]; unreviewed: number[] } {
  const q = queueAll(db, { modelVersion: version, threshold: 4 })
    .filter((x) => x.score !== null)
    .map((x) => ({ ...x, score: honest?.get(x.image.id) ?? x.score }));
  return {
    parts: q.filter((x) => x.verdict?.verdict).map((x) => ({ score: x.score!, verdict: x.verdict!.verdict!, defectType: x.verdict!.defectType })),
    unreviewed: q.filter((x) => !x.verdict?.verdict).map((x) => x.score!),
  };
}

it('gives the parts and unreviewed scores of the queue read part by part, and the same statistics', () => {
  const honest = new Map(ids.slice(0, 60).map((id, i) => [id, 0.5 + i / 7] as const));
  for (const h of [null, honest]) {
    const want = fromQueue(h);
    const got = tuningInputs(scoredQueue(db, version), h);
    expect(got.parts).toEqual(want.parts);
    expect([...got.unreviewedScores]).toEqual(want.unreviewed);
    expect(got.maxScore).toBe(Math.max(...want.parts.map((p) => p.score), ...want.unreviewed));
    const opts = { margin: { kind: 'spread' as const, value: 0.1 }, bins: 30, log: true };
    expect(tuningStats(got.parts, 4, { ...opts, unreviewedScores: got.unreviewedScores })).toEqual(tuningStats(want.parts, 4, { ...opts, unreviewedScores: want.unreviewed }));
  }
  expect(tuningInputs(null, null)).toEqual({ parts: [], unreviewedScores: new Float64Array(0), maxScore: -Infinity });
});
