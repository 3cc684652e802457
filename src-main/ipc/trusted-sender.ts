/**
 * Is an IPC message from the app's own page? (Pure: no electron import, unit-tested.)
 *
 * The main window loads exactly one page: the built renderer's index.html from disk, or the
 * electron-vite dev server in development. A frame showing anything else (a page the window
 * was somehow navigated to, an iframe, a data: or blob: URL, another file on disk) must not
 * reach the workstation. `registerIpc` checks this on every call, together with "the sender
 * is the main window's top frame" (GitHub Desktop's trusted-ipc-sender, Electron security
 * checklist item 17: validate the sender of all IPC messages).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface ExpectedPage {
  /**
   * The page on the app's own `kensa://` protocol (`kensa://app/index.html`, see
   * src-main/app/app-protocol.ts): the built renderer as the desktop window loads it.
   */
  appUrl?: string;
  /** Absolute path of the built renderer page (out/renderer/index.html). */
  file?: string;
  /** Origin of the dev server (`http://127.0.0.1:5173`), in development only. */
  devOrigin?: string;
}

export function isTrustedSender(frameUrl: string, expected: ExpectedPage): boolean {
  let url: URL;
  try {
    url = new URL(frameUrl);
  } catch {
    return false;
  }
  if (expected.devOrigin) {
    let dev: URL | null = null;
    try {
      dev = new URL(expected.devOrigin);
    } catch {
      dev = null;
    }
    if (
      dev &&
      (dev.protocol === 'http:' || dev.protocol === 'https:') &&
      url.origin === dev.origin &&
      url.username === '' &&
      url.password === ''
    ) {
      return true;
    }
  }
  if (expected.appUrl) {
    let app: URL | null;
    try {
      app = new URL(expected.appUrl);
    } catch {
      app = null;
    }
    if (
      app &&
      app.protocol !== 'file:' &&
      app.protocol !== 'http:' &&
      app.protocol !== 'https:' &&
      url.protocol === app.protocol &&
      url.host === app.host &&
      url.username === '' &&
      url.password === '' &&
      (url.pathname === app.pathname || url.pathname === '/')
    ) {
      return true;
    }
  }
  if (expected.file && url.protocol === 'file:' && url.host === '') {
    let framePath: string;
    try {
      framePath = fileURLToPath(url); // ignores ?query and #hash; rejects encoded '/' (%2F)
    } catch {
      return false;
    }
    return path.resolve(framePath) === path.resolve(expected.file);
  }
  return false;
}
