/**
 * Argument checks shared by the repositories: each throws KensaError INVALID_ARGUMENT with a
 * message naming the field, so a bad call fails before it reaches SQLite's CHECK constraints
 * (which stay as the last line of defence) and reads well in the UI and the CLI.
 */
import { KensaError } from '../shared/errors';

// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const CONTROL = /[\u0000-\u001f\u007f]/;
const HEX64 = /^[0-9a-f]{64}$/;

export function invalid(message: string): KensaError {
  return new KensaError('INVALID_ARGUMENT', message);
}

/** A trimmed, non-empty, single-line text of at most `max` characters. */
export function text(value: unknown, field: string, max = 10_000): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  const t = value.trim();
  if (t.length === 0) throw invalid(`${field} must not be empty`);
  if (t.length > max) throw invalid(`${field} is too long (${t.length} characters, at most ${max})`);
  return t;
}

/** A person's name as shown in the audit trail: trimmed, 1..80 characters, no control characters. */
export function personName(value: unknown, field = 'reviewer name'): string {
  const t = text(value, field, 80);
  if (CONTROL.test(t)) throw invalid(`${field} must not contain control characters`);
  return t;
}

/** Optional free text: undefined/null/blank → null, else trimmed. */
export function optionalText(value: unknown, field: string, max = 10_000): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && value.trim().length === 0) return null;
  return text(value, field, max);
}

export function finite(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${field} must be a finite number`);
  return value;
}

export function optionalFinite(value: unknown, field: string): number | null {
  return value === undefined || value === null ? null : finite(value, field);
}

export function integer(value: unknown, field: string, min = Number.MIN_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(`${field} must be an integer`);
  if (value < min) throw invalid(`${field} must be at least ${min}`);
  return value;
}

export function optionalInteger(value: unknown, field: string, min?: number): number | null {
  return value === undefined || value === null ? null : integer(value, field, min);
}

/** A SHA-256 digest in lower-case hex. */
export function sha256(value: unknown, field: string): string {
  if (typeof value !== 'string' || !HEX64.test(value)) throw invalid(`${field} must be 64 lower-case hex digits (SHA-256)`);
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${field} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  }
  return value as T;
}

/** The ISO-8601 UTC timestamp every row and audit event carries. */
export function nowIso(): string {
  return new Date().toISOString();
}
