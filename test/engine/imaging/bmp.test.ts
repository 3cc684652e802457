import { describe, it, expect } from 'vitest';
import { decodeBmp, readBmpHeader } from '../../../src-main/engine/imaging/bmp';
import { KensaError, type KensaErrorCode } from '../../../src-main/engine/errors';
import { encodeBmp } from './encoders';

/** Deterministic RGB test pattern, w*h*3 top-down. */
function pattern(w: number, h: number): Uint8Array {
  const rgb = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      rgb[i] = (x * 37 + y * 11) & 255;
      rgb[i + 1] = (x * 5 + y * 71) & 255;
      rgb[i + 2] = (x * y * 13 + 7) & 255;
    }
  }
  return rgb;
}

/** Index pattern 0..n-1. */
function indexPattern(w: number, h: number, n: number): Uint8Array {
  const idx = new Uint8Array(w * h);
  for (let i = 0; i < idx.length; i++) idx[i] = (i * 7 + Math.floor(i / w)) % n;
  return idx;
}

const COLOR_PALETTE: Array<[number, number, number]> = [
  [0, 0, 0],
  [255, 0, 0],
  [0, 255, 0],
  [0, 0, 255],
  [255, 255, 0],
  [12, 34, 56],
  [200, 100, 50],
  [255, 255, 255],
  [1, 2, 3],
  [90, 80, 70],
  [60, 50, 40],
  [30, 20, 10],
  [128, 0, 128],
  [0, 128, 128],
  [64, 64, 0],
  [9, 99, 199],
];

function expectedFromPalette(idx: Uint8Array, pal: ReadonlyArray<readonly [number, number, number]>): Uint8Array {
  const out = new Uint8Array(idx.length * 3);
  idx.forEach((v, i) => out.set(pal[v], i * 3));
  return out;
}

function expectKensa(fn: () => unknown, code: KensaErrorCode, message?: RegExp): KensaError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(KensaError);
  const err = caught as KensaError;
  expect(err.code).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

