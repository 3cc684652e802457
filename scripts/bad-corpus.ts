/**
 * Generates the malformed-input corpus (well over 100 files) that import must survive: each
 * bad file gets a specific per-file error and every good one is imported.
 *
 *   node bin/run-ts.mjs scripts/bad-corpus.ts <out-dir>
 *
 * `makeBadCorpus(dir)` returns, per file name, what import must say: 'ok' or an error code.
 * Contents: valid files of every format; 0-byte and truncated (10/50/90 %) PNG/JPEG/TIFF/
 * BMP/WebP/GIF; wrong extensions both ways; text/HTML/PDF/zip bytes under image names;
 * headers claiming huge sizes (PNG, BMP, GIF) and a real PNG decompression bomb over the pixel
 * limit; 1×1 and 2×2 images; extreme aspect ratios; 16-bit, palette, gray+alpha PNG; CMYK
 * JPEG; animated GIF; multi-page TIFF; a file name that is not UTF-8; very long names; a
 * FIFO, a folder and a symlink out of the folder under image names; a broken symlink.
 */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { ihdr, PNG_SIGNATURE, pngChunk } from '../src-main/engine/imaging/png';

export type Expect = 'ok' | string;

/** A PNG header claiming w×h, with a token of pixel data. */
function pngClaiming(w: number, h: number): Buffer {
  return Buffer.concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr(w, h, 8, 2)),
    pngChunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

function bmpHeader(w: number, h: number, bpp = 24): Buffer {
  const b = Buffer.alloc(54);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(54 + 16, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(bpp, 28);
  return Buffer.concat([b, Buffer.alloc(16)]);
}

/** A 24-bit bottom-up BMP of interleaved RGB pixels. */
export function bmp24(rgb: Uint8Array, w: number, h: number): Buffer {
  const row = Math.ceil((w * 3) / 4) * 4;
  const b = Buffer.alloc(54 + row * h);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) b[54 + (h - 1 - y) * row + x * 3 + c] = rgb[(y * w + x) * 3 + 2 - c]!;
  return b;
}

/** A GIF whose screen and one frame claim w×h, with a token of (LZW) pixel data. */
function gifClaiming(w: number, h: number): Buffer {
  const head = Buffer.alloc(13 + 6);
  head.write('GIF89a', 0, 'latin1');
  head.writeUInt16LE(w, 6);
  head.writeUInt16LE(h, 8);
  head[10] = 0x80; // global colour table of 2 entries (black, white)
  head.fill(0xff, 16, 19);
  const frame = Buffer.alloc(10);
  frame[0] = 0x2c;
  frame.writeUInt16LE(w, 5);
  frame.writeUInt16LE(h, 7);
  const data = Buffer.from([0x02, 0x02, 0x44, 0x01, 0x00, 0x3b]); // min code size 2, one sub-block, end, trailer
  return Buffer.concat([head, frame, data]);
}

