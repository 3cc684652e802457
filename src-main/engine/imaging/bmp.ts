/**
 * BMP decoder (sharp/libvips cannot read BMP). Turns the bytes of a Windows/OS/2 bitmap into
 * interleaved 8-bit pixels, TOP-DOWN, row-major, no row padding:
 *   data[(y * width + x) * channels + c]
 * with channels = 1 (grey: a palette image whose palette is all grey), 3 (RGB) or 4 (RGBA: 16/32-bit
 * bitfield images whose alpha mask is non-zero).
 *
 * Supported: BITMAPCOREHEADER (12), OS/2 2.x (16..64), BITMAPINFOHEADER (40), V2 (52), V3 (56),
 * V4 (108), V5 (124); 1/2/4/8-bit palettes, 16-bit (X1R5G5B5 by default, or BI_BITFIELDS masks such as
 * R5G6B5), 24-bit BGR, 32-bit (BI_RGB = BGRx, alpha ignored; BI_BITFIELDS / BI_ALPHABITFIELDS masks);
 * bottom-up and top-down (negative height) row order; RLE8 and RLE4.
 * Not supported (IMAGE_UNSUPPORTED_FORMAT): embedded JPEG/PNG, CMYK, OS/2 Huffman/RLE24, 64-bit.
 *
 * Every offset and length is checked against the buffer before it is read, and the pixel count is
 * checked against a limit before anything is allocated; a malformed file is an IMAGE_CORRUPT
 * KensaError whose message says what is wrong.
 */
import { KensaError } from '../errors';

export interface BmpImage {
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  /** width*height*channels bytes, interleaved, top-down. */
  data: Uint8Array;
}

/** What the headers (and palette) say, without decoding a pixel. */
export interface BmpHeader {
  width: number;
  height: number;
  bitsPerPixel: number;
  /** 'BI_RGB' | 'BI_RLE8' | 'BI_RLE4' | 'BI_BITFIELDS' | 'BI_ALPHABITFIELDS' */
  compression: string;
  topDown: boolean;
  /** Channels decodeBmp will emit (a 32-bit image whose alpha is all zero decodes to 3). */
  channels: 1 | 3 | 4;
  /** Size of the DIB header: 12 core, 40 info, 52/56 V2/V3, 108 V4, 124 V5, 16..64 OS/2 2.x. */
  headerSize: number;
}

export interface DecodeBmpOptions {
  /** Largest width*height accepted (IMAGE_TOO_LARGE above it). Default 16384*16384. */
  maxPixels?: number;
}

export const BMP_DEFAULT_MAX_PIXELS = 16384 * 16384;
/** A side longer than this cannot come from a real bitmap: the header is garbage. */
const MAX_SIDE = 10_000_000;

const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_JPEG = 4;
const BI_PNG = 5;
const BI_ALPHABITFIELDS = 6;

const COMPRESSION_NAMES: Record<number, string> = {
  0: 'BI_RGB',
  1: 'BI_RLE8',
  2: 'BI_RLE4',
  3: 'BI_BITFIELDS',
  4: 'BI_JPEG',
  5: 'BI_PNG',
  6: 'BI_ALPHABITFIELDS',
  11: 'BI_CMYK',
  12: 'BI_CMYKRLE8',
  13: 'BI_CMYKRLE4',
};

/** "268 MP limit" / "4.2 MP limit" / "4000-pixel limit": a pixel budget in words, for messages. */
export function describePixelLimit(maxPixels: number): string {
  if (maxPixels < 1e6) return `${maxPixels}-pixel limit`;
  const mp = maxPixels / 1e6;
  return `${mp >= 10 ? Math.round(mp) : Math.round(mp * 10) / 10} MP limit`;
}

/** True when the buffer starts with the BMP signature "BM". */
export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** One colour channel of a bitfield pixel: (pixel & mask) >>> shift, scaled from `bits` bits to 8. */
interface Field {
  mask: number;
  shift: number;
  bits: number;
  /** value → 8-bit, for bits <= 16; null for wider fields (scaled by shifting). */
  lut: Uint8Array | null;
}

interface Parsed extends BmpHeader {
  pixelOffset: number;
  /** Palette as RGB triplets (bpp <= 8 only), and its entry count. */
  palette: Uint8Array | null;
  paletteSize: number;
  fields: { r: Field; g: Field; b: Field; a: Field | null } | null;
}

function prefix(file: string | undefined): string {
  return file ? `${file}: ` : '';
}

function corrupt(file: string | undefined, message: string): KensaError {
  return new KensaError('IMAGE_CORRUPT', prefix(file) + message, file === undefined ? {} : { file });
}

