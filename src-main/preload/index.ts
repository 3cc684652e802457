/**
 * Preload script for the (sandboxed, context-isolated) main window.
 *
 * Exposes ONE namespaced, frozen object, `window.kensa`, that implements the KensaApi
 * contract from src-main/shared/api.ts. Raw `ipcRenderer` is never handed to the page: when
 * calls to main are added, each gets its own method here that invokes a single channel.
 *
 * Built as CommonJS (out/preload/index.cjs): sandboxed preloads cannot be ES modules, and
 * they can only `require('electron')` at runtime, so everything else is bundled in.
 */
import { contextBridge } from 'electron';
import type { KensaApi } from '../shared/api';
import { KENSA_VERSION } from '../shared/version';

const api: KensaApi = Object.freeze({
  version: KENSA_VERSION,
});

contextBridge.exposeInMainWorld('kensa', api);
