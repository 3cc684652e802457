/**
 * The import-direction rules of eslint.config.js (DESIGN.md: "shared ← engine ← services ←
 * (ipc | host | cli) ← app"; engine and store never import each other or electron; the
 * renderer imports only types from src-main/shared). Each case lints a small snippet as if
 * it were a file at the given path, through ESLint's Node API with the repo's own config.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT_RULES = new Set(['no-restricted-imports', '@typescript-eslint/no-restricted-imports', 'no-restricted-syntax']);

let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root });
});

interface Finding {
  ruleId: string | null;
  message: string;
  severity: number;
}

async function lint(file: string, code: string): Promise<Finding[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  if (!result) throw new Error(`no lint result for ${file}`);
  return result.messages.map(({ ruleId, message, severity }) => ({ ruleId, message, severity }));
}

/** Errors from the import-direction rules only (snippets may also trip no-unused-vars). */
async function importErrors(file: string, code: string): Promise<Finding[]> {
  return (await lint(file, code)).filter((m) => m.severity === 2 && m.ruleId !== null && IMPORT_RULES.has(m.ruleId));
}

type Case = [file: string, code: string];

/** Snippets that must be rejected, by folder. */
const forbidden: Record<string, Case[]> = {
  engine: [
    ['src-main/engine/x.ts', "import { app } from 'electron';"],
    ['src-main/engine/x.ts', "import { app } from 'electron/main';"],
    ['src-main/engine/x.ts', "import Database from 'better-sqlite3';"],
    ['src-main/engine/x.ts', "import x from '../store/db';"],
    ['src-main/engine/x.ts', "import x from '../store';"],
    ['src-main/engine/core/x.ts', "import { openDb } from '../../store/db';"],
    ['src-main/engine/core/deep/x.ts', "import { openDb } from '../../../store/connection/index';"],
    ['src-main/engine/x.ts', "import { fit } from '../../src-main/services/fit';"],
    ['src-main/engine/x.ts', "import { fit } from '../services/fit';"],
    ['src-main/engine/x.ts', "import { EngineClient } from '../jobs/engine-client';"],
    ['src-main/engine/x.ts', "import { handle } from '../ipc/handle';"],
    ['src-main/engine/x.ts', "import { serve } from '../host/server';"],
    ['src-main/engine/x.ts', "import { main } from '../cli/main';"],
    ['src-main/engine/x.ts', "import '../app/main';"],
    ['src-main/engine/x.ts', "import '../preload/index';"],
    ['src-main/engine/x.ts', "export { openDb } from '../store/db';"],
    ['src-main/engine/x.ts', "const db = await import('../store/db');\nexport { db };"],
    ['src-main/engine/x.ts', "const electron = await import('electron');\nexport { electron };"],
  ],
  store: [
    ['src-main/store/x.ts', "import { app } from 'electron';"],
    ['src-main/store/x.ts', "import { fitModel } from '../engine/detectors/registry';"],
    ['src-main/store/repos/x.ts', "import { fitModel } from '../../engine/detectors/registry';"],
    ['src-main/store/x.ts', "import { patchcore } from '../engine/detectors/patchcore/index';"],
    ['src-main/store/x.ts', "import { fit } from '../services/fit';"],
    ['src-main/store/x.ts', "import { EngineClient } from '../jobs/engine-client';"],
    ['src-main/store/x.ts', "import { handle } from '../ipc/handle';"],
    ['src-main/store/x.ts', "import { serve } from '../host/server';"],
    ['src-main/store/x.ts', "import { main } from '../cli/main';"],
    ['src-main/store/x.ts', "import '../app/main';"],
  ],
  shared: [
    ['src-main/shared/x.ts', "import { app } from 'electron';"],
    ['src-main/shared/x.ts', "import { readFile } from 'node:fs/promises';"],
    ['src-main/shared/x.ts', "import path from 'path';"],
    ['src-main/shared/x.ts', "import { KensaError } from '../engine/errors';"],
    ['src-main/shared/x.ts', "import { openDb } from '../store/db';"],
    ['src-main/shared/x.ts', "import { fit } from '../services/fit';"],
  ],
  services: [
    ['src-main/services/x.ts', "import { dialog } from 'electron';"],
    ['src-main/services/x.ts', "import { handle } from '../ipc/handle';"],
    ['src-main/services/fit/x.ts', "import { serve } from '../../host/server';"],
    ['src-main/services/x.ts', "import { main } from '../cli/main';"],
    ['src-main/services/x.ts', "import '../app/main';"],
  ],
  'jobs, host, cli': [
    ['src-main/jobs/x.ts', "import { app } from 'electron';"],
    ['src-main/host/x.ts', "import { app } from 'electron';"],
    ['src-main/cli/x.ts', "import { app } from 'electron';"],
    ['src-main/cli/x.ts', "import { handle } from '../ipc/handle';"],
    ['src-main/host/x.ts', "import '../app/main';"],
  ],
  renderer: [
    ['src-renderer/src/x.ts', "import { KENSA_VERSION } from '../../src-main/shared/version';\nexport const v = KENSA_VERSION;"],
    ['src-renderer/src/lib/x.ts', "import { type KensaApi, KENSA_VERSION } from '../../../src-main/shared/api';\nexport type A = KensaApi;\nexport const v = KENSA_VERSION;"],
    ['src-renderer/src/x.ts', "import { fitModel } from '../../src-main/engine/detectors/registry';\nexport const f = fitModel;"],
    ['src-renderer/src/x.ts', "import type { Progress } from '../../src-main/engine/detectors/types';\nexport type P = Progress;"],
    ['src-renderer/src/x.ts', "import { ipcRenderer } from 'electron';\nexport const i = ipcRenderer;"],
    ['src-renderer/src/x.ts', "import { readFile } from 'node:fs/promises';\nexport const r = readFile;"],
    ['src-renderer/src/x.ts', "import path from 'path';\nexport const p = path;"],
    ['src-renderer/src/x.ts', "import sharp from 'sharp';\nexport const s = sharp;"],
    ['src-renderer/src/x.ts', "export const api = await import('../../src-main/shared/api');"],
    ['src-renderer/src/x.ts', "export const fs = await import('node:fs');"],
    ['src-renderer/src/X.svelte', "<script lang=\"ts\">\n  import { KENSA_VERSION } from '../../src-main/shared/version';\n</script>\n<p>{KENSA_VERSION}</p>\n"],
  ],
  'electron everywhere else': [
    ['test/engine/x.test.ts', "import { app } from 'electron';"],
    ['bench/x.ts', "import { app } from 'electron';"],
    ['scripts/x.mjs', "import { app } from 'electron';"],
    ['src-main/x.ts', "import { app } from 'electron';"],
  ],
  'raw ipc outside ipc/ and preload/': [
    ['src-main/app/x.ts', "import { ipcMain } from 'electron';\nipcMain.handle('x', () => 1);"],
    ['src-main/app/x.ts', "import { ipcRenderer } from 'electron/renderer';\nexport const i = ipcRenderer;"],
    ['src-main/app/x.ts', "import * as electron from 'electron';\nelectron.ipcMain.handle('x', () => 1);"],
    ['src-main/app/x.ts', "import electron from 'electron';\nconst { ipcMain } = electron;\nexport const i = ipcMain;"],
  ],
};

