/**
 * `kensa serve` as a user runs it (a child process of bin/kensa.mjs), on an export folder
 * (a tiny graph with the export contract, so no backbone is needed): it prints where it
 * serves, answers the protocol, requires a token off loopback (also from KENSA_SERVE_TOKEN),
 * stops cleanly on SIGINT/SIGTERM with exit 0, and refuses bad usage with exit 2.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPixels, writeTinyExport } from '../helpers/tiny-export';

const repo = path.resolve(import.meta.dirname, '../..');
let tmp: string;
let exportDir: string;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-cli-serve-'));
  exportDir = writeTinyExport(path.join(tmp, 'export'), { name: 'tiny', width: 8, height: 8 }).dir;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Running {
  p: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const p = spawn(process.execPath, [path.join(repo, 'bin', 'kensa.mjs'), 'serve', ...args], { cwd: repo, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exit = new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? -1)));
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
  void exit.then(() => clearTimeout(timer));
  return { p, stdout: () => out, stderr: () => err, exit };
}

async function firstLine(r: Running): Promise<string> {
  while (!r.stdout().includes('\n')) {
    if (r.p.exitCode !== null) throw new Error(`kensa serve exited ${r.p.exitCode}: ${r.stderr()}`);
    await new Promise((res) => setTimeout(res, 20));
  }
  return r.stdout().split('\n')[0]!;
}

describe('kensa serve EXPORT_DIR', () => {
  it('--json prints the URLs and the metadata; it answers infer; SIGINT stops it with exit 0', async () => {
    const r = start([exportDir, '--port', '0', '--json', '--name', 'line-a']);
    const info = JSON.parse(await firstLine(r));
    expect(info).toMatchObject({ model: 'line-a', version: '1', platform: 'onnxruntime_onnx', token: false, inputs: [{ name: 'images', datatype: 'UINT8', shape: [-1, 8, 8, 3] }] });
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.inferUrl).toBe(`${info.url}/v2/models/line-a/infer`);
    expect(info.parameters.threshold).toBe(0.5);
    expect((await fetch(`${info.url}/v2/health/ready`)).status).toBe(200);
    const body = JSON.stringify({ inputs: [{ name: 'images', shape: [1, 8, 8, 3], datatype: 'UINT8', data: Array.from(testPixels(1, 8, 8)) }], outputs: [{ name: 'score' }] });
    const res = await fetch(info.inferUrl, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outputs: { shape: number[] }[] }).outputs[0]!.shape).toEqual([1]);
    r.p.kill('SIGINT');
    expect(await r.exit).toBe(0);
    expect(r.stderr()).toMatch(/SIGINT: stopping, letting running requests finish…\n.*stopped\n$/s);
  });

  it('the human output names the model, its tensors and the infer URL; SIGTERM stops it too', async () => {
    const r = start([exportDir, '--port', '0']);
    await firstLine(r);
    while (!r.stdout().includes('Ctrl-C')) await new Promise((res) => setTimeout(res, 20));
    expect(r.stdout()).toMatch(/^serving ONNX export "tiny" \(version 1\) from .*tiny\.onnx on cpu\n/);
    expect(r.stdout()).toContain('images UINT8 [N, 8, 8, 3] (RGB, resize stretch) → score FP32 [N], map FP32 [N, 8, 8]');
    expect(r.stdout()).toMatch(/POST http:\/\/127\.0\.0\.1:\d+\/v2\/models\/tiny\/infer\n/);
    r.p.kill('SIGTERM');
    expect(await r.exit).toBe(0);
  });

  it('off loopback with KENSA_SERVE_TOKEN: requests need it', async () => {
    const token = 'env-token-0123456789abcdef';
    const r = start([exportDir, '--port', '0', '--host', '0.0.0.0', '--json'], { KENSA_SERVE_TOKEN: token });
    const info = JSON.parse(await firstLine(r));
    expect(info.token).toBe(true);
    const local = info.url.replace('0.0.0.0', '127.0.0.1');
    expect((await fetch(`${local}/v2/models/tiny`)).status).toBe(401);
    expect((await fetch(`${local}/v2/models/tiny`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    r.p.kill('SIGINT');
    expect(await r.exit).toBe(0);
  });

  it.each([
    [['--host', '0.0.0.0'], /kensa: 0\.0\.0\.0 is not a loopback address: serving beyond this machine needs a bearer token \(--token, or KENSA_SERVE_TOKEN\)/],
    [['--token', 'short'], /the token must be at least 16 characters/],
    [['--port', 'http'], /--port must be an integer 0–65535/],
    [['--max-body-mb', '0'], /--max-body-mb must be a number of MiB/],
    [['--name', 'a/b'], /model name "a\/b" must be/],
  ])('%j → exit 2 with one line', async (extra, message) => {
    const r = start([exportDir, ...extra]);
    expect(await r.exit).toBe(2);
    expect(r.stderr()).toMatch(message);
    expect(r.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('no model → exit 2; a path with nothing to serve → exit 1 naming it', async () => {
    const none = start([]);
    expect(await none.exit).toBe(2);
    expect(none.stderr()).toMatch(/usage: kensa serve model\.kensa\|export-dir/);
    const missing = start([path.join(tmp, 'missing.kensa')]);
    expect(await missing.exit).toBe(1);
    expect(missing.stderr()).toMatch(/kensa: error: nothing to serve at .*missing\.kensa/);
  });
});