function unsupported(file: string | undefined, message: string): KensaError {
  return new KensaError('IMAGE_UNSUPPORTED_FORMAT', prefix(file) + message, file === undefined ? {} : { file });
}

function makeField(mask: number, what: string, file: string | undefined): Field {
  mask = mask >>> 0;
  if (mask === 0) return { mask: 0, shift: 0, bits: 0, lut: null };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const m = mask >>> shift;
  let bits = 0;
  while (bits < 32 && (m >>> bits) & 1) bits++;
  if (bits < 32 && m >>> bits !== 0) {
    throw corrupt(file, `BMP ${what} bit mask 0x${mask.toString(16).padStart(8, '0')} is not a contiguous run of bits`);
  }
  let lut: Uint8Array | null = null;
  if (bits <= 16) {
    const max = 2 ** bits - 1;
    lut = new Uint8Array(max + 1);
    for (let v = 0; v <= max; v++) lut[v] = Math.round((v * 255) / max);
  }
  return { mask, shift, bits, lut };
}

function fieldValue(f: Field, px: number): number {
  if (f.bits === 0) return 0;
  const v = (px & f.mask) >>> f.shift;
  return f.lut !== null ? f.lut[v] : v >>> (f.bits - 8);
}

function parse(buf: Uint8Array, file: string | undefined): Parsed {
  if (!isBmp(buf)) throw corrupt(file, 'not a BMP file (missing "BM" signature)');
  if (buf.length < 18) throw corrupt(file, `BMP file header truncated: file has only ${buf.length} bytes`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pixelOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);

  const isCore = headerSize === 12;
  if (!isCore && (headerSize < 16 || headerSize > 1024)) {
    throw corrupt(file, `BMP info header size ${headerSize} is not a known BMP variant`);
  }
  if (buf.length < 14 + headerSize) {
    throw corrupt(file, `BMP info header truncated: needs ${14 + headerSize} bytes, file has ${buf.length}`);
  }
  // Headers of 16..64 bytes other than 40/52/56 are OS/2 2.x; its compression codes 3/4 mean Huffman/RLE24.
  const isOs2 = !isCore && headerSize !== 40 && headerSize !== 52 && headerSize !== 56 && headerSize <= 64;

  let width: number;
  let rawHeight: number;
  let bpp: number;
  let compression = BI_RGB;
  let colorsUsed = 0;
  if (isCore) {
    width = dv.getUint16(18, true);
    rawHeight = dv.getUint16(20, true);
    bpp = dv.getUint16(24, true);
  } else {
    width = dv.getInt32(18, true);
    rawHeight = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    if (headerSize >= 20) compression = dv.getUint32(30, true);
    if (headerSize >= 36) colorsUsed = dv.getUint32(46, true);
  }

  if (width <= 0) throw corrupt(file, `BMP width is ${width}; it must be positive`);
  if (rawHeight === 0) throw corrupt(file, 'BMP height is 0');
  const topDown = rawHeight < 0;
  const height = Math.abs(rawHeight);
  if (width > MAX_SIDE || height > MAX_SIDE) {
    throw corrupt(file, `BMP header claims ${width}×${height} px, which is absurd: the header is corrupt`);
  }

  // Compression vs. bit depth.
  const compName = COMPRESSION_NAMES[compression] ?? `compression type ${compression}`;
  if (isOs2 && (compression === 3 || compression === 4)) {
    throw unsupported(file, `OS/2 BMP ${compression === 3 ? 'Huffman 1D' : 'RLE24'} compression is not supported`);
  }
  if (compression === BI_JPEG || compression === BI_PNG) {
    throw unsupported(file, `BMP with embedded ${compression === BI_JPEG ? 'JPEG' : 'PNG'} data (${compName}) is not supported`);
  }
  if (![BI_RGB, BI_RLE8, BI_RLE4, BI_BITFIELDS, BI_ALPHABITFIELDS].includes(compression)) {
    throw unsupported(file, `BMP ${compName} is not supported`);
  }
  if (bpp === 64) throw unsupported(file, '64-bit BMP is not supported');
  if (![1, 2, 4, 8, 16, 24, 32].includes(bpp)) throw corrupt(file, `BMP bit depth ${bpp} is not valid`);
  if (compression === BI_RLE8 && bpp !== 8) throw corrupt(file, `BMP is ${compName} but ${bpp} bits per pixel (RLE8 needs 8)`);
  if (compression === BI_RLE4 && bpp !== 4) throw corrupt(file, `BMP is ${compName} but ${bpp} bits per pixel (RLE4 needs 4)`);
  if ((compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) && bpp !== 16 && bpp !== 32) {
    throw corrupt(file, `BMP is ${compName} but ${bpp} bits per pixel (bit fields need 16 or 32)`);
  }

  // Bit masks: inside V2+ headers, or right after a 40-byte header.
  let extraMaskBytes = 0;
  let fields: Parsed['fields'] = null;
  if (bpp === 16 || bpp === 32) {
    let r = bpp === 16 ? 0x7c00 : 0x00ff0000;
    let g = bpp === 16 ? 0x03e0 : 0x0000ff00;
    let b = bpp === 16 ? 0x001f : 0x000000ff;
    let a = 0;
    if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
      let at: number;
      if (headerSize >= 52) {
        at = 14 + 40;
        if (headerSize >= 56) a = dv.getUint32(at + 12, true);
      } else {
        at = 14 + headerSize;
        extraMaskBytes = compression === BI_ALPHABITFIELDS ? 16 : 12;
        if (buf.length < at + extraMaskBytes) {
          throw corrupt(file, `BMP bit masks truncated: need ${at + extraMaskBytes} bytes, file has ${buf.length}`);
        }
        if (compression === BI_ALPHABITFIELDS) a = dv.getUint32(at + 12, true);
      }
      const mr = dv.getUint32(at, true);
      const mg = dv.getUint32(at + 4, true);
      const mb = dv.getUint32(at + 8, true);
      // All-zero colour masks are written by some encoders meaning "the default layout".
      if (mr !== 0 || mg !== 0 || mb !== 0) {
        r = mr;
        g = mg;
        b = mb;
      }
    }
    fields = {
      r: makeField(r, 'red', file),
      g: makeField(g, 'green', file),
      b: makeField(b, 'blue', file),
      a: a === 0 ? null : makeField(a, 'alpha', file),
    };
  }

  // Palette (RGBQUAD, or RGBTRIPLE for core headers).
  const paletteStart = 14 + headerSize + extraMaskBytes;
  const entrySize = isCore ? 3 : 4;
  let palette: Uint8Array | null = null;
  let paletteSize = 0;
  let grey = false;
  if (bpp <= 8) {
    const maxEntries = 1 << bpp;
    let n = colorsUsed === 0 || colorsUsed > maxEntries ? maxEntries : colorsUsed;
    // Some writers store fewer entries than 2^bpp with colorsUsed = 0: the pixel offset tells.
    if (pixelOffset > paletteStart) n = Math.min(n, Math.floor((pixelOffset - paletteStart) / entrySize));
    if (n <= 0) throw corrupt(file, `BMP is ${bpp}-bit but has no palette`);
    if (buf.length < paletteStart + n * entrySize) {
      throw corrupt(file, `BMP palette truncated: ${n} entries need ${paletteStart + n * entrySize} bytes, file has ${buf.length}`);
    }
    palette = new Uint8Array(n * 3);
    grey = true;
    for (let i = 0; i < n; i++) {
      const o = paletteStart + i * entrySize;
      const pb = buf[o];
      const pg = buf[o + 1];
      const pr = buf[o + 2];
      palette[i * 3] = pr;
      palette[i * 3 + 1] = pg;
      palette[i * 3 + 2] = pb;
      if (pr !== pg || pg !== pb) grey = false;
    }
    paletteSize = n;
  }

  if (pixelOffset === 0) pixelOffset = paletteStart + paletteSize * entrySize; // lenient: offset not filled in
  if (pixelOffset < 14 + headerSize) {
    throw corrupt(file, `BMP pixel data offset ${pixelOffset} points inside the ${headerSize}-byte header`);
  }
  if (pixelOffset > buf.length) {
    throw corrupt(file, `BMP pixel data truncated: pixel data should start at byte ${pixelOffset}, file has ${buf.length} bytes`);
  }

  const channels: 1 | 3 | 4 = bpp <= 8 ? (grey ? 1 : 3) : fields?.a ? 4 : 3;
  return {
    width,
    height,
    bitsPerPixel: bpp,
    compression: compName,
    topDown,
    channels,
    headerSize,
    pixelOffset,
    palette,
    paletteSize,
    fields,
  };
}

