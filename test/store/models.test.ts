/**
 * Model versions (src-main/store/models.ts): building → ready (audited 'fit'/'refit', becomes
 * active) or failed (not audited); ready rows are frozen; refits need a ready parent with the
 * same backbone; rollback refuses versions that are not ready and is audited; lineage.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  beginModel,
  closeProjectDb,
  completeModel,
  failModel,
  getActiveModel,
  getModel,
  getProject,
  listAudit,
  listModels,
  modelLineage,
  openProjectDb,
  rollbackModel,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { BACKBONE, newProject, readyModel, seedImages, sha, tempDir } from './helpers/fixtures';

let dir: string;
let cleanup: () => void;
let db: Db;
beforeEach(() => {
  ({ dir, cleanup } = tempDir());
  db = newProject(dir).db;
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

const done = { modelFile: 'models/v.kmodel', modelSha256: sha('m'), bankSize: 500, fitSeconds: 3.25, ep: 'cuda' };

describe('lifecycle', () => {
  it('begin (building, not audited) → complete (ready, audited, active)', () => {
    const before = listAudit(db).length;
    const m = beginModel(db, { kind: 'fit', ...BACKBONE, config: { coresetRatio: 0.1, taps: ['a', 'b'] } }, 'alice');
    expect(m).toMatchObject({ version: 1, status: 'building', kind: 'fit', parentVersion: null, createdBy: 'alice', addedImageIds: [], config: { coresetRatio: 0.1, taps: ['a', 'b'] } });
    expect(listAudit(db)).toHaveLength(before);
    expect(getActiveModel(db)).toBeNull();

    const r = completeModel(db, m.version, done, 'alice');
    expect(r).toMatchObject({ status: 'ready', modelFile: done.modelFile, modelSha256: done.modelSha256, bankSize: 500, fitSeconds: 3.25, ep: 'cuda' });
    expect(getActiveModel(db)?.version).toBe(1);
    expect(getProject(db)?.activeModelVersion).toBe(1);
    const ev = listAudit(db, { kind: 'fit' });
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ entity: 'model', entityId: '1', actor: 'alice' });
    expect(ev[0].payload).toMatchObject({ version: 1, status: 'ready', bank_size: 500 });

    expect(code(() => completeModel(db, m.version, done, 'alice'))).toBe('CONFLICT');
    expect(code(() => failModel(db, m.version, 'late'))).toBe('CONFLICT');
    expect(() => db.prepare('UPDATE models SET bank_size = 1 WHERE version = 1').run()).toThrow(/can no longer change/);
    expect(() => db.prepare('DELETE FROM models WHERE version = 1').run()).toThrow(/never deleted/);
  });

  it('a failed build is kept with its reason and never becomes active', () => {
    const v1 = readyModel(db);
    const m = beginModel(db, { kind: 'refit', parentVersion: v1.version, ...BACKBONE, config: {} }, 'alice');
    const f = failModel(db, m.version, 'out of memory');
    expect(f).toMatchObject({ status: 'failed', failure: 'out of memory' });
    expect(getActiveModel(db)?.version).toBe(v1.version);
    expect(code(() => completeModel(db, m.version, done, 'alice'))).toBe('CONFLICT');
    expect(code(() => rollbackModel(db, m.version, 'alice', 'try it'))).toBe('CONFLICT');
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('validates kinds, parents, backbones and added images', () => {
    const v1 = readyModel(db);
    const ids = seedImages(db, 3);
    expect(code(() => beginModel(db, { kind: 'fit', parentVersion: v1.version, ...BACKBONE, config: {} }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(code(() => beginModel(db, { kind: 'refit', ...BACKBONE, config: {} }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(code(() => beginModel(db, { kind: 'refit', parentVersion: 42, ...BACKBONE, config: {} }, 'alice'))).toBe('NOT_FOUND');
    expect(code(() => beginModel(db, { kind: 'refit', parentVersion: v1.version, backboneId: 'other', backboneSha256: sha('o'), config: {} }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(code(() => beginModel(db, { kind: 'refit', parentVersion: v1.version, ...BACKBONE, config: {}, addedImageIds: [ids[0], 9999] }, 'alice'))).toBe('NOT_FOUND');
    expect(code(() => beginModel(db, { kind: 'fit', ...BACKBONE, config: [] as unknown as Record<string, unknown> }, 'alice'))).toBe('INVALID_ARGUMENT');
    const building = beginModel(db, { kind: 'fit', ...BACKBONE, config: {} }, 'alice');
    expect(code(() => beginModel(db, { kind: 'refit', parentVersion: building.version, ...BACKBONE, config: {} }, 'alice'))).toBe('CONFLICT');
    expect(code(() => completeModel(db, building.version, { ...done, modelSha256: 'nope' }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(code(() => completeModel(db, 999, done, 'alice'))).toBe('NOT_FOUND');
    const r = beginModel(db, { kind: 'refit', parentVersion: v1.version, ...BACKBONE, config: {}, addedImageIds: [ids[2], ids[0], ids[2]] }, 'alice');
    expect(r.addedImageIds).toEqual([ids[0], ids[2]]);
  });

  it('completeModel needs the project row (it sets the active version)', () => {
    const bare = openProjectDb(`${dir}/bare.kensa`);
    const m = beginModel(bare, { kind: 'fit', ...BACKBONE, config: {} }, 'alice');
    expect(code(() => completeModel(bare, m.version, done, 'alice'))).toBe('NOT_FOUND');
    expect(getModel(bare, m.version)?.status).toBe('building');
    closeProjectDb(bare);
  });
});

describe('rollback and lineage', () => {
  it('rolls back to a ready version (audited), refuses unknown, unready and already active ones', () => {
    const v1 = readyModel(db);
    const ids = seedImages(db, 2);
    const v2 = readyModel(db, v1.version, ids);
    const v3 = readyModel(db, v2.version);
    expect(getActiveModel(db)?.version).toBe(v3.version);

    expect(rollbackModel(db, v1.version, 'bob', 'v2 absorbed a scratched part').version).toBe(v1.version);
    expect(getActiveModel(db)?.version).toBe(v1.version);
    const ev = listAudit(db, { kind: 'rollback' });
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ actor: 'bob', entity: 'model', entityId: String(v1.version), payload: { from_version: v3.version, to_version: v1.version, reason: 'v2 absorbed a scratched part' } });

    expect(code(() => rollbackModel(db, 99, 'bob', 'x'))).toBe('NOT_FOUND');
    expect(code(() => rollbackModel(db, v1.version, 'bob', 'x'))).toBe('CONFLICT');
    expect(code(() => rollbackModel(db, v2.version, 'bob', ' '))).toBe('INVALID_ARGUMENT');
    const building = beginModel(db, { kind: 'fit', ...BACKBONE, config: {} }, 'alice');
    expect(code(() => rollbackModel(db, building.version, 'bob', 'x'))).toBe('CONFLICT');

    expect(modelLineage(db, v3.version).map((m) => m.version)).toEqual([v3.version, v2.version, v1.version]);
    expect(modelLineage(db, v1.version).map((m) => m.version)).toEqual([v1.version]);
    expect(code(() => modelLineage(db, 99))).toBe('NOT_FOUND');
    expect(listModels(db).map((m) => [m.version, m.status])).toEqual([
      [1, 'ready'],
      [2, 'ready'],
      [3, 'ready'],
      [4, 'building'],
    ]);
    expect(verifyAudit(db).ok).toBe(true);
  });
});
