/**
 * Electron security settings, checked without an Electron binary: the window options every
 * BrowserWindow gets, the fuses the packaged app is built with, the renderer's CSP, and
 * source-level bans (no shell.openExternal, no remote module, no raw ipcRenderer exposure).
 * SECURITY.md maps each checklist item to its check.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FUSES, secureWebPreferences } from '../../src-main/app/security';

const repo = path.resolve(import.meta.dirname, '../..');
const read = (p: string): string => readFileSync(path.join(repo, p), 'utf8');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(repo, dir))) {
    const p = path.join(dir, e);
    if (statSync(path.join(repo, p)).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|svelte|mjs)$/.test(e)) out.push(p);
  }
  return out;
}

describe('Electron security settings', () => {
  it('every window: context isolation, sandbox, no Node integration, web security, no webview', () => {
    const w = secureWebPreferences('/x/preload.cjs');
    expect(w).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
    });
    expect(w).not.toHaveProperty('enableBlinkFeatures');
    // main.ts uses exactly these options and the global sandbox switch.
    const main = read('src-main/app/main.ts');
    expect(main).toContain('webPreferences: secureWebPreferences(preloadPath)');
    expect(main).toContain('app.enableSandbox()');
    expect(main).toMatch(/setPermissionRequestHandler\(\(_contents, _permission, callback\) => callback\(false\)\)/);
    expect(main).toContain("setWindowOpenHandler(() => ({ action: 'deny' }))");
    expect(main).toContain("'will-navigate'");
    expect(main).toContain("'will-attach-webview'");
  });

  it('the window loads the renderer from kensa://, registered standard + secure before ready, never file://', () => {
    const main = read('src-main/app/main.ts');
    expect(main).toContain('win.loadURL(APP_INDEX_URL)');
    expect(main).not.toMatch(/loadFile\(renderer|rendererIndex/);
    expect(main).toMatch(/registerSchemesAsPrivileged\(\[\{ scheme: APP_SCHEME, privileges: \{ standard: true, secure: true/);
    expect(main).toContain('protocol.handle(APP_SCHEME');
    expect(main).toContain('resolveAppRequest(request.url, rendererDir)');
    expect(main).toContain('appUrl: APP_INDEX_URL');
    // Registered at module top level (before app.whenReady), as Electron requires.
    expect(main.indexOf('registerSchemesAsPrivileged')).toBeLessThan(main.indexOf('.whenReady()'));
  });

  it('the packaged app is built with the fuses in FUSES', () => {
    const cfg = JSON.parse(read('electron-builder.json')) as {
      electronFuses: Record<string, boolean>;
      npmRebuild: boolean;
      asar: boolean;
      extraResources: { from: string; to: string }[];
      files: string[];
      linux: { target: string[] };
      win: { target: string[] };
      mac: { target: string[] };
    };
    expect(cfg.electronFuses).toEqual(FUSES);
    expect(cfg.asar).toBe(true);
    // ENVIRONMENT.md: never rebuild natives in place; scripts/package.mjs builds better-sqlite3
    // for Electron in a copy and extraResources ships it (src-main/app/native-binding.ts).
    expect(cfg.npmRebuild).toBe(false);
    expect(cfg.extraResources).toContainEqual({ from: 'native/electron/better_sqlite3.node', to: 'native/better_sqlite3.node' });
    expect(cfg.files).toContain('!**/*.onnx'); // backbones are downloaded, never bundled
    expect(cfg.linux.target).toEqual(['AppImage', 'deb']);
    expect(cfg.win.target).toEqual(['nsis']);
    expect(cfg.mac.target).toEqual(['dmg']);
  });

  it('the renderer ships a strict CSP: own scripts only, no eval, no remote content', () => {
    const html = read('src-renderer/index.html');
    const csp = /http-equiv="Content-Security-Policy"\s+content="([^"]+)"/.exec(html)?.[1] ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(csp).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)/);
  });

  it('no shell.openExternal, no remote module, no raw ipcRenderer exposed, no http(s) loads', () => {
    for (const f of [...sources('src-main'), ...sources('src-renderer/src')]) {
      const text = read(f);
      expect(text, f).not.toMatch(/shell\.openExternal|@electron\/remote|enableRemoteModule/);
      // shell.showItemInFolder only in the app layer, behind the workstation's project-folder check.
      if (!f.startsWith(path.join('src-main', 'app'))) expect(text, f).not.toMatch(/showItemInFolder/);
      expect(text, f).not.toMatch(/exposeInMainWorld\([^)]*ipcRenderer\s*\)/);
      expect(text, f).not.toMatch(/loadURL\(\s*['"`]https?:/);
    }
  });
});
