/**
 * The security settings of every Kensa window and of the packaged app, in one place so that
 * tests can check them without an Electron binary (SECURITY.md lists each checklist item and
 * the test that proves it). Plain data: no electron import at runtime.
 */
import type { WebPreferences } from 'electron';

/** webPreferences of every BrowserWindow (Electron security checklist items 2–4, 6, 8–11). */
export function secureWebPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    // No enableBlinkFeatures: never set.
    spellcheck: false,
    navigateOnDragDrop: false,
  };
}

/**
 * Electron fuses flipped at packaging time (electron-builder `electronFuses`, see
 * electron-builder.json5): the packaged binary cannot be turned into a plain Node runtime,
 * cannot be given Node options or an inspector from outside, and only loads the app from its
 * integrity-checked asar.
 */
export const FUSES = {
  runAsNode: false,
  enableCookieEncryption: true,
  enableNodeOptionsEnvironmentVariable: false,
  enableNodeCliInspectArguments: false,
  enableEmbeddedAsarIntegrityValidation: true,
  onlyLoadAppFromAsar: true,
  loadBrowserProcessSpecificV8Snapshot: false,
  grantFileProtocolExtraPrivileges: false,
} as const;