describe('decodeBmp: uncompressed', () => {
  it('24-bit bottom-up, with row padding (width 5 → 15 bytes + 1 pad)', () => {
    const w = 5;
    const h = 4;
    const rgb = pattern(w, h);
    const img = decodeBmp(encodeBmp({ width: w, height: h, bpp: 24, rgb }));
    expect(img).toMatchObject({ width: w, height: h, channels: 3 });
    expect(Array.from(img.data)).toEqual(Array.from(rgb));
  });

  it('24-bit top-down (negative height)', () => {
    const rgb = pattern(7, 3);
    const file = encodeBmp({ width: 7, height: 3, bpp: 24, rgb, topDown: true });
    expect(readBmpHeader(file).topDown).toBe(true);
    expect(Array.from(decodeBmp(file).data)).toEqual(Array.from(rgb));
  });

  it('24-bit with a BITMAPCOREHEADER (12 bytes)', () => {
    const rgb = pattern(6, 5);
    const img = decodeBmp(encodeBmp({ width: 6, height: 5, bpp: 24, rgb, headerSize: 12 }));
    expect(Array.from(img.data)).toEqual(Array.from(rgb));
  });

  it.each([52, 56, 108, 124] as const)('24-bit with a %i-byte header', (headerSize) => {
    const rgb = pattern(3, 3);
    const img = decodeBmp(encodeBmp({ width: 3, height: 3, bpp: 24, rgb, headerSize }));
    expect(Array.from(img.data)).toEqual(Array.from(rgb));
  });

  it('32-bit BI_RGB is BGRx: the 4th byte is ignored, 3 channels out', () => {
    const w = 3;
    const h = 2;
    const rgb = pattern(w, h);
    const values = new Uint32Array(w * h);
    for (let i = 0; i < w * h; i++) values[i] = (0x7f << 24) | (rgb[i * 3] << 16) | (rgb[i * 3 + 1] << 8) | rgb[i * 3 + 2];
    const img = decodeBmp(encodeBmp({ width: w, height: h, bpp: 32, values }));
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(Array.from(rgb));
  });

  it('32-bit BI_BITFIELDS in a V5 header with an alpha mask → RGBA', () => {
    // masks in an unusual order: R in the low byte, A in the high byte
    const values = Uint32Array.from([
      (255 << 24) | (30 << 16) | (20 << 8) | 10, // r=10 g=20 b=30 a=255
      (128 << 24) | (0 << 16) | (0 << 8) | 255, // r=255 a=128
      (0 << 24) | (255 << 16) | (0 << 8) | 0, // b=255 a=0
      (64 << 24) | (0 << 16) | (255 << 8) | 0, // g=255 a=64
    ]);
    const file = encodeBmp({
      width: 2,
      height: 2,
      bpp: 32,
      headerSize: 124,
      compression: 3,
      masks: [0x000000ff, 0x0000ff00, 0x00ff0000, 0xff000000],
      values,
    });
    const img = decodeBmp(file);
    expect(img.channels).toBe(4);
    expect(Array.from(img.data)).toEqual([10, 20, 30, 255, 255, 0, 0, 128, 0, 0, 255, 0, 0, 255, 0, 64]);
  });

  it('32-bit with an alpha mask but alpha 0 everywhere is treated as opaque (3 channels)', () => {
    const values = Uint32Array.from([0x00ff0000, 0x0000ff00, 0x000000ff, 0x00102030]);
    const file = encodeBmp({
      width: 2,
      height: 2,
      bpp: 32,
      headerSize: 108,
      compression: 3,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      values,
    });
    const img = decodeBmp(file);
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, 0x10, 0x20, 0x30]);
  });

  it('32-bit BI_ALPHABITFIELDS with masks after a 40-byte header', () => {
    const values = Uint32Array.from([0x80ff0000, 0xff00ff00]);
    const file = encodeBmp({
      width: 2,
      height: 1,
      bpp: 32,
      compression: 6,
      masks: [0x00ff0000, 0x0000ff00, 0x000000ff, 0xff000000],
      values,
    });
    const img = decodeBmp(file);
    expect(img.channels).toBe(4);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 128, 0, 255, 0, 255]);
  });

  it('16-bit BI_RGB is X1R5G5B5, 5 bits scaled to the full 0..255 range', () => {
    const px = (r: number, g: number, b: number): number => (r << 10) | (g << 5) | b;
    const values = Uint32Array.from([px(31, 0, 0), px(0, 31, 0), px(0, 0, 31), px(16, 8, 1), px(31, 31, 31), 0]);
    const img = decodeBmp(encodeBmp({ width: 3, height: 2, bpp: 16, values }));
    expect(img.channels).toBe(3);
    const s = (v: number): number => Math.round((v * 255) / 31);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, s(16), s(8), s(1), 255, 255, 255, 0, 0, 0]);
  });

  it('16-bit BI_BITFIELDS R5G6B5 (masks after a 40-byte header)', () => {
    const px = (r: number, g: number, b: number): number => (r << 11) | (g << 5) | b;
    const values = Uint32Array.from([px(31, 0, 0), px(0, 63, 0), px(0, 0, 31), px(10, 32, 20), px(31, 63, 31)]);
    const file = encodeBmp({ width: 5, height: 1, bpp: 16, compression: 3, masks: [0xf800, 0x07e0, 0x001f, 0], values });
    const img = decodeBmp(file);
    const s5 = (v: number): number => Math.round((v * 255) / 31);
    const s6 = (v: number): number => Math.round((v * 255) / 63);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 0, 255, 0, 0, 0, 255, s5(10), s6(32), s5(20), 255, 255, 255]);
  });

  it('16-bit A1R5G5B5 bitfields (V3 header) → RGBA', () => {
    const values = Uint32Array.from([0x8000 | (31 << 10), 31]); // opaque red, transparent blue
    const file = encodeBmp({
      width: 2,
      height: 1,
      bpp: 16,
      headerSize: 56,
      compression: 3,
      masks: [0x7c00, 0x03e0, 0x001f, 0x8000],
      values,
    });
    const img = decodeBmp(file);
    expect(img.channels).toBe(4);
    expect(Array.from(img.data)).toEqual([255, 0, 0, 255, 0, 0, 255, 0]);
  });

  it('8-bit colour palette → RGB', () => {
    const w = 9;
    const h = 4;
    const idx = indexPattern(w, h, COLOR_PALETTE.length);
    const img = decodeBmp(encodeBmp({ width: w, height: h, bpp: 8, palette: COLOR_PALETTE, indices: idx }));
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, COLOR_PALETTE)));
  });

  it('8-bit grey palette → 1 channel', () => {
    const pal = Array.from({ length: 256 }, (_, i) => [i, i, i] as [number, number, number]);
    const w = 10;
    const h = 3;
    const idx = new Uint8Array(w * h).map((_, i) => (i * 23) & 255);
    const file = encodeBmp({ width: w, height: h, bpp: 8, palette: pal, indices: idx });
    expect(readBmpHeader(file).channels).toBe(1);
    const img = decodeBmp(file);
    expect(img.channels).toBe(1);
    expect(Array.from(img.data)).toEqual(Array.from(idx));
  });

  it('8-bit palette with a core header (RGBTRIPLE entries)', () => {
    const idx = indexPattern(5, 5, 16);
    const img = decodeBmp(encodeBmp({ width: 5, height: 5, bpp: 8, headerSize: 12, palette: COLOR_PALETTE, indices: idx }));
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, COLOR_PALETTE)));
  });

  it('4-bit palette, odd width', () => {
    const w = 7;
    const h = 3;
    const idx = indexPattern(w, h, 16);
    const img = decodeBmp(encodeBmp({ width: w, height: h, bpp: 4, palette: COLOR_PALETTE, indices: idx }));
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, COLOR_PALETTE)));
  });

  it('2-bit palette', () => {
    const pal = COLOR_PALETTE.slice(0, 4);
    const idx = indexPattern(11, 2, 4);
    const img = decodeBmp(encodeBmp({ width: 11, height: 2, bpp: 2, palette: pal, indices: idx }));
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, pal)));
  });

  it('1-bit black/white, width 13 (not a multiple of 8) → grey', () => {
    const w = 13;
    const h = 5;
    const idx = new Uint8Array(w * h).map((_, i) => ((i % w) + Math.floor(i / w)) & 1);
    const file = encodeBmp({ width: w, height: h, bpp: 1, palette: [[0, 0, 0], [255, 255, 255]], indices: idx });
    const img = decodeBmp(file);
    expect(img.channels).toBe(1);
    expect(Array.from(img.data)).toEqual(Array.from(idx, (v) => v * 255));
  });

  it('1-bit with a two-colour palette → RGB', () => {
    const idx = Uint8Array.from([0, 1, 1, 0, 1, 0, 0, 1]);
    const pal: Array<[number, number, number]> = [[255, 0, 0], [0, 0, 255]];
    const img = decodeBmp(encodeBmp({ width: 4, height: 2, bpp: 1, palette: pal, indices: idx, topDown: true }));
    expect(img.channels).toBe(3);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, pal)));
  });

  it('a palette shorter than 2^bpp (colorsUsed) works as long as indices stay inside it', () => {
    const pal = COLOR_PALETTE.slice(0, 3);
    const idx = indexPattern(6, 2, 3);
    const img = decodeBmp(encodeBmp({ width: 6, height: 2, bpp: 8, palette: pal, indices: idx }));
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, pal)));
  });
});

