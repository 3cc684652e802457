/**
 * Preload script for the (sandboxed, context-isolated) main window.
 *
 * Exposes ONE namespaced, frozen object, `window.kensa`, that implements the KensaApi
 * contract from src-main/shared/api.ts, generated from API_METHODS:
 *
 *   window.kensa.version
 *   window.kensa.onEvent(listener) → unsubscribe
 *   window.kensa.pathForFile(file)             a dropped File's real path (webUtils)
 *   window.kensa.<namespace>.<name>(args)      → ipcRenderer.invoke('kensa:<namespace>.<name>', args)
 *
 * Raw `ipcRenderer` is never handed to the page: each method invokes its own channel, and the
 * event listener gets the event payload only (never the IpcRendererEvent, whose `sender`
 * would be the raw ipcRenderer).
 *
 * Built as CommonJS (out/preload/index.cjs): sandboxed preloads cannot be ES modules, and
 * they can only `require('electron')` at runtime, so everything else is bundled in.
 */
import { contextBridge, ipcRenderer, webUtils, type IpcRendererEvent } from 'electron';
import { API_METHODS, IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, type KensaApi, type KensaEvent } from '../shared/api';
import { KENSA_VERSION } from '../shared/version';

type Call = (args: unknown) => Promise<unknown>;

function buildNamespaces(): Record<string, Readonly<Record<string, Call>>> {
  const namespaces: Record<string, Record<string, Call>> = {};
  for (const method of API_METHODS) {
    const dot = method.indexOf('.');
    const ns = method.slice(0, dot);
    const name = method.slice(dot + 1);
    const channel = IPC_CALL_PREFIX + method;
    (namespaces[ns] ??= {})[name] = (args: unknown) => ipcRenderer.invoke(channel, args ?? {});
  }
  for (const ns of Object.keys(namespaces)) Object.freeze(namespaces[ns]);
  return namespaces;
}

function onEvent(listener: (e: KensaEvent) => void): () => void {
  if (typeof listener !== 'function') throw new TypeError('kensa.onEvent needs a function');
  const wrapped = (_event: IpcRendererEvent, e: KensaEvent): void => listener(e);
  ipcRenderer.on(IPC_EVENT_CHANNEL, wrapped);
  return () => {
    ipcRenderer.removeListener(IPC_EVENT_CHANNEL, wrapped);
  };
}

const api = Object.freeze({
  ...buildNamespaces(),
  version: KENSA_VERSION,
  onEvent,
  pathForFile: (file: File): string => webUtils.getPathForFile(file),
}) as unknown as KensaApi;

contextBridge.exposeInMainWorld('kensa', api);
