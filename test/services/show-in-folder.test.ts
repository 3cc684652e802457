/**
 * `app.showInFolder` (only paths inside the open project; the browser gets the path back
 * instead) and the better-sqlite3 native build the workstation opens projects with
 * (`sqlite.nativeBinding`, shown as AppInfo.nativeBinding; a build for the wrong runtime gives
 * STORE_NATIVE with the app layer's hint). No engine work: an empty project.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiResult, AppInfo } from '../../src-main/shared/api';
import { createWorkstation, type Workstation } from '../../src-main/services/workstation';

const repo = path.resolve(import.meta.dirname, '../..');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-show-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function withWorkstation(opts: Parameters<typeof createWorkstation>[0], fn: (ws: Workstation) => Promise<void>): Promise<void> {
  const ws = await createWorkstation(opts);
  try {
    await fn(ws);
  } finally {
    await ws.close();
  }
}

describe('app.showInFolder', () => {
  it('Electron: shows files and folders inside the project; refuses everything outside it', async () => {
    const shown: string[] = [];
    await withWorkstation({ shell: 'electron', configDir: path.join(tmp, 'cfg-e'), showInFolder: (f) => shown.push(f) }, async (ws) => {
      expect(await ws.call('app.showInFolder', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } }); // no project open
      const dir = path.join(tmp, 'proj-e');
      expect((await ws.call('projects.create', { dir, name: 'P' })).ok).toBe(true);
      mkdirSync(path.join(dir, 'exports', 'regions-1'), { recursive: true });
      const report = path.join(dir, 'exports', 'audit-report-1.pdf');
      writeFileSync(report, 'x');
      writeFileSync(path.join(tmp, 'outside.txt'), 'x');
      symlinkSync(path.join(tmp, 'outside.txt'), path.join(dir, 'exports', 'link.txt'));

      expect(await ws.call('app.showInFolder', { path: report })).toEqual({ ok: true, value: { shown: true, path: report, message: null } });
      expect((await ws.call('app.showInFolder', { path: path.join(dir, 'exports', 'regions-1') })).ok).toBe(true);
      expect((await ws.call('app.showInFolder', { path: 'exports/audit-report-1.pdf' })).ok).toBe(true); // relative to the project
      expect(shown).toEqual([report, path.join(dir, 'exports', 'regions-1'), report]);

      for (const p of ['/etc/passwd', path.join(tmp, 'outside.txt'), path.join(dir, '..', 'outside.txt'), '../outside.txt', dir, path.join(dir, 'exports', 'link.txt')]) {
        const r = await ws.call('app.showInFolder', { path: p });
        expect(r, p).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/inside the open project's folder/) } });
      }
      expect(await ws.call('app.showInFolder', { path: path.join(dir, 'exports', 'nope.pdf') })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
      expect(await ws.call('app.showInFolder', { path: 5 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
      expect(await ws.call('app.showInFolder', { path: report, extra: 1 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
      expect(shown).toHaveLength(3);
    });
  });

  it('browser: nothing opens; the answer says where the file is', async () => {
    await withWorkstation({ shell: 'browser', configDir: path.join(tmp, 'cfg-b') }, async (ws) => {
      const dir = path.join(tmp, 'proj-b');
      expect((await ws.call('projects.create', { dir, name: 'P' })).ok).toBe(true);
      mkdirSync(path.join(dir, 'exports'), { recursive: true });
      const file = path.join(dir, 'exports', 'r.html');
      writeFileSync(file, 'x');
      expect(await ws.call('app.showInFolder', { path: file })).toEqual({
        ok: true,
        value: { shown: false, path: file, message: `the browser cannot open a file manager: the file is at ${file}` },
      });
    });
  });
});

describe('the better-sqlite3 native build', () => {
  it('default: the Node build, labelled node', async () => {
    await withWorkstation({ shell: 'browser', configDir: path.join(tmp, 'cfg-n') }, async (ws) => {
      const r = (await ws.call('app.info', {})) as ApiResult<AppInfo>;
      expect(r.ok && r.value.nativeBinding).toBe('node');
    });
  });

  it('an explicit nativeBinding is what the store loads', async () => {
    const nodeBuild = path.join(repo, 'node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    await withWorkstation({ shell: 'electron', configDir: path.join(tmp, 'cfg-x'), sqlite: { nativeBinding: nodeBuild, label: 'electron' } }, async (ws) => {
      const r = (await ws.call('app.info', {})) as ApiResult<AppInfo>;
      expect(r.ok && r.value.nativeBinding).toBe('electron');
      expect((await ws.call('projects.create', { dir: path.join(tmp, 'proj-x'), name: 'P' })).ok).toBe(true);
    });
  });

  it('a build that does not load: STORE_NATIVE with the hint to run setup again', async () => {
    const bogus = path.join(tmp, 'bogus.node');
    writeFileSync(bogus, 'not a shared library');
    const missing = 'better-sqlite3 has no build for Electron on this machine: run `npm run setup` again with internet access';
    await withWorkstation(
      { shell: 'electron', configDir: path.join(tmp, 'cfg-m'), sqlite: { nativeBinding: bogus, label: `electron (missing: ${bogus})`, missing } },
      async (ws) => {
        const r = await ws.call('projects.create', { dir: path.join(tmp, 'proj-m'), name: 'P' });
        expect(r).toMatchObject({ ok: false, error: { code: 'STORE_NATIVE', message: expect.stringContaining('run `npm run setup` again with internet access') } });
      },
    );
  });
});

describe('app.downloadBackbone (offline-safe cases)', () => {
  it('unknown ids and manifest entries without a download address are refused with the reason', async () => {
    await withWorkstation({ shell: 'browser', configDir: path.join(tmp, 'cfg-d') }, async (ws) => {
      expect(await ws.call('app.downloadBackbone', { id: 'nope' })).toMatchObject({ ok: false, error: { code: 'BACKBONE_NOT_FOUND', message: 'unknown backbone "nope"' } });
      expect(await ws.call('app.downloadBackbone', { id: 'mobilenetv2-dequant-fp32' })).toMatchObject({
        ok: false,
        error: { code: 'BACKBONE_NOT_FOUND', message: expect.stringMatching(/has no download address/) },
      });
      expect(await ws.call('app.downloadBackbone', { id: 7 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    });
  });
});