describe('decodeBmp: RLE', () => {
  it('RLE8 (runs + absolute mode), bottom-up', () => {
    const w = 20;
    const h = 6;
    const idx = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) idx[y * w + x] = x < 8 ? y % 16 : (x * 3 + y) % 16;
    }
    const file = encodeBmp({ width: w, height: h, bpp: 8, compression: 1, palette: COLOR_PALETTE, indices: idx });
    expect(readBmpHeader(file).compression).toBe('BI_RLE8');
    const img = decodeBmp(file);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, COLOR_PALETTE)));
  });

  it('RLE8 delta and early end-of-bitmap leave skipped pixels at palette index 0', () => {
    // 4×3, bottom-up. Stored row 0 (bottom): run of 4 × index 1. Then EOL.
    // Stored row 1 (middle): 1 × index 2, delta (+2, +0), 1 × index 3, EOL.
    // Stored row 2 (top): delta (+1, +0) then end of bitmap.
    const pixelData = Uint8Array.from([4, 1, 0, 0, 1, 2, 0, 2, 2, 0, 1, 3, 0, 0, 0, 2, 1, 0, 0, 1]);
    const pal = COLOR_PALETTE.slice(0, 4);
    const img = decodeBmp(encodeBmp({ width: 4, height: 3, bpp: 8, compression: 1, palette: pal, pixelData }));
    const expected = Uint8Array.from([0, 0, 0, 0, 2, 0, 0, 3, 1, 1, 1, 1]);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(expected, pal)));
  });

  it('RLE4 runs', () => {
    const w = 9;
    const h = 4;
    const idx = new Uint8Array(w * h).map((_, i) => (Math.floor((i % w) / 3) + Math.floor(i / w)) % 16);
    const file = encodeBmp({ width: w, height: h, bpp: 4, compression: 2, palette: COLOR_PALETTE, indices: idx });
    const img = decodeBmp(file);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(idx, COLOR_PALETTE)));
  });

  it('RLE4 alternating-nibble runs and absolute mode', () => {
    // 8×1: run of 5 pixels of 0x12 → 1,2,1,2,1; then absolute 3 pixels 0x34 0x50 → 3,4,5 (2 bytes, even: no pad); EOB
    const pixelData = Uint8Array.from([5, 0x12, 0, 3, 0x34, 0x50, 0, 1]);
    const img = decodeBmp(encodeBmp({ width: 8, height: 1, bpp: 4, compression: 2, palette: COLOR_PALETTE, pixelData }));
    const expected = Uint8Array.from([1, 2, 1, 2, 1, 3, 4, 5]);
    expect(Array.from(img.data)).toEqual(Array.from(expectedFromPalette(expected, COLOR_PALETTE)));
  });

  it('RLE8 data that stops mid-image is IMAGE_CORRUPT', () => {
    const idx = indexPattern(10, 10, 16);
    const file = encodeBmp({ width: 10, height: 10, bpp: 8, compression: 1, palette: COLOR_PALETTE, indices: idx });
    const cut = file.subarray(0, file.length - 30);
    expectKensa(() => decodeBmp(cut, 'cut.bmp'), 'IMAGE_CORRUPT', /cut\.bmp: BMP RLE8 pixel data truncated at row/);
  });
});

