/**
 * Errors the engine raises on purpose. Every one carries a stable `code` (for the UI, the CLI
 * and tests to branch on) and, where a file is involved, the path it concerns, so that a
 * message can always say *which* file is wrong and *what* is wrong with it.
 *
 * Anything that is not a KensaError reaching the UI or the CLI is a bug.
 */
export type KensaErrorCode =
  // image input
  | 'IMAGE_NOT_FOUND'
  | 'IMAGE_UNREADABLE'
  | 'IMAGE_EMPTY'
  | 'IMAGE_UNSUPPORTED_FORMAT'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TOO_LARGE'
  | 'IMAGE_TOO_SMALL'
  | 'NO_IMAGES'
  // backbone / model
  | 'BACKBONE_NOT_FOUND'
  | 'BACKBONE_CHECKSUM'
  | 'BACKBONE_INVALID'
  | 'BACKBONE_TAPS'
  | 'MODEL_NOT_FOUND'
  | 'MODEL_INVALID'
  | 'MODEL_VERSION'
  | 'MODEL_BACKBONE_MISMATCH'
  // detectors
  | 'UNKNOWN_DETECTOR'
  | 'REFIT_UNSUPPORTED'
  | 'FIT_FAILED'
  // export (engine/export)
  /** The model cannot be written as one standard-ONNX graph (a backbone op, opset or detector the export does not support). */
  | 'EXPORT_UNSUPPORTED'
  /** The exported graph, run in a second runtime, does not reproduce the engine's scores or verdicts. */
  | 'EXPORT_PARITY'
  // jobs / usage
  | 'CANCELLED'
  | 'INVALID_ARGUMENT'
  | 'DATASET_INVALID'
  // project store
  | 'STORE_VERSION'
  | 'STORE_CORRUPT'
  | 'STORE_BUSY'
  /** A shared project's database server (PostgreSQL) cannot be reached or refused the login. */
  | 'STORE_UNAVAILABLE'
  /** better-sqlite3's native build does not fit this runtime (Electron without its own build). */
  | 'STORE_NATIVE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'AUDIT_BROKEN'
  // accounts and signatures
  /** A name / password (or PIN) did not check out, or a signing key did not open. */
  | 'AUTH_FAILED'
  /** The signed-in account's role may not do this (or nobody is signed in where the project asks for it). */
  | 'FORBIDDEN'
  // the line
  /** A line output (result file, CSV log, MQTT broker, OPC UA server) did not take a result; it is offered again. */
  | 'LINE_OUTPUT'
  // serving (kensa serve, the Open Inference Protocol client)
  /** An inference endpoint (Kensa's own server or a Triton/KServe URL) refused or failed a request, or could not be reached; the message quotes the server. */
  | 'INFERENCE_SERVER';

export class KensaError extends Error {
  readonly code: KensaErrorCode;
  readonly file: string | undefined;

  constructor(code: KensaErrorCode, message: string, options: { file?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KensaError';
    this.code = code;
    this.file = options.file;
  }

  /** Plain-data form that survives structured clone (worker threads, IPC, JSON). */
  toJSON(): SerializedKensaError {
    return { name: 'KensaError', code: this.code, message: this.message, file: this.file };
  }

  static fromJSON(data: SerializedKensaError): KensaError {
    return new KensaError(data.code, data.message, data.file === undefined ? {} : { file: data.file });
  }
}

export interface SerializedKensaError {
  name: 'KensaError';
  code: KensaErrorCode;
  message: string;
  file: string | undefined;
}

export function isKensaError(e: unknown): e is KensaError {
  return e instanceof KensaError;
}

/** Any thrown value → a KensaError-shaped record, so an unexpected failure still reads well. */
export function toSerializedError(e: unknown): SerializedKensaError {
  if (e instanceof KensaError) return e.toJSON();
  const message = e instanceof Error ? e.message : String(e);
  return { name: 'KensaError', code: 'INVALID_ARGUMENT', message: `unexpected error: ${message}`, file: undefined };
}

export function cancelledError(): KensaError {
  return new KensaError('CANCELLED', 'cancelled by the user');
}

/** Throws CANCELLED when the signal has fired; call between units of work. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError();
}
