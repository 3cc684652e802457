/**
 * The CSV log sink (src-main/services/line/sinks/csv.ts) on real files, read back with a
 * small RFC 4180 parser: header once, a row per result in LINE_RESULT_FIELDS order, quoting
 * of commas, quotes and newlines, the formula-injection guard (text only, never numbers),
 * a missing folder, a cut-short last line, and LINE_OUTPUT when the file cannot be written.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../../../src-main/shared/errors';
import { CsvSink, csvField } from '../../../../src-main/services/line/sinks/index';
import { LINE_RESULT_FIELDS, type LineResult } from '../../../../src-main/services/line/types';
import { lineResult, tempDir } from './fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** RFC 4180: records split by CRLF (or LF), fields by commas, "..." quoting with "" for a quote. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error('unterminated quoted field');
  if (field !== '' || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** A result as the CSV should show it. */
function expectedRow(r: LineResult): string[] {
  return LINE_RESULT_FIELDS.map((f) => {
    const v = r[f];
    if (v === null) return '';
    if (typeof v === 'number') return String(v);
    return /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  });
}

const settings = (file = 'line/results.csv') => ({ enabled: true, file });

describe('csv sink', () => {
  it('creates the folder, writes the header once and one row per result; parses back', async () => {
    const sink = new CsvSink({ projectDir: dir, settings: settings() });
    await sink.start();
    const file = path.join(dir, 'line/results.csv');
    expect(sink.status()).toMatchObject({ name: 'csv', ready: true, target: file });
    const results = [
      lineResult({ seq: 1 }),
      lineResult({ seq: 2, partId: 8, file: 'a,b "c"\nd.png', score: 1e-7, threshold: null, reviewUpper: null, latencyMs: null }),
      lineResult({ seq: 3, event: 'verdict', verdict: 'good', reviewer: 'Ōno, K.', disposition: 'pass', latencyMs: null }),
    ];
    for (const r of results) await sink.deliver(r);
    await sink.close();

    // A new sink on the same file (an app restart) appends without a second header.
    const again = new CsvSink({ projectDir: dir, settings: { enabled: true, file } });
    await again.start();
    const fourth = lineResult({ seq: 4, station: 'st "2"' });
    await again.deliver(fourth);

    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('seq,event,station,partId,file,storedPath,sha256,score,')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    const rows = parseCsv(text);
    expect(rows[0]).toEqual([...LINE_RESULT_FIELDS]);
    expect(rows.slice(1)).toEqual([...results, fourth].map(expectedRow));
    // The awkward file name survives the round trip exactly; null is an empty field.
    expect(rows[2]![LINE_RESULT_FIELDS.indexOf('file')]).toBe('a,b "c"\nd.png');
    expect(rows[2]![LINE_RESULT_FIELDS.indexOf('threshold')]).toBe('');
    expect(rows[2]![LINE_RESULT_FIELDS.indexOf('score')]).toBe('1e-7');
    expect(text.match(/^seq,/gm)).toHaveLength(1);
  });

  it('guards text against spreadsheet formulas but leaves numbers alone', async () => {
    const sink = new CsvSink({ projectDir: dir, settings: settings('log.csv') });
    await sink.start();
    const r = lineResult({
      seq: 1,
      file: '=HYPERLINK("http://evil.example","x").png',
      storedPath: '+cmd|/c calc',
      reviewer: '@SUM(A1)',
      detector: '-2+3',
      station: '\tTAB',
      score: -0.5,
      threshold: -1,
    });
    await sink.deliver(r);
    const rows = parseCsv(readFileSync(path.join(dir, 'log.csv'), 'utf8'));
    const row = rows[1]!;
    const col = (f: (typeof LINE_RESULT_FIELDS)[number]) => row[LINE_RESULT_FIELDS.indexOf(f)];
    expect(col('file')).toBe(`'=HYPERLINK("http://evil.example","x").png`);
    expect(col('storedPath')).toBe("'+cmd|/c calc");
    expect(col('reviewer')).toBe("'@SUM(A1)");
    expect(col('detector')).toBe("'-2+3");
    expect(col('station')).toBe("'\tTAB");
    expect(col('score')).toBe('-0.5');
    expect(col('threshold')).toBe('-1');
    expect(csvField('plain')).toBe('plain');
    expect(csvField(null)).toBe('');
    expect(csvField(-3)).toBe('-3');
    expect(csvField('a"b')).toBe('"a""b"');
  });

  it('an empty existing file gets the header; a cut-short last line does not swallow the next row', async () => {
    const file = path.join(dir, 'r.csv');
    writeFileSync(file, '');
    const sink = new CsvSink({ projectDir: dir, settings: settings(file) });
    await sink.start();
    await sink.deliver(lineResult({ seq: 1 }));
    // A crash mid-append left half a row.
    writeFileSync(file, readFileSync(file, 'utf8') + '2,scored,st-1,8,half');
    await sink.deliver(lineResult({ seq: 3 }));
    const rows = parseCsv(readFileSync(file, 'utf8'));
    expect(rows[0]).toEqual([...LINE_RESULT_FIELDS]);
    expect(rows[1]).toEqual(expectedRow(lineResult({ seq: 1 })));
    expect(rows[2]).toEqual(['2', 'scored', 'st-1', '8', 'half']);
    expect(rows[3]).toEqual(expectedRow(lineResult({ seq: 3 })));
  });

  it.skipIf(process.getuid?.() === 0 || process.platform === 'win32')('throws LINE_OUTPUT naming the file when it cannot append', async () => {
    const ro = path.join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(ro, 0o500);
    const sink = new CsvSink({ projectDir: dir, settings: settings('ro/results.csv') });
    await sink.start();
    const err = await sink.deliver(lineResult({ seq: 4 })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KensaError);
    expect((err as KensaError).code).toBe('LINE_OUTPUT');
    expect((err as KensaError).message).toContain(path.join(ro, 'results.csv'));
    expect(sink.status().ready).toBe(false);
    chmodSync(ro, 0o700);
  });

  it('throws LINE_OUTPUT when the log path is a folder (runs as root too)', async () => {
    mkdirSync(path.join(dir, 'isdir.csv'));
    const sink = new CsvSink({ projectDir: dir, settings: settings('isdir.csv') });
    await sink.start();
    const err = await sink.deliver(lineResult({ seq: 4 })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'LINE_OUTPUT', message: expect.stringContaining('seq 4') });
    expect(sink.status()).toMatchObject({ ready: false, lastError: expect.stringContaining('isdir.csv') });
  });
});