export async function makeBadCorpus(dir: string): Promise<Map<string, Expect>> {
  await mkdir(dir, { recursive: true });
  const expect = new Map<string, Expect>();
  const put = async (name: string, data: Uint8Array | string, e: Expect): Promise<void> => {
    await writeFile(path.join(dir, name), data);
    expect.set(name, e);
  };
  // A small real picture to derive everything from.
  const w = 96;
  const h = 64;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set([x * 2, y * 3, (x + y) % 256], (y * w + x) * 3);
  const base = sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const formats: Record<string, Buffer> = {
    png: await base.clone().png().toBuffer(),
    jpg: await base.clone().jpeg({ quality: 90 }).toBuffer(),
    tif: await base.clone().tiff().toBuffer(),
    webp: await base.clone().webp({ lossless: true }).toBuffer(),
    gif: await base.clone().gif().toBuffer(),
    bmp: bmp24(rgb, w, h),
  };
  for (const [ext, buf] of Object.entries(formats)) {
    await put(`valid.${ext}`, buf, 'ok');
    await put(`empty.${ext}`, Buffer.alloc(0), 'IMAGE_EMPTY');
    await put(`header-only.${ext}`, buf.subarray(0, 16), 'IMAGE_CORRUPT');
    for (const pct of [10, 50, 90]) {
      const cut = buf.subarray(0, Math.max(8, Math.floor((buf.length * pct) / 100)));
      // Under 12 bytes a WebP is only "RIFF" + a length: nothing says it is an image at all.
      await put(`truncated-${pct}.${ext}`, cut, ext === 'webp' && cut.length < 12 ? 'IMAGE_UNSUPPORTED_FORMAT' : 'IMAGE_CORRUPT');
    }
    // The same bytes under every other image extension: content decides, so they load.
    for (const other of Object.keys(formats)) if (other !== ext) await put(`${ext}-named.${other}`, buf, 'ok');
    // Garbage after a valid signature. (An uncompressed BMP has no structure to break there:
    // its pixels just change, and it still loads.)
    const mangled = Buffer.from(buf);
    for (let i = Math.min(40, mangled.length - 1); i < mangled.length; i += 3) mangled[i] = 0xa5;
    await put(`mangled.${ext}`, mangled, ext === 'bmp' ? 'ok' : 'IMAGE_CORRUPT');
  }
  // Not images at all, under image names.
  await put('text.png', 'hello, this is a text file\n', 'IMAGE_UNSUPPORTED_FORMAT');
  await put('page.jpg', '<!doctype html><html><body>not a photo</body></html>', 'IMAGE_UNSUPPORTED_FORMAT');
  await put('document.tif', '%PDF-1.4\n%âãÏÓ\n1 0 obj\n<<>>\nendobj\n', 'IMAGE_UNSUPPORTED_FORMAT');
  await put('archive.bmp', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 0, 0]), 'IMAGE_UNSUPPORTED_FORMAT');
  await put('random.webp', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) & 0xff)), 'IMAGE_UNSUPPORTED_FORMAT');
  await put('zeros.gif', Buffer.alloc(1024), 'IMAGE_UNSUPPORTED_FORMAT');
  // Huge claimed sizes (rejected from the header, before any decode) and a real bomb.
  await put('claims-30000x30000.png', pngClaiming(30000, 30000), 'IMAGE_TOO_LARGE');
  await put('claims-100000x4000.png', pngClaiming(100000, 4000), 'IMAGE_TOO_LARGE');
  await put('claims-100000x1.png', pngClaiming(100000, 1), 'IMAGE_TOO_SMALL');
  await put('claims-50000x50000.bmp', bmpHeader(50000, 50000), 'IMAGE_TOO_LARGE');
  await put('claims-65535x65535.gif', gifClaiming(65535, 65535), 'IMAGE_TOO_LARGE');
  await put('bomb-20000x20000.png', await pngBomb(20000, 20000), 'IMAGE_TOO_LARGE');
  // Under the pixel limit a bomb is a valid (black) image: it must load without blowing memory.
  await put('bomb-12000x12000.png', await pngBomb(12000, 12000), 'ok');
  // Tiny and odd shapes.
  const tiny = async (tw: number, th: number): Promise<Buffer> => sharp(Buffer.alloc(tw * th * 3, 128), { raw: { width: tw, height: th, channels: 3 } }).png().toBuffer();
  await put('1x1.png', await tiny(1, 1), 'IMAGE_TOO_SMALL');
  await put('2x2.png', await tiny(2, 2), 'IMAGE_TOO_SMALL');
  await put('4000x8.png', await tiny(4000, 8), 'ok');
  await put('8x3000.png', await tiny(8, 3000), 'ok');
  // Bit depths, palettes, colour spaces, animation, pages.
  await put('gray16.png', await base.clone().greyscale().toColourspace('grey16').png().toBuffer(), 'ok');
  await put('rgb16.png', await base.clone().toColourspace('rgb16').png().toBuffer(), 'ok');
  await put('palette.png', await base.clone().png({ palette: true, colours: 16 }).toBuffer(), 'ok');
  await put('gray-alpha.png', await base.clone().greyscale().ensureAlpha(0.5).png().toBuffer(), 'ok');
  await put('rgba.webp', await base.clone().ensureAlpha(0.3).webp().toBuffer(), 'ok');
  await put('cmyk.jpg', await base.clone().toColourspace('cmyk').jpeg().toBuffer(), 'ok');
  const frames = [0, 80, 160].map((v) => Buffer.alloc(w * h * 3, v));
  await put('animated.gif', await sharp(Buffer.concat(frames), { raw: { width: w, height: h * 3, channels: 3, pageHeight: h } as never }).gif().toBuffer(), 'ok');
  await put('multipage.tif', await sharp(Buffer.concat(frames), { raw: { width: w, height: h * 3, channels: 3, pageHeight: h } as never }).tiff().toBuffer(), 'ok');
  await put('gray16.tif', await base.clone().greyscale().toColourspace('grey16').tiff().toBuffer(), 'ok');
  // Names: very long, spaces and unicode, not UTF-8.
  await put(`${'long-name-'.repeat(24)}.png`, formats.png!, 'ok');
  await put('スペース と 名前 ✓.png', formats.png!, 'ok');
  const notUtf8 = Buffer.concat([Buffer.from(dir + path.sep), Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x70, 0x6e, 0x67])]);
  await writeFile(notUtf8, formats.png!);
  expect.set(Buffer.from([0x62, 0x61, 0x64, 0xff, 0xfe, 0x2e, 0x70, 0x6e, 0x67]).toString('utf8'), 'IMAGE_UNREADABLE');
  // Things that are not regular files, and links.
  const fifo = path.join(dir, 'pipe.png');
  if (mkfifo(fifo)) expect.set('pipe.png', 'IMAGE_UNREADABLE');
  await mkdir(path.join(dir, 'folder.png'));
  await writeFile(path.join(dir, 'folder.png', 'inside.png'), formats.png!);
  expect.set(path.join('folder.png', 'inside.png'), 'ok');
  const outside = path.join(path.dirname(dir), `${path.basename(dir)}-outside.png`);
  await writeFile(outside, formats.png!);
  await symlink(outside, path.join(dir, 'link-outside.png'));
  expect.set('link-outside.png', 'IMAGE_UNREADABLE');
  await symlink(path.join(dir, 'valid.png'), path.join(dir, 'link-inside.png'));
  expect.set('link-inside.png', 'ok');
  await symlink(path.join(dir, 'does-not-exist.png'), path.join(dir, 'link-broken.png'));
  expect.set('link-broken.png', 'IMAGE_NOT_FOUND');
  return expect;
}

