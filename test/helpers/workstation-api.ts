/**
 * Calls the workstation's API as the transports do (`call(method, args)`), for the service
 * tests: `ok` answers the value or fails the test with the error; `err` answers the error or
 * fails the test when the call succeeded.
 */
import type { ApiResult } from '../../src-main/shared/api';
import type { Workstation } from '../../src-main/services/workstation';

export function apiOf(ws: () => Workstation): {
  ok: <T>(method: string, args?: unknown) => Promise<T>;
  err: (method: string, args?: unknown) => Promise<{ code: string; message: string }>;
} {
  return {
    ok: async <T>(method: string, args: unknown = {}): Promise<T> => {
      const r = (await ws().call(method, args)) as ApiResult<T>;
      if (!r.ok) throw new Error(`${method} failed: ${r.error.code} ${r.error.message}`);
      return r.value;
    },
    err: async (method: string, args: unknown = {}): Promise<{ code: string; message: string }> => {
      const r = await ws().call(method, args);
      if (r.ok) throw new Error(`${method} unexpectedly succeeded`);
      return r.error;
    },
  };
}
