/**
 * Electron main process: the composition root. Creates the workstation (services, store,
 * engine worker: src-main/services/workstation), registers its IPC handlers
 * (src-main/ipc/handlers: every call checks that it comes from this window's own page), and
 * opens one secure window onto the renderer. On quit the workstation is closed (job
 * cancelled, worker stopped, project database closed) before the app exits.
 *
 * `--project DIR` on the command line opens that project at start (`npm start -- --project DIR`).
 *
 * Security posture (Electron security checklist):
 * - every renderer is sandboxed (`app.enableSandbox()` plus `sandbox: true`), context
 *   isolated, without Node integration, with web security on;
 * - the page talks to main only through the preload's `window.kensa` object;
 * - navigation away from the app's own page, new windows and <webview> are refused;
 * - every permission request (camera, notifications, ...) is denied;
 * - the renderer ships a strict Content-Security-Policy (src-renderer/index.html);
 * - the built renderer is served from the app's own `kensa://app/` protocol (standard +
 *   secure), only files inside out/renderer, never file:// (./app-protocol).
 *
 * The project database is opened with the Electron build of better-sqlite3
 * (native/electron/better_sqlite3.node, made by `npm run setup`; resources/native/ when
 * packaged): ./native-binding chooses it and the store receives it as `nativeBinding`.
 */
import { app, BrowserWindow, dialog, protocol, session, shell, type WebContents } from 'electron';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerIpc } from '../ipc/handlers';
import { isTrustedSender, type ExpectedPage } from '../ipc/trusted-sender';
import { createWorkstation, type Workstation } from '../services/workstation';
import { APP_HOST, APP_INDEX_URL, APP_SCHEME, isInside, resolveAppRequest } from './app-protocol';
import { chooseNativeBinding } from './native-binding';
import { secureWebPreferences } from './security';

/** Dev server URL that `electron-vite dev` provides; unset in built apps. */
const devServerUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;

/** Built files, relative to this bundle (out/main/main.js). */
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url));
const rendererDir = fileURLToPath(new URL('../renderer/', import.meta.url));

/** The app's own page: the dev server's origin in development, else kensa://app/index.html. */
const appPage: ExpectedPage = devServerUrl ? { devOrigin: new URL(devServerUrl).origin } : { appUrl: APP_INDEX_URL };

// kensa:// behaves like https for the page (standard: relative URLs and an origin, so the
// CSP's 'self' means kensa://app; secure: a secure context). Must run before `ready`.
protocol.registerSchemesAsPrivileged([{ scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } }]);

/** Serves kensa://app/<path> from out/renderer only (traversal and symlinks out refused). */
async function serveAppRequest(request: Request): Promise<Response> {
  const r = resolveAppRequest(request.url, rendererDir);
  if (!r.ok) return new Response(r.reason, { status: r.status, headers: { 'content-type': 'text/plain' } });
  try {
    // Symlinks must not lead out (an asar archive holds none, and realpath is not asar-aware).
    const real = rendererDir.includes('.asar') ? r.file : await realpath(r.file);
    if (!rendererDir.includes('.asar') && !isInside(real, await realpath(rendererDir))) return new Response('outside the renderer folder', { status: 403 });
    const body = await readFile(real);
    return new Response(body, { status: 200, headers: { 'content-type': r.mime, 'x-content-type-options': 'nosniff' } });
  } catch {
    return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
  }
}

/** True when `target` is the app's own page (same dev-server origin, or the same file). */
function isAppUrl(target: string): boolean {
  return isTrustedSender(target, appPage);
}

