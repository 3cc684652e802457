/**
 * The JSON result file sink (src-main/services/line/sinks/json.ts) on real files: where the
 * file goes in both modes, a later verdict replacing the file, atomic replacement (a reader
 * never sees half a file), no temporary files left behind, and LINE_OUTPUT when the file
 * cannot be written. Also createSinks (index.ts): which sinks the settings enable.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KensaError } from '../../../../src-main/shared/errors';
import { createSinks, JsonSink, jsonResultPath } from '../../../../src-main/services/line/sinks/index';
import { DEFAULT_LINE_OUTPUTS, type LineOutputSettings } from '../../../../src-main/services/line/types';
import { lineResult, tempDir } from './fixtures';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

const beside: LineOutputSettings['json'] = { enabled: true, mode: 'beside', dir: null };

function storeImage(rel: string): void {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), 'png');
}

async function rejection(p: Promise<unknown>): Promise<KensaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KensaError);
    return e as KensaError;
  }
  throw new Error('expected a rejection');
}

describe('json sink', () => {
  it("'beside': <project>/<storedPath>.result.json; a later verdict replaces it", async () => {
    storeImage('images/inspect/part-0007.png');
    const sink = new JsonSink({ projectDir: dir, settings: beside });
    await sink.start();
    expect(sink.status()).toMatchObject({ name: 'json', ready: true, lastError: null });

    const scored = lineResult({ seq: 1 });
    await sink.deliver(scored);
    const file = path.join(dir, 'images/inspect/part-0007.png.result.json');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(scored);

    const verdict = lineResult({ seq: 9, event: 'verdict', verdict: 'defect', reviewer: 'aiko', disposition: 'reject', at: '2026-11-30T11:00:00.000Z' });
    await sink.deliver(verdict);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(verdict);
    // Only the image and its result file: no temporary files left behind.
    expect(readdirSync(path.dirname(file)).sort()).toEqual(['part-0007.png', 'part-0007.png.result.json']);
    await sink.close();
  });

  it("'folder': <dir>/<name>.<partId>.result.json, dir relative to the project (created) or absolute", async () => {
    const rel = new JsonSink({ projectDir: dir, settings: { enabled: true, mode: 'folder', dir: 'out/results' } });
    await rel.start();
    expect(existsSync(path.join(dir, 'out/results'))).toBe(true);
    await rel.deliver(lineResult({ seq: 1, partId: 7, file: 'cam1.part.bmp' }));
    // Same file name, another part: its own file.
    await rel.deliver(lineResult({ seq: 2, partId: 8, file: 'cam1.part.bmp' }));
    await rel.deliver(lineResult({ seq: 3, partId: 9, file: 'noext' }));
    expect(readdirSync(path.join(dir, 'out/results')).sort()).toEqual(['cam1.part.7.result.json', 'cam1.part.8.result.json', 'noext.9.result.json']);
    expect(rel.status().target).toBe(path.join(dir, 'out/results'));

    const absDir = path.join(dir, 'elsewhere', 'deep');
    const abs = new JsonSink({ projectDir: path.join(dir, 'project'), settings: { enabled: true, mode: 'folder', dir: absDir } });
    await abs.start();
    const r = lineResult({ seq: 4, partId: 12, file: 'a.png' });
    await abs.deliver(r);
    expect(JSON.parse(readFileSync(path.join(absDir, 'a.12.result.json'), 'utf8'))).toEqual(r);
    expect(jsonResultPath(dir, { enabled: true, mode: 'folder', dir: absDir }, r)).toBe(path.join(absDir, 'a.12.result.json'));
  });

  it('a reader polling the file during rapid overwrites always reads a whole result', async () => {
    storeImage('img/p.png');
    const sink = new JsonSink({ projectDir: dir, settings: beside });
    await sink.start();
    const file = path.join(dir, 'img/p.png.result.json');
    await sink.deliver(lineResult({ seq: 0, storedPath: 'img/p.png' }));
    let reads = 0;
    let stop = false;
    const seen: number[] = [];
    const reader = (async () => {
      while (!stop) {
        const text = readFileSync(file, 'utf8');
        seen.push((JSON.parse(text) as { seq: number }).seq); // throws on a partial file
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let seq = 1; seq <= 150; seq++) {
      // Payloads of varying length, so a torn write would show as bad JSON.
      await sink.deliver(lineResult({ seq, storedPath: 'img/p.png', file: 'x'.repeat(seq * 37), event: 'verdict' }));
    }
    stop = true;
    await reader;
    expect(reads).toBeGreaterThan(10);
    // Never goes backwards.
    for (let i = 1; i < seen.length; i++) expect(seen[i]!).toBeGreaterThanOrEqual(seen[i - 1]!);
    expect((JSON.parse(readFileSync(file, 'utf8')) as { seq: number }).seq).toBe(150);
    expect(readdirSync(path.join(dir, 'img')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('throws LINE_OUTPUT naming the file when it cannot be written, and recovers', async () => {
    const sink = new JsonSink({ projectDir: dir, settings: beside });
    await sink.start();
    // The image's folder does not exist (in 'beside' mode the sink does not invent it).
    const r = lineResult({ seq: 5, storedPath: 'images/missing/p.png' });
    const err = await rejection(sink.deliver(r));
    expect(err.code).toBe('LINE_OUTPUT');
    expect(err.message).toContain(path.join(dir, 'images/missing/p.png.result.json'));
    expect(err.message).toContain('seq 5');
    expect(sink.status()).toMatchObject({ ready: false, lastError: err.message });
    // The same result offered again once the folder is there: delivered, error cleared.
    storeImage('images/missing/p.png');
    await sink.deliver(r);
    expect(sink.status()).toMatchObject({ ready: true, lastError: null });

    // A stored path that leaves the project is refused.
    const escape = await rejection(sink.deliver(lineResult({ seq: 6, storedPath: '../outside.png' })));
    expect(escape.code).toBe('LINE_OUTPUT');
    expect(escape.message).toMatch(/not inside the project folder/);
    expect(existsSync(path.join(dir, '..', 'outside.png.result.json'))).toBe(false);
  });

  it("refuses 'folder' mode without a folder (INVALID_ARGUMENT)", () => {
    expect(() => new JsonSink({ projectDir: dir, settings: { enabled: true, mode: 'folder', dir: null } })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    );
  });
});

describe('createSinks', () => {
  it('returns the enabled sinks only, in the order json, csv, mqtt, opcua', () => {
    expect(createSinks({ projectDir: dir, station: 'st', settings: DEFAULT_LINE_OUTPUTS })).toEqual([]);
    const all: LineOutputSettings = {
      json: { ...DEFAULT_LINE_OUTPUTS.json, enabled: true },
      csv: { ...DEFAULT_LINE_OUTPUTS.csv, enabled: true },
      mqtt: { ...DEFAULT_LINE_OUTPUTS.mqtt, enabled: true },
      opcua: { ...DEFAULT_LINE_OUTPUTS.opcua, enabled: true },
    };
    // Created, not started: nothing is opened or connected.
    expect(createSinks({ projectDir: dir, station: 'st', settings: all }).map((s) => s.name)).toEqual(['json', 'csv', 'mqtt', 'opcua']);
    expect(createSinks({ projectDir: dir, station: 'st', settings: { ...DEFAULT_LINE_OUTPUTS, csv: all.csv } }).map((s) => s.name)).toEqual(['csv']);
  });

  it('refuses malformed settings with INVALID_ARGUMENT', () => {
    const bad = (over: Partial<LineOutputSettings>) => () => createSinks({ projectDir: dir, station: 'st', settings: { ...DEFAULT_LINE_OUTPUTS, ...over } });
    expect(bad({ mqtt: { ...DEFAULT_LINE_OUTPUTS.mqtt, enabled: true, url: 'not a url' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({ mqtt: { ...DEFAULT_LINE_OUTPUTS.mqtt, enabled: true, url: 'http://127.0.0.1' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({ mqtt: { ...DEFAULT_LINE_OUTPUTS.mqtt, enabled: true, topic: 'kensa/+/result' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({ opcua: { enabled: true, host: '127.0.0.1', port: 70000 } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(bad({ csv: { enabled: true, file: ' ' } })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
