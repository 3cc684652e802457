/**
 * The Electron transport of the API contract (src-main/shared/api.ts), main side.
 *
 * One `ipcMain.handle('kensa:<method>')` per method in API_METHODS (the preload invokes
 * exactly these), each of which first checks WHO is calling (the main window's top frame,
 * showing the app's own page: ./trusted-sender) and then hands the call to the workstation,
 * which validates the arguments and answers with an `ApiResult` envelope. Workstation events
 * go to the main window on `kensa:event`.
 */
import { ipcMain, type BrowserWindow, type IpcMainInvokeEvent } from 'electron';
import { API_METHODS, IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, type ApiResult } from '../shared/api';
import type { Workstation } from '../services/workstation';
import { isTrustedSender, type ExpectedPage } from './trusted-sender';

export const UNTRUSTED_SENDER: ApiResult<never> = Object.freeze({
  ok: false,
  error: Object.freeze({ code: 'INVALID_ARGUMENT', message: 'untrusted sender' }),
}) as ApiResult<never>;

/** True when the message comes from the top frame of `win`, showing the app's own page. */
function fromMainWindow(event: IpcMainInvokeEvent, win: BrowserWindow | null, expected: ExpectedPage): boolean {
  if (!win || win.isDestroyed()) return false;
  const frame = event.senderFrame;
  const top = win.webContents.mainFrame;
  if (!frame || event.sender !== win.webContents) return false;
  if (frame.parent !== null || frame.processId !== top.processId || frame.routingId !== top.routingId) return false;
  return isTrustedSender(frame.url, expected);
}

/**
 * Registers the handlers; returns a function that removes them and stops forwarding events.
 * `expected` names the app's page (the built file, or the dev server's origin).
 */
export function registerIpc(workstation: Workstation, getMainWindow: () => BrowserWindow | null, expected: ExpectedPage): () => void {
  for (const method of API_METHODS) {
    ipcMain.handle(IPC_CALL_PREFIX + method, async (event, args: unknown): Promise<ApiResult<unknown>> => {
      if (!fromMainWindow(event, getMainWindow(), expected)) return UNTRUSTED_SENDER;
      return workstation.call(method, args);
    });
  }
  const unsubscribe = workstation.onEvent((e) => {
    const win = getMainWindow();
    if (win && !win.isDestroyed() && !win.webContents.isDestroyed()) win.webContents.send(IPC_EVENT_CHANNEL, e);
  });
  return () => {
    unsubscribe();
    for (const method of API_METHODS) ipcMain.removeHandler(IPC_CALL_PREFIX + method);
  };
}