describe('decodeBmp: errors', () => {
  const good = (): Buffer => encodeBmp({ width: 100, height: 100, bpp: 24, rgb: pattern(100, 100) });

  it('bad magic', () => {
    const f = good();
    f.write('XX', 0, 'ascii');
    expectKensa(() => decodeBmp(f, 'x.bmp'), 'IMAGE_CORRUPT', /x\.bmp: not a BMP file/);
  });

  it('truncated file header / info header', () => {
    const f = good();
    expectKensa(() => decodeBmp(f.subarray(0, 10)), 'IMAGE_CORRUPT', /file header truncated/);
    expectKensa(() => decodeBmp(f.subarray(0, 30)), 'IMAGE_CORRUPT', /info header truncated: needs 54 bytes, file has 30/);
  });

  it('truncated pixel data says how much was expected', () => {
    const f = good(); // 100 px * 3 = 300 bytes per row, no padding → 30000 bytes
    const err = expectKensa(() => decodeBmp(f.subarray(0, 54 + 1200), 'half.bmp'), 'IMAGE_CORRUPT');
    expect(err.message).toBe('half.bmp: BMP pixel data truncated: expected 30000 bytes of pixel data, file has 1200');
    expect(err.file).toBe('half.bmp');
  });

  it('the last row may lack its padding', () => {
    const rgb = pattern(5, 2);
    const f = encodeBmp({ width: 5, height: 2, bpp: 24, rgb });
    expect(Array.from(decodeBmp(f.subarray(0, f.length - 1)).data)).toEqual(Array.from(rgb));
  });

  it('zero or negative width, zero height', () => {
    const f = good();
    f.writeInt32LE(0, 18);
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /width is 0/);
    f.writeInt32LE(-5, 18);
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /width is -5/);
    const g = good();
    g.writeInt32LE(0, 22);
    expectKensa(() => decodeBmp(g), 'IMAGE_CORRUPT', /height is 0/);
  });

  it('absurd dimensions are corrupt; merely large ones are over the pixel limit, checked before allocating', () => {
    const f = good();
    f.writeInt32LE(2_000_000_000, 18);
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /absurd/);
    const g = good();
    g.writeInt32LE(30000, 18);
    g.writeInt32LE(30000, 22);
    expectKensa(() => decodeBmp(g, 'big.bmp'), 'IMAGE_TOO_LARGE', /big\.bmp: 30000×30000 px is over the 268 MP limit/);
    expect(readBmpHeader(g)).toMatchObject({ width: 30000, height: 30000 });
    expectKensa(() => decodeBmp(good(), 'x.bmp', { maxPixels: 5000 }), 'IMAGE_TOO_LARGE');
  });

  it('palette index out of range', () => {
    const pal = COLOR_PALETTE.slice(0, 4);
    const idx = Uint8Array.from([0, 1, 2, 3, 0, 1, 9, 3]);
    const f = encodeBmp({ width: 4, height: 2, bpp: 8, palette: pal, indices: idx, topDown: true });
    expectKensa(
      () => decodeBmp(f, 'p.bmp'),
      'IMAGE_CORRUPT',
      /p\.bmp: BMP palette index 9 at pixel \(2, 1\) is out of range: the palette has 4 entries/,
    );
  });

  it('truncated palette', () => {
    const f = encodeBmp({ width: 4, height: 2, bpp: 8, palette: COLOR_PALETTE, indices: new Uint8Array(8) });
    expectKensa(() => decodeBmp(f.subarray(0, 54 + 20)), 'IMAGE_CORRUPT', /palette truncated/);
  });

  it('pixel offset past the end of the file', () => {
    const f = good();
    f.writeUInt32LE(f.length + 10, 10);
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /pixel data should start at byte/);
  });

  it('unknown header size and invalid bit depth', () => {
    const f = good();
    f.writeUInt32LE(7, 14);
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /header size 7/);
    const g = good();
    g.writeUInt16LE(7, 28);
    expectKensa(() => decodeBmp(g), 'IMAGE_CORRUPT', /bit depth 7/);
  });

  it('non-contiguous bit masks', () => {
    const f = encodeBmp({
      width: 1,
      height: 1,
      bpp: 16,
      compression: 3,
      masks: [0xf00f, 0x00f0, 0x0f00, 0],
      values: Uint32Array.from([0]),
    });
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /red bit mask 0x0000f00f is not a contiguous/);
  });

  it('BI_JPEG, BI_PNG, CMYK and 64-bit are unsupported, not corrupt', () => {
    for (const [compression, re] of [
      [4, /embedded JPEG/],
      [5, /embedded PNG/],
      [11, /BI_CMYK/],
    ] as const) {
      const f = encodeBmp({ width: 2, height: 2, bpp: 24, compression, pixelData: new Uint8Array(16) });
      expectKensa(() => decodeBmp(f, 'u.bmp'), 'IMAGE_UNSUPPORTED_FORMAT', re);
    }
    const g = encodeBmp({ width: 1, height: 1, bpp: 24, pixelData: new Uint8Array(8) });
    g.writeUInt16LE(64, 28);
    expectKensa(() => decodeBmp(g), 'IMAGE_UNSUPPORTED_FORMAT', /64-bit/);
  });

  it('RLE8 compression with the wrong bit depth', () => {
    const f = encodeBmp({ width: 2, height: 2, bpp: 24, compression: 1, pixelData: new Uint8Array(4) });
    expectKensa(() => decodeBmp(f), 'IMAGE_CORRUPT', /RLE8 needs 8/);
  });

  it('every prefix of a valid file fails cleanly (KensaError, never a crash)', () => {
    const files = [
      encodeBmp({ width: 9, height: 7, bpp: 24, rgb: pattern(9, 7) }),
      encodeBmp({ width: 9, height: 7, bpp: 8, compression: 1, palette: COLOR_PALETTE, indices: indexPattern(9, 7, 16) }),
      encodeBmp({ width: 9, height: 7, bpp: 4, palette: COLOR_PALETTE, indices: indexPattern(9, 7, 16) }),
      encodeBmp({
        width: 9,
        height: 7,
        bpp: 32,
        headerSize: 124,
        compression: 3,
        masks: [0xff0000, 0xff00, 0xff, 0xff000000],
        values: new Uint32Array(63).fill(0xff102030),
      }),
    ];
    for (const f of files) {
      for (let n = 0; n < f.length - 1; n++) {
        try {
          decodeBmp(f.subarray(0, n));
        } catch (e) {
          expect(e).toBeInstanceOf(KensaError);
          expect((e as KensaError).code).toBe('IMAGE_CORRUPT');
        }
      }
    }
  });
});
