/** Which frame URLs count as the app's own page (src-main/ipc/trusted-sender.ts). */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isTrustedSender } from '../../src-main/ipc/trusted-sender';

const file = path.resolve('/opt/Kensa/resources/app/out/renderer/index.html');
const fileUrl = pathToFileURL(file).href;

describe('isTrustedSender', () => {
  it('trusts the built page, with or without a query or hash', () => {
    expect(isTrustedSender(fileUrl, { file })).toBe(true);
    expect(isTrustedSender(`${fileUrl}?view=review`, { file })).toBe(true);
    expect(isTrustedSender(`${fileUrl}#/review`, { file })).toBe(true);
    expect(isTrustedSender('file:///opt/Kensa/resources/app/out/renderer/./index.html', { file })).toBe(true);
  });

  it('handles paths that need percent-encoding', () => {
    const spaced = path.resolve('/home/a b/Kensa 検査/out/renderer/index.html');
    expect(isTrustedSender(pathToFileURL(spaced).href, { file: spaced })).toBe(true);
    expect(isTrustedSender('file:///home/a%20b/Kensa%20%E6%A4%9C%E6%9F%BB/out/renderer/index.html', { file: spaced })).toBe(true);
  });

  it('refuses other files, other folders, traversal look-alikes and encoded slashes', () => {
    expect(isTrustedSender('file:///opt/Kensa/resources/app/out/renderer/other.html', { file })).toBe(false);
    expect(isTrustedSender('file:///tmp/index.html', { file })).toBe(false);
    expect(isTrustedSender('file:///opt/Kensa/resources/app/out/renderer/index.html.evil', { file })).toBe(false);
    expect(isTrustedSender('file:///opt/Kensa/resources/app/out/renderer/sub/../../renderer2/index.html', { file })).toBe(false);
    expect(isTrustedSender('file:///opt/Kensa/resources/app/out%2Frenderer%2Findex.html', { file })).toBe(false);
    expect(isTrustedSender('file://evil.host/opt/Kensa/resources/app/out/renderer/index.html', { file })).toBe(false);
  });

  it('refuses web pages, data:, blob:, about: and garbage when only the file is expected', () => {
    for (const u of [
      'http://127.0.0.1:5173/',
      'https://evil.example/index.html',
      'data:text/html,<script>alert(1)</script>',
      `blob:${fileUrl}`,
      'about:blank',
      'devtools://devtools/bundled/inspector.html',
      'chrome-error://chromewebdata/',
      '',
      'not a url',
    ]) {
      expect(isTrustedSender(u, { file }), u).toBe(false);
    }
  });

  it('trusts the dev server origin (any path) and nothing else in development', () => {
    const devOrigin = 'http://127.0.0.1:5173';
    expect(isTrustedSender('http://127.0.0.1:5173/', { devOrigin })).toBe(true);
    expect(isTrustedSender('http://127.0.0.1:5173/src/main.ts?x=1#y', { devOrigin: `${devOrigin}/` })).toBe(true);
    expect(isTrustedSender('http://127.0.0.1:5174/', { devOrigin })).toBe(false);
    expect(isTrustedSender('https://127.0.0.1:5173/', { devOrigin })).toBe(false);
    expect(isTrustedSender('http://localhost:5173/', { devOrigin })).toBe(false);
    expect(isTrustedSender('http://127.0.0.1.nip.io:5173/', { devOrigin })).toBe(false);
    expect(isTrustedSender('http://user:pw@127.0.0.1:5173/', { devOrigin })).toBe(false);
    expect(isTrustedSender(fileUrl, { devOrigin })).toBe(false);
  });

  it('trusts nothing when nothing is expected, or when the expectation is malformed', () => {
    expect(isTrustedSender(fileUrl, {})).toBe(false);
    expect(isTrustedSender('http://127.0.0.1:5173/', {})).toBe(false);
    expect(isTrustedSender('http://127.0.0.1:5173/', { devOrigin: 'not a url' })).toBe(false);
    expect(isTrustedSender('file:///x', { devOrigin: 'file:///x' })).toBe(false);
    expect(isTrustedSender('null', { devOrigin: 'null' })).toBe(false);
  });
});

describe('isTrustedSender with the kensa:// protocol', () => {
  const appUrl = 'kensa://app/index.html';
  it('trusts the app page on its own protocol, with or without a query or hash', () => {
    expect(isTrustedSender('kensa://app/index.html', { appUrl })).toBe(true);
    expect(isTrustedSender('kensa://app/index.html?view=review#x', { appUrl })).toBe(true);
    expect(isTrustedSender('kensa://app/', { appUrl })).toBe(true);
  });
  it('refuses other hosts, other pages, credentials, other schemes and the file:// page', () => {
    for (const u of [
      'kensa://evil/index.html',
      'kensa://app/other.html',
      'kensa://user:pw@app/index.html',
      'kensa://app:8080/index.html',
      'http://app/index.html',
      'kensaa://app/index.html',
      fileUrl,
      'about:blank',
      'garbage',
    ]) {
      expect(isTrustedSender(u, { appUrl }), u).toBe(false);
    }
  });
});
