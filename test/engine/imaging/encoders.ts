/**
 * Tiny image writers for the imaging tests, for files sharp cannot write (BMP, 16-bit TIFF) or that
 * must be byte-exact (16-bit PNG, a PNG header that lies about its size). Not a test file itself.
 *
 * Pixel inputs are top-down, row-major: indices[y*w+x], rgb[(y*w+x)*3+c], values[y*w+x].
 */
import zlib from 'node:zlib';

// ---------------------------------------------------------------------------------------------
// BMP

export interface BmpSpec {
  width: number;
  height: number;
  bpp: 1 | 2 | 4 | 8 | 16 | 24 | 32;
  /** 12 core, 40 info (default), 52 V2, 56 V3, 108 V4, 124 V5. */
  headerSize?: 12 | 40 | 52 | 56 | 108 | 124;
  /** 0 BI_RGB (default), 1 RLE8, 2 RLE4, 3 BITFIELDS, 6 ALPHABITFIELDS, or anything (4 JPEG, 5 PNG) for error tests. */
  compression?: number;
  topDown?: boolean;
  /** [r, g, b] entries, for bpp <= 8. */
  palette?: ReadonlyArray<readonly [number, number, number]>;
  /** Written to colorsUsed (default: palette length). */
  colorsUsed?: number;
  /** [r, g, b, a] bit masks for BITFIELDS (in a V2+ header, or after a 40-byte header). */
  masks?: readonly [number, number, number, number];
  /** bpp <= 8: palette indices (w*h). */
  indices?: Uint8Array;
  /** bpp 24: RGB bytes (w*h*3). */
  rgb?: Uint8Array;
  /** bpp 16/32: packed pixel values (w*h). */
  values?: Uint32Array;
  /** Raw pixel-data bytes to use instead of encoding (e.g. hand-written RLE). */
  pixelData?: Uint8Array;
}

/** Writes a BMP file exactly as specified (no validation: the tests also write bad ones). */
export function encodeBmp(s: BmpSpec): Buffer {
  const headerSize = s.headerSize ?? 40;
  const compression = s.compression ?? 0;
  const core = headerSize === 12;
  const palette = s.palette ?? [];
  const entry = core ? 3 : 4;
  const maskBytes = headerSize === 40 && (compression === 3 || compression === 6) ? (compression === 6 ? 16 : 12) : 0;
  const pixels = s.pixelData ?? encodePixels(s, compression);
  const pixelOffset = 14 + headerSize + maskBytes + palette.length * entry;
  const buf = Buffer.alloc(pixelOffset + pixels.length);
  buf.write('BM', 0, 'ascii');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(pixelOffset, 10);
  buf.writeUInt32LE(headerSize, 14);
  if (core) {
    buf.writeUInt16LE(s.width, 18);
    buf.writeUInt16LE(s.height, 20);
    buf.writeUInt16LE(1, 22);
    buf.writeUInt16LE(s.bpp, 24);
  } else {
    buf.writeInt32LE(s.width, 18);
    buf.writeInt32LE(s.topDown ? -s.height : s.height, 22);
    buf.writeUInt16LE(1, 26);
    buf.writeUInt16LE(s.bpp, 28);
    buf.writeUInt32LE(compression, 30);
    buf.writeUInt32LE(pixels.length, 34);
    buf.writeInt32LE(2835, 38);
    buf.writeInt32LE(2835, 42);
    buf.writeUInt32LE(s.colorsUsed ?? palette.length, 46);
    const masks = s.masks ?? [0, 0, 0, 0];
    if (headerSize >= 52) {
      buf.writeUInt32LE(masks[0] >>> 0, 54);
      buf.writeUInt32LE(masks[1] >>> 0, 58);
      buf.writeUInt32LE(masks[2] >>> 0, 62);
      if (headerSize >= 56) buf.writeUInt32LE(masks[3] >>> 0, 66);
      if (headerSize >= 108) buf.write('BGRs', 70, 'latin1'); // LCS_sRGB, stored little-endian
    } else if (maskBytes > 0) {
      for (let i = 0; i < maskBytes / 4; i++) buf.writeUInt32LE(masks[i] >>> 0, 54 + i * 4);
    }
  }
  const palStart = 14 + headerSize + maskBytes;
  palette.forEach(([r, g, b], i) => {
    buf[palStart + i * entry] = b;
    buf[palStart + i * entry + 1] = g;
    buf[palStart + i * entry + 2] = r;
  });
  buf.set(pixels, pixelOffset);
  return buf;
}

