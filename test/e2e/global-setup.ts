/**
 * Builds the app once before the browser tests (the loopback host serves out/renderer).
 * Set KENSA_E2E_NO_BUILD=1 to skip when out/ is fresh.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

export default function globalSetup(): void {
  if (process.env['KENSA_E2E_NO_BUILD']) return;
  const repo = path.resolve(import.meta.dirname, '../..');
  const r = spawnSync(process.execPath, [path.join(repo, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], { cwd: repo, stdio: 'pipe' });
  if (r.status !== 0) throw new Error(`electron-vite build failed:\n${r.stderr?.toString() ?? ''}${r.stdout?.toString() ?? ''}`);
}
