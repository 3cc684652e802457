/**
 * The API the preload script exposes to the renderer as `window.kensa`.
 *
 * This is the one contract between the sandboxed renderer and the main process: the
 * preload (src-main/preload) must satisfy it, and the renderer sees `window.kensa` through
 * it (src-renderer/src/env.d.ts). Type-level only: the renderer may `import type` from here
 * and nothing else from src-main.
 *
 * One namespaced object, one member per message; never a raw `ipcRenderer`. The workstation
 * calls (projects, fit, score, review, ...) are added here as they arrive.
 */
export interface KensaApi {
  /** The Kensa version (package.json), fixed at build time. */
  readonly version: string;
}
