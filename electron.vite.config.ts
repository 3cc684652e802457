/**
 * electron-vite build of the three Electron targets (see ../shared/ENVIRONMENT.md):
 *
 *   out/main/main.js            main process (src-main/app/main.ts), ES module
 *   out/main/engine-worker.js   engine worker thread (src-main/jobs/engine-worker.ts); the
 *                               EngineClient looks for it next to the main bundle
 *   out/preload/index.cjs       preload (src-main/preload/index.ts), CommonJS: a sandboxed
 *                               preload cannot be an ES module, and package.json says "module"
 *   out/renderer/index.html     renderer (src-renderer), Svelte 5
 *
 * Every explicit entry is required: this repo does not use electron-vite's default
 * src/main, src/preload, src/renderer folders.
 */
import { resolve } from 'node:path';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'electron-vite';

const root = import.meta.dirname;
const at = (...parts: string[]): string => resolve(root, ...parts);

/**
 * Native (or otherwise unbundleable) runtime dependencies: always loaded from node_modules at
 * runtime. electron-vite externalizes every `dependencies` entry already; listing them keeps
 * that true if one moves to devDependencies.
 */
const nativeDeps = ['onnxruntime-node', 'sharp', 'better-sqlite3'];

export default defineConfig({
  main: {
    build: {
      outDir: at('out/main'),
      externalizeDeps: { include: nativeDeps },
      lib: {
        entry: {
          main: at('src-main/app/main.ts'),
          'engine-worker': at('src-main/jobs/engine-worker.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: at('out/preload'),
      rolldownOptions: {
        input: { index: at('src-main/preload/index.ts') },
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: at('src-renderer'),
    // The dev server on 127.0.0.1 so its HMR websocket matches the CSP's connect-src.
    server: { host: '127.0.0.1' },
    build: {
      outDir: at('out/renderer'),
      // Minified: a third of the bytes to load and parse before the first screen (the review
      // screen's first paint is a measured target: npm run bench:scale).
      minify: true,
      rolldownOptions: {
        input: { index: at('src-renderer/index.html') },
      },
    },
    plugins: [
      svelte({
        configFile: false, // all Svelte options live here; there is no svelte.config.js
        // Runes mode for all of our components (legacy `export let` etc. is a compile error);
        // libraries from node_modules keep whatever mode they were written in.
        dynamicCompileOptions: ({ filename }) => (filename.includes('/node_modules/') ? undefined : { runes: true }),
      }),
    ],
  },
});
