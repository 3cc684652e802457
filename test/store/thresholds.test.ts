/**
 * Thresholds (src-main/store/thresholds.ts): a change needs a reason (empty → INVALID_ARGUMENT),
 * history is kept in order (append-only, each audited), the current threshold is the latest
 * per model version (the active model's by default, never another version's), and margin /
 * review band are validated.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  closeProjectDb,
  currentThreshold,
  listAudit,
  setThreshold,
  thresholdHistory,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { IS_PG, newProject, readyModel, tempDir } from './helpers/fixtures';

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

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as KensaError).code;
  }
  throw new Error('did not throw');
}

describe('setThreshold', () => {
  it('rejects an empty or blank reason with INVALID_ARGUMENT and writes nothing', () => {
    const v1 = readyModel(db);
    for (const reason of ['', '   ', '\n\t']) {
      expect(code(() => setThreshold(db, { modelVersion: v1.version, value: 2, setBy: 'alice', reason }))).toBe('INVALID_ARGUMENT');
    }
    expect(code(() => setThreshold(db, { modelVersion: v1.version, value: 2, setBy: 'alice', reason: undefined as unknown as string }))).toBe('INVALID_ARGUMENT');
    expect(thresholdHistory(db)).toEqual([]);
    expect(listAudit(db, { kind: 'threshold' })).toEqual([]);
  });

  it('validates value, margin with its kind, and the review band', () => {
    const v = readyModel(db).version;
    const base = { modelVersion: v, setBy: 'alice', reason: 'r' };
    expect(code(() => setThreshold(db, { ...base, value: Number.POSITIVE_INFINITY }))).toBe('INVALID_ARGUMENT');
    expect(code(() => setThreshold(db, { ...base, value: 2, margin: 0.1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => setThreshold(db, { ...base, value: 2, marginKind: 'absolute' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => setThreshold(db, { ...base, value: 2, margin: -1, marginKind: 'absolute' }))).toBe('INVALID_ARGUMENT');
    expect(code(() => setThreshold(db, { ...base, value: 2, reviewUpper: 2 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => setThreshold(db, { ...base, value: 2, modelVersion: 77 }))).toBe('NOT_FOUND');
    expect(code(() => setThreshold(db, { ...base, value: 2, setBy: '' }))).toBe('INVALID_ARGUMENT');
    const t = setThreshold(db, { ...base, value: 2, margin: 0.05, marginKind: 'spread', reviewUpper: 3 });
    expect(t).toMatchObject({ modelVersion: v, value: 2, margin: 0.05, marginKind: 'spread', reviewUpper: 3, setBy: 'alice', reason: 'r' });
  });
});

describe('history and current threshold', () => {
  it('keeps every change in order, each audited, and picks the latest per model version', () => {
    const v1 = readyModel(db).version;
    const a = setThreshold(db, { modelVersion: v1, value: 2.0, setBy: 'alice', reason: 'first fit' });
    const b = setThreshold(db, { modelVersion: v1, value: 1.8, margin: 0.2, marginKind: 'absolute', setBy: 'bob', reason: 'zero-miss after 5 defects' });
    const v2 = readyModel(db, v1).version; // active is now v2
    expect(currentThreshold(db)).toBeNull(); // v2 has none yet: no fallback to v1's
    const c = setThreshold(db, { modelVersion: v2, value: 2.4, setBy: 'alice', reason: 'refit' });
    const d = setThreshold(db, { modelVersion: v1, value: 1.9, setBy: 'alice', reason: 'tweak v1' });
    const n = setThreshold(db, { modelVersion: null, value: 10, setBy: 'alice', reason: 'not tied to a model' });

    expect(thresholdHistory(db).map((t) => t.id)).toEqual([a.id, b.id, c.id, d.id, n.id]);
    expect(thresholdHistory(db, v1).map((t) => t.value)).toEqual([2.0, 1.8, 1.9]);
    expect(thresholdHistory(db, null).map((t) => t.value)).toEqual([10]);
    expect(currentThreshold(db, v1)?.id).toBe(d.id);
    expect(currentThreshold(db, v2)?.id).toBe(c.id);
    expect(currentThreshold(db)?.id).toBe(c.id); // the active model's
    expect(currentThreshold(db, null)?.id).toBe(n.id);
    expect(currentThreshold(db, 99)).toBeNull();

    expect(listAudit(db, { kind: 'threshold' }).map((e) => [e.entityId, e.actor])).toEqual([
      [String(a.id), 'alice'],
      [String(b.id), 'bob'],
      [String(c.id), 'alice'],
      [String(d.id), 'alice'],
      [String(n.id), 'alice'],
    ]);
    expect(() => db.prepare('UPDATE thresholds SET value = 0').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM thresholds').run()).toThrow(/append-only/);
    if (IS_PG) expect(() => db.exec('TRUNCATE thresholds CASCADE')).toThrow(/append-only/); // a statement trigger: TRUNCATE skips row triggers
    expect(thresholdHistory(db, null).map((t) => t.value)).toEqual([10]);
    expect(verifyAudit(db).ok).toBe(true);
  });
});
