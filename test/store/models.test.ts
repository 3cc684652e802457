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

    expect(m.detector).toBe('patchcore'); // the default
    expect(m.facts).toEqual({});

    const r = completeModel(db, m.version, done, 'alice');
    expect(r).toMatchObject({ status: 'ready', modelFile: done.modelFile, modelSha256: done.modelSha256, detector: 'patchcore', fitSeconds: 3.25, ep: 'cuda' });
    // Given only a bank size, the facts say it.
    expect(r.facts).toEqual({ bankSize: { label: 'Memory bank', value: 500, unit: 'patches' } });
    expect(getActiveModel(db)?.version).toBe(1);
    expect(getProject(db)?.activeModelVersion).toBe(1);
    const ev = listAudit(db, { kind: 'fit' });
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ entity: 'model', entityId: '1', actor: 'alice' });
    expect(ev[0].payload).toMatchObject({ version: 1, status: 'ready', bank_size: 500, detector: 'patchcore' });
    expect(JSON.parse((ev[0].payload as { facts: string }).facts)).toEqual(r.facts);

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

describe('detectors', () => {
  const facts = { epochs: { label: 'Epochs', value: 40 }, loss: { label: 'Final loss', value: 0.0125 } };

  it('a version of another detector: no bank size, its own facts; audited and verifiable', () => {
    const m = beginModel(db, { kind: 'fit', detector: 'student-teacher', ...BACKBONE, config: { epochs: 40 } }, 'alice');
    expect(m.detector).toBe('student-teacher');
    const { bankSize: _b, ...noBank } = done;
    const r = completeModel(db, m.version, { ...noBank, facts }, 'alice');
    expect(r).toMatchObject({ status: 'ready', detector: 'student-teacher', facts });
    expect(getModel(db, m.version)?.facts).toEqual(facts);
    const row = db.prepare('SELECT bank_size, detector, facts FROM models WHERE version = ?').get(m.version) as { bank_size: number | null; detector: string; facts: string };
    expect(row.bank_size).toBeNull();
    expect(row.detector).toBe('student-teacher');
    expect(JSON.parse(row.facts)).toEqual(facts);
    expect(listAudit(db, { kind: 'fit' })[0]!.payload).toMatchObject({ detector: 'student-teacher', bank_size: null });
    expect(verifyAudit(db).ok).toBe(true);
    // The facts are frozen with the row.
    expect(() => db.prepare(`UPDATE models SET facts = '{}' WHERE version = ?`).run(m.version)).toThrow(/can no longer change/);
  });

  it('facts given with a bank size are kept as given (PatchCore states more than its bank)', () => {
    const m = beginModel(db, { kind: 'fit', ...BACKBONE, config: {} }, 'alice');
    const pc = { bankSize: { label: 'Memory bank', value: 500, unit: 'patches' }, dim: { label: 'Feature dims', value: 1536 } };
    const r = completeModel(db, m.version, { ...done, facts: pc }, 'alice');
    expect(r.facts).toEqual(pc);
    expect((db.prepare('SELECT bank_size FROM models WHERE version = ?').get(m.version) as { bank_size: number }).bank_size).toBe(500);
  });

  it('an unknown detector, or facts that are not an object → INVALID_ARGUMENT', () => {
    expect(code(() => beginModel(db, { kind: 'fit', detector: 'efficientad', ...BACKBONE, config: {} }, 'alice'))).toBe('INVALID_ARGUMENT');
    const m = beginModel(db, { kind: 'fit', detector: 'padim', ...BACKBONE, config: {} }, 'alice');
    expect(code(() => completeModel(db, m.version, { ...done, facts: [] as unknown as Record<string, never> }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(code(() => completeModel(db, m.version, { ...done, bankSize: 0 }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(getModel(db, m.version)?.status).toBe('building');
  });

  it('a refit keeps its parent\'s detector', () => {
    const v1 = readyModel(db);
    expect(v1.detector).toBe('patchcore');
    expect(code(() => beginModel(db, { kind: 'refit', parentVersion: v1.version, detector: 'padim', ...BACKBONE, config: {} }, 'alice'))).toBe('INVALID_ARGUMENT');
    expect(beginModel(db, { kind: 'refit', parentVersion: v1.version, ...BACKBONE, config: {} }, 'alice').detector).toBe('patchcore');
    const p = beginModel(db, { kind: 'fit', detector: 'padim', ...BACKBONE, config: {} }, 'alice');
    completeModel(db, p.version, { ...done, bankSize: null, facts: {} }, 'alice');
    expect(beginModel(db, { kind: 'refit', parentVersion: p.version, detector: 'padim', ...BACKBONE, config: {} }, 'alice').detector).toBe('padim');
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