/** Snippets that must pass the import rules. */
const allowed: Case[] = [
  ['src-main/engine/x.ts', "import type { KensaApi } from '../shared/api';\nexport type A = KensaApi;"],
  ['src-main/engine/x.ts', "import { gaussian } from './core/gaussian';\nexport const g = gaussian;"],
  ['src-main/engine/x.ts', "export const m = await import('./core/metrics');"],
  ['src-main/engine/x.ts', "import { s } from './storage';\nexport const t = s;"],
  ['src-main/engine/x.ts', "import sharp from 'sharp';\nimport * as ort from 'onnxruntime-node';\nexport const a = [sharp, ort];"],
  ['src-main/store/x.ts', "import Database from 'better-sqlite3';\nimport type { KensaApi } from '../shared/api';\nexport type A = KensaApi;\nexport const D = Database;"],
  ['src-main/shared/version.ts', "import pkg from '../../package.json' with { type: 'json' };\nexport const v: string = pkg.version;"],
  ['src-main/services/x.ts', "import { fitModel } from '../engine/detectors/registry';\nimport { openDb } from '../store/db';\nexport const a = [fitModel, openDb];"],
  ['src-main/cli/x.ts', "import { EngineClient } from '../jobs/engine-client';\nimport { fit } from '../services/fit';\nexport const a = [EngineClient, fit];"],
  ['src-main/ipc/x.ts', "import { ipcMain } from 'electron';\nimport { fit } from '../services/fit';\nipcMain.handle('fit', () => fit);"],
  ['src-main/preload/x.ts', "import { contextBridge, ipcRenderer } from 'electron';\ncontextBridge.exposeInMainWorld('kensa', { ping: () => ipcRenderer.invoke('ping') });"],
  ['src-main/app/x.ts', "import { app, BrowserWindow } from 'electron';\nexport const a = [app, BrowserWindow];"],
  ['src-renderer/src/x.ts', "import type { A } from '../../src-main/shared/api';\nexport type B = A;"],
  ['src-renderer/src/x.ts', "import { type KensaApi } from '../../src-main/shared/api';\nexport type B = KensaApi;"],
  ['src-renderer/src/X.svelte', "<script lang=\"ts\">\n  import type { KensaApi } from '../../src-main/shared/api';\n  const api: KensaApi | undefined = window.kensa;\n</script>\n<p>{api?.version}</p>\n"],
];

