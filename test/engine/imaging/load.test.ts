import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import {
  IMAGE_EXTENSIONS,
  isImageFileName,
  listImages,
  loadImage,
  loadImageFromBuffer,
  probeImage,
  type LoadedImage,
} from '../../../src-main/engine/imaging/load';
import { KensaError, type KensaErrorCode } from '../../../src-main/engine/errors';
import { encodeBmp, encodePng, encodeTiff16, pngClaimingSize } from './encoders';

let dir: string;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kensa-imaging-'));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function write(name: string, data: Uint8Array | string): Promise<string> {
  const file = path.join(dir, name);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
  return file;
}

type RGB = [number, number, number];
const RED: RGB = [255, 0, 0];
const GREEN: RGB = [0, 255, 0];
const BLUE: RGB = [0, 0, 255];
const WHITE: RGB = [255, 255, 255];
const BLACK: RGB = [0, 0, 0];

/** w×h RGB, each pixel coloured by fn(x, y). */
function makeRgb(w: number, h: number, fn: (x: number, y: number) => RGB): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.set(fn(x, y), (y * w + x) * 3);
  return b;
}

/** Quadrants: top-left red, top-right green, bottom-left blue, bottom-right white. */
function quadrants(w: number, h: number): Buffer {
  return makeRgb(w, h, (x, y) => (y < h / 2 ? (x < w / 2 ? RED : GREEN) : x < w / 2 ? BLUE : WHITE));
}

/** Deterministic pseudo-random RGB noise (incompressible enough to make real-sized files). */
function noise(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  let s = 0x9e3779b9;
  for (let i = 0; i < b.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    b[i] = 64 + ((s >>> 0) % 128);
  }
  return b;
}

function rawSharp(rgb: Buffer, w: number, h: number, channels: 1 | 2 | 3 | 4 = 3): Sharp {
  return sharp(rgb, { raw: { width: w, height: h, channels } });
}

function px(img: LoadedImage, x: number, y: number): RGB {
  const i = (y * img.width + x) * 3;
  return [img.rgb[i], img.rgb[i + 1], img.rgb[i + 2]];
}

function expectColour(img: LoadedImage, x: number, y: number, want: RGB, tol = 2): void {
  const got = px(img, x, y);
  for (let c = 0; c < 3; c++) {
    if (Math.abs(got[c] - want[c]) > tol) {
      throw new Error(`pixel (${x}, ${y}) is [${got.join(', ')}], expected [${want.join(', ')}] ±${tol}`);
    }
  }
}

/** Checks the quadrant image at the centre of each quadrant of a w×h output. */
function expectQuadrants(img: LoadedImage, tol = 2): void {
  const { width: w, height: h } = img;
  expectColour(img, Math.floor(w / 4), Math.floor(h / 4), RED, tol);
  expectColour(img, Math.floor((3 * w) / 4), Math.floor(h / 4), GREEN, tol);
  expectColour(img, Math.floor(w / 4), Math.floor((3 * h) / 4), BLUE, tol);
  expectColour(img, Math.floor((3 * w) / 4), Math.floor((3 * h) / 4), WHITE, tol);
}

