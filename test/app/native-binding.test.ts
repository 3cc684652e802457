/** Which better-sqlite3 build the desktop app loads (src-main/app/native-binding.ts). */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseNativeBinding, MISSING_ELECTRON_BUILD_HINT } from '../../src-main/app/native-binding';

const appRoot = path.resolve('/repo');

describe('chooseNativeBinding', () => {
  it('plain Node: the default build under node_modules', () => {
    expect(chooseNativeBinding({ electronVersion: undefined, packaged: false, appRoot, exists: () => true })).toEqual({ label: 'node' });
  });

  it('Electron with native/electron/better_sqlite3.node: that file', () => {
    const file = path.join(appRoot, 'native', 'electron', 'better_sqlite3.node');
    expect(chooseNativeBinding({ electronVersion: '41.7.1', packaged: false, appRoot, exists: (f) => f === file })).toEqual({ file, label: 'electron' });
  });

  it('packaged Electron: resources/native/better_sqlite3.node', () => {
    const file = path.join('/opt/Kensa/resources', 'native', 'better_sqlite3.node');
    expect(
      chooseNativeBinding({ electronVersion: '41.7.1', packaged: true, appRoot, resourcesPath: '/opt/Kensa/resources', exists: (f) => f === file }),
    ).toEqual({ file, label: 'electron' });
  });

  it('Electron without its build: labelled missing, with the setup hint', () => {
    const r = chooseNativeBinding({ electronVersion: '41.7.1', packaged: false, appRoot, exists: () => false });
    expect(r.file).toBeUndefined();
    expect(r.label).toBe(`electron (missing: ${path.join(appRoot, 'native', 'electron', 'better_sqlite3.node')})`);
    expect(r.missing).toContain(MISSING_ELECTRON_BUILD_HINT);
    expect(r.missing).toContain('npm run setup');
  });
});