/** Parses and validates the headers and palette only (cheap; for probing and limit checks). */
export function readBmpHeader(buf: Uint8Array, file?: string): BmpHeader {
  const p = parse(buf, file);
  return {
    width: p.width,
    height: p.height,
    bitsPerPixel: p.bitsPerPixel,
    compression: p.compression,
    topDown: p.topDown,
    channels: p.channels,
    headerSize: p.headerSize,
  };
}

/** Decodes a whole BMP file. Throws KensaError (IMAGE_CORRUPT / IMAGE_UNSUPPORTED_FORMAT / IMAGE_TOO_LARGE). */
export function decodeBmp(buf: Uint8Array, file?: string, opts: DecodeBmpOptions = {}): BmpImage {
  const p = parse(buf, file);
  const { width: w, height: h } = p;
  const maxPixels = opts.maxPixels ?? BMP_DEFAULT_MAX_PIXELS;
  if (w * h > maxPixels) {
    throw new KensaError(
      'IMAGE_TOO_LARGE',
      `${prefix(file)}${w}×${h} px is over the ${describePixelLimit(maxPixels)}`,
      file === undefined ? {} : { file },
    );
  }

  if (p.bitsPerPixel <= 8) {
    const indices =
      p.compression === 'BI_RLE8' || p.compression === 'BI_RLE4'
        ? decodeRle(buf, p, file)
        : unpackIndices(buf, p, file);
    return applyPalette(indices, p, file);
  }
  if (p.bitsPerPixel === 24) return decode24(buf, p, file);
  return decodeBitfields(buf, p, file);
}