async function expectKensa(p: Promise<unknown>, code: KensaErrorCode, message?: RegExp): Promise<KensaError> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected a KensaError ${code}`).toBeInstanceOf(KensaError);
  const err = caught as KensaError;
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

const OPTS = { width: 32, height: 32 };

describe('loadImage: formats and pixel values', () => {
  it.each([
    ['png', (s: Sharp) => s.png(), 2],
    ['tiff', (s: Sharp) => s.tiff({ compression: 'lzw' }), 2],
    ['webp', (s: Sharp) => s.webp({ lossless: true }), 2],
    ['gif', (s: Sharp) => s.gif(), 2],
    ['jpeg', (s: Sharp) => s.jpeg({ quality: 95 }), 12],
  ] as const)('%s: quadrant colours survive decode + resize', async (format, enc, tol) => {
    const file = await write(`quad.${format}`, await enc(rawSharp(quadrants(64, 64), 64, 64)).toBuffer());
    const img = await loadImage(file, OPTS);
    expect(img.file).toBe(file);
    expect(img.info).toMatchObject({ format, width: 64, height: 64, bitDepth: 8 });
    expect(img.width).toBe(32);
    expect(img.height).toBe(32);
    expect(img.rgb).toBeInstanceOf(Uint8Array);
    expect(img.rgb.length).toBe(32 * 32 * 3);
    expectQuadrants(img, tol);
  });

  it('BMP (24-bit) decodes to exactly the same pixels as the same image written as PNG', async () => {
    const w = 48;
    const h = 40;
    const rgb = makeRgb(w, h, (x, y) => [(x * 5) & 255, (y * 6) & 255, (x * y) & 255]);
    const bmp = await write('same.bmp', encodeBmp({ width: w, height: h, bpp: 24, rgb }));
    const png = await write('same.png', await rawSharp(rgb, w, h).png().toBuffer());
    const a = await loadImage(bmp, { width: w, height: h });
    const b = await loadImage(png, { width: w, height: h });
    expect(a.info).toEqual({ format: 'bmp', width: w, height: h, channels: 3, bitDepth: 8 });
    expect(Buffer.from(a.rgb).equals(Buffer.from(rgb))).toBe(true);
    // and after a resize, BMP and PNG go through the same resampling
    const a2 = await loadImage(bmp, OPTS);
    const b2 = await loadImage(png, OPTS);
    expect(Buffer.from(a2.rgb).equals(Buffer.from(b2.rgb))).toBe(true);
    expect(Buffer.from(b.rgb).equals(Buffer.from(rgb))).toBe(true);
  });

  it('BMP variants: 32-bit, 8-bit palette, 1-bit, 16-bit 565, top-down, RLE8 → quadrants', async () => {
    const w = 64;
    const h = 64;
    const rgb = quadrants(w, h);
    const pal: Array<[number, number, number]> = [RED, GREEN, BLUE, WHITE];
    const idx = new Uint8Array(w * h).map((_, i) => {
      const x = i % w;
      const y = Math.floor(i / w);
      return y < h / 2 ? (x < w / 2 ? 0 : 1) : x < w / 2 ? 2 : 3;
    });
    const v32 = new Uint32Array(w * h).map((_, i) => (rgb[i * 3] << 16) | (rgb[i * 3 + 1] << 8) | rgb[i * 3 + 2]);
    const v565 = new Uint32Array(w * h).map(
      (_, i) => ((rgb[i * 3] >> 3) << 11) | ((rgb[i * 3 + 1] >> 2) << 5) | (rgb[i * 3 + 2] >> 3),
    );
    const variants: Record<string, Buffer> = {
      bgrx32: encodeBmp({ width: w, height: h, bpp: 32, values: v32 }),
      pal8: encodeBmp({ width: w, height: h, bpp: 8, palette: pal, indices: idx }),
      topdown24: encodeBmp({ width: w, height: h, bpp: 24, rgb, topDown: true }),
      rle8: encodeBmp({ width: w, height: h, bpp: 8, compression: 1, palette: pal, indices: idx }),
      bf565: encodeBmp({ width: w, height: h, bpp: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f, 0], values: v565 }),
    };
    for (const [name, data] of Object.entries(variants)) {
      const img = await loadImage(await write(`${name}.bmp`, data), OPTS);
      expect(img.info.format).toBe('bmp');
      expectQuadrants(img);
    }
    // 1-bit: left half black, right half white → grey BMP, replicated to RGB
    const bits = new Uint8Array(w * h).map((_, i) => (i % w < w / 2 ? 0 : 1));
    const one = await write('one.bmp', encodeBmp({ width: w, height: h, bpp: 1, palette: [BLACK, WHITE], indices: bits }));
    const img1 = await loadImage(one, OPTS);
    expect(img1.info.channels).toBe(1);
    expectColour(img1, 4, 16, BLACK);
    expectColour(img1, 28, 16, WHITE);
  });

  it('BMP with alpha is flattened onto black', async () => {
    const v = new Uint32Array(16 * 16).map((_, i) => (i % 16 < 8 ? 0xffff0000 : 0x00ff0000)); // opaque | transparent red
    const file = await write(
      'alpha.bmp',
      encodeBmp({ width: 16, height: 16, bpp: 32, headerSize: 124, compression: 3, masks: [0xff0000, 0xff00, 0xff, 0xff000000], values: v }),
    );
    const img = await loadImage(file, { width: 16, height: 16 });
    expect(img.info.channels).toBe(4);
    expectColour(img, 2, 8, RED);
    expectColour(img, 13, 8, BLACK);
  });

  it('8-bit grey PNG is replicated to R=G=B', async () => {
    const w = 64;
    const grey = Buffer.alloc(w * 16).map((_, i) => (i % w) * 4);
    const file = await write('grey8.png', encodePng(w, 16, 8, 0, grey));
    const img = await loadImage(file, { width: w, height: 16 });
    expect(img.info).toMatchObject({ channels: 1, bitDepth: 8 });
    for (const x of [0, 10, 33, 63]) expect(px(img, x, 5)).toEqual([x * 4, x * 4, x * 4]);
  });

  it('16-bit grey PNG: the full 16-bit range maps onto 0..255', async () => {
    const w = 256;
    const h = 8;
    const samples = new Uint16Array(w * h).map((_, i) => (i % w) * 257);
    const file = await write('grey16.png', encodePng(w, h, 16, 0, samples));
    const img = await loadImage(file, { width: w, height: h });
    expect(img.info).toMatchObject({ format: 'png', channels: 1, bitDepth: 16 });
    const row = Array.from({ length: w }, (_, x) => px(img, x, 3));
    expect(row[0]).toEqual([0, 0, 0]);
    expect(row[255]).toEqual([255, 255, 255]);
    for (let x = 0; x < w; x++) {
      expect(Math.abs(row[x][0] - x)).toBeLessThanOrEqual(1);
      expect(row[x][1]).toBe(row[x][0]);
    }
    // resized too: still a full ramp, neither saturated nor black
    const small = await loadImage(file, { width: 64, height: 8 });
    const r = Array.from({ length: 64 }, (_, x) => px(small, x, 4)[0]);
    expect(Math.min(...r)).toBeLessThanOrEqual(3);
    expect(Math.max(...r)).toBeGreaterThanOrEqual(252);
    expect(Math.abs(r[32] - 130)).toBeLessThanOrEqual(4);
  });

  it('16-bit RGB PNG and 16-bit grey+alpha PNG', async () => {
    const w = 64;
    const h = 8;
    const rgb16 = new Uint16Array(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      const x = i % w;
      rgb16.set([x * 1040, 65535, 65535 - x * 1040], i * 3); // 63*1040 = 65520
    }
    const img = await loadImage(await write('rgb16.png', encodePng(w, h, 16, 2, rgb16)), { width: w, height: h });
    expect(img.info).toMatchObject({ channels: 3, bitDepth: 16 });
    expectColour(img, 0, 0, [0, 255, 255], 1);
    expectColour(img, 63, 7, [255, 255, 0], 1); // 65520 / 257 = 254.9
    expectColour(img, 32, 4, [129.5, 255, 125.5], 1); // 33280 / 257, 32255 / 257

    const ga = new Uint16Array(w * h * 2);
    for (let i = 0; i < w * h; i++) ga.set([65535, i % w < 32 ? 65535 : 0], i * 2); // white, opaque | transparent
    const img2 = await loadImage(await write('ga16.png', encodePng(w, h, 16, 4, ga)), { width: w, height: h });
    expect(img2.info).toMatchObject({ channels: 2, bitDepth: 16 });
    expectColour(img2, 5, 4, WHITE, 0);
    expectColour(img2, 60, 4, BLACK, 0);
  });

  it('16-bit TIFF, grey and RGB', async () => {
    const w = 256;
    const h = 8;
    const grey = new Uint16Array(w * h).map((_, i) => (i % w) * 257);
    const g = await loadImage(await write('grey16.tif', encodeTiff16(w, h, 1, grey)), { width: w, height: h });
    expect(g.info).toMatchObject({ format: 'tiff', channels: 1, bitDepth: 16 });
    for (const x of [0, 64, 128, 255]) expectColour(g, x, 2, [x, x, x], 1);

    const rgb = new Uint16Array(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb.set([(i % w) * 257, 0, 65535], i * 3);
    const c = await loadImage(await write('rgb16.tiff', encodeTiff16(w, h, 3, rgb)), { width: w, height: h });
    expect(c.info).toMatchObject({ format: 'tiff', channels: 3, bitDepth: 16 });
    for (const x of [0, 100, 255]) expectColour(c, x, 5, [x, 0, 255], 1);
  });

  it('RGBA PNG: alpha is flattened onto black', async () => {
    const rgba = Buffer.alloc(16 * 16 * 4);
    for (let i = 0; i < 256; i++) rgba.set([0, 255, 0, i % 16 < 8 ? 255 : i % 16 < 12 ? 128 : 0], i * 4);
    const file = await write('rgba.png', await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } }).png().toBuffer());
    const img = await loadImage(file, { width: 16, height: 16 });
    expect(img.info.channels).toBe(4);
    expectColour(img, 3, 3, GREEN, 0);
    expectColour(img, 9, 3, [0, 128, 0], 1);
    expectColour(img, 14, 3, BLACK, 0);
  });

  it('palette PNG and 1-bit PNG', async () => {
    const pal = await write('pal.png', await rawSharp(quadrants(64, 64), 64, 64).png({ palette: true }).toBuffer());
    expectQuadrants(await loadImage(pal, OPTS));
    const bw = makeRgb(64, 64, (x) => (x < 32 ? BLACK : WHITE));
    const onebit = await rawSharp(bw, 64, 64).toColourspace('b-w').png({ palette: true, colours: 2 }).toBuffer();
    const img = await loadImage(await write('onebit.png', onebit), OPTS);
    expectColour(img, 4, 10, BLACK);
    expectColour(img, 28, 10, WHITE);
  });

  it('CMYK JPEG comes out as sRGB', async () => {
    const cmyk = await rawSharp(quadrants(64, 64), 64, 64).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const img = await loadImage(await write('cmyk.jpg', cmyk), OPTS);
    expect(img.info).toMatchObject({ format: 'jpeg', channels: 4 });
    // CMYK → sRGB round trip through a profile is not exact: check the dominant channel only
    const [r, g, b] = px(img, 8, 8);
    expect(r).toBeGreaterThan(180);
    expect(g).toBeLessThan(80);
    expect(b).toBeLessThan(80);
    const [r2, g2, b2] = px(img, 8, 24);
    expect(b2).toBeGreaterThan(r2 + 60);
    expect(b2).toBeGreaterThan(g2 + 60);
  });

  it('EXIF orientation is applied', async () => {
    // stored 40×20: left half red, right half blue; orientation 6 = rotate 90° clockwise → 20×40, red on top
    const stored = makeRgb(40, 20, (x) => (x < 20 ? RED : BLUE));
    const jpeg = await rawSharp(stored, 40, 20).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const file = await write('exif6.jpg', jpeg);
    const img = await loadImage(file, { width: 20, height: 40 });
    expect(img.info).toMatchObject({ width: 20, height: 40 });
    expectColour(img, 10, 5, RED, 12);
    expectColour(img, 10, 35, BLUE, 12);
    expect(await probeImage(file)).toMatchObject({ format: 'jpeg', width: 20, height: 40 });
  });

  it('animated GIF, animated WebP and multi-page TIFF use the first frame/page', async () => {
    const frames = makeRgb(16, 32, (_x, y) => (y < 16 ? RED : BLUE)); // frame 1 red, frame 2 blue
    const raw = { raw: { width: 16, height: 32, channels: 3 as const, pageHeight: 16 } };
    for (const [name, buf] of [
      ['anim.gif', await sharp(frames, raw).gif().toBuffer()],
      ['anim.webp', await sharp(frames, raw).webp({ lossless: true }).toBuffer()],
      ['pages.tiff', await sharp(frames, raw).tiff({ compression: 'lzw' }).toBuffer()],
    ] as const) {
      expect((await sharp(buf).metadata()).pages).toBe(2);
      const img = await loadImage(await write(name, buf), { width: 16, height: 16 });
      expect(img.info).toMatchObject({ width: 16, height: 16 });
      expectColour(img, 8, 8, RED);
      expectColour(img, 8, 15, RED);
    }
  });

  it('the format comes from the bytes, not the extension', async () => {
    const jpeg = await rawSharp(quadrants(64, 64), 64, 64).jpeg({ quality: 95 }).toBuffer();
    const img = await loadImage(await write('really-a-jpeg.png', jpeg), OPTS);
    expect(img.info.format).toBe('jpeg');
    expectQuadrants(img, 12);
    const bmp = encodeBmp({ width: 64, height: 64, bpp: 24, rgb: quadrants(64, 64) });
    expect((await loadImage(await write('bmp-named.tif', bmp), OPTS)).info.format).toBe('bmp');
  });

  it('loadImageFromBuffer accepts a plain Uint8Array', async () => {
    const png = await rawSharp(quadrants(64, 64), 64, 64).png().toBuffer();
    const u8 = new Uint8Array(png.length + 10).subarray(5, 5 + png.length);
    u8.set(png);
    const img = await loadImageFromBuffer(u8, 'mem.png', OPTS);
    expect(img.file).toBe('mem.png');
    expectQuadrants(img);
  });
});

describe('loadImage: resize modes', () => {
  // 90×30: three 30-px stripes, red | green | blue
  const stripes = makeRgb(90, 30, (x) => (x < 30 ? RED : x < 60 ? GREEN : BLUE));
  let file: string;
  beforeAll(async () => {
    file = await write('stripes.png', await rawSharp(stripes, 90, 30).png().toBuffer());
  });

  it("'stretch' (the default) squeezes the whole image in: all three stripes visible", async () => {
    for (const img of [await loadImage(file, { width: 30, height: 30 }), await loadImage(file, { width: 30, height: 30, resize: 'stretch' })]) {
      expectColour(img, 4, 15, RED);
      expectColour(img, 15, 15, GREEN);
      expectColour(img, 26, 15, BLUE);
      expectColour(img, 15, 0, GREEN);
    }
  });

  it("'crop' keeps the aspect ratio and centre-crops: only the middle stripe", async () => {
    const img = await loadImage(file, { width: 30, height: 30, resize: 'crop' });
    expectColour(img, 1, 15, GREEN);
    expectColour(img, 28, 15, GREEN);
  });

  it("'pad' keeps the aspect ratio and letterboxes with black", async () => {
    const img = await loadImage(file, { width: 30, height: 30, resize: 'pad' });
    expectColour(img, 15, 2, BLACK, 0);
    expectColour(img, 15, 27, BLACK, 0);
    expectColour(img, 4, 15, RED);
    expectColour(img, 15, 15, GREEN);
    expectColour(img, 26, 15, BLUE);
  });

  it('non-square targets', async () => {
    const img = await loadImage(file, { width: 60, height: 10 });
    expect(img.rgb.length).toBe(60 * 10 * 3);
    expectColour(img, 5, 5, RED);
    expectColour(img, 55, 5, BLUE);
  });
});

describe('loadImage: errors', () => {
  it('missing file → IMAGE_NOT_FOUND', async () => {
    const file = path.join(dir, 'nope.png');
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_NOT_FOUND');
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    await expectKensa(probeImage(file), 'IMAGE_NOT_FOUND');
  });

  it('a directory → IMAGE_UNREADABLE', async () => {
    const sub = path.join(dir, 'a-folder.png');
    await fs.mkdir(sub, { recursive: true });
    const err = await expectKensa(loadImage(sub, OPTS), 'IMAGE_UNREADABLE', /folder/);
    expect(err.message).toContain(sub);
    await expectKensa(probeImage(sub), 'IMAGE_UNREADABLE');
  });

  it.skipIf(process.getuid?.() === 0)('no read permission → IMAGE_UNREADABLE', async () => {
    const file = await write('secret.png', await rawSharp(quadrants(16, 16), 16, 16).png().toBuffer());
    await fs.chmod(file, 0o000);
    try {
      await expectKensa(loadImage(file, OPTS), 'IMAGE_UNREADABLE', /permission denied/);
    } finally {
      await fs.chmod(file, 0o644);
    }
  });

  it('0-byte file → IMAGE_EMPTY', async () => {
    const file = await write('empty.png', '');
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_EMPTY', /empty/);
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
    await expectKensa(probeImage(file), 'IMAGE_EMPTY');
  });

  it('a text file named .png → IMAGE_UNSUPPORTED_FORMAT "not an image"', async () => {
    const file = await write('notes.png', 'hello world, this is not a picture\n');
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_UNSUPPORTED_FORMAT');
    expect(err.message).toBe(
      `not an image: ${file} starts with "hello wo" (68 65 6c 6c 6f 20 77 6f), which is none of PNG, JPEG, TIFF, WebP, BMP, GIF`,
    );
    expect(err.file).toBe(file);
    await expectKensa(probeImage(file), 'IMAGE_UNSUPPORTED_FORMAT');
  });

  it('a known but unsupported format is named', async () => {
    const file = await write('doc.png', '%PDF-1.7\n...');
    await expectKensa(loadImage(file, OPTS), 'IMAGE_UNSUPPORTED_FORMAT', /is a PDF document, which is not supported/);
  });

  it.each([
    ['png', (s: Sharp) => s.png(), /truncated or corrupt PNG data/],
    ['jpg', (s: Sharp) => s.jpeg(), /truncated or corrupt JPEG data/],
    ['tif', (s: Sharp) => s.tiff(), /TIFF/],
    ['webp', (s: Sharp) => s.webp(), /WebP/],
    ['gif', (s: Sharp) => s.gif(), /GIF/],
  ] as const)('truncated %s (first half of a real file) → IMAGE_CORRUPT', async (ext, enc, re) => {
    const full = await enc(rawSharp(noise(128, 128), 128, 128)).toBuffer();
    const file = await write(`half.${ext}`, full.subarray(0, full.length >> 1));
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_CORRUPT', re);
    expect(err.file).toBe(file);
    expect(err.message).toContain(file);
  });

  it('truncated BMP → IMAGE_CORRUPT with the byte counts', async () => {
    const bmp = encodeBmp({ width: 100, height: 100, bpp: 24, rgb: quadrants(100, 100) });
    const file = await write('half.bmp', bmp.subarray(0, bmp.length >> 1));
    await expectKensa(
      loadImage(file, OPTS),
      'IMAGE_CORRUPT',
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: BMP pixel data truncated: expected 30000 bytes`),
    );
  });

  it('PNG with a broken header → IMAGE_CORRUPT', async () => {
    const png = await rawSharp(quadrants(16, 16), 16, 16).png().toBuffer();
    const file = await write('badhdr.png', png.subarray(0, 20));
    await expectKensa(loadImage(file, OPTS), 'IMAGE_CORRUPT', /cannot read the PNG header/);
  });

  it('a PNG whose header claims 30000×30000 → IMAGE_TOO_LARGE from the header, before decoding', async () => {
    const data = pngClaimingSize(30000, 30000);
    expect(data.length).toBeLessThan(200);
    const file = await write('huge.png', data);
    const t0 = performance.now();
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_TOO_LARGE');
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(err.message).toBe(`${file}: 30000×30000 px is over the 268 MP limit`);
    expect(err.file).toBe(file);
    // header-only probing still works on it
    expect(await probeImage(file)).toEqual({ format: 'png', width: 30000, height: 30000, channels: 3, bitDepth: 8 });
  });

  it('maxPixels applies to every format, including BMP', async () => {
    const rgb = quadrants(64, 64);
    const png = await write('mp.png', await rawSharp(rgb, 64, 64).png().toBuffer());
    const bmp = await write('mp.bmp', encodeBmp({ width: 64, height: 64, bpp: 24, rgb }));
    await expectKensa(loadImage(png, { ...OPTS, maxPixels: 4000 }), 'IMAGE_TOO_LARGE', /64×64 px is over the 4000-pixel limit/);
    await expectKensa(loadImage(bmp, { ...OPTS, maxPixels: 4000 }), 'IMAGE_TOO_LARGE', /64×64 px/);
    await expect(loadImage(bmp, { ...OPTS, maxPixels: 4096 })).resolves.toBeDefined();
  });

  it('a 1×1 image → IMAGE_TOO_SMALL', async () => {
    const file = await write('dot.png', await rawSharp(Buffer.from([1, 2, 3]), 1, 1).png().toBuffer());
    const err = await expectKensa(loadImage(file, OPTS), 'IMAGE_TOO_SMALL', /1×1 px is too small; each side must be at least 8 px/);
    expect(err.file).toBe(file);
    const bmp = await write('dot.bmp', encodeBmp({ width: 1, height: 1, bpp: 24, rgb: Uint8Array.from([1, 2, 3]) }));
    await expectKensa(loadImage(bmp, OPTS), 'IMAGE_TOO_SMALL');
    const thin = await write('thin.png', await rawSharp(Buffer.alloc(100 * 4 * 3), 100, 4).png().toBuffer());
    await expectKensa(loadImage(thin, OPTS), 'IMAGE_TOO_SMALL', /100×4 px/);
    await expect(loadImage(thin, { ...OPTS, minSide: 4 })).resolves.toBeDefined();
  });

  it('bad options → INVALID_ARGUMENT', async () => {
    const file = await write('ok.png', await rawSharp(quadrants(16, 16), 16, 16).png().toBuffer());
    await expectKensa(loadImage(file, { width: 0, height: 10 }), 'INVALID_ARGUMENT');
    await expectKensa(loadImage(file, { width: 10.5, height: 10 }), 'INVALID_ARGUMENT');
    await expectKensa(loadImage(file, { width: 10, height: 10, resize: 'zoom' as never }), 'INVALID_ARGUMENT');
  });
});

