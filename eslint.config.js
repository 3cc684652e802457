// ESLint flat config (ESLint 9 + typescript-eslint + eslint-plugin-svelte).
//
// Besides the recommended rule sets, this file enforces the import directions of
// ../shared/DESIGN.md ("shared ← engine ← services ← (ipc | host | cli) ← app"; engine and
// store never import each other, electron, or services; the renderer imports only types from
// src-main/shared) as `no-restricted-imports` rules, one block per folder, generated from the
// LAYERS table below; `no-restricted-syntax` adds what that rule cannot see (dynamic
// `import()`, `electron.ipcMain`). test/lint/import-rules.test.ts checks that each rule fires.
//
// Flat config does not merge rule options: when two blocks set the same rule for a file, the
// later one wins. So every file gets exactly ONE generated block of import rules, holding all
// of its bans (the "everywhere" bans are folded into each folder's list). Add a folder by
// adding a row to LAYERS, not a new block.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// ---------------------------------------------------------------------------------------
// Building blocks

/** Folders of src-main, each a layer. */
const FOLDERS = ['shared', 'engine', 'store', 'services', 'jobs', 'ipc', 'host', 'cli', 'app', 'preload'];

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A regex for import specifiers that reach one of `folders` of src-main from inside
 * src-main, at any depth: `../store`, `../../store/db`, `../../../src-main/store/x`,
 * `./../store`; and any specifier that names `src-main/<folder>` (aliases, paths from
 * outside src-main). Imports inside the importing folder (`./core/x`) never go up, so they
 * do not match.
 */
function folderRegex(folders) {
  const alt = folders.map(escapeRe).join('|');
  return `^(?:\\./)?(?:\\.\\./)+(?:src-main/)?(?:${alt})(?:/|$)|(?:^|/)src-main/(?:${alt})(?:/|$)`;
}

/** Bans imports of the given src-main folders, saying why. */
const folders = (list, why) => ({ kind: 'pattern', regex: folderRegex(list), message: why });

/** Bans a package and its subpaths (`electron`, `electron/main`, ...). */
const pkg = (names, why) => ({ kind: 'pattern', regex: `^(?:${names.map(escapeRe).join('|')})(?:/|$)`, message: why });

const NODE_BUILTINS = builtinModules.filter((m) => !m.startsWith('_'));
/** Bans Node's built-in modules, with and without the `node:` prefix. */
const nodeBuiltins = (why) => ({
  kind: 'pattern',
  regex: `^node:|^(?:${NODE_BUILTINS.map(escapeRe).join('|')})(?:/|$)`,
  message: why,
});

const ELECTRON_WHY =
  'Only src-main/ipc, src-main/app and src-main/preload may import electron: everything else must run headless (CLI, web host, worker threads, tests).';
const noElectron = (why = ELECTRON_WHY) => pkg(['electron'], why);

/** In the folders that may import electron, raw IPC objects are still confined to ipc/ and preload/. */
const RAW_IPC_WHY =
  'Use the typed handle()/emit() wrappers in src-main/ipc (main) or the API object in src-main/preload (renderer side); raw ipcMain/ipcRenderer bypass the sender checks and the IPC contract.';
const noRawIpcImport = {
  kind: 'path-names',
  names: ['electron', 'electron/main', 'electron/renderer', 'electron/common'],
  importNames: ['ipcMain', 'ipcRenderer'],
  message: RAW_IPC_WHY,
};

// ---------------------------------------------------------------------------------------
// The layer table: which folder may not import what, and why.

