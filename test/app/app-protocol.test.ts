/** The kensa:// protocol's request → file resolution (src-main/app/app-protocol.ts). */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_INDEX_URL, isInside, mimeType, resolveAppRequest } from '../../src-main/app/app-protocol';

const root = path.resolve('/opt/Kensa/out/renderer');

describe('resolveAppRequest', () => {
  it('serves files inside the renderer folder with their MIME type', () => {
    expect(resolveAppRequest(APP_INDEX_URL, root)).toEqual({ ok: true, file: path.join(root, 'index.html'), mime: 'text/html; charset=utf-8' });
    expect(resolveAppRequest('kensa://app/', root)).toMatchObject({ ok: true, file: path.join(root, 'index.html') });
    expect(resolveAppRequest('kensa://app/assets/index-abc.js?v=1#x', root)).toEqual({
      ok: true,
      file: path.join(root, 'assets', 'index-abc.js'),
      mime: 'text/javascript; charset=utf-8',
    });
    expect(resolveAppRequest('kensa://app/assets/index.css', root)).toMatchObject({ ok: true, mime: 'text/css; charset=utf-8' });
    expect(resolveAppRequest('kensa://app/assets/Noto%20Sans.woff2', root)).toMatchObject({ ok: true, file: path.join(root, 'assets', 'Noto Sans.woff2'), mime: 'font/woff2' });
  });

  it('refuses path traversal, encoded separators, NUL, dotfiles, other hosts and schemes', () => {
    for (const u of [
      'kensa://app/%2e%2e%2fmain/main.js',
      'kensa://app/%2E%2E%2Fmain%2Fmain.js',
      'kensa://app/..%2fmain/main.js',
      'kensa://app/..%5cmain\\main.js',
      'kensa://app/assets%00.js',
      'kensa://app/.env',
      'kensa://app/assets/.hidden',
      'kensa://evil/index.html',
      'kensa://user:pw@app/index.html',
      'kensa://app:99/index.html',
      'file:///etc/passwd',
      'http://app/index.html',
      'kensa://app/%E0%A4%A',
      'not a url',
    ]) {
      const r = resolveAppRequest(u, root);
      expect(r.ok, u).toBe(false);
      if (r.ok) expect(isInside(r.file, root)).toBe(true);
    }
  });

  it('never resolves outside the root, whatever the path', () => {
    // The URL parser already folds plain and %2e%2e dot segments: what is left stays inside.
    for (const u of ['kensa://app/../main/main.js', 'kensa://app/assets/../../main/main.js', 'kensa://app/%2e%2e/main/main.js', 'kensa://app/%2e./x']) {
      const r = resolveAppRequest(u, root);
      if (r.ok) expect(isInside(r.file, root), u).toBe(true);
    }
    const tries = ['a/../../b', '....//x', '/%2e/x', '//etc/passwd', '/./index.html', '/a/./b'];
    for (const t of tries) {
      const r = resolveAppRequest(`kensa://app/${t}`, root);
      if (r.ok) expect(isInside(r.file, root), t).toBe(true);
    }
  });

  it('MIME types by extension, octet-stream for unknown ones', () => {
    expect(mimeType('x.svg')).toBe('image/svg+xml');
    expect(mimeType('x.PNG')).toBe('image/png');
    expect(mimeType('x.json')).toBe('application/json; charset=utf-8');
    expect(mimeType('x.wasm')).toBe('application/wasm');
    expect(mimeType('x.bin')).toBe('application/octet-stream');
    expect(mimeType('README')).toBe('application/octet-stream');
  });
});
