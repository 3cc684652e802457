/**
 * Scores (src-main/store/scores.ts): a batch is stored insert-or-replace in one transaction,
 * read back per model version; 10,000 rows go in quickly (the time is printed, not asserted);
 * unknown models or images are NOT_FOUND and a bad row stores nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import { closeProjectDb, getScore, putScores, scoreColumns, scoresFor, type Db } from '../../src-main/store/index';
import { newProject, readyModel, seedImages, tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;
beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = newProject(t.dir).db;
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

describe('putScores', () => {
  it('stores 10,000 scores in one batch', () => {
    const ids = seedImages(db, 10_000);
    const v = readyModel(db).version;
    const rows = ids.map((imageId, i) => ({ imageId, score: i / 1000, maxPatchScore: i / 500, mapFile: `maps/v${v}/${imageId}.f16` }));
    const t0 = performance.now();
    expect(putScores(db, v, rows)).toBe(10_000);
    const ms = performance.now() - t0;
    console.log(`putScores: 10,000 rows in ${ms.toFixed(1)} ms`);
    const back = scoresFor(db, v);
    expect(back).toHaveLength(10_000);
    expect(back[1234]).toMatchObject({ imageId: ids[1234], modelVersion: v, score: 1.234, maxPatchScore: 2.468, mapFile: `maps/v${v}/${ids[1234]}.f16` });
  });

  it('replaces an image’s score for the same model and keeps other models apart', () => {
    const ids = seedImages(db, 3);
    const v1 = readyModel(db).version;
    const v2 = readyModel(db, v1).version;
    putScores(db, v1, ids.map((imageId) => ({ imageId, score: 1, maxPatchScore: 2 })));
    putScores(db, v1, [{ imageId: ids[0], score: 5, maxPatchScore: 6, mapFile: 'm.f16' }]);
    putScores(db, v2, [{ imageId: ids[0], score: 7, maxPatchScore: 8 }]);
    expect(scoresFor(db, v1).map((s) => s.score)).toEqual([5, 1, 1]);
    expect(scoresFor(db, v2)).toHaveLength(1);
    expect(getScore(db, ids[0], v1)).toMatchObject({ score: 5, mapFile: 'm.f16' });
    expect(getScore(db, ids[1], v2)).toBeNull();
  });

  it('scoreColumns: one version\'s scores as two columns by image id', () => {
    const ids = seedImages(db, 5);
    const v1 = readyModel(db).version;
    const v2 = readyModel(db, v1).version;
    putScores(db, v1, [...ids].reverse().map((imageId, i) => ({ imageId, score: i / 4, maxPatchScore: 1 })));
    putScores(db, v2, [{ imageId: ids[2]!, score: 9, maxPatchScore: 9 }]);
    const c = scoreColumns(db, v1);
    expect(c.ids).toBeInstanceOf(Float64Array);
    expect([...c.ids]).toEqual(ids);
    expect([...c.scores]).toEqual([1, 0.75, 0.5, 0.25, 0]);
    expect([...scoreColumns(db, v2).scores]).toEqual([9]);
  });

  it('refuses unknown models and images, and bad numbers, storing nothing', () => {
    const ids = seedImages(db, 2);
    const v = readyModel(db).version;
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as KensaError).code;
      }
      return 'no error';
    };
    expect(codeOf(() => putScores(db, 99, [{ imageId: ids[0], score: 1, maxPatchScore: 1 }]))).toBe('NOT_FOUND');
    expect(codeOf(() => putScores(db, v, [{ imageId: ids[0], score: 1, maxPatchScore: 1 }, { imageId: 4242, score: 1, maxPatchScore: 1 }]))).toBe('NOT_FOUND');
    expect(codeOf(() => putScores(db, v, [{ imageId: ids[0], score: Number.NaN, maxPatchScore: 1 }]))).toBe('INVALID_ARGUMENT');
    expect(scoresFor(db, v)).toEqual([]);
  });
});
