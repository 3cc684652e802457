/**
 * The `kensa://` protocol the desktop window loads the renderer from, instead of file://
 * (Electron security checklist item 18). Pure request → file resolution (no electron import:
 * unit-tested in test/app/app-protocol.test.ts); main.ts registers the scheme as standard +
 * secure and serves the resolved file with `protocol.handle`.
 *
 * Only `kensa://app/<path>` is answered, and only with files inside the built renderer folder
 * (out/renderer): `..` segments (plain or percent-encoded), encoded slashes/backslashes, NUL,
 * dotfiles, other hosts, credentials and anything that resolves outside that folder are refused.
 */
import path from 'node:path';
import { mimeType } from '../host/content-type';

export const APP_SCHEME = 'kensa';
export const APP_HOST = 'app';
/** The page the main window loads. */
export const APP_INDEX_URL = `${APP_SCHEME}://${APP_HOST}/index.html`;

/** The Content-Type of a file served by the protocol: the loopback host's table. */
export { mimeType };

export type AppRequest = { ok: true; file: string; mime: string } | { ok: false; status: 400 | 403 | 404; reason: string };

/**
 * Maps a `kensa://app/...` request URL to a file inside `rootDir` (absolute). Does not touch
 * the disk: the caller still checks that the file exists (404) and, with realpath, that a
 * symlink does not lead out (`isInside`).
 */
export function resolveAppRequest(requestUrl: string, rootDir: string): AppRequest {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return { ok: false, status: 400, reason: 'not a URL' };
  }
  if (url.protocol !== `${APP_SCHEME}:`) return { ok: false, status: 400, reason: `not a ${APP_SCHEME}: URL` };
  if (url.host !== APP_HOST || url.username !== '' || url.password !== '' || url.port !== '') return { ok: false, status: 403, reason: 'unknown host' };
  const rawPath = url.pathname;
  // Encoded separators and NUL could smuggle a different path past the segment checks.
  if (/%2f|%5c|%00/i.test(rawPath) || rawPath.includes('\\')) return { ok: false, status: 403, reason: 'encoded separator' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, status: 400, reason: 'bad percent-encoding' };
  }
  if (decoded.includes('\0')) return { ok: false, status: 403, reason: 'NUL' };
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.' || s.startsWith('.'))) return { ok: false, status: 403, reason: 'dot segment or dotfile' };
  const rel = segments.length === 0 ? 'index.html' : segments.join('/');
  const root = path.resolve(rootDir);
  const file = path.resolve(root, rel);
  if (!isInside(file, root)) return { ok: false, status: 403, reason: 'outside the renderer folder' };
  return { ok: true, file, mime: mimeType(file) };
}

/** True when `file` lies strictly inside `root` (both absolute, already resolved). */
export function isInside(file: string, root: string): boolean {
  const rel = path.relative(root, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}
