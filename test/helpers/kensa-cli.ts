/**
 * `kensa` as a user runs it: a child process of bin/kensa.mjs from the repo root, with the
 * shared models and data (KENSA_SHARED, default ../shared) in its environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';

export const repoRoot = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repoRoot, '..', 'shared'));
const KENSA = path.join(repoRoot, 'bin', 'kensa.mjs');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function cliEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, KENSA_SHARED: shared, KENSA_MODELS_DIR: path.join(shared, 'models'), ...env };
}

/** Runs `kensa args…` to the end (killed after `timeoutMs`); `env` adds to the environment. */
export function kensa(args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [KENSA, ...args], { cwd: repoRoot, env: cliEnv(opts.env ?? {}) });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** The same, blocking (for tests that check one quick command). */
export function kensaSync(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [KENSA, ...args], { cwd: repoRoot, env: cliEnv(env), encoding: 'utf8' });
}
