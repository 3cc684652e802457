/**
 * registerIpc (src-main/ipc/handlers.ts) with electron's ipcMain replaced by a recorder and
 * the REAL workstation behind it: every method gets its channel, the sender check runs
 * before the workstation sees anything, and events reach the main window.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createWorkstation, type Workstation } from '../../src-main/services/workstation';
import { API_METHODS, IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, type ApiResult, type KensaEvent } from '../../src-main/shared/api';

type Handler = (event: unknown, args: unknown) => Promise<ApiResult<unknown>>;
const handlers = new Map<string, Handler>();

vi.mock('electron', () => ({
  ipcMain: {
    handle: (channel: string, fn: Handler) => {
      if (handlers.has(channel)) throw new Error(`second handler for ${channel}`);
      handlers.set(channel, fn);
    },
    removeHandler: (channel: string) => handlers.delete(channel),
  },
}));

const { registerIpc } = await import('../../src-main/ipc/handlers');

interface FakeFrame {
  url: string;
  parent: FakeFrame | null;
  processId: number;
  routingId: number;
}

const page = path.resolve('/opt/kensa/out/renderer/index.html');
const pageUrl = pathToFileURL(page).href;

function fakeWindow() {
  const mainFrame: FakeFrame = { url: pageUrl, parent: null, processId: 7, routingId: 1 };
  const sent: [string, KensaEvent][] = [];
  const webContents = { mainFrame, send: (ch: string, e: KensaEvent) => sent.push([ch, e]), isDestroyed: () => false };
  return { win: { isDestroyed: () => false, webContents }, mainFrame, sent };
}

let tmp: string;
let ws: Workstation;
let fake: ReturnType<typeof fakeWindow>;
let current: ReturnType<typeof fakeWindow>['win'] | null;
let dispose: () => void;
const calls: string[] = [];

const invoke = (method: string, event: unknown, args: unknown = {}): Promise<ApiResult<unknown>> => {
  const h = handlers.get(IPC_CALL_PREFIX + method);
  if (!h) throw new Error(`no handler for ${method}`);
  return h(event, args);
};
const trustedEvent = () => ({ sender: fake.win.webContents, senderFrame: fake.mainFrame });
const UNTRUSTED = { ok: false, error: { code: 'INVALID_ARGUMENT', message: 'untrusted sender' } };

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-ipc-'));
  const real = await createWorkstation({ shell: 'electron', configDir: path.join(tmp, 'config') });
  // Record which calls get through to the workstation.
  ws = {
    call: (m, a) => {
      calls.push(m);
      return real.call(m, a);
    },
    onEvent: (l) => real.onEvent(l),
    close: () => real.close(),
  };
  fake = fakeWindow();
  current = fake.win;
  dispose = registerIpc(ws, () => current as never, { file: page });
});

afterAll(async () => {
  dispose?.();
  await ws?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('registerIpc', () => {
  it('registers exactly one channel per API method', () => {
    expect([...handlers.keys()].sort()).toEqual(API_METHODS.map((m) => IPC_CALL_PREFIX + m).sort());
  });

  it('runs calls from the main window top frame showing the app page', async () => {
    const r = await invoke('app.info', trustedEvent());
    expect(r).toMatchObject({ ok: true, value: { shell: 'electron' } });
    const bad = await invoke('app.setReviewer', trustedEvent(), { name: 5 });
    expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
  });

  it('refuses every other sender before the workstation sees the call', async () => {
    calls.length = 0;
    const other = { ...fake.mainFrame };
    const cases: [string, unknown][] = [
      ['another page in the top frame', { sender: fake.win.webContents, senderFrame: { ...fake.mainFrame, url: 'https://evil.example/' } }],
      ['another file', { sender: fake.win.webContents, senderFrame: { ...fake.mainFrame, url: 'file:///tmp/index.html' } }],
      ['an iframe with the app page', { sender: fake.win.webContents, senderFrame: { url: pageUrl, parent: fake.mainFrame, processId: 7, routingId: 2 } }],
      ['a frame of another process', { sender: fake.win.webContents, senderFrame: { ...other, processId: 8 } }],
      ['another web contents', { sender: { mainFrame: fake.mainFrame }, senderFrame: fake.mainFrame }],
      ['a destroyed frame (null)', { sender: fake.win.webContents, senderFrame: null }],
    ];
    for (const [what, event] of cases) {
      expect(await invoke('app.info', event), what).toEqual(UNTRUSTED);
      expect(await invoke('projects.create', event, { dir: path.join(tmp, 'nope'), name: 'x' }), what).toEqual(UNTRUSTED);
    }
    current = null; // window closed
    expect(await invoke('app.info', trustedEvent())).toEqual(UNTRUSTED);
    current = fake.win;
    expect(calls).toEqual([]);
  });

  it('forwards workstation events to the main window on kensa:event', async () => {
    const created = await invoke('projects.create', trustedEvent(), { dir: path.join(tmp, 'proj'), name: 'IPC project' });
    expect(created).toMatchObject({ ok: true });
    const forwarded = fake.sent.filter(([ch, e]) => ch === IPC_EVENT_CHANNEL && e.topic === 'project');
    expect(forwarded.at(-1)?.[1]).toMatchObject({ topic: 'project', state: { name: 'IPC project' } });
  });

  it('the returned function removes the handlers and stops forwarding', async () => {
    dispose();
    expect(handlers.size).toBe(0);
    const before = fake.sent.length;
    // A fresh registration would work again; events from the old one no longer arrive.
    await ws.call('projects.close', {});
    expect(fake.sent.length).toBe(before);
    dispose = registerIpc(ws, () => current as never, { file: page });
    expect(handlers.size).toBe(API_METHODS.length);
  });
});
