/**
 * The preload (src-main/preload/index.ts) with electron replaced by recorders: the object it
 * exposes as `window.kensa` has one frozen namespace per API prefix, one function per
 * method invoking its own channel, an onEvent that hands over only the payload and
 * unsubscribes, and no raw ipcRenderer anywhere.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { API_METHODS, IPC_CALL_PREFIX, IPC_EVENT_CHANNEL, type KensaApi, type KensaEvent } from '../../src-main/shared/api';
import { KENSA_VERSION } from '../../src-main/shared/version';

const exposed: Record<string, unknown> = {};
const invoked: [string, unknown][] = [];
const listeners = new Map<string, Set<(...a: unknown[]) => void>>();
const ipcRenderer = {
  invoke: (channel: string, args: unknown) => {
    invoked.push([channel, args]);
    return Promise.resolve({ ok: true, value: channel });
  },
  on: (channel: string, l: (...a: unknown[]) => void) => {
    if (!listeners.has(channel)) listeners.set(channel, new Set());
    listeners.get(channel)!.add(l);
  },
  removeListener: (channel: string, l: (...a: unknown[]) => void) => listeners.get(channel)?.delete(l),
};

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, value: unknown) => (exposed[key] = value) },
  ipcRenderer,
  webUtils: { getPathForFile: (f: { name: string }) => `/real/path/${f.name}` },
}));

let kensa: KensaApi;
beforeAll(async () => {
  await import('../../src-main/preload/index');
  kensa = exposed['kensa'] as KensaApi;
});

describe('preload window.kensa', () => {
  it('exposes one frozen object with the version, onEvent, pathForFile and one namespace per prefix', () => {
    expect(Object.keys(exposed)).toEqual(['kensa']);
    expect(Object.isFrozen(kensa)).toBe(true);
    expect(kensa.version).toBe(KENSA_VERSION);
    const namespaces = [...new Set(API_METHODS.map((m) => m.split('.')[0]))].sort();
    expect(Object.keys(kensa).sort()).toEqual([...namespaces, 'onEvent', 'pathForFile', 'version'].sort());
    for (const ns of namespaces) expect(Object.isFrozen((kensa as unknown as Record<string, object>)[ns]), ns).toBe(true);
  });

  it('has one function per method, each invoking its own kensa:<method> channel', async () => {
    for (const method of API_METHODS) {
      const [ns, name] = method.split('.');
      const fn = (kensa as unknown as Record<string, Record<string, (a: unknown) => Promise<unknown>>>)[ns][name];
      expect(typeof fn, method).toBe('function');
      const args = { probe: method };
      expect(await fn(args)).toEqual({ ok: true, value: IPC_CALL_PREFIX + method });
      expect(invoked.at(-1)).toEqual([IPC_CALL_PREFIX + method, args]);
    }
    expect(invoked).toHaveLength(API_METHODS.length);
  });

  it('never exposes ipcRenderer, and onEvent passes the payload only, then unsubscribes', () => {
    const seen = new Set<unknown>();
    const walk = (v: unknown): void => {
      if (v === null || (typeof v !== 'object' && typeof v !== 'function') || seen.has(v)) return;
      seen.add(v);
      expect(v).not.toBe(ipcRenderer);
      for (const k of Object.keys(v as object)) walk((v as Record<string, unknown>)[k]);
    };
    walk(kensa);

    const got: unknown[][] = [];
    const off = kensa.onEvent((...a: unknown[]) => got.push(a));
    const event: KensaEvent = { topic: 'project', state: null };
    for (const l of listeners.get(IPC_EVENT_CHANNEL) ?? []) l({ sender: ipcRenderer }, event);
    expect(got).toEqual([[event]]);
    off();
    expect(listeners.get(IPC_EVENT_CHANNEL)?.size).toBe(0);
  });

  it('pathForFile goes through webUtils.getPathForFile', () => {
    expect(kensa.pathForFile?.({ name: 'part.png' } as unknown as File)).toBe('/real/path/part.png');
  });
});
