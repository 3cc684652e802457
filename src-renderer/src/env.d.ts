/// <reference types="svelte" />
/// <reference types="vite/client" />
import type { KensaApi } from '../../src-main/shared/api';

declare global {
  interface Window {
    /**
     * The preload's API object (src-main/preload). Absent when the renderer runs in a plain
     * browser (the loopback web host, Playwright tests without Electron). `pathForFile`
     * (Electron's webUtils.getPathForFile) gives a dropped file's local path, where offered.
     */
    readonly kensa?: KensaApi & { readonly pathForFile?: (file: File) => string };
  }
}
