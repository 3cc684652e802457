/**
 * Test fixtures for the project store: temp folders holding real database FILES, seeded
 * images and models, copies of a database file (closed first, so the WAL is checkpointed
 * into it), and a runner for the child-process scripts in this folder.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  addImages,
  beginModel,
  completeModel,
  initProject,
  openProjectDb,
  type Db,
  type ImageRole,
  type ModelRecord,
  type NewImage,
} from '../../../src-main/store/index';

export const repoRoot = path.resolve(import.meta.dirname, '../../..');

/** A fresh temp folder; `cleanup` removes it. */
export function tempDir(prefix = 'kensa-store-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function sha(text: string | number): string {
  return createHash('sha256').update(String(text)).digest('hex');
}

export function newImages(n: number, role: ImageRole = 'inspect', tag = 'img'): NewImage[] {
  return Array.from({ length: n }, (_, i) => ({
    path: `${role}/${tag}-${i}.png`,
    sha256: sha(`${tag}-${role}-${i}`),
    bytes: 1000 + i,
    width: 64,
    height: 48,
    format: 'png',
    role,
  }));
}

/** Opens a new project database file in `dir`, with the project created. */
export function newProject(dir: string, name = 'project.kensa'): { db: Db; file: string } {
  const file = path.join(dir, name);
  const db = openProjectDb(file);
  initProject(db, 'Bottles line 3', 'alice');
  return { db, file };
}

export function seedImages(db: Db, n: number, role: ImageRole = 'inspect', tag = 'img'): number[] {
  return addImages(db, `batch-${tag}-${role}`, newImages(n, role, tag), 'alice').ids;
}

export const BACKBONE = { backboneId: 'mobilenetv2-fp32', backboneSha256: sha('backbone') };

/** A fit (or a refit of `parent`) taken to 'ready', which makes it the active version. */
export function readyModel(db: Db, parent?: number, addedImageIds: number[] = []): ModelRecord {
  const m = beginModel(
    db,
    parent === undefined
      ? { kind: 'fit', ...BACKBONE, config: { taps: ['b3', 'b6'], coresetRatio: 0.1 } }
      : { kind: 'refit', parentVersion: parent, ...BACKBONE, config: { taps: ['b3', 'b6'], coresetRatio: 0.1 }, addedImageIds },
    'alice',
  );
  return completeModel(db, m.version, { modelFile: `models/v${m.version}.kmodel`, modelSha256: sha(`model-${m.version}`), bankSize: 1234, fitSeconds: 12.5, ep: 'cpu' }, 'alice');
}

/** Copies a CLOSED database file (no -wal left behind) to `name` in the same folder. */
export function copyDb(file: string, name: string): string {
  const to = path.join(path.dirname(file), name);
  copyFileSync(file, to);
  return to;
}

/** Starts `node --import tsx test/store/helpers/<script> args…` from the repo root. */
export function spawnScript(script: string, args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'store', 'helpers', script), ...args], {
    cwd: repoRoot,
    stdio: 'pipe',
  });
}

/** Collects a child's stdout as lines; `onLine` sees each as it arrives. */
export function lines(child: ChildProcessWithoutNullStreams, onLine: (line: string) => void = () => {}): { all: string[]; stderr: () => string } {
  const all: string[] = [];
  let partial = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const l of parts) {
      all.push(l);
      onLine(l);
    }
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { all, stderr: () => err };
}

export function exited(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
}
