/**
 * The `kensa` command end to end, as a user runs it (a child process of bin/kensa.mjs), on
 * real MVTec data and the shared MobileNetV2: eval metrics, fit → score with heatmaps, and
 * every kind of bad input giving a specific one-line error that names the file while the
 * rest of the batch is still scored.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { kensa } from '../helpers/kensa-cli';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bmp24 } from '../../scripts/bad-corpus';
import { pngClaimingSize } from '../engine/imaging/encoders';

const repo = path.resolve(import.meta.dirname, '../..');
const shared = path.resolve(process.env.KENSA_SHARED ?? path.join(repo, '..', 'shared'));
const bottle = path.join(shared, 'data', 'mvtec', 'bottle');
const magnetic = path.join(shared, 'data', 'magnetic_tile');
const fp32 = path.join(shared, 'models', 'mobilenetv2-dequant-fp32.onnx');
const int8 = path.join(shared, 'models', 'mobilenetv2-12-int8.onnx');
const haveData = existsSync(bottle) && existsSync(fp32);
if (!haveData) console.warn(`SKIPPING CLI tests: ${bottle} or ${fp32} missing (set KENSA_SHARED)`);



let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-cli-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!haveData)('kensa eval on real data', () => {
  it('bottle: image AUROC ≥ 0.97, full JSON report', async () => {
    const out = path.join(tmp, 'bottle.json');
    const r = await kensa(['eval', bottle, '--out', out, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(report.images).toHaveLength(83);
    const defects = report.images.filter((i: { label: string }) => i.label === 'defect');
    expect(defects).toHaveLength(63);
    expect(new Set(defects.map((i: { defectType: string }) => i.defectType))).toEqual(new Set(['broken_large', 'broken_small', 'contamination']));
    for (const im of report.images) {
      expect(im.path).toMatch(/^test\/[a-z_]+\/\d+\.png$/);
      expect(Number.isFinite(im.score)).toBe(true);
      expect(im.label === 'good' ? im.defectType : 'set').not.toBeUndefined();
    }
    const m = report.metrics;
    console.log(`bottle: ${JSON.stringify(m)} timing ${JSON.stringify(report.timing)}`);
    expect(m.imageAuroc).toBeGreaterThanOrEqual(0.97);
    expect(m.pixelAuroc).toBeGreaterThan(0.9);
    expect(m.pro).toBeGreaterThan(0.7);
    expect(m.f1Max).toBeGreaterThan(0.9);
    expect(m.pg0).toBeGreaterThanOrEqual(0);
    expect(report.counts.masks).toBe(63);
    expect(r.stdout).toContain('image AUROC');
  });

  it.skipIf(!existsSync(magnetic))('magnetic_tile (grayscale): reports its figures', async () => {
    const out = path.join(tmp, 'magnetic.json');
    const r = await kensa(['eval', magnetic, '--out', out, '--quiet']);
    expect(r.code).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    console.log(`magnetic_tile: ${JSON.stringify(report.metrics)} timing ${JSON.stringify(report.timing)}`);
    expect(report.counts.good).toBe(190);
    expect(report.counts.defect).toBe(392);
    expect(report.metrics.imageAuroc).toBeGreaterThan(0.85);
    expect(report.metrics.pixelAuroc).toBeGreaterThan(0.75);
  }, 400_000); // 762 training and 582 test parts: about 2 minutes alone on 2 cores
});

describe.skipIf(!haveData)('kensa fit + score', () => {
  let model: string;
  let inputs: string;

  beforeAll(async () => {
    // A small training set keeps this quick: 30 good bottles.
    const train = path.join(tmp, 'train');
    mkdirSync(train);
    for (const f of readdirSync(path.join(bottle, 'train', 'good')).sort().slice(0, 30)) copyFileSync(path.join(bottle, 'train', 'good', f), path.join(train, f));
    model = path.join(tmp, 'models', 'not-yet-there', 'bottle30.kensa'); // --out into a folder that does not exist yet
    const r = await kensa(['fit', train, '--out', model, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/fitted 30 images \(0 skipped\)/);

    // A batch with two good parts, one defect and every kind of bad file.
    inputs = path.join(tmp, 'inputs');
    mkdirSync(inputs);
    copyFileSync(path.join(bottle, 'test', 'good', '000.png'), path.join(inputs, 'a_good.png'));
    copyFileSync(path.join(bottle, 'test', 'broken_large', '000.png'), path.join(inputs, 'b_defect.png'));
    const real = readFileSync(path.join(bottle, 'test', 'good', '001.png'));
    writeFileSync(path.join(inputs, 'c_empty.png'), Buffer.alloc(0));
    writeFileSync(path.join(inputs, 'd_truncated.png'), real.subarray(0, Math.floor(real.length / 2)));
    writeFileSync(path.join(inputs, 'e_notanimage.png'), 'this is a text file, not a picture\n');
    writeFileSync(path.join(inputs, 'f_huge.png'), pngClaimingSize(30000, 30000));
    const corrupt = Buffer.from(real);
    for (let i = 100; i < corrupt.length; i += 7) corrupt[i] = (corrupt[i]! * 31 + 7) & 0xff; // mangled data, valid signature
    writeFileSync(path.join(inputs, 'g_corrupt.png'), corrupt);
    // BMP (sharp cannot decode it: our own decoder) of a good part.
    const { data, info } = await sharp(path.join(bottle, 'test', 'good', '002.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    writeFileSync(path.join(inputs, 'h_good.bmp'), bmp24(data, info.width, info.height));
  }, 300_000);

  it('scores the good files and names each bad one with a specific reason', async () => {
    const heat = path.join(tmp, 'heat');
    const r = await kensa(['score', model, inputs, '--json', '--heatmaps', heat]);
    expect(r.code).toBe(1); // some files failed
    const out = JSON.parse(r.stdout);
    const by = new Map<string, { score?: number; error?: { code: string; message: string; file: string } }>(
      out.results.map((x: { file: string }) => [path.basename(x.file), x]),
    );
    expect(by.size).toBe(8);
    const good = by.get('a_good.png')!.score!;
    const bmpGood = by.get('h_good.bmp')!.score!;
    const defect = by.get('b_defect.png')!.score!;
    expect(defect).toBeGreaterThan(good);
    expect(defect).toBeGreaterThan(bmpGood);
    const expectErr = (name: string, code: string, text: RegExp): void => {
      const e = by.get(name)!.error!;
      expect(e, name).toBeDefined();
      expect(e.code, name).toBe(code);
      expect(e.message, name).toContain(name);
      expect(e.message, name).toMatch(text);
    };
    expectErr('c_empty.png', 'IMAGE_EMPTY', /empty|0 bytes/i);
    expectErr('d_truncated.png', 'IMAGE_CORRUPT', /truncat|corrupt/i);
    expectErr('e_notanimage.png', 'IMAGE_UNSUPPORTED_FORMAT', /not an image/i);
    expectErr('f_huge.png', 'IMAGE_TOO_LARGE', /30000×30000/);
    expectErr('g_corrupt.png', 'IMAGE_CORRUPT', /corrupt|truncat/i);
    // Heatmaps: one overlay per scored image, at the image's own size.
    const maps = readdirSync(heat).sort();
    expect(maps).toEqual(['a_good.heatmap.png', 'b_defect.heatmap.png', 'h_good.heatmap.png']);
    const meta = await sharp(path.join(heat, 'b_defect.heatmap.png')).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
    expect(r.stderr).toMatch(/5 of 8 images could not be scored/);
  });

  it('plain output: one line per image, errors one line each on stderr', async () => {
    const r = await kensa(['score', model, path.join(inputs, 'a_good.png'), path.join(inputs, 'c_empty.png'), path.join(tmp, 'missing.png')]);
    expect(r.code).toBe(1);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^\d+\.\d{4}\t.*a_good\.png$/m);
    const errLines = r.stderr.trim().split('\n').filter((l) => l.startsWith('error:'));
    expect(errLines).toHaveLength(2);
    expect(errLines[0]).toContain('c_empty.png');
    expect(errLines[1]).toContain('missing.png');
  });

  it('a folder with no images is an error naming the folder', async () => {
    const empty = path.join(tmp, 'empty');
    mkdirSync(empty);
    writeFileSync(path.join(empty, 'notes.txt'), 'no pictures here');
    const r = await kensa(['fit', empty, '--out', path.join(tmp, 'never.kensa')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^kensa: error: no images in .*empty/);
    expect(existsSync(path.join(tmp, 'never.kensa'))).toBe(false);
  });

  it.skipIf(!existsSync(int8))('a model scored with another backbone is refused, naming the model', async () => {
    const r = await kensa(['score', model, path.join(inputs, 'a_good.png'), '--backbone', int8]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^kensa: error: model .*bottle30\.kensa was fitted with backbone mobilenetv2-dequant-fp32 .* is a different model/);
  });

  it('a damaged model file is refused, naming it', async () => {
    const bad = path.join(tmp, 'damaged.kensa');
    const bytes = readFileSync(model);
    bytes[Math.floor(bytes.length * 0.6)] ^= 0xff; // inside the bank section
    writeFileSync(bad, bytes);
    const r = await kensa(['score', bad, path.join(inputs, 'a_good.png')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/damaged\.kensa is not a usable Kensa model: section .* checksum/);
    const text = path.join(tmp, 'text.kensa');
    writeFileSync(text, 'hello');
    const r2 = await kensa(['score', text, path.join(inputs, 'a_good.png')]);
    expect(r2.stderr).toMatch(/text\.kensa is not a usable Kensa model/);
  });

  it('usage errors exit 2 with one line', async () => {
    const r = await kensa(['fit', inputs]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('kensa: fit needs --out model.kensa');
    const r2 = await kensa(['fit', inputs, '--out', 'x.kensa', '--coreset', '2']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('--coreset must be a ratio in (0, 1]');
  });

  it('info prints the model description', async () => {
    const r = await kensa(['info', model]);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.backbone.id).toBe('mobilenetv2-dequant-fp32');
    expect(info.fit.images).toBe(30);
    expect(info.taps.map((t: { name: string }) => t.name)).toEqual(['features_s8', 'features_s16']);
    expect(info.colourScale.high).toBeGreaterThan(info.colourScale.low);
  });
});