/**
 * A REAL decompression bomb: a valid gray PNG whose all-zero rows inflate to w·h bytes from a
 * few hundred kB, streamed through deflate so the generator itself stays small in memory.
 */
async function pngBomb(w: number, h: number): Promise<Buffer> {
  const z = zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  z.on('data', (c: Buffer) => out.push(c));
  const ended = once(z, 'end');
  const step = 256;
  const rows = Buffer.alloc((w + 1) * step);
  for (let y = 0; y < h; y += step) {
    const n = Math.min(step, h - y);
    if (!z.write(rows.subarray(0, (w + 1) * n))) await once(z, 'drain');
  }
  z.end();
  await ended;
  return Buffer.concat([PNG_SIGNATURE, pngChunk('IHDR', ihdr(w, h, 8, 0)), pngChunk('IDAT', Buffer.concat(out)), pngChunk('IEND', new Uint8Array(0))]);
}

function mkfifo(file: string): boolean {
  return spawnSync('mkfifo', [file]).status === 0;
}


if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: node bin/run-ts.mjs scripts/bad-corpus.ts <out-dir>');
    process.exit(2);
  }
  const m = await makeBadCorpus(path.resolve(out));
  console.log(`${m.size} files written to ${path.resolve(out)} (${[...m.values()].filter((v) => v === 'ok').length} valid)`);
}