const LAYERS = [
  {
    name: 'shared',
    files: ['src-main/shared/**'],
    bans: [
      noElectron('src-main/shared is type-level code shared with the renderer: no electron.'),
      nodeBuiltins('src-main/shared is imported by the renderer (types) and must stay free of Node modules.'),
      folders(
        FOLDERS.filter((f) => f !== 'shared'),
        'src-main/shared is the bottom layer (pure types + the IPC contract): it imports nothing from the other src-main folders.',
      ),
    ],
  },
  {
    name: 'engine',
    files: ['src-main/engine/**'],
    bans: [
      noElectron('The engine is pure computation (PatchCore on ONNX Runtime): it runs in worker threads, the CLI and tests, never needs electron.'),
      pkg(['better-sqlite3'], 'The engine does not touch the database: persistence lives in src-main/store, called by services.'),
      folders(
        ['store', 'services', 'jobs', 'ipc', 'host', 'cli', 'app', 'preload'],
        'Import direction: shared ← engine ← services ← (ipc | host | cli) ← app. The engine may import only src-main/shared; engine and store never import each other.',
      ),
    ],
  },
  {
    name: 'store',
    files: ['src-main/store/**'],
    bans: [
      noElectron('The store (better-sqlite3 repositories) must run headless (CLI, web host, tests): no electron.'),
      folders(
        ['engine', 'services', 'jobs', 'ipc', 'host', 'cli', 'app', 'preload'],
        'Import direction: the store is a bottom layer beside the engine: it may import only src-main/shared; engine and store never import each other, and services call the store, not the reverse.',
      ),
    ],
  },
  {
    name: 'services',
    files: ['src-main/services/**'],
    bans: [
      noElectron('Services are the use-cases shared by the desktop app, the web host and the CLI: no electron.'),
      folders(
        ['ipc', 'host', 'cli', 'app', 'preload'],
        'Import direction: shared ← engine ← services ← (ipc | host | cli) ← app. Services are called by ipc/host/cli, never the reverse.',
      ),
    ],
  },
  {
    name: 'jobs',
    files: ['src-main/jobs/**'],
    bans: [
      noElectron('Jobs run engine work in worker threads for the app, the web host and the CLI: no electron.'),
      folders(
        ['ipc', 'host', 'cli', 'app', 'preload'],
        'Import direction: jobs serve services, ipc, host and cli; they do not import those front ends.',
      ),
    ],
  },
  {
    name: 'host',
    files: ['src-main/host/**'],
    bans: [
      noElectron('The loopback web host serves the renderer without Electron: no electron.'),
      folders(['ipc', 'cli', 'app', 'preload'], 'Import direction: the web host is a front end beside ipc and cli; only app composes them.'),
    ],
  },
  {
    name: 'cli',
    files: ['src-main/cli/**'],
    bans: [
      noElectron('The CLI runs headless under plain Node: no electron.'),
      folders(['ipc', 'host', 'app', 'preload'], 'Import direction: the CLI is a front end beside ipc and host; only app composes them.'),
    ],
  },
  {
    name: 'ipc',
    files: ['src-main/ipc/**'],
    bans: [folders(['host', 'cli', 'app', 'preload'], 'Import direction: ipc handlers are a front end over services; app composes them, not the reverse.')],
  },
  {
    name: 'app',
    files: ['src-main/app/**'],
    bans: [noRawIpcImport],
  },
  {
    name: 'preload',
    files: ['src-main/preload/**'],
    bans: [
      folders(
        FOLDERS.filter((f) => f !== 'shared' && f !== 'preload'),
        'The preload runs in the sandboxed renderer: it implements the API from src-main/shared with ipcRenderer and imports nothing else from src-main.',
      ),
    ],
  },
];

/** `no-restricted-imports` options from a list of bans. */
function restrictedImports(bans) {
  const paths = [];
  const patterns = [];
  for (const ban of bans) {
    if (ban.kind === 'pattern') patterns.push({ regex: ban.regex, message: ban.message });
    else for (const name of ban.names) paths.push({ name, importNames: ban.importNames, message: ban.message });
  }
  return { paths, patterns };
}

/**
 * `no-restricted-syntax` selectors for what `no-restricted-imports` does not see: dynamic
 * `import('...')` of a banned module, and raw ipcMain/ipcRenderer reached through a namespace
 * or default import (`electron.ipcMain`, `const { ipcMain } = electron`).
 */
function restrictedSyntax(bans, { rawIpc }) {
  const selectors = [];
  for (const ban of bans) {
    if (ban.kind !== 'pattern') continue;
    // esquery regex literals cannot contain a bare `/`.
    const re = ban.regex.replaceAll('/', '\\x2F');
    selectors.push({ selector: `ImportExpression[source.value=/${re}/]`, message: ban.message });
  }
  if (rawIpc) {
    selectors.push(
      { selector: 'MemberExpression[property.name=/^ipc(Main|Renderer)$/]', message: RAW_IPC_WHY },
      { selector: 'VariableDeclarator > ObjectPattern > Property[key.name=/^ipc(Main|Renderer)$/]', message: RAW_IPC_WHY },
    );
  }
  return selectors;
}