/** Navigation, pop-up and <webview> guards, applied to every web contents the app creates. */
function guard(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

/**
 * Audit reports to PDF with Chromium's own printer (webContents.printToPDF): the report HTML
 * (self-contained, no scripts) is loaded from a temporary file into a hidden, sandboxed,
 * script-less window, printed, and the window and file are removed.
 */
async function printPdf(html: string): Promise<Uint8Array> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kensa-print-'));
  const file = path.join(dir, 'report.html');
  const win = new BrowserWindow({ show: false, webPreferences: { ...secureWebPreferences(preloadPath), preload: undefined, javascript: false } });
  try {
    await writeFile(file, html);
    await win.loadFile(file);
    return await win.webContents.printToPDF({ printBackground: true, preferCSSPageSize: true });
  } finally {
    win.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The native folder dialog, attached to the main window. */
async function pickFolder(title: string): Promise<string | null> {
  const opts = { title, properties: ['openDirectory', 'createDirectory'] as ('openDirectory' | 'createDirectory')[] };
  const r = mainWindow ? await dialog.showOpenDialog(mainWindow, opts) : await dialog.showOpenDialog(opts);
  return r.canceled ? null : (r.filePaths[0] ?? null);
}

/** `--project DIR` / `--project=DIR` from the command line, if given. */
function projectArg(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--project' && argv[i + 1]) return path.resolve(argv[i + 1]);
    if (argv[i].startsWith('--project=')) return path.resolve(argv[i].slice('--project='.length));
  }
  return undefined;
}

let mainWindow: BrowserWindow | null = null;

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 800,
    minHeight: 600,
    show: false,
    title: 'Kensa',
    backgroundColor: '#14171c',
    webPreferences: secureWebPreferences(preloadPath),
  });
  win.once('ready-to-show', () => win.show());
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  mainWindow = win;
  if (devServerUrl) void win.loadURL(devServerUrl);
  else void win.loadURL(APP_INDEX_URL);
  return win;
}

// Must run before `ready`: forces the sandbox on every renderer, whatever a window asks for.
app.enableSandbox();

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    const [win] = BrowserWindow.getAllWindows();
    if (win) {
      if (win.isMinimized()) win.restore();
      win.focus();
    }
  });

  app.on('web-contents-created', (_event, contents) => guard(contents));

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  let workstation: Workstation | null = null;
  let unregisterIpc: (() => void) | null = null;
  let closed = false;

  // Close the workstation (cancel the job, stop the worker, close the database) before exit.
  app.on('will-quit', (event) => {
    if (closed || !workstation) return;
    event.preventDefault();
    const ws = workstation;
    workstation = null;
    unregisterIpc?.();
    ws.close()
      .catch((e: unknown) => console.error('Kensa: error while closing the workstation:', e))
      .finally(() => {
        closed = true;
        app.quit();
      });
  });

  void app
    .whenReady()
    .then(async () => {
      // Deny every permission request and check: the workstation needs none of them.
      session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
      session.defaultSession.setPermissionCheckHandler(() => false);
      // The renderer's own protocol (host `app` only).
      protocol.handle(APP_SCHEME, (request) =>
        new URL(request.url).host === APP_HOST ? serveAppRequest(request) : Promise.resolve(new Response('unknown host', { status: 403 })),
      );

      // better-sqlite3 for Electron's ABI (see ./native-binding); the label shows in the About box.
      const sqlite = chooseNativeBinding({
        electronVersion: process.versions.electron,
        packaged: app.isPackaged,
        appRoot: app.getAppPath(),
        resourcesPath: process.resourcesPath,
        exists: existsSync,
      });
      if (sqlite.missing) console.error(`Kensa: ${sqlite.missing}`);

      // The backbone manifest (resources/backbones.json) lies beside package.json; the bundled
      // main cannot find it relative to its own file. Packaged, it is unpacked from the asar
      // (electron-builder.json asarUnpack) so the engine's worker thread reads a plain file.
      process.env['KENSA_RESOURCES_DIR'] ??= app.isPackaged
        ? path.join(process.resourcesPath, 'app.asar.unpacked', 'resources')
        : path.join(app.getAppPath(), 'resources');

      const projectDir = projectArg(process.argv);
      // Settings live where the browser workstation keeps them too (KENSA_CONFIG_DIR, else
      // ~/.config/kensa), so both shells share the reviewer name and recent projects.
      workstation = await createWorkstation({
        shell: 'electron',
        printPdf,
        pickFolder,
        // The workstation has already checked that the file lies inside the open project.
        showInFolder: (file) => shell.showItemInFolder(file),
        sqlite,
        ...(projectDir ? { projectDir } : {}),
      });
      unregisterIpc = registerIpc(workstation, () => mainWindow, appPage);

      createWindow();
      app.on('activate', () => {
        if (BrowserWindow.getAllWindows().length === 0) createWindow();
      });
    })
    .catch((e: unknown) => {
      const message = e instanceof Error ? e.message : String(e);
      console.error('Kensa: could not start:', message);
      dialog.showErrorBox('Kensa could not start', message);
      app.exit(1);
    });
}
