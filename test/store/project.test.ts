/**
 * The project row (src-main/store/project.ts): created once (idempotent, audited), settings
 * default and validated, a settings change audited with the patch and the result.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../src-main/shared/errors';
import {
  DEFAULT_SETTINGS,
  closeProjectDb,
  getProject,
  initProject,
  listAudit,
  openProjectDb,
  requireProject,
  updateSettings,
  verifyAudit,
  type Db,
} from '../../src-main/store/index';
import { tempDir } from './helpers/fixtures';

let cleanup: () => void;
let db: Db;
beforeEach(() => {
  const t = tempDir();
  cleanup = t.cleanup;
  db = openProjectDb(`${t.dir}/p.kensa`);
});
afterEach(() => {
  closeProjectDb(db);
  cleanup();
});

describe('project', () => {
  it('does not exist until created; initProject is idempotent and audited once', () => {
    expect(getProject(db)).toBeNull();
    expect(() => requireProject(db)).toThrow(KensaError);
    const p = initProject(db, ' Bottles ', 'alice');
    expect(p).toMatchObject({ name: 'Bottles', settings: DEFAULT_SETTINGS, activeModelVersion: null });
    expect(initProject(db, 'Other name', 'bob')).toEqual(p);
    const events = listAudit(db, { kind: 'project' });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ actor: 'alice', entity: 'project', entityId: '1', payload: { action: 'init', project: { name: 'Bottles' } } });
  });

  it('updates settings (validated, audited with patch and result)', () => {
    initProject(db, 'P', 'alice');
    const p = updateSettings(db, { autoRefitAfter: 25 }, 'bob');
    expect(p.settings).toEqual({ autoRefitAfter: 25, minDefectsForZeroMiss: DEFAULT_SETTINGS.minDefectsForZeroMiss });
    expect(updateSettings(db, { minDefectsForZeroMiss: 8, autoRefitAfter: null }, 'bob').settings).toEqual({ autoRefitAfter: null, minDefectsForZeroMiss: 8 });
    const last = listAudit(db, { kind: 'project' }).at(-1);
    expect(last?.payload).toEqual({ action: 'settings', patch: { minDefectsForZeroMiss: 8, autoRefitAfter: null }, settings: { autoRefitAfter: null, minDefectsForZeroMiss: 8 } });
    for (const bad of [{ autoRefitAfter: 0 }, { autoRefitAfter: 1.5 }, { minDefectsForZeroMiss: -1 }, { colour: 'red' }]) {
      expect(() => updateSettings(db, bad as never, 'bob')).toThrow(/autoRefitAfter|minDefectsForZeroMiss|unknown project setting/);
    }
    expect(getProject(db)?.settings).toEqual({ autoRefitAfter: null, minDefectsForZeroMiss: 8 });
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('updateSettings before the project exists is NOT_FOUND', () => {
    expect(() => updateSettings(db, { autoRefitAfter: 3 }, 'bob')).toThrow(/no project yet/);
  });
});