/** Both import rules for one set of files. Raw IPC is allowed only in src-main/ipc and src-main/preload. */
function importRules(bans, { rawIpc = true } = {}) {
  return {
    'no-restricted-imports': ['error', restrictedImports(bans)],
    'no-restricted-syntax': ['error', ...restrictedSyntax(bans, { rawIpc })],
  };
}

const RAW_IPC_FOLDERS = new Set(['ipc', 'preload']);
const LAYER_FILES = LAYERS.flatMap((l) => l.files);
const RENDERER_FILES = ['src-renderer/**'];

/** The renderer's bans (as `@typescript-eslint/no-restricted-imports` patterns, see below). */
const RENDERER_BANS = [
  {
    kind: 'pattern',
    regex: '(?:^|/)src-main(?:/(?!shared(?:/|$))|$)',
    message: 'The renderer may not import from src-main (only `import type` from src-main/shared): it is a sandboxed web page.',
  },
  pkg(
    ['electron', 'better-sqlite3', 'sharp', 'onnxruntime-node', 'onnx-proto'],
    'The renderer is a sandboxed web page: electron and native Node packages live in the main process.',
  ),
  nodeBuiltins('The renderer is a sandboxed web page without Node: call main through window.kensa instead.'),
];
const RENDERER_SHARED_WHY =
  'The renderer may import only types from src-main/shared (`import type`): values there belong to main, and the renderer reaches main only through window.kensa.';
const RENDERER_SHARED = { kind: 'pattern', regex: '(?:^|/)src-main/shared(?:/|$)', message: RENDERER_SHARED_WHY };

// ---------------------------------------------------------------------------------------

export default defineConfig(
  {
    name: 'kensa/ignores',
    ignores: ['out/**', 'dist/**', 'node_modules/**', 'scratch/**', 'coverage/**', 'test-results/**', 'playwright-report/**', 'bench/results/**', 'bench/tmp/**'],
  },

  // Recommended rule sets.
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,

  {
    name: 'kensa/node-globals',
    files: ['**/*.{js,mjs,cjs,ts,mts,cts}'],
    ignores: RENDERER_FILES,
    languageOptions: { globals: { ...globals.node } },
  },
  {
    name: 'kensa/renderer-globals',
    files: RENDERER_FILES,
    languageOptions: { globals: { ...globals.browser } },
  },
  {
    name: 'kensa/svelte-typescript',
    files: ['**/*.svelte', '**/*.svelte.ts', '**/*.svelte.js'],
    languageOptions: {
      parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.svelte'] },
    },
  },
  {
    name: 'kensa/style',
    rules: {
      // `_`-prefixed names are deliberately unused (callback parameters, destructuring).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },

  // ---- Import directions ----------------------------------------------------------------

  // Everything outside the layer folders and the renderer (tests, bench, scripts, bin,
  // config files, src-main files outside a layer): no electron, no raw IPC.
  {
    name: 'kensa/imports/default',
    ignores: [...LAYER_FILES, ...RENDERER_FILES],
    rules: importRules([noElectron()]),
  },

  // One block per src-main folder.
  ...LAYERS.map((layer) => ({
    name: `kensa/imports/${layer.name}`,
    files: layer.files,
    rules: importRules(layer.bans, { rawIpc: !RAW_IPC_FOLDERS.has(layer.name) }),
  })),

  // The renderer: `import type` from src-main/shared only; nothing else from src-main, no
  // electron, no Node. It reaches main through window.kensa (src-renderer/src/lib/api.ts).
  // typescript-eslint's rule, for `allowTypeImports` on the shared pattern.
  {
    name: 'kensa/imports/renderer',
    files: RENDERER_FILES,
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: RENDERER_SHARED.regex, allowTypeImports: true, message: RENDERER_SHARED.message },
            ...RENDERER_BANS.map((ban) => ({ regex: ban.regex, message: ban.message })),
          ],
        },
      ],
      // A dynamic import() is always a value import.
      'no-restricted-syntax': ['error', ...restrictedSyntax([RENDERER_SHARED, ...RENDERER_BANS], { rawIpc: true })],
    },
  },
);