function encodePixels(s: BmpSpec, compression: number): Uint8Array {
  const { width: w, height: h, bpp } = s;
  if (compression === 1) return encodeRle8(w, h, s.indices!, !!s.topDown);
  if (compression === 2) return encodeRle4(w, h, s.indices!, !!s.topDown);
  const stride = Math.floor((w * bpp + 31) / 32) * 4;
  const out = Buffer.alloc(stride * h);
  for (let y = 0; y < h; y++) {
    const row = (s.topDown ? y : h - 1 - y) * stride;
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (bpp <= 8) {
        const bitPos = x * bpp;
        out[row + (bitPos >> 3)] |= s.indices![i] << (8 - bpp - (bitPos & 7));
      } else if (bpp === 24) {
        out[row + x * 3] = s.rgb![i * 3 + 2];
        out[row + x * 3 + 1] = s.rgb![i * 3 + 1];
        out[row + x * 3 + 2] = s.rgb![i * 3];
      } else if (bpp === 16) {
        out.writeUInt16LE(s.values![i], row + x * 2);
      } else {
        out.writeUInt32LE(s.values![i] >>> 0, row + x * 4);
      }
    }
  }
  return out;
}

/** RLE8: runs for repeats of >= 3, absolute mode for the rest; EOL after each row, EOB at the end. */
function encodeRle8(w: number, h: number, idx: Uint8Array, topDown: boolean): Uint8Array {
  const out: number[] = [];
  for (let r = 0; r < h; r++) {
    const y = topDown ? r : h - 1 - r;
    const row = idx.subarray(y * w, y * w + w);
    let x = 0;
    while (x < w) {
      let run = 1;
      while (x + run < w && run < 255 && row[x + run] === row[x]) run++;
      if (run >= 3 || w - x < 3) {
        out.push(run, row[x]);
        x += run;
        continue;
      }
      // literal stretch until the next run of 3 (at least 3 literals: 0,1,2 are escapes)
      let n = 0;
      while (x + n < w && n < 255) {
        if (x + n + 2 < w && row[x + n] === row[x + n + 1] && row[x + n] === row[x + n + 2]) break;
        n++;
      }
      if (n < 3) {
        for (let k = 0; k < n; k++) out.push(1, row[x + k]);
      } else {
        out.push(0, n, ...row.subarray(x, x + n));
        if (n & 1) out.push(0);
      }
      x += n;
    }
    out.push(0, 0);
  }
  out.push(0, 1);
  return Uint8Array.from(out);
}

