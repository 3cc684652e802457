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
    expect(p.settings).toMatchObject({ autoRefitAfter: 25, minDefectsForZeroMiss: DEFAULT_SETTINGS.minDefectsForZeroMiss });
    expect(updateSettings(db, { minDefectsForZeroMiss: 8, autoRefitAfter: null }, 'bob').settings).toMatchObject({ autoRefitAfter: null, minDefectsForZeroMiss: 8 });
    const last = listAudit(db, { kind: 'project' }).at(-1);
    expect(last?.payload).toMatchObject({ action: 'settings', patch: { minDefectsForZeroMiss: 8, autoRefitAfter: null }, settings: { autoRefitAfter: null, minDefectsForZeroMiss: 8 } });
    for (const bad of [{ autoRefitAfter: 0 }, { autoRefitAfter: 1.5 }, { minDefectsForZeroMiss: -1 }, { colour: 'red' }]) {
      expect(() => updateSettings(db, bad as never, 'bob')).toThrow(/autoRefitAfter|minDefectsForZeroMiss|unknown project setting/);
    }
    expect(getProject(db)?.settings).toMatchObject({ autoRefitAfter: null, minDefectsForZeroMiss: 8 });
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('line and retention settings: checked field by field, defaults filled in, secrets kept out of the audit log', () => {
    initProject(db, 'P', 'alice');
    expect(getProject(db)?.settings.line).toEqual(DEFAULT_SETTINGS.line);
    const line = {
      station: 'cell-7',
      enabled: true,
      folders: [{ path: '/data/in', completion: 'rename' }],
      outputs: { mqtt: { enabled: true, url: 'mqtt://127.0.0.1:1883', topic: 'plant/{station}/result', password: 's3cret' } },
    };
    const p = updateSettings(db, { line: line as never, retention: { passedMapDays: 7, budgetMb: 500 } as never }, 'bob');
    expect(p.settings.line.folders).toEqual([{ path: '/data/in', completion: 'rename', stableMs: 500 }]);
    expect(p.settings.line.outputs.mqtt).toMatchObject({ enabled: true, topic: 'plant/{station}/result', password: 's3cret', retain: true });
    expect(p.settings.line.outputs.csv.enabled).toBe(false);
    expect(p.settings.retention).toEqual({ passedMapDays: 7, passedMapAction: 'downsample', budgetMb: 500 });
    const audit = JSON.stringify(listAudit(db, { kind: 'project' }).at(-1)?.payload);
    expect(audit).toContain('cell-7');
    expect(audit).not.toContain('s3cret');
    for (const [bad, msg] of [
      [{ line: { station: 'a/b' } }, /line.station must not contain/],
      [{ line: { folders: [{ path: '/x', completion: 'sometimes' }] } }, /line.folders\[0\].completion must be one of/],
      [{ line: { outputs: { mqtt: { url: 'http://x' } } } }, /mqtt.url must look like/],
      [{ line: { outputs: { mqtt: { topic: 'a/#' } } } }, /wildcards/],
      [{ line: { outputs: { opcua: { port: 70000 } } } }, /opcua.port must be at most 65535/],
      [{ line: { outputs: { json: { enabled: true, mode: 'folder' } } } }, /json.dir is needed/],
      [{ line: { speed: 3 } }, /unknown setting 'line.speed'/],
      [{ retention: { passedMapAction: 'shred' } }, /retention.passedMapAction must be one of/],
    ] as const) {
      expect(() => updateSettings(db, bad as never, 'bob')).toThrow(msg);
    }
    expect(verifyAudit(db).ok).toBe(true);
  });

  it('updateSettings before the project exists is NOT_FOUND', () => {
    expect(() => updateSettings(db, { autoRefitAfter: 3 }, 'bob')).toThrow(/no project yet/);
  });
});