describe('probeImage', () => {
  it('reads format, size, channels and bit depth from the header', async () => {
    const rgb = quadrants(64, 48);
    const cases: Array<[string, Uint8Array, object]> = [
      ['p.png', await rawSharp(rgb, 64, 48).png().toBuffer(), { format: 'png', width: 64, height: 48, channels: 3, bitDepth: 8 }],
      ['p.jpg', await rawSharp(rgb, 64, 48).jpeg().toBuffer(), { format: 'jpeg', width: 64, height: 48, channels: 3, bitDepth: 8 }],
      ['p.webp', await rawSharp(rgb, 64, 48).webp().toBuffer(), { format: 'webp', width: 64, height: 48, channels: 3, bitDepth: 8 }],
      ['p.gif', await rawSharp(rgb, 64, 48).gif().toBuffer(), { format: 'gif', width: 64, height: 48, bitDepth: 8 }],
      ['p16.png', encodePng(10, 12, 16, 0, new Uint16Array(120)), { format: 'png', width: 10, height: 12, channels: 1, bitDepth: 16 }],
      ['p.bmp', encodeBmp({ width: 64, height: 48, bpp: 24, rgb }), { format: 'bmp', width: 64, height: 48, channels: 3, bitDepth: 8 }],
    ];
    for (const [name, data, want] of cases) {
      expect(await probeImage(await write(name, data)), name).toMatchObject(want);
    }
  });

  it('large files: a TIFF (directory at the end) and a BMP whose pixel data is missing', async () => {
    const big = await rawSharp(noise(400, 300), 400, 300).tiff({ compression: 'none' }).toBuffer();
    expect(big.length).toBeGreaterThan(64 * 1024);
    expect(await probeImage(await write('big.tiff', big))).toMatchObject({ format: 'tiff', width: 400, height: 300 });
    const bmp = encodeBmp({ width: 300, height: 300, bpp: 24, rgb: Buffer.alloc(300 * 300 * 3) });
    expect(await probeImage(await write('cut.bmp', bmp.subarray(0, 100)))).toMatchObject({ format: 'bmp', width: 300, height: 300 });
  });
});