/** RLE4: encoded runs of one colour only (count pixels, both nibbles equal), EOL per row, EOB. */
function encodeRle4(w: number, h: number, idx: Uint8Array, topDown: boolean): Uint8Array {
  const out: number[] = [];
  for (let r = 0; r < h; r++) {
    const y = topDown ? r : h - 1 - r;
    let x = 0;
    while (x < w) {
      let run = 1;
      while (x + run < w && run < 255 && idx[y * w + x + run] === idx[y * w + x]) run++;
      const v = idx[y * w + x];
      out.push(run, (v << 4) | v);
      x += run;
    }
    out.push(0, 0);
  }
  out.push(0, 1);
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------
// PNG

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0);
  b.write(type, 4, 'ascii');
  b.set(data, 8);
  b.writeUInt32BE(crc32(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function ihdr(w: number, h: number, bitDepth: number, colorType: number): Buffer {
  const d = Buffer.alloc(13);
  d.writeUInt32BE(w, 0);
  d.writeUInt32BE(h, 4);
  d[8] = bitDepth;
  d[9] = colorType;
  return pngChunk('IHDR', d);
}

/**
 * PNG with filter 0 on every row. colorType 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA; `samples` holds
 * w*h*channels values in 0..255 (8-bit) or 0..65535 (16-bit).
 */
export function encodePng(w: number, h: number, bitDepth: 8 | 16, colorType: 0 | 2 | 4 | 6, samples: ArrayLike<number>): Buffer {
  const ch = PNG_CHANNELS[colorType];
  const bps = bitDepth / 8;
  const rowLen = 1 + w * ch * bps;
  const raw = Buffer.alloc(rowLen * h);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < w * ch; i++) {
      const v = samples[y * w * ch + i];
      if (bitDepth === 16) raw.writeUInt16BE(v, y * rowLen + 1 + i * 2);
      else raw[y * rowLen + 1 + i] = v;
    }
  }
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(w, h, bitDepth, colorType),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** A valid-looking PNG that claims w×h RGB but carries only a few bytes of pixel data. */
export function pngClaimingSize(w: number, h: number): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE,
    ihdr(w, h, 8, 2),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// TIFF (16-bit, uncompressed, one strip, little-endian)

export function encodeTiff16(w: number, h: number, channels: 1 | 3, samples: ArrayLike<number>): Buffer {
  const dataLen = w * h * channels * 2;
  const tags: Array<[tag: number, type: number, count: number, value: number]> = [];
  const extra: Buffer[] = [];
  const nTags = 10;
  const ifdOffset = 8;
  const ifdLen = 2 + nTags * 12 + 4;
  let extraOffset = ifdOffset + ifdLen;
  let bitsValue = 16;
  if (channels === 3) {
    const b = Buffer.alloc(6);
    b.writeUInt16LE(16, 0);
    b.writeUInt16LE(16, 2);
    b.writeUInt16LE(16, 4);
    bitsValue = extraOffset;
    extra.push(b);
    extraOffset += 6;
  }
  const dataOffset = extraOffset;
  tags.push([256, 4, 1, w]); // ImageWidth
  tags.push([257, 4, 1, h]); // ImageLength
  tags.push([258, 3, channels, bitsValue]); // BitsPerSample
  tags.push([259, 3, 1, 1]); // Compression: none
  tags.push([262, 3, 1, channels === 3 ? 2 : 1]); // Photometric: RGB / BlackIsZero
  tags.push([273, 4, 1, dataOffset]); // StripOffsets
  tags.push([277, 3, 1, channels]); // SamplesPerPixel
  tags.push([278, 4, 1, h]); // RowsPerStrip
  tags.push([279, 4, 1, dataLen]); // StripByteCounts
  tags.push([284, 3, 1, 1]); // PlanarConfiguration: chunky
  const head = Buffer.alloc(ifdOffset + ifdLen);
  head.write('II', 0, 'ascii');
  head.writeUInt16LE(42, 2);
  head.writeUInt32LE(ifdOffset, 4);
  head.writeUInt16LE(nTags, ifdOffset);
  tags.forEach(([tag, type, count, value], i) => {
    const o = ifdOffset + 2 + i * 12;
    head.writeUInt16LE(tag, o);
    head.writeUInt16LE(type, o + 2);
    head.writeUInt32LE(count, o + 4);
    if (type === 3 && count === 1) head.writeUInt16LE(value, o + 8);
    else head.writeUInt32LE(value, o + 8);
  });
  head.writeUInt32LE(0, ifdOffset + 2 + nTags * 12); // no next IFD
  const data = Buffer.alloc(dataLen);
  for (let i = 0; i < w * h * channels; i++) data.writeUInt16LE(samples[i], i * 2);
  return Buffer.concat([head, ...extra, data]);
}
