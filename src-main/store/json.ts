/**
 * JSON helpers of the project store: the `JsonValue` type, `canonicalJson` (the one text form
 * that the audit chain hashes and that JSON columns hold: object keys sorted recursively, no
 * whitespace, no `undefined`, no NaN/Infinity), SHA-256 in hex, and a parser that turns a bad
 * JSON column into a KensaError instead of a SyntaxError.
 */
import { createHash } from 'node:crypto';
import { KensaError } from '../shared/errors';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Canonical JSON: objects with their keys sorted by UTF-16 code unit (recursively), arrays in
 * order, `undefined` object members dropped (as JSON.stringify does), numbers as
 * JSON.stringify writes them (shortest round-trip form, so a REAL read back from SQLite hashes
 * the same as the number that was written). Anything JSON cannot carry faithfully (NaN,
 * ±Infinity, bigint, functions, Dates, Maps, class instances) is refused rather than
 * silently changed, because a changed value would no longer hash the same.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(v: unknown, where: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new KensaError('INVALID_ARGUMENT', `${where}: ${v} cannot be stored as JSON`);
      return JSON.stringify(v);
    case 'object': {
      if (Array.isArray(v)) {
        return `[${v.map((x, i) => (x === undefined ? 'null' : write(x, `${where}[${i}]`))).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new KensaError('INVALID_ARGUMENT', `${where}: only plain objects can be stored as JSON`);
      }
      const obj = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const key of Object.keys(obj).sort()) {
        const x = obj[key];
        if (x === undefined) continue;
        parts.push(`${JSON.stringify(key)}:${write(x, `${where}.${key}`)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default:
      throw new KensaError('INVALID_ARGUMENT', `${where}: a ${typeof v} cannot be stored as JSON`);
  }
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** Parses a JSON column; `what` names it in the error (e.g. "models.config of version 3"). */
export function parseJson(text: string, what: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new KensaError('STORE_CORRUPT', `${what} is not valid JSON`, { cause: e });
  }
}

/**
 * A settings value as the audit log records it: every string under a key named `password` or
 * `token` becomes "***" (a broker password must not end up in an append-only log). The audit check
 * compares the project row with its events through the same function.
 */
export function redactSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, (k === 'password' || k === 'token') && typeof x === 'string' ? '***' : redactSecrets(x)]));
}
