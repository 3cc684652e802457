/**
 * The desktop app end to end (Playwright's Electron support): launch → a window titled
 * "Kensa…" on kensa://app/ → `window.kensa.app.info({})` answers over IPC with an ok
 * envelope naming the Electron build of better-sqlite3. The longer desktop run (sample
 * project, fit, score, verdict, PDF report) is `npm run smoke:electron`.
 *
 * Runs wherever the Electron binary is installed (`require('electron')` returns the path of
 * an executable that exists). Installs made with ELECTRON_SKIP_BINARY_DOWNLOAD=1 (machines
 * that cannot reach GitHub) have no binary: the test then reports itself as skipped, with the
 * reason.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { _electron as electron, expect, test } from '@playwright/test';
import type { ApiResult, AppInfo, KensaApi } from '../../src-main/shared/api';
import { KENSA_VERSION } from '../../src-main/shared/version';

const repo = path.resolve(import.meta.dirname, '../..');

/** The Electron executable, or why there is none. */
function findElectron(): { path: string } | { missing: string } {
  try {
    // The electron package's main export is the path of its downloaded binary; it throws
    // when the postinstall download was skipped.
    const p: unknown = createRequire(import.meta.url)('electron');
    if (typeof p !== 'string') return { missing: 'the electron package did not return a path' };
    return existsSync(p) ? { path: p } : { missing: `${p} does not exist` };
  } catch (e) {
    return { missing: e instanceof Error ? e.message : String(e) };
  }
}

const found = findElectron();
test.skip('missing' in found, `Electron binary not installed here (ELECTRON_SKIP_BINARY_DOWNLOAD): ${'missing' in found ? found.missing : ''}`);

test.describe('Electron app', () => {
  let configDir: string;

  test.beforeAll(() => {
    configDir = mkdtempSync(path.join(os.tmpdir(), 'kensa-electron-'));
    if (!existsSync(path.join(repo, 'out', 'main', 'main.js')) || !existsSync(path.join(repo, 'out', 'renderer', 'index.html'))) {
      const build = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
        cwd: repo,
        stdio: 'inherit',
      });
      expect(build.status).toBe(0);
    }
  });

  test.afterAll(() => {
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test('launches a window titled Kensa whose window.kensa answers app.info', async () => {
    if (!('path' in found)) return;
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    env['KENSA_CONFIG_DIR'] = configDir;
    delete env['ELECTRON_RUN_AS_NODE'];
    const app = await electron.launch({ executablePath: found.path, args: [repo], cwd: repo, env, timeout: 60_000 });
    try {
      const win = await app.firstWindow();
      await expect(win).toHaveTitle(/^Kensa/);
      // Served from the app's own protocol, not file:// (SECURITY.md item 18).
      expect(win.url()).toMatch(/^kensa:\/\/app\//);

      const result = await win.evaluate(async () => {
        const kensa = (globalThis as unknown as { kensa: KensaApi }).kensa;
        return kensa.app.info({});
      });
      // The database uses the Electron build of better-sqlite3 (native/electron, from npm run setup).
      expect(result).toMatchObject({ ok: true, value: { version: KENSA_VERSION, shell: 'electron', nativeBinding: 'electron' } } satisfies {
        ok: true;
        value: Partial<AppInfo>;
      });

      // The bridge is one frozen, namespaced object of functions: no raw IPC, no Node.
      const shape = await win.evaluate(() => {
        const g = globalThis as unknown as Record<string, unknown> & { kensa: KensaApi };
        return {
          frozen: Object.isFrozen(g.kensa),
          namespaces: Object.keys(g.kensa).sort(),
          infoIsFunction: typeof g.kensa.app.info === 'function',
          pathForFile: typeof g.kensa.pathForFile,
          hasIpc: 'ipcRenderer' in g || 'ipcRenderer' in g.kensa,
          hasRequire: typeof g['require'],
          hasProcess: typeof g['process'],
        };
      });
      expect(shape).toMatchObject({ frozen: true, infoIsFunction: true, pathForFile: 'function', hasIpc: false, hasRequire: 'undefined', hasProcess: 'undefined' });
      expect(shape.namespaces).toEqual(expect.arrayContaining(['app', 'images', 'jobs', 'models', 'onEvent', 'projects', 'review', 'threshold', 'version']));

      const bad = (await win.evaluate(async () => {
        const kensa = (globalThis as unknown as { kensa: KensaApi }).kensa;
        return kensa.app.setReviewer({ name: 5 as unknown as string });
      })) as ApiResult<AppInfo>;
      expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    } finally {
      await app.close();
    }
  });
});
