/**
 * The CSV log: one append-only file with a row per result (every 'scored' and every
 * 'verdict' event), for lines and people that read spreadsheets.
 *
 * Format (RFC 4180): UTF-8 without a byte order mark, CRLF line ends, the columns of
 * LINE_RESULT_FIELDS in that order, a header line when the file is new or empty. A field is
 * quoted when it holds a comma, a double quote, CR or LF (quotes doubled inside); null is an
 * empty field; numbers are written as JavaScript prints them (`0.4375`, `1e-7`, `NaN`).
 *
 * Spreadsheet formula injection: a text field that starts with = + - @ (or a tab or CR, as
 * OWASP advises) gets a leading apostrophe, so a file named `=HYPERLINK(...).png` is shown as
 * text, never run. Numbers are never changed: a negative score stays a number.
 *
 * Guarantees: deliver resolves once the row is appended and fsynced. Rows are written one at
 * a time; a row is never interleaved with another. When the file's last line was cut short
 * (a crash mid-append), the next row starts on a new line, so only that one row is damaged.
 * At least once: around a crash a row may appear twice (same seq), never be missing. The
 * file's folder is created when missing; a file deleted or rotated by someone else is simply
 * started again, with a header.
 *
 * Failure: any error (disk full, permissions, a file locked by a spreadsheet on Windows)
 * throws LINE_OUTPUT naming the file; a partly appended row is cut off again when possible.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LineOutputSettings, LineResult, ResultSink, SinkStatus } from '../types';
import { LINE_RESULT_FIELDS } from '../types';
import { KensaError } from '../../../shared/errors';
import { errorText, fsyncDir, outputError, resolveInProject, serialiser } from './common';

export interface CsvSinkOptions {
  projectDir: string;
  settings: LineOutputSettings['csv'];
}

const EOL = '\r\n';
/** Leading characters a spreadsheet reads as a formula (OWASP "CSV Injection"). */
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV field: null → empty, numbers as they are, text guarded against formulas and quoted when needed. */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The header line (with its line end). */
export const CSV_HEADER = LINE_RESULT_FIELDS.join(',') + EOL;

/** One row (with its line end) for a result, columns in LINE_RESULT_FIELDS order. */
export function csvRow(result: LineResult): string {
  return LINE_RESULT_FIELDS.map((f) => csvField(result[f])).join(',') + EOL;
}

export class CsvSink implements ResultSink {
  readonly name = 'csv' as const;
  /** The CSV file (absolute). */
  readonly file: string;
  private readonly serial = serialiser();
  private started = false;
  private ready = false;
  private lastError: string | null = null;

  constructor(options: CsvSinkOptions) {
    const file = options.settings.file?.trim();
    if (!file) throw new KensaError('INVALID_ARGUMENT', 'CSV log: no file given');
    this.file = resolveInProject(options.projectDir, file);
  }

  async start(): Promise<void> {
    this.started = true;
    try {
      await mkdir(dirname(this.file), { recursive: true });
      this.ready = true;
    } catch (e) {
      // Not fatal: deliver tries again (and throws with the reason).
      this.ready = false;
      this.lastError = `cannot create the folder of ${this.file}: ${errorText(e)}`;
    }
  }

  deliver(result: LineResult): Promise<void> {
    return this.serial(async () => {
      if (!this.started) throw outputError('csv', 'deliver before start()');
      try {
        await this.append(csvRow(result));
      } catch (e) {
        const err = outputError('csv', `could not append seq ${result.seq} (part ${result.partId}) to ${this.file}: ${errorText(e)}`, { file: this.file, cause: e });
        this.ready = false;
        this.lastError = err.message;
        throw err;
      }
      this.ready = true;
      this.lastError = null;
    });
  }

  private async append(row: string): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    // 'a+': append, and read the last byte to see whether the previous row was cut short.
    const fh = await open(this.file, 'a+', 0o644);
    let size = 0;
    try {
      size = (await fh.stat()).size;
      let prefix = '';
      if (size === 0) {
        prefix = CSV_HEADER;
      } else {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, size - 1);
        if (last[0] !== 0x0a) prefix = EOL;
      }
      try {
        await fh.appendFile(prefix + row, 'utf8');
        await fh.sync();
      } catch (e) {
        // Cut off a partial row so the file stays as it was (best effort: the next row starts on a new line anyway).
        await fh.truncate(size).catch(() => undefined);
        throw e;
      }
    } finally {
      await fh.close();
    }
    if (size === 0) await fsyncDir(dirname(this.file)).catch(() => undefined);
  }

  status(): SinkStatus {
    return { name: 'csv', ready: this.started && this.ready, lastError: this.lastError, target: this.file };
  }

  async close(): Promise<void> {
    await this.serial(async () => undefined);
    this.started = false;
    this.ready = false;
  }
}

export function createCsvSink(options: CsvSinkOptions): CsvSink {
  return new CsvSink(options);
}