describe('listImages / isImageFileName', () => {
  it('IMAGE_EXTENSIONS and isImageFileName', () => {
    expect([...IMAGE_EXTENSIONS].sort()).toEqual(['bmp', 'gif', 'jpeg', 'jpg', 'png', 'tif', 'tiff', 'webp']);
    for (const n of ['a.png', 'B.JPG', 'c.Jpeg', '/x/y/d.tif', 'e.TIFF', 'f.webp', 'g.bmp', 'h.gif', 'a.b.png']) {
      expect(isImageFileName(n), n).toBe(true);
    }
    for (const n of ['a.txt', 'png', '.png', 'a.png.bak', 'a', 'a.svg', 'a.heic']) expect(isImageFileName(n), n).toBe(false);
  });

  it('lists images sorted and absolute; recursive on request; skips other and hidden files', async () => {
    const root = path.join(dir, 'set');
    const png = await rawSharp(quadrants(16, 16), 16, 16).png().toBuffer();
    for (const n of ['b.png', 'a.PNG', 'c.jpg', 'notes.txt', '._a.png', 'sub/d.bmp', 'sub/deeper/e.tif']) {
      await fs.mkdir(path.dirname(path.join(root, n)), { recursive: true });
      await fs.writeFile(path.join(root, n), png);
    }
    expect(await listImages(root)).toEqual(['a.PNG', 'b.png', 'c.jpg'].map((n) => path.join(root, n)));
    expect(await listImages(root, { recursive: true })).toEqual(
      ['a.PNG', 'b.png', 'c.jpg', 'sub/d.bmp', 'sub/deeper/e.tif'].map((n) => path.join(root, n)),
    );
    // relative input → absolute output
    const rel = path.relative(process.cwd(), root);
    expect((await listImages(rel))[0]).toBe(path.join(root, 'a.PNG'));
  });

  it('a folder with no images → NO_IMAGES naming the folder and the extensions', async () => {
    const empty = path.join(dir, 'no-images');
    await fs.mkdir(empty, { recursive: true });
    await fs.writeFile(path.join(empty, 'readme.txt'), 'x');
    const err = await expectKensa(listImages(empty), 'NO_IMAGES');
    expect(err.message).toBe(`no images in ${empty} (looked for .png, .jpg, .jpeg, .tif, .tiff, .webp, .bmp, .gif)`);
    expect(err.file).toBe(empty);
  });

  it('a missing folder or a file instead of a folder → clear errors', async () => {
    const missing = path.join(dir, 'does-not-exist');
    await expectKensa(listImages(missing), 'NO_IMAGES', /^folder not found: .*does-not-exist$/);
    const file = await write('plain.txt', 'x');
    await expectKensa(listImages(file), 'NO_IMAGES', /^not a folder: .*plain\.txt$/);
  });
});

describe('real data', () => {
  const shared = process.env.KENSA_SHARED ?? '../shared';
  const mvtec = path.resolve(shared, 'data/mvtec/bottle/train/good/000.png');
  const present = existsSync(mvtec);
  const title = present
    ? 'real data: MVTec bottle/train/good/000.png loads to 224×224 RGB'
    : `real data: MVTec bottle image — SKIPPED, ${mvtec} not found (set KENSA_SHARED)`;
  it.skipIf(!present)(title, async () => {
    const img = await loadImage(mvtec, { width: 224, height: 224 });
    expect(img.info).toMatchObject({ format: 'png', bitDepth: 8 });
    expect(img.info.width).toBe(img.info.height);
    expect([img.width, img.height]).toEqual([224, 224]);
    expect(img.rgb.length).toBe(224 * 224 * 3);
    let sum = 0;
    for (const v of img.rgb) sum += v;
    const mean = sum / img.rgb.length;
    expect(mean).toBeGreaterThan(10);
    expect(mean).toBeLessThan(245);
  });
});
