/**
 * The `.kensa` model file: round trip of the header and of named sections of any detector,
 * damage detection, version gate, format-1 files upgraded on load, unknown detectors,
 * atomic writes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeModelFile, encodeModelFile, f32Section, i32Section, loadModel, MODEL_FORMAT_VERSION, saveModel, writeFileAtomic, type ModelArrays } from '../../src-main/engine/model-file';
import type { ModelHeader } from '../../src-main/engine/model-types';
import { DEFAULT_INPUT } from '../../src-main/engine/detectors/pipeline';
import { patchcore } from '../../src-main/engine/detectors/patchcore';
import { DEFAULT_PATCHCORE } from '../../src-main/engine/detectors/patchcore/config';
import type { MapStep } from '../../src-main/engine/detectors/types';
import { DEFAULT_CORESET } from '../../src-main/engine/coreset';
import { KensaError } from '../../src-main/engine/errors';
import { encodeV1, toV1Header, type V1Header } from '../helpers/model-v1';

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-modelfile-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const B = 13; // deliberately not a multiple of 4/16: section alignment matters
const D = 7;
const NB = DEFAULT_PATCHCORE.neighbours;

function sample(): { header: Omit<ModelHeader, 'sections'>; arrays: ModelArrays } {
  const bank = new Float32Array(B * D);
  for (let i = 0; i < bank.length; i++) bank[i] = Math.sin(i) * 3.5 + i / 100;
  bank[5] = -0; // signed zero and special-ish values survive the trip
  bank[6] = 1e-38;
  const bankNeighbours = new Int32Array(B * NB);
  for (let i = 0; i < bankNeighbours.length; i++) bankNeighbours[i] = (i * 7) % B;
  const header: Omit<ModelHeader, 'sections'> = {
    formatVersion: MODEL_FORMAT_VERSION,
    detector: 'patchcore',
    id: '00000000-0000-4000-8000-000000000001',
    parentId: null,
    refit: null,
    kensaVersion: '0.0.0-test',
    createdAt: '2024-01-02T03:04:05.000Z',
    backbone: { id: 'tiny', file: 'tiny.onnx', sha256: 'ab'.repeat(32), bytes: 1234 },
    taps: [
      { name: 'a', channels: 3, stride: 8 },
      { name: 'b', channels: 4, stride: 16 },
    ],
    config: { ...DEFAULT_INPUT, taps: ['a', 'b'], seed: 3 },
    detectorConfig: { ...DEFAULT_PATCHCORE },
    features: { dim: D, grid: [8, 8] },
    state: { bankSize: B, patchesBeforeCoreset: 640 },
    stats: {
      images: 2,
      imageScores: [1.5, 2.25],
      imageScore: { mean: 1.875, std: 0.53, max: 2.25 },
      pixel: { min: 0, p50: 1, p90: 2, p99: 3, p999: 4, max: 5 },
      colourScale: { low: 1, high: 10 },
    },
    fit: { images: 10, calibrationImages: 2, seconds: 1.25, ep: 'cpu', trainImages: [{ name: 'ü/ß 1.png', sha256: 'cd'.repeat(32) }] },
  };
  return { header, arrays: { bank, bankNeighbours } };
}

function expectKensa(fn: () => unknown, code: string, ...mentions: (string | RegExp)[]): KensaError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(KensaError);
  const k = err as KensaError;
  expect(k.code).toBe(code);
  for (const m of mentions) expect(k.message).toMatch(m);
  return k;
}

/** Byte offset where the data sections start (16-byte aligned after the header). */
function dataStart(buf: Buffer): number {
  return Math.ceil((16 + buf.readUInt32LE(12)) / 16) * 16;
}

/** Byte range of a named section, read from the header. */
function section(buf: Buffer, name: string): { start: number; end: number } {
  const hdr = JSON.parse(buf.toString('utf8', 16, 16 + buf.readUInt32LE(12))) as { sections: { name: string; offset: number; byteLength: number }[] };
  const s = hdr.sections.find((x) => x.name === name)!;
  return { start: dataStart(buf) + s.offset, end: dataStart(buf) + s.offset + s.byteLength };
}