/** Bytes per stored row: ceil(width*bpp/8) rounded up to a multiple of 4. */
function rowStride(w: number, bpp: number): number {
  return Math.floor((w * bpp + 31) / 32) * 4;
}

/** Checks that the uncompressed pixel array fits in the file (the last row may lack its padding). */
function checkUncompressedLength(buf: Uint8Array, p: Parsed, file: string | undefined): number {
  const stride = rowStride(p.width, p.bitsPerPixel);
  const expected = stride * p.height;
  const minimal = stride * (p.height - 1) + Math.ceil((p.width * p.bitsPerPixel) / 8);
  const available = buf.length - p.pixelOffset;
  if (available < minimal) {
    throw corrupt(file, `BMP pixel data truncated: expected ${expected} bytes of pixel data, file has ${available}`);
  }
  return stride;
}

/** File offset of the stored row that holds output row y (0 = top). */
function rowOffset(p: Parsed, stride: number, y: number): number {
  return p.pixelOffset + (p.topDown ? y : p.height - 1 - y) * stride;
}

/** 1/2/4/8-bit uncompressed → palette indices, top-down. */
function unpackIndices(buf: Uint8Array, p: Parsed, file: string | undefined): Uint8Array {
  const { width: w, height: h, bitsPerPixel: bpp } = p;
  const stride = checkUncompressedLength(buf, p, file);
  const out = new Uint8Array(w * h);
  const perByte = 8 / bpp;
  const mask = (1 << bpp) - 1;
  for (let y = 0; y < h; y++) {
    const src = rowOffset(p, stride, y);
    const dst = y * w;
    if (bpp === 8) {
      out.set(buf.subarray(src, src + w), dst);
      continue;
    }
    for (let x = 0; x < w; x++) {
      const byte = buf[src + Math.floor(x / perByte)];
      const shift = 8 - bpp * ((x % perByte) + 1);
      out[dst + x] = (byte >>> shift) & mask;
    }
  }
  return out;
}

/** RLE8/RLE4 → palette indices, top-down. Pixels the stream skips (delta, early end) get index 0. */
function decodeRle(buf: Uint8Array, p: Parsed, file: string | undefined): Uint8Array {
  const { width: w, height: h } = p;
  const rle4 = p.compression === 'BI_RLE4';
  const kind = rle4 ? 'RLE4' : 'RLE8';
  const out = new Uint8Array(w * h);
  const end = buf.length;
  let pos = p.pixelOffset;
  let x = 0;
  let y = 0; // stored-row counter: 0 = first row in the file (the bottom one for bottom-up files)
  const outRow = (yy: number): number => (p.topDown ? yy : h - 1 - yy) * w;
  const truncated = (): KensaError =>
    corrupt(file, `BMP ${kind} pixel data truncated at row ${y + 1} of ${h} (file has ${end} bytes)`);

  for (;;) {
    if (y >= h) break;
    if (pos + 2 > end) {
      if (y === h - 1 && x >= w) break; // last row complete, end-of-bitmap marker missing: accept
      throw truncated();
    }
    const count = buf[pos];
    const value = buf[pos + 1];
    pos += 2;
    if (count > 0) {
      // Encoded run: `count` pixels of `value` (RLE4: alternating high and low nibble).
      const row = outRow(y);
      const n = Math.min(count, w - x);
      if (rle4) {
        const hi = value >>> 4;
        const lo = value & 0x0f;
        for (let k = 0; k < n; k++) out[row + x + k] = k & 1 ? lo : hi;
      } else if (n > 0) {
        out.fill(value, row + x, row + x + n);
      }
      x += count;
    } else if (value === 0) {
      x = 0; // end of line
      y++;
    } else if (value === 1) {
      break; // end of bitmap
    } else if (value === 2) {
      if (pos + 2 > end) throw truncated();
      x += buf[pos];
      y += buf[pos + 1];
      pos += 2;
    } else {
      // Absolute mode: `value` literal pixels, padded to a 16-bit boundary.
      const nBytes = rle4 ? (value + 1) >>> 1 : value;
      if (pos + nBytes > end) throw truncated();
      const row = outRow(y);
      const n = Math.min(value, w - x);
      for (let k = 0; k < n; k++) {
        out[row + x + k] = rle4 ? (k & 1 ? buf[pos + (k >>> 1)] & 0x0f : buf[pos + (k >>> 1)] >>> 4) : buf[pos + k];
      }
      x += value;
      pos = Math.min(end, pos + nBytes + (nBytes & 1));
    }
  }
  return out;
}

