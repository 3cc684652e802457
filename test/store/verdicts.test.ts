/**
 * Verdicts (src-main/store/verdicts.ts): append-only enforced by the database (UPDATE and
 * DELETE fail on verdicts and audit_events), undo as a stack (set good, set defect, undo →
 * good, undo → unreviewed, undo → NOT_FOUND), the current verdict derived from the latest
 * row, all-or-nothing batches, validation, and the good verdicts pending for a refit.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  closeProjectDb,
  currentVerdict,
  currentVerdicts,
  goodVerdictsSince,
  listAudit,
  listReviewers,
  recordVerdict,
  recordVerdicts,
  rollbackModel,
  undoVerdict,
  verdictHistory,
  verdictsAsOf,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { IS_PG, newProject, readyModel, seedImages, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
let db: Db;
let ids: number[];
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  db = newProject(dir).db;
  ids = seedImages(db, 10);
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return (e as KensaError).code;
  }
  throw new Error('did not throw');
}

describe('append-only', () => {
  it('the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) on verdicts and audit_events', () => {
    const v = recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice' });
    expect(() => db.prepare(`UPDATE verdicts SET verdict = 'defect' WHERE id = ?`).run(v.id)).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM verdicts WHERE id = ?').run(v.id)).toThrow(/append-only/);
    expect(() => db.prepare(`UPDATE audit_events SET actor = 'mallory'`).run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_events WHERE seq = 1').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_events').run()).toThrow(/append-only/);
    if (IS_PG) {
      // TRUNCATE skips row triggers: PostgreSQL has a statement trigger for it on each table
      expect(() => db.exec('TRUNCATE verdicts CASCADE')).toThrow(/append-only/);
      expect(() => db.exec('TRUNCATE audit_events')).toThrow(/append-only/);
    }
    expect(currentVerdict(db, ids[0])?.verdict).toBe('good');
    expect(verifyAudit(db).ok).toBe(true);
  });
});

describe('undo', () => {
  it('set good, set defect, undo → good, undo → unreviewed, undo → NOT_FOUND', () => {
    const img = ids[0];
    const g = recordVerdict(db, { imageId: img, verdict: 'good', reviewer: 'alice', comment: 'fine', modelVersion: null, threshold: 1.5, scoreShown: 1.7 });
    const d = recordVerdict(db, { imageId: img, verdict: 'defect', defectType: 'scratch', regions: [{ x: 1, y: 2, w: 3, h: 4 }], reviewer: 'bob' });
    expect(currentVerdict(db, img)?.verdict).toBe('defect');

    const u1 = undoVerdict(db, img, 'carol');
    expect(u1).toMatchObject({ action: 'undo', verdict: 'good', comment: 'fine', threshold: 1.5, scoreShown: 1.7, undoes: d.id, reviewer: 'carol', defectType: null, regions: null });
    expect(currentVerdict(db, img)?.verdict).toBe('good');

    const u2 = undoVerdict(db, img, 'carol');
    expect(u2).toMatchObject({ action: 'undo', verdict: null, undoes: g.id });
    expect(currentVerdict(db, img)).toBeNull();
    expect(currentVerdicts(db).has(img)).toBe(false);

    expect(code(() => undoVerdict(db, img, 'carol'))).toBe('NOT_FOUND');
    expect(code(() => undoVerdict(db, ids[1], 'carol'))).toBe('NOT_FOUND'); // never reviewed

    expect(verdictHistory(db, img).map((v) => [v.action, v.verdict])).toEqual([
      ['set', 'good'],
      ['set', 'defect'],
      ['undo', 'good'],
      ['undo', null],
    ]);
  });

  it('undo after a new verdict that follows an undo takes back the newest one', () => {
    const img = ids[0];
    recordVerdict(db, { imageId: img, verdict: 'good', reviewer: 'alice' });
    recordVerdict(db, { imageId: img, verdict: 'defect', defectType: 'dent', reviewer: 'alice' });
    undoVerdict(db, img, 'alice'); // → good
    const d2 = recordVerdict(db, { imageId: img, verdict: 'defect', defectType: 'crack', reviewer: 'alice' });
    expect(undoVerdict(db, img, 'alice')).toMatchObject({ verdict: 'good', undoes: d2.id });
    expect(undoVerdict(db, img, 'alice').verdict).toBeNull();
    expect(code(() => undoVerdict(db, img, 'alice'))).toBe('NOT_FOUND');
  });
});

describe('current verdicts', () => {
  it('is the latest row per image, leaving out unreviewed images', () => {
    recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice' });
    recordVerdict(db, { imageId: ids[1], verdict: 'good', reviewer: 'alice' });
    recordVerdict(db, { imageId: ids[1], verdict: 'defect', defectType: 'scratch', reviewer: 'bob' });
    recordVerdict(db, { imageId: ids[2], verdict: 'defect', reviewer: 'alice' });
    undoVerdict(db, ids[2], 'alice');
    recordVerdict(db, { imageId: ids[3], verdict: 'defect', reviewer: 'alice' });
    recordVerdict(db, { imageId: ids[3], verdict: 'good', reviewer: 'alice' });
    undoVerdict(db, ids[3], 'alice');
    const cur = currentVerdicts(db);
    expect([...cur.keys()]).toEqual([ids[0], ids[1], ids[3]]);
    expect(cur.get(ids[0])?.verdict).toBe('good');
    expect(cur.get(ids[1])).toMatchObject({ verdict: 'defect', defectType: 'scratch', reviewer: 'bob' });
    expect(cur.get(ids[3])).toMatchObject({ verdict: 'defect', action: 'undo' });
  });

  it('verdictsAsOf: the latest row of each image before an instant (undos included), from one read', () => {
    recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice' });
    recordVerdict(db, { imageId: ids[1], verdict: 'defect', reviewer: 'alice' });
    const cut = db.prepare('SELECT max(created_at) FROM verdicts').pluck().get() as string;
    const end = new Date(Date.parse(cut) + 1).toISOString();
    // later rows carry a later timestamp (the clock is forced past the cut)
    db.exec(IS_PG ? `DROP TRIGGER verdicts_no_update ON verdicts` : `DROP TRIGGER verdicts_no_update`);
    recordVerdict(db, { imageId: ids[1], verdict: 'good', reviewer: 'bob' });
    undoVerdict(db, ids[0], 'bob');
    recordVerdict(db, { imageId: ids[2], verdict: 'good', reviewer: 'bob' });
    db.prepare('UPDATE verdicts SET created_at = ? WHERE id > 2').run(new Date(Date.parse(end) + 1000).toISOString());
    expect(verdictsAsOf(db, end).map((v) => [v.imageId, v.verdict, v.reviewer])).toEqual([
      [ids[0], 'good', 'alice'],
      [ids[1], 'defect', 'alice'],
    ]);
    expect(verdictsAsOf(db, null).map((v) => [v.imageId, v.action, v.verdict])).toEqual([
      [ids[0], 'undo', null],
      [ids[1], 'set', 'good'],
      [ids[2], 'set', 'good'],
    ]);
  });

  it('records reviewers as they give verdicts', () => {
    recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: '  alice ' });
    expect(currentVerdict(db, ids[0])?.reviewer).toBe('alice');
    expect(listReviewers(db).map((r) => r.name)).toEqual(['alice']);
  });
});

describe('batches and validation', () => {
  it('recordVerdicts is all or nothing', () => {
    const seqBefore = listAudit(db).length;
    expect(code(() =>
      recordVerdicts(db, [
        { imageId: ids[0], verdict: 'good', reviewer: 'alice' },
        { imageId: ids[1], verdict: 'good', reviewer: 'alice' },
        { imageId: 999_999, verdict: 'good', reviewer: 'alice' },
      ]),
    )).toBe('NOT_FOUND');
    expect(verdictHistory(db, ids[0])).toEqual([]);
    expect(listAudit(db)).toHaveLength(seqBefore);

    const rows = recordVerdicts(db, ids.slice(0, 5).map((imageId) => ({ imageId, verdict: 'good' as const, reviewer: 'alice' })));
    expect(rows).toHaveLength(5);
    expect(currentVerdicts(db).size).toBe(5);
    expect(listAudit(db, { kind: 'verdict' }).map((e) => e.entityId)).toEqual(rows.map((r) => String(r.id)));
  });

  it('rejects bad input with INVALID_ARGUMENT before touching the database', () => {
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'maybe' as 'good', reviewer: 'alice' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'good', defectType: 'scratch', reviewer: 'alice' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: '   ' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'x'.repeat(81) }))).toBe('INVALID_ARGUMENT');
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice', scoreShown: Number.NaN }))).toBe('INVALID_ARGUMENT');
    expect(code(() => recordVerdict(db, { imageId: ids[0], verdict: 'good', reviewer: 'alice', modelVersion: 42 }))).toBe('NOT_FOUND');
    expect(verdictHistory(db, ids[0])).toEqual([]);
  });

  it('keeps regions as JSON', () => {
    const regions = [{ kind: 'box', x: 10, y: 20, w: 5.5, h: 6 }, { kind: 'polygon', points: [[0, 0], [1, 0], [1, 1]] }];
    const v = recordVerdict(db, { imageId: ids[0], verdict: 'defect', defectType: 'crack', regions, reviewer: 'alice' });
    expect(v.regions).toEqual(regions);
    expect(currentVerdict(db, ids[0])?.regions).toEqual(regions);
  });
});

describe('goodVerdictsSince', () => {
  it('lists current good verdicts on flagged parts that the model lineage has not absorbed yet', () => {
    const v1 = readyModel(db);
    const t = { threshold: 2, modelVersion: v1.version, reviewer: 'alice' };
    recordVerdict(db, { imageId: ids[0], verdict: 'good', scoreShown: 2.5, ...t }); // flagged, good → pending
    recordVerdict(db, { imageId: ids[1], verdict: 'good', scoreShown: 1.5, ...t }); // not flagged
    recordVerdict(db, { imageId: ids[2], verdict: 'defect', scoreShown: 3, ...t }); // defect
    recordVerdict(db, { imageId: ids[3], verdict: 'good', scoreShown: 3, ...t });
    recordVerdict(db, { imageId: ids[3], verdict: 'defect', scoreShown: 3, ...t }); // changed to defect
    recordVerdict(db, { imageId: ids[4], verdict: 'defect', scoreShown: 3, ...t });
    recordVerdict(db, { imageId: ids[4], verdict: 'good', scoreShown: 3, ...t }); // changed to good → pending
    recordVerdict(db, { imageId: ids[5], verdict: 'good', reviewer: 'alice' }); // no score/threshold
    recordVerdict(db, { imageId: ids[6], verdict: 'good', scoreShown: 2, ...t }); // exactly at threshold → flagged
    expect(goodVerdictsSince(db, v1.version).map((v) => v.imageId)).toEqual([ids[0], ids[4], ids[6]]);

    // a refit absorbs two of them; the third stays pending for the refit's own refit
    const v2 = readyModel(db, v1.version, [ids[0], ids[4]]);
    expect(goodVerdictsSince(db, v2.version).map((v) => v.imageId)).toEqual([ids[6]]);
    // ... but for v1 (e.g. after rolling back to it) all three are pending again
    rollbackModel(db, v1.version, 'alice', 'v2 absorbed a mislabelled part');
    expect(goodVerdictsSince(db, v1.version).map((v) => v.imageId)).toEqual([ids[0], ids[4], ids[6]]);
    // undoing a verdict removes it from the pending list
    undoVerdict(db, ids[4], 'alice');
    expect(goodVerdictsSince(db, v1.version).map((v) => v.imageId)).toEqual([ids[0], ids[6]]);
    expect(code(() => goodVerdictsSince(db, 99))).toBe('NOT_FOUND');
    expect(verifyAudit(db).ok).toBe(true);
  });
});