describe('encode / decode', () => {
  it('round trip: header (plus sections) and arrays come back equal', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    const m = decodeModelFile(buf, 'x.kensa');
    expect(m.file).toBe('x.kensa');
    const { sections, ...rest } = m.header;
    expect(rest).toEqual(header);
    expect(sections).toHaveLength(2);
    expect(Object.keys(m.arrays).sort()).toEqual(['bank', 'bankNeighbours']);
    expect(m.arrays.bank).toBeInstanceOf(Float32Array);
    expect(m.arrays.bankNeighbours).toBeInstanceOf(Int32Array);
    expect(Array.from(m.arrays.bank!)).toEqual(Array.from(arrays.bank!));
    expect(Object.is(m.arrays.bank![5], -0)).toBe(true);
    expect(Array.from(m.arrays.bankNeighbours!)).toEqual(Array.from(arrays.bankNeighbours!));
  });

  it('any named sections of float32, int32 and uint8 round-trip (dtype, length, bytes), in name order', () => {
    const { header } = sample();
    const f = Float32Array.from({ length: 11 }, (_, i) => (i - 5) / 3);
    f[0] = NaN;
    f[1] = -Infinity;
    f[2] = 3.4e38;
    const arrays: ModelArrays = {
      'mean.layer-2': f,
      covInv: Float32Array.from({ length: 9 }, (_, i) => i * 1.5),
      idx: Int32Array.of(-2147483648, -1, 0, 1, 2147483647),
      mask: Uint8Array.of(0, 1, 127, 128, 255),
      oneByte: Uint8Array.of(7),
      empty: new Float32Array(0),
      // A view into a larger buffer (non-zero byteOffset): only its own values are written.
      view: Int32Array.of(9, 8, 7, 6, 5).subarray(1, 4),
    };
    const buf = encodeModelFile({ ...header, detector: 'padim', state: { note: 'any JSON' } }, arrays);
    const m = decodeModelFile(buf, 's.kensa');
    expect(m.header.detector).toBe('padim');
    expect(m.header.state).toEqual({ note: 'any JSON' });
    const secs = m.header.sections as { name: string; dtype: string; shape: number[]; offset: number }[];
    expect(secs.map((x) => x.name)).toEqual(Object.keys(arrays).sort());
    expect(Object.fromEntries(secs.map((x) => [x.name, x.dtype]))).toEqual({
      'mean.layer-2': 'float32',
      covInv: 'float32',
      idx: 'int32',
      mask: 'uint8',
      oneByte: 'uint8',
      empty: 'float32',
      view: 'int32',
    });
    for (const x of secs) expect((dataStart(buf) + x.offset) % 16, x.name).toBe(0);
    expect(Object.keys(m.arrays).sort()).toEqual(Object.keys(arrays).sort());
    for (const [name, a] of Object.entries(arrays)) {
      const got = m.arrays[name]!;
      expect(got.constructor, name).toBe(a.constructor);
      expect(got.length, name).toBe(a.length);
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)), name).toBe(true);
    }
    expect(Array.from(m.arrays.view!)).toEqual([8, 7, 6]);
    expect(Number.isNaN(m.arrays['mean.layer-2']![0])).toBe(true);
    // A flipped byte in a uint8 section is caught like any other.
    buf[section(buf, 'mask').start + 2]! ^= 0x01;
    expectKensa(() => decodeModelFile(buf, 's.kensa'), 'MODEL_INVALID', /checksum/, /mask/);
  });

  it('layout: magic, version, header length, 16-byte aligned sections', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    expect(buf.toString('latin1', 0, 8)).toBe('KENSAMDL');
    expect(buf.readUInt32LE(8)).toBe(MODEL_FORMAT_VERSION);
    const start = dataStart(buf);
    expect(start % 16).toBe(0);
    const hdr = JSON.parse(buf.toString('utf8', 16, 16 + buf.readUInt32LE(12))) as ModelHeader;
    const secs = hdr.sections as { name: string; offset: number; byteLength: number }[];
    expect(secs.map((s) => s.name)).toEqual(['bank', 'bankNeighbours']);
    for (const s of secs) expect((start + s.offset) % 16).toBe(0);
    expect(secs[0]!.byteLength).toBe(B * D * 4);
    expect(secs[1]!.byteLength).toBe(B * NB * 4);
    // The bank bytes are stored little-endian at their offset.
    expect(buf.readFloatLE(start + secs[0]!.offset + 4)).toBe(arrays.bank![1]);
    expect(buf.readInt32LE(start + secs[1]!.offset + 8)).toBe(arrays.bankNeighbours![2]);
  });

  it('decoded arrays do not alias the file buffer', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    const m = decodeModelFile(buf, 'x.kensa');
    buf.fill(0);
    expect(Array.from(m.arrays.bank!)).toEqual(Array.from(arrays.bank!));
  });

  // The file no longer knows which arrays a detector needs (sections are the detector's), so
  // arrays that disagree with the header are caught where the detector reads them: the typed
  // section accessors, and PatchCore's head before it builds any ORT session.
  it('sections that disagree with the header → MODEL_INVALID naming the section when the detector reads them', async () => {
    const { header, arrays } = sample();
    const short = decodeModelFile(encodeModelFile(header, { ...arrays, bank: arrays.bank!.subarray(1) }), 'short.kensa');
    expect(short.arrays.bank!.length).toBe(B * D - 1);
    expectKensa(() => f32Section(short, 'bank', B * D), 'MODEL_INVALID', /bank/, /short\.kensa/, new RegExp(String(B * D)));
    const noNb = decodeModelFile(encodeModelFile(header, { bank: arrays.bank! }), 'nonb.kensa');
    expectKensa(() => i32Section(noNb, 'bankNeighbours'), 'MODEL_INVALID', /bankNeighbours/, /missing/);
    // The right name with the wrong dtype is as good as missing.
    const swapped = decodeModelFile(encodeModelFile(header, { bank: new Int32Array(B * D), bankNeighbours: arrays.bankNeighbours! }), 'swap.kensa');
    expectKensa(() => f32Section(swapped, 'bank'), 'MODEL_INVALID', /bank/, /float32/);
    // Correct sections pass through (the same arrays, no copy).
    const ok = decodeModelFile(encodeModelFile(header, arrays), 'ok.kensa');
    expect(f32Section(ok, 'bank', B * D)).toBe(ok.arrays.bank);
    expect(i32Section(ok, 'bankNeighbours', B * NB)).toBe(ok.arrays.bankNeighbours);

    // PatchCore opening a head on such a model fails with the same error, naming the section.
    const mapStep: MapStep = { map: () => Promise.reject(new Error('not reached')) };
    for (const [model, name] of [
      [short, /bank/],
      [noNb, /bankNeighbours/],
      [decodeModelFile(encodeModelFile(header, { ...arrays, bankNeighbours: arrays.bankNeighbours!.subarray(NB) }), 'nb.kensa'), /bankNeighbours/],
    ] as const) {
      await expect(patchcore.openHead(model, { ep: 'cpu', mapStep })).rejects.toMatchObject({ code: 'MODEL_INVALID', message: expect.stringMatching(name) });
    }
  });
});

