/**
 * Electron main process: the composition root. For now it opens one secure window onto the
 * renderer; services, IPC handlers and the engine worker are wired in here as they arrive.
 *
 * Security posture (Electron security checklist):
 * - every renderer is sandboxed (`app.enableSandbox()` plus `sandbox: true`), context
 *   isolated, without Node integration, with web security on;
 * - the page talks to main only through the preload's `window.kensa` object;
 * - navigation away from the app's own page, new windows and <webview> are refused;
 * - every permission request (camera, notifications, ...) is denied;
 * - the renderer ships a strict Content-Security-Policy (src-renderer/index.html).
 */
import { app, BrowserWindow, session, type WebContents } from 'electron';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Dev server URL that `electron-vite dev` provides; unset in built apps. */
const devServerUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;

/** Built files, relative to this bundle (out/main/main.js). */
const preloadPath = fileURLToPath(new URL('../preload/index.cjs', import.meta.url));
const rendererIndex = fileURLToPath(new URL('../renderer/index.html', import.meta.url));

/** True when `target` is the app's own page (same dev-server origin, or the same file). */
function isAppUrl(target: string): boolean {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return false;
  }
  if (devServerUrl) return url.origin === new URL(devServerUrl).origin;
  return url.protocol === 'file:' && url.pathname === pathToFileURL(rendererIndex).pathname;
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

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 800,
    minWidth: 800,
    minHeight: 600,
    show: false,
    title: 'Kensa',
    backgroundColor: '#14171c',
    webPreferences: {
      preload: preloadPath,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    },
  });
  win.once('ready-to-show', () => win.show());
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

  void app.whenReady().then(() => {
    // Deny every permission request and check: the workstation needs none of them.
    session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);

    createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) createWindow();
    });
  });
}
