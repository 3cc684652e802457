/** Shared by the sink tests: a LineResult to vary, a free loopback port, a temp folder, wait-until. */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LineResult } from '../../../../src-main/services/line/types';

export function lineResult(over: Partial<LineResult> = {}): LineResult {
  return {
    seq: 1,
    event: 'scored',
    station: 'st-1',
    partId: 7,
    file: 'part-0007.png',
    storedPath: 'images/inspect/part-0007.png',
    sha256: 'ab'.repeat(32),
    score: 0.4375,
    disposition: 'review',
    verdict: null,
    reviewer: null,
    modelVersion: 3,
    detector: 'patchcore',
    threshold: 0.4,
    reviewUpper: 0.6,
    scoredAt: '2026-11-30T10:00:00.000Z',
    at: '2026-11-30T10:00:00.000Z',
    latencyMs: 42,
    ...over,
  };
}

export function tempDir(prefix = 'kensa-sinks-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `cond` until it is true (or returns a value), failing with `what` after `timeoutMs`. */
export async function waitFor<T>(cond: () => T | Promise<T>, what: string, timeoutMs = 15_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