describe('damaged files', () => {
  it('one flipped byte in the bank → MODEL_INVALID mentioning the checksum and the file', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    buf[section(buf, 'bank').start + 17]! ^= 0x01;
    const e = expectKensa(() => decodeModelFile(buf, '/models/a.kensa'), 'MODEL_INVALID', /checksum/, /bank/, /\/models\/a\.kensa/);
    expect(e.file).toBe('/models/a.kensa');
  });

  it('one flipped byte in the neighbours section → MODEL_INVALID (checksum)', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    const nb = section(buf, 'bankNeighbours');
    expect(nb.start).toBeGreaterThanOrEqual(section(buf, 'bank').end);
    buf[nb.end - 1]! ^= 0x80; // the last byte of the last section
    expectKensa(() => decodeModelFile(buf, 'n.kensa'), 'MODEL_INVALID', /checksum/);
  });

  it('truncated file → MODEL_INVALID (at the data, inside the header, before the header)', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    // The file ends with alignment padding after the last section: cut into the section itself.
    const last = section(buf, 'bankNeighbours').end;
    expect(buf.length - last).toBeLessThan(16);
    expectKensa(() => decodeModelFile(buf.subarray(0, last - 1), 't.kensa'), 'MODEL_INVALID', /truncated/, /bankNeighbours/);
    expectKensa(() => decodeModelFile(buf.subarray(0, buf.length - 100), 't.kensa'), 'MODEL_INVALID', /truncated/);
    expectKensa(() => decodeModelFile(buf.subarray(0, dataStart(buf) + 3), 't.kensa'), 'MODEL_INVALID', /truncated/);
    expectKensa(() => decodeModelFile(buf.subarray(0, 40), 't.kensa'), 'MODEL_INVALID', /truncated/);
    expectKensa(() => decodeModelFile(buf.subarray(0, 12), 't.kensa'), 'MODEL_INVALID');
    expectKensa(() => decodeModelFile(Buffer.alloc(0), 't.kensa'), 'MODEL_INVALID');
  });

  it('wrong magic → MODEL_INVALID', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    buf.write('KENSAMDX', 0, 'latin1');
    expectKensa(() => decodeModelFile(buf, 'm.kensa'), 'MODEL_INVALID', /signature/);
    // A PNG is not a model.
    expectKensa(() => decodeModelFile(Buffer.from('\x89PNG\r\n\x1a\n0000000000000000', 'latin1'), 'p.png'), 'MODEL_INVALID');
  });

  it('format version 99 → MODEL_VERSION (asks to update Kensa)', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    buf.writeUInt32LE(99, 8);
    const e = expectKensa(() => decodeModelFile(buf, 'v.kensa'), 'MODEL_VERSION', /99/, /update/i);
    expect(e.file).toBe('v.kensa');
  });

  it('a header that is not JSON → MODEL_INVALID', () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    buf.write('#', 16, 'latin1');
    expectKensa(() => decodeModelFile(buf, 'j.kensa'), 'MODEL_INVALID', /JSON/);
  });

  // BUG (src-main/engine/model-file.ts, decodeModelFile): a header that is valid JSON but has
  // no `sections` array (e.g. `{}`, or `null`) makes `for (const s of header.sections)` throw
  // a TypeError instead of a MODEL_INVALID KensaError ("anything that is not a KensaError
  // reaching the UI or the CLI is a bug"). Fix: after JSON.parse, check
  // `header && typeof header === 'object' && Array.isArray(header.sections)` (and each
  // section's fields) and throw bad('its header has no section table') otherwise.
  it('a JSON header without a section table → MODEL_INVALID (currently a TypeError)', () => {
    const json = Buffer.from('{}', 'utf8');
    const buf = Buffer.alloc(32);
    buf.write('KENSAMDL', 0, 'latin1');
    buf.writeUInt32LE(1, 8);
    buf.writeUInt32LE(json.length, 12);
    json.copy(buf, 16);
    expectKensa(() => decodeModelFile(buf, 'empty-header.kensa'), 'MODEL_INVALID');
    buf.writeUInt32LE(2, 8);
    expectKensa(() => decodeModelFile(buf, 'empty-header.kensa'), 'MODEL_INVALID');
  });

  it('a format-2 header without features or detector state → MODEL_INVALID', () => {
    const { header, arrays } = sample();
    const { features: _f, ...noFeatures } = header;
    expectKensa(() => decodeModelFile(encodeModelFile(noFeatures as typeof header, arrays), 'f.kensa'), 'MODEL_INVALID', /features/);
    expectKensa(() => decodeModelFile(encodeModelFile({ ...header, state: null as unknown as Record<string, unknown> }, arrays), 's.kensa'), 'MODEL_INVALID', /state/);
  });
});