describe('import-direction lint rules', () => {
  for (const [group, cases] of Object.entries(forbidden)) {
    describe(`${group}: rejected`, () => {
      it.each(cases)('%s: %s', async (file, code) => {
        const errors = await importErrors(file, code);
        expect(errors.length, `expected an import-rule error for ${file}`).toBeGreaterThan(0);
        // Every message says why (it is longer than a bare "is restricted" notice).
        for (const e of errors) expect(e.message.length).toBeGreaterThan(60);
      });
    });
  }

  describe('allowed imports', () => {
    it.each(allowed)('%s: %s', async (file, code) => {
      expect(await importErrors(file, code)).toEqual([]);
    });
  });

  it('a value import from src-main/shared in the renderer is an error, a type import is not', async () => {
    const file = 'src-renderer/src/x.ts';
    expect(await importErrors(file, "import type { A } from '../../src-main/shared/api';\nexport type B = A;")).toEqual([]);
    const errors = await importErrors(file, "import { A } from '../../src-main/shared/api';\nexport const b = A;");
    expect(errors.map((e) => e.ruleId)).toEqual(['@typescript-eslint/no-restricted-imports']);
  });

  it('a clean engine file passes every rule', async () => {
    const code = [
      '/** Sums a [N] Float32Array. */',
      "import { readFile } from 'node:fs/promises';",
      "import type { KensaApi } from '../shared/api';",
      '',
      'export type Api = KensaApi;',
      '',
      'export function sum(values: Float32Array): number {',
      '  let total = 0;',
      '  for (const v of values) total += v;',
      '  return total;',
      '}',
      '',
      'export async function size(file: string): Promise<number> {',
      '  return (await readFile(file)).byteLength;',
      '}',
      '',
    ].join('\n');
    expect(await lint('src-main/engine/core/sum.ts', code)).toEqual([]);
  });

  it('the repo config ignores build output', async () => {
    expect(await eslint.isPathIgnored(path.join(root, 'out/main/main.js'))).toBe(true);
    expect(await eslint.isPathIgnored(path.join(root, 'scratch/x.ts'))).toBe(true);
  });
});
