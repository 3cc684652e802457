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
 * - the renderer ships a strict Content-Security-Policy (src-renderer/index.html).
 */
import { app, BrowserWindow, dialog, session, type WebContents } from 'electron';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerIpc } from '../ipc/handlers';
import { isTrustedSender, type ExpectedPage } from '../ipc/trusted-sender';
import { createWorkstation, type Workstation } from '../services/workstation';
import { secureWebPreferences } from './security';

/** Dev server URL that `electron-vite dev` provides; unset in built apps. */
const devServerUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;

/** Built files, relative to this bundle (out/main/main.js). */
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url));
const rendererIndex = fileURLToPath(new URL('../renderer/index.html', import.meta.url));

/** The app's own page: the dev server's origin in development, else the built file. */
const appPage: ExpectedPage = devServerUrl ? { devOrigin: new URL(devServerUrl).origin } : { file: rendererIndex };

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
  else void win.loadFile(rendererIndex);
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

      const projectDir = projectArg(process.argv);
      // Settings live where the browser workstation keeps them too (KENSA_CONFIG_DIR, else
      // ~/.config/kensa), so both shells share the reviewer name and recent projects.
      workstation = await createWorkstation({ shell: 'electron', printPdf, pickFolder, ...(projectDir ? { projectDir } : {}) });
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