describe('detectors', () => {
  it('a header naming a detector this Kensa does not know → UNKNOWN_DETECTOR naming it and the file', async () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile({ ...header, detector: 'efficientad' as ModelHeader['detector'] }, arrays);
    const e = expectKensa(() => decodeModelFile(buf, '/models/new.kensa'), 'UNKNOWN_DETECTOR', /efficientad/, /\/models\/new\.kensa/, /patchcore/);
    expect(e.file).toBe('/models/new.kensa');
    const file = path.join(dir, 'unknown-detector.kensa');
    await fs.writeFile(file, buf);
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'UNKNOWN_DETECTOR', file });
  });

  it('every known detector id loads', () => {
    const { header, arrays } = sample();
    for (const id of ['patchcore', 'padim', 'student-teacher', 'autoencoder', 'fusion'] as const) {
      expect(decodeModelFile(encodeModelFile({ ...header, detector: id }, arrays), 'd.kensa').header.detector).toBe(id);
    }
  });
});

describe('format 1 (PatchCore before the detector seam)', () => {
  const NB1 = 3;
  function v1Sample(refit: V1Header['refit'] = null): { header: V1Header; bank: Float32Array; bankNeighbours: Int32Array } {
    const bank = Float32Array.from({ length: B * D }, (_, i) => Math.cos(i) * 2 - i / 50);
    const bankNeighbours = Int32Array.from({ length: B * NB1 }, (_, i) => (i * 5) % B);
    const { seed: _seed, ...input } = DEFAULT_INPUT;
    const header: V1Header = {
      formatVersion: 1,
      id: '00000000-0000-4000-8000-0000000000v1',
      parentId: refit ? '00000000-0000-4000-8000-0000000000p0' : null,
      kensaVersion: '0.1.0',
      createdAt: '2023-05-06T07:08:09.000Z',
      backbone: { id: 'tiny', file: 'tiny.onnx', sha256: 'ef'.repeat(32), bytes: 99 },
      taps: [{ name: 'a', channels: 7, stride: 8 }],
      config: { ...input, blurSigma: 3, calibrationMax: 7, taps: ['a'], coreset: { ...DEFAULT_CORESET, ratio: 0.05, seed: 5 }, neighbours: NB1 },
      bank: { size: B, dim: D, grid: [6, 5], patchesBeforeCoreset: 777 },
      stats: {
        images: 3,
        imageScores: [1, 2, 3],
        imageScore: { mean: 2, std: 1, max: 3 },
        pixel: { min: 0, p50: 1, p90: 2, p99: 3, p999: 4, max: 5 },
        colourScale: { low: 1, high: 11 },
      },
      fit: { images: 30, calibrationImages: 3, seconds: 4.5, ep: 'cpu', trainImages: [{ name: 'g/001.png', sha256: '12'.repeat(32) }] },
      refit,
    };
    return { header, bank, bankNeighbours };
  }

  it('the old layout (bank + config.coreset/neighbours, sections bank/bankNeighbours) loads as a PatchCore model', () => {
    const { header, bank, bankNeighbours } = v1Sample();
    const buf = encodeV1(header, bank, bankNeighbours);
    expect(buf.readUInt32LE(8)).toBe(1);
    const m = decodeModelFile(buf, 'old.kensa');
    const h = m.header;
    expect(h.detector).toBe('patchcore');
    expect(h.formatVersion).toBe(1);
    expect(h.state).toEqual({ bankSize: B, patchesBeforeCoreset: 777 });
    expect(h.features).toEqual({ dim: D, grid: [6, 5] });
    expect(h.detectorConfig).toEqual({ coreset: { ...DEFAULT_CORESET, ratio: 0.05, seed: 5 }, neighbours: NB1 });
    // The shared input settings keep their values, lose the PatchCore ones, and take the seed
    // format 1 kept in the coreset settings.
    expect(h.config).toEqual({ ...DEFAULT_INPUT, blurSigma: 3, calibrationMax: 7, taps: ['a'], seed: 5 });
    expect(h.config).not.toHaveProperty('coreset');
    expect(h.config).not.toHaveProperty('neighbours');
    expect(h.refit).toBeNull();
    expect(h.id).toBe(header.id);
    expect(h.stats).toEqual(header.stats);
    expect(h.fit).toEqual(header.fit);
    expect(Array.from(m.arrays.bank!)).toEqual(Array.from(bank));
    expect(Array.from(m.arrays.bankNeighbours!)).toEqual(Array.from(bankNeighbours));
    // What the PatchCore detector reads from it is all there, with the right lengths.
    expect(f32Section(m, 'bank', Number(h.state.bankSize) * h.features.dim)).toBe(m.arrays.bank);
    expect(i32Section(m, 'bankNeighbours', Number(h.state.bankSize) * (h.detectorConfig as { neighbours: number }).neighbours)).toBe(m.arrays.bankNeighbours);
    expect(patchcore.facts(h).find((f) => f.key === 'bankSize')?.value).toBe(B);
  });

  it('a format-1 refit record is upgraded (parent bank size → parentSize, added patches → added)', () => {
    const images = [{ name: 'new/1.png', sha256: '34'.repeat(32) }];
    const { header, bank, bankNeighbours } = v1Sample({ parentBankSize: 10, images, addedPatches: 3, seconds: 0.75 });
    const h = decodeModelFile(encodeV1(header, bank, bankNeighbours), 'old-refit.kensa').header;
    expect(h.refit).toEqual({ parentSize: 10, images, added: 3, seconds: 0.75 });
    expect(h.parentId).toBe(header.parentId);
  });

  it('toV1Header/encodeV1 invert the upgrade: a format-2 sample written the old way reads back equal', () => {
    const s = sample();
    // Format 1 had one seed, in the coreset settings: exact when the two seeds of format 2 agree.
    const header = { ...s.header, detectorConfig: { ...DEFAULT_PATCHCORE, coreset: { ...DEFAULT_CORESET, seed: s.header.config.seed } } };
    const arrays = s.arrays;
    const m = decodeModelFile(encodeV1(toV1Header(header), arrays.bank as Float32Array, arrays.bankNeighbours as Int32Array), 'back.kensa');
    for (const k of ['detector', 'config', 'detectorConfig', 'features', 'state', 'stats', 'fit', 'refit', 'backbone', 'taps', 'id'] as const) {
      expect(m.header[k], k).toEqual(header[k]);
    }
  });

  it('saved again it becomes a format-2 file with the same model', async () => {
    const { header, bank, bankNeighbours } = v1Sample();
    const oldFile = path.join(dir, 'v1.kensa');
    await fs.writeFile(oldFile, encodeV1(header, bank, bankNeighbours));
    const m = await loadModel(oldFile);
    const newFile = path.join(dir, 'v1-resaved.kensa');
    const { sections: _s, ...draft } = m.header;
    await saveModel(newFile, draft, m.arrays);
    const buf = await fs.readFile(newFile);
    expect(buf.readUInt32LE(8)).toBe(MODEL_FORMAT_VERSION);
    const again = await loadModel(newFile);
    expect(again.header.formatVersion).toBe(MODEL_FORMAT_VERSION);
    for (const k of ['detector', 'config', 'detectorConfig', 'features', 'state', 'stats', 'fit', 'refit'] as const) expect(again.header[k], k).toEqual(m.header[k]);
    expect(Array.from(again.arrays.bank!)).toEqual(Array.from(bank));
    expect(Array.from(again.arrays.bankNeighbours!)).toEqual(Array.from(bankNeighbours));
  });

  it('damage in a format-1 file is still caught: no bank facts, a flipped section byte', () => {
    const { header, bank, bankNeighbours } = v1Sample();
    const { bank: _b, ...noBank } = header;
    const json = Buffer.from(JSON.stringify({ ...noBank, sections: [] }), 'utf8');
    const bare = Buffer.alloc(Math.ceil((16 + json.length) / 16) * 16);
    bare.write('KENSAMDL', 0, 'latin1');
    bare.writeUInt32LE(1, 8);
    bare.writeUInt32LE(json.length, 12);
    json.copy(bare, 16);
    expectKensa(() => decodeModelFile(bare, 'nobank.kensa'), 'MODEL_INVALID', /bank/);
    const buf = encodeV1(header, bank, bankNeighbours);
    buf[section(buf, 'bankNeighbours').start + 1]! ^= 0x10;
    expectKensa(() => decodeModelFile(buf, 'old.kensa'), 'MODEL_INVALID', /checksum/, /bankNeighbours/);
  });
});