function applyPalette(indices: Uint8Array, p: Parsed, file: string | undefined): BmpImage {
  const { width: w, height: h, paletteSize: n } = p;
  const pal = p.palette as Uint8Array;
  const check = (i: number): never => {
    const idx = indices[i];
    throw corrupt(
      file,
      `BMP palette index ${idx} at pixel (${i % w}, ${Math.floor(i / w)}) is out of range: the palette has ${n} entries`,
    );
  };
  if (p.channels === 1) {
    const data = new Uint8Array(w * h);
    for (let i = 0; i < indices.length; i++) {
      const idx = indices[i];
      if (idx >= n) check(i);
      data[i] = pal[idx * 3];
    }
    return { width: w, height: h, channels: 1, data };
  }
  const data = new Uint8Array(w * h * 3);
  for (let i = 0, o = 0; i < indices.length; i++, o += 3) {
    const idx = indices[i];
    if (idx >= n) check(i);
    data[o] = pal[idx * 3];
    data[o + 1] = pal[idx * 3 + 1];
    data[o + 2] = pal[idx * 3 + 2];
  }
  return { width: w, height: h, channels: 3, data };
}

function decode24(buf: Uint8Array, p: Parsed, file: string | undefined): BmpImage {
  const { width: w, height: h } = p;
  const stride = checkUncompressedLength(buf, p, file);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    let s = rowOffset(p, stride, y);
    let o = y * w * 3;
    for (let x = 0; x < w; x++, s += 3, o += 3) {
      data[o] = buf[s + 2];
      data[o + 1] = buf[s + 1];
      data[o + 2] = buf[s];
    }
  }
  return { width: w, height: h, channels: 3, data };
}

/** 16- and 32-bit pixels through their bit masks (BI_RGB uses the default masks). */
function decodeBitfields(buf: Uint8Array, p: Parsed, file: string | undefined): BmpImage {
  const { width: w, height: h, bitsPerPixel: bpp } = p;
  const f = p.fields as NonNullable<Parsed['fields']>;
  const stride = checkUncompressedLength(buf, p, file);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const bytes = bpp / 8;
  const alpha = f.a;
  const ch = alpha ? 4 : 3;
  const data = new Uint8Array(w * h * ch);
  let anyAlpha = false;
  for (let y = 0; y < h; y++) {
    let s = rowOffset(p, stride, y);
    let o = y * w * ch;
    for (let x = 0; x < w; x++, s += bytes, o += ch) {
      const px = bpp === 16 ? dv.getUint16(s, true) : dv.getUint32(s, true);
      data[o] = fieldValue(f.r, px);
      data[o + 1] = fieldValue(f.g, px);
      data[o + 2] = fieldValue(f.b, px);
      if (alpha) {
        const a = fieldValue(alpha, px);
        data[o + 3] = a;
        if (a !== 0) anyAlpha = true;
      }
    }
  }
  if (alpha && !anyAlpha) {
    // An alpha mask whose alpha is zero everywhere is a writer quirk (BGRx saved as BGRA): opaque.
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0, o = 0; i < w * h; i++, o += 3) {
      rgb[o] = data[i * 4];
      rgb[o + 1] = data[i * 4 + 1];
      rgb[o + 2] = data[i * 4 + 2];
    }
    return { width: w, height: h, channels: 3, data: rgb };
  }
  return { width: w, height: h, channels: ch, data };
}
