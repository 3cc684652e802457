/**
 * Which better-sqlite3 native build the project store loads (pure: no electron import, so it
 * is unit-tested under plain Node).
 *
 * better-sqlite3 is the one native module with an ABI tied to the runtime: the build under
 * node_modules is made for Node (the CLI, the web host and the tests use it). Electron needs
 * its own build, which `npm run setup` / `npm start` make into native/electron/ (scripts/
 * build-electron-sqlite.mjs, only where the Electron binary is installed) and `npm run
 * package:*` copies into the packaged app's resources/native/. Inside Electron the store is
 * given that file through better-sqlite3's `nativeBinding` option; the Node build under
 * node_modules is never touched.
 */
import path from 'node:path';

export const ELECTRON_BINDING_FILE = 'better_sqlite3.node';

/** What `npm run setup` says when the Electron build is missing. */
export const MISSING_ELECTRON_BUILD_HINT =
  'better-sqlite3 has no build for Electron on this machine: run `npm run setup` again with internet access so it can build better-sqlite3 for Electron (native/electron/better_sqlite3.node)';

export interface NativeBindingChoice {
  /** The file to pass as better-sqlite3's `nativeBinding`; undefined: its default (node_modules). */
  file?: string;
  /** Shown in the About box (AppInfo.nativeBinding). */
  label: string;
  /** Set when the Electron build is missing: the message a failed database open is given. */
  missing?: string;
}

export interface NativeBindingEnv {
  /** process.versions.electron (undefined under plain Node). */
  electronVersion: string | undefined;
  /** app.isPackaged. */
  packaged: boolean;
  /** The repository / app root (package.json's folder). */
  appRoot: string;
  /** process.resourcesPath of a packaged app. */
  resourcesPath?: string;
  exists: (file: string) => boolean;
}

/** Where the Electron build of better-sqlite3 lives (development: native/electron; packaged: resources/native). */
export function electronBindingPath(env: Pick<NativeBindingEnv, 'packaged' | 'appRoot' | 'resourcesPath'>): string {
  return env.packaged && env.resourcesPath
    ? path.join(env.resourcesPath, 'native', ELECTRON_BINDING_FILE)
    : path.join(env.appRoot, 'native', 'electron', ELECTRON_BINDING_FILE);
}

export function chooseNativeBinding(env: NativeBindingEnv): NativeBindingChoice {
  if (!env.electronVersion) return { label: 'node' };
  const file = electronBindingPath(env);
  if (env.exists(file)) return { file, label: 'electron' };
  return { label: `electron (missing: ${file})`, missing: `${MISSING_ELECTRON_BUILD_HINT}; looked for ${file}` };
}