describe('files on disk', () => {
  it('saveModel → loadModel round trip', async () => {
    const { header, arrays } = sample();
    const file = path.join(dir, 'rt.kensa');
    await saveModel(file, header, arrays);
    const m = await loadModel(file);
    expect(m.file).toBe(file);
    expect(m.header.state).toEqual(header.state);
    expect(m.header.features).toEqual(header.features);
    expect(m.header.detectorConfig).toEqual(header.detectorConfig);
    expect(Array.from(m.arrays.bank!)).toEqual(Array.from(arrays.bank!));
    expect(Array.from(m.arrays.bankNeighbours!)).toEqual(Array.from(arrays.bankNeighbours!));
  });

  it('loadModel on a missing path → MODEL_NOT_FOUND naming the path', async () => {
    const file = path.join(dir, 'nope', 'missing.kensa');
    const e = await loadModel(file).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KensaError);
    expect((e as KensaError).code).toBe('MODEL_NOT_FOUND');
    expect((e as KensaError).message).toContain(file);
    expect((e as KensaError).file).toBe(file);
  });

  it('loadModel on a damaged file on disk → MODEL_INVALID', async () => {
    const { header, arrays } = sample();
    const buf = encodeModelFile(header, arrays);
    buf[dataStart(buf)]! ^= 0xff;
    const file = path.join(dir, 'damaged.kensa');
    await fs.writeFile(file, buf);
    await expect(loadModel(file)).rejects.toMatchObject({ code: 'MODEL_INVALID', file });
  });

  it('writeFileAtomic replaces the old content and leaves no temp files behind', async () => {
    const sub = await fs.mkdtemp(path.join(dir, 'atomic-'));
    const file = path.join(sub, 'model.kensa');
    await fs.writeFile(file, 'old content that is longer than the new one');
    await writeFileAtomic(file, Buffer.from('new'));
    expect(await fs.readFile(file, 'utf8')).toBe('new');
    expect(await fs.readdir(sub)).toEqual(['model.kensa']);
    // A second write over it, and a write of a fresh file.
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    await writeFileAtomic(file, big);
    expect(Buffer.compare(await fs.readFile(file), Buffer.from(big))).toBe(0);
    await writeFileAtomic(path.join(sub, 'other.bin'), Uint8Array.of(1, 2, 3));
    expect((await fs.readdir(sub)).sort()).toEqual(['model.kensa', 'other.bin']);
  });

  it('writeFileAtomic into a missing folder fails and leaves nothing behind', async () => {
    const sub = await fs.mkdtemp(path.join(dir, 'atomic-missing-'));
    await expect(writeFileAtomic(path.join(sub, 'no', 'such', 'x.kensa'), Uint8Array.of(1))).rejects.toThrow();
    expect(await fs.readdir(sub)).toEqual([]);
  });

  it('writeFileAtomic over a directory fails, keeps the directory and removes its temp file', async () => {
    const sub = await fs.mkdtemp(path.join(dir, 'atomic-dir-'));
    await fs.mkdir(path.join(sub, 'taken'));
    await fs.writeFile(path.join(sub, 'taken', 'keep.txt'), 'x');
    await expect(writeFileAtomic(path.join(sub, 'taken'), Uint8Array.of(1))).rejects.toThrow();
    expect(await fs.readdir(sub)).toEqual(['taken']);
    expect(await fs.readFile(path.join(sub, 'taken', 'keep.txt'), 'utf8')).toBe('x');
  });
});
