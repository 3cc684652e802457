/**
 * Small pieces the sinks share: where a project-relative path lands, one delivery at a time,
 * a folder's fsync, and the error every sink throws when a result did not get through.
 */
import { open } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { KensaError } from '../../../shared/errors';
import type { SinkName } from '../types';

/** `p` as an absolute path: itself when absolute, else relative to the project folder. */
export function resolveInProject(projectDir: string, p: string): string {
  return isAbsolute(p) ? resolve(p) : resolve(join(projectDir, p));
}

/** The message of anything thrown, for status() and error messages. */
export function errorText(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message;
  }
  return String(e);
}

/** The error a sink throws when a result is not durable on the other side (offered again later). */
export function outputError(sink: SinkName, message: string, options: { file?: string; cause?: unknown } = {}): KensaError {
  return new KensaError('LINE_OUTPUT', `${sink}: ${message}`, options);
}

/**
 * Runs the calls one after the other, in the order they were made, whatever each one does
 * (a rejected call does not stop the next). The publisher already calls deliver one result at a
 * time; this keeps a sink correct if a second caller appears.
 */
export function serialiser(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}

/**
 * fsyncs a folder so that a rename or a new file in it survives a power cut. POSIX only:
 * Windows cannot open a folder for fsync (NTFS journals the rename itself), so there it is a no-op.
 */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
