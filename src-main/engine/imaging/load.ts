/**
 * Image loading for the engine: file (or buffer) → exactly opts.width × opts.height 8-bit sRGB pixels.
 *
 * Output layout: `rgb` is width*height*3 bytes, interleaved R,G,B, row-major, top row first:
 *   rgb[(y * width + x) * 3 + c]
 *
 * What it does to get there, whatever the input:
 * - the format comes from the file's magic bytes, never its extension;
 * - PNG / JPEG / TIFF / WebP / GIF are decoded by sharp (libvips); BMP by our own decoder (./bmp);
 * - dimensions are checked from the HEADER against maxPixels / minSide before any full decode;
 * - EXIF orientation is applied; multi-page TIFF and animated GIF/WebP use the first page/frame;
 * - 16-bit samples map their full range onto 8 bits; grey is replicated to R=G=B; CMYK and ICC
 *   profiles are converted to sRGB; alpha is flattened onto black;
 * - resize: 'stretch' (default) fills the target, aspect ratio not kept, nothing cut off; 'crop' scales
 *   to cover then centre-crops; 'pad' scales to fit inside and pads with black. Kernel: lanczos3.
 * Every failure is a KensaError whose `file` is set and whose message names the file.
 */
import { open, readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { FailOnOptions, FitEnum, Metadata, Sharp } from 'sharp';
import { KensaError } from '../errors';
import { decodeBmp, describePixelLimit, isBmp, readBmpHeader } from './bmp';

export type ResizeMode = 'stretch' | 'crop' | 'pad';

export interface LoadOptions {
  width: number;
  height: number;
  /** Default 'stretch' (no forced centre crop). */
  resize?: ResizeMode;
  /** Largest width*height accepted, read from the header. Default 16384*16384. */
  maxPixels?: number;
  /** Smallest side accepted. Default 8. */
  minSide?: number;
}

export interface ImageInfo {
  /** 'png' | 'jpeg' | 'tiff' | 'webp' | 'bmp' | 'gif' */
  format: string;
  /** Size as displayed, i.e. after EXIF orientation (first page/frame for multi-page files). */
  width: number;
  height: number;
  /** Channels stored in the file: 1 grey, 2 grey+alpha, 3 RGB (also palette PNG), 4 RGBA or CMYK. */
  channels: number;
  bitDepth: 8 | 16;
}

export interface LoadedImage {
  file: string;
  info: ImageInfo;
  width: number;
  height: number;
  /** width*height*3, interleaved RGB, row-major. */
  rgb: Uint8Array;
}

export type ImageFormat = 'png' | 'jpeg' | 'tiff' | 'webp' | 'bmp' | 'gif';

export const DEFAULT_MAX_PIXELS = 16384 * 16384;
export const DEFAULT_MIN_SIDE = 8;

export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([
  'png',
  'jpg',
  'jpeg',
  'tif',
  'tiff',
  'webp',
  'bmp',
  'gif',
]);

/**
 * sharp's strictness on bad pixel data. 'error' rejects truncated files and decoder errors; the stricter
 * 'warning' would also reject JPEGs with benign warnings (e.g. extraneous bytes before a marker) that
 * some cameras write.
 */
const FAIL_ON: FailOnOptions = 'error';
/** Resampling kernel, the same for every format (shrink-on-load shortcuts are turned off too). */
const KERNEL = 'lanczos3' as const;
const FIT: Record<ResizeMode, keyof FitEnum> = { stretch: 'fill', crop: 'cover', pad: 'contain' };
const BLACK = { r: 0, g: 0, b: 0 };
const MAX_TARGET_SIDE = 32768;
/** Bytes read by probeImage: enough for any BMP header + palette, and every magic number. */
const PROBE_BYTES = 64 * 1024;

const FORMAT_LABEL: Record<ImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  tiff: 'TIFF',
  webp: 'WebP',
  bmp: 'BMP',
  gif: 'GIF',
};

// ---------------------------------------------------------------------------------------------
// File names and folders

export function isImageFileName(name: string): boolean {
  const ext = path.extname(name).slice(1).toLowerCase();
  return ext !== '' && IMAGE_EXTENSIONS.includes(ext);
}

function lookedFor(): string {
  return IMAGE_EXTENSIONS.map((e) => '.' + e).join(', ');
}

/**
 * Image files in `dir` (by extension; names starting with '.' are skipped, e.g. macOS '._x.png'),
 * as absolute paths sorted by code point. With `recursive`, sub-folders too (symlinked folders
 * are followed once).
 */
export interface ListProblem {
  path: string;
  code: 'IMAGE_UNREADABLE' | 'IMAGE_NOT_FOUND';
  message: string;
}

/**
 * `onProblem` hears about entries that look like images but are not listed, so a caller can
 * report them instead of skipping them silently: names that are not valid UTF-8, symbolic
 * links leading outside the folder, links to nothing, and non-regular files (FIFOs, devices)
 * with image extensions.
 */
export async function listImages(dir: string, opts: { recursive?: boolean; onProblem?: (p: ListProblem) => void } = {}): Promise<string[]> {
  const root = path.resolve(dir);
  let st;
  try {
    st = await stat(root);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new KensaError('NO_IMAGES', `folder not found: ${dir}`, { file: dir, cause: e });
    }
    throw new KensaError('IMAGE_UNREADABLE', `cannot read folder ${dir}: ${describeErrno(e)}`, { file: dir, cause: e });
  }
  if (!st.isDirectory()) throw new KensaError('NO_IMAGES', `not a folder: ${dir}`, { file: dir });

  const found: string[] = [];
  const seen = new Set<string>();
  const realRoot = await realpath(root);
  const inside = (p: string): boolean => p === realRoot || p.startsWith(realRoot + path.sep);
  const problem = (p: ListProblem): void => opts.onProblem?.(p);
  const walk = async (folder: string): Promise<void> => {
    let real: string;
    let entries;
    const unreadableNames = new Set<string>();
    try {
      real = await realpath(folder);
      if (seen.has(real)) return;
      seen.add(real);
      entries = await readdir(folder, { withFileTypes: true });
      // Names that are not valid UTF-8 cannot be opened through a JS string path: say so.
      for (const raw of await readdir(folder, { encoding: 'buffer' })) {
        if (Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) continue;
        unreadableNames.add(raw.toString('utf8'));
        problem({ path: path.join(folder, raw.toString('utf8')), code: 'IMAGE_UNREADABLE', message: `${path.join(folder, raw.toString('utf8'))}: the file name is not valid UTF-8; rename the file to import it` });
      }
    } catch (e) {
      throw new KensaError('IMAGE_UNREADABLE', `cannot read folder ${folder}: ${describeErrno(e)}`, {
        file: folder,
        cause: e,
      });
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.') || unreadableNames.has(entry.name)) continue;
      const full = path.join(folder, entry.name);
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      const looksLikeImage = isImageFileName(entry.name);
      if (entry.isSymbolicLink()) {
        try {
          const target = await realpath(full);
          if (!inside(target)) {
            if (looksLikeImage || opts.recursive) {
              problem({ path: full, code: 'IMAGE_UNREADABLE', message: `${full} is a symbolic link to ${target}, outside the folder being imported; not followed` });
            }
            continue;
          }
          const st2 = await stat(full);
          isDir = st2.isDirectory();
          isFile = st2.isFile();
        } catch {
          if (looksLikeImage) problem({ path: full, code: 'IMAGE_NOT_FOUND', message: `${full} is a symbolic link to nothing (broken link)` });
          continue;
        }
      }
      if (looksLikeImage && !isFile && !isDir) {
        problem({ path: full, code: 'IMAGE_UNREADABLE', message: `${full} is not a regular file (a pipe, socket or device); not read` });
        continue;
      }
      if (isFile && looksLikeImage) found.push(full);
      else if (isDir && opts.recursive) await walk(full);
    }
  };
  await walk(root);

  if (found.length === 0) {
    const where = opts.recursive ? ' or its sub-folders' : '';
    throw new KensaError('NO_IMAGES', `no images in ${dir}${where} (looked for ${lookedFor()})`, { file: dir });
  }
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Format detection

/** The format a buffer's first bytes announce, or null. */
export function detectFormat(head: Uint8Array): ImageFormat | null {
  const b = head;
  const at = (i: number, ...bytes: number[]): boolean =>
    b.length >= i + bytes.length && bytes.every((v, k) => b[i + k] === v);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a)) return 'tiff';
  if (at(0, 0x49, 0x49, 0x2b, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2b)) return 'tiff'; // BigTIFF
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp'; // RIFF....WEBP
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (at(4, 0x37, 0x61) || at(4, 0x39, 0x61))) return 'gif'; // GIF87a/89a
  if (isBmp(b)) return 'bmp';
  return null;
}

/** Names recognisable but unsupported formats, for a better message than "not an image". */
function knownOtherFormat(b: Uint8Array): string | null {
  const ascii = (i: number, n: number): string => String.fromCharCode(...b.subarray(i, i + n));
  if (ascii(4, 4) === 'ftyp') {
    const brand = ascii(8, 4);
    if (/^(avif|avis)$/.test(brand)) return 'an AVIF image';
    if (/^(heic|heix|hevc|hevx|mif1|msf1)$/.test(brand)) return 'a HEIF/HEIC image';
  }
  if (ascii(0, 4) === '%PDF') return 'a PDF document';
  if (ascii(0, 4) === '8BPS') return 'a Photoshop (PSD) file';
  if (b[0] === 0xff && b[1] === 0x0a) return 'a JPEG XL image';
  if (ascii(4, 4) === 'jP  ') return 'a JPEG 2000 image';
  if (/^P[1-7]\s/.test(ascii(0, 3))) return 'a PNM/PGM/PPM image';
  return null;
}

function describeStart(b: Uint8Array): string {
  const head = b.subarray(0, 8);
  const hex = Array.from(head, (v) => v.toString(16).padStart(2, '0')).join(' ');
  const printable = head.every((v) => v >= 0x20 && v < 0x7f);
  return printable ? `"${String.fromCharCode(...head)}" (${hex})` : hex;
}

function notAnImage(b: Uint8Array, file: string): KensaError {
  const other = knownOtherFormat(b);
  const supported = 'PNG, JPEG, TIFF, WebP, BMP, GIF';
  const message = other
    ? `${file} is ${other}, which is not supported (supported: ${supported})`
    : `not an image: ${file} starts with ${describeStart(b)}, which is none of ${supported}`;
  return new KensaError('IMAGE_UNSUPPORTED_FORMAT', message, { file });
}

// ---------------------------------------------------------------------------------------------
// Loading

interface Resolved {
  width: number;
  height: number;
  resize: ResizeMode;
  maxPixels: number;
  minSide: number;
}

function resolveOptions(opts: LoadOptions): Resolved {
  const int = (v: unknown, name: string, lo: number, hi: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new KensaError('INVALID_ARGUMENT', `image ${name} must be an integer from ${lo} to ${hi}, got ${String(v)}`);
    }
    return v;
  };
  const resize = opts.resize ?? 'stretch';
  if (!Object.hasOwn(FIT, resize)) {
    throw new KensaError('INVALID_ARGUMENT', `resize must be 'stretch', 'crop' or 'pad', got ${String(resize)}`);
  }
  return {
    width: int(opts.width, 'width', 1, MAX_TARGET_SIDE),
    height: int(opts.height, 'height', 1, MAX_TARGET_SIDE),
    resize,
    maxPixels: int(opts.maxPixels ?? DEFAULT_MAX_PIXELS, 'maxPixels', 1, Number.MAX_SAFE_INTEGER),
    minSide: int(opts.minSide ?? DEFAULT_MIN_SIDE, 'minSide', 1, MAX_TARGET_SIDE),
  };
}

/** Largest file Kensa reads as an image (bigger is refused before reading). */
export const MAX_FILE_BYTES = 2 * 1024 ** 3;

/**
 * Reads an image file's bytes, refusing what is not a regular file (a FIFO would block the
 * read forever, a device never ends) and files over MAX_FILE_BYTES, with specific errors.
 */
export async function readImageFile(file: string): Promise<Buffer> {
  let st;
  try {
    st = await stat(file);
  } catch (e) {
    throw fileError(e, file);
  }
  if (st.isDirectory()) throw new KensaError('IMAGE_UNREADABLE', `${file} is a folder, not an image file`, { file });
  if (!st.isFile()) throw new KensaError('IMAGE_UNREADABLE', `${file} is not a regular file (a pipe, socket or device); not read`, { file });
  if (st.size > MAX_FILE_BYTES) throw new KensaError('IMAGE_TOO_LARGE', `${file} is ${(st.size / 1024 ** 3).toFixed(1)} GiB, over the ${MAX_FILE_BYTES / 1024 ** 3} GiB limit for one image`, { file });
  try {
    return await readFile(file);
  } catch (e) {
    throw fileError(e, file);
  }
}

export async function loadImage(file: string, opts: LoadOptions): Promise<LoadedImage> {
  resolveOptions(opts); // bad arguments fail before any I/O
  return loadImageFromBuffer(await readImageFile(file), file, opts);
}

/** As loadImage, on bytes already in memory; `name` is used in messages and as `file`. */
export async function loadImageFromBuffer(buf: Uint8Array, name: string, opts: LoadOptions): Promise<LoadedImage> {
  const o = resolveOptions(opts);
  if (buf.length === 0) throw new KensaError('IMAGE_EMPTY', `${name}: the file is empty (0 bytes)`, { file: name });
  const format = detectFormat(buf);
  if (format === null) throw notAnImage(buf, name);

  let info: ImageInfo;
  let img: Sharp;
  if (format === 'bmp') {
    const header = readBmpHeader(buf, name);
    checkSize(name, header.width, header.height, o);
    const bmp = decodeBmp(buf, name, { maxPixels: o.maxPixels });
    info = { format, width: bmp.width, height: bmp.height, channels: bmp.channels, bitDepth: 8 };
    img = sharp(bmp.data, {
      raw: { width: bmp.width, height: bmp.height, channels: bmp.channels },
      limitInputPixels: o.maxPixels,
    });
  } else {
    const input = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
    info = infoFromMetadata(await readMetadata(input, name, format), name, format);
    checkSize(name, info.width, info.height, o);
    img = sharp(input, { failOn: FAIL_ON, limitInputPixels: o.maxPixels, pages: 1, page: 0 }).autoOrient();
  }

  const rgb = await toRgb(img, o, name, format);
  return { file: name, info, width: o.width, height: o.height, rgb };
}

/** Format, size, channels and bit depth from the header only (reads at most 64 KiB itself). */
export async function probeImage(file: string): Promise<ImageInfo> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw fileError(e, file);
  }
  let head: Buffer;
  let size: number;
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw fileError(Object.assign(new Error('is a directory'), { code: 'EISDIR' }), file);
    size = st.size;
    head = Buffer.alloc(Math.min(size, PROBE_BYTES));
    let got = 0;
    while (got < head.length) {
      const { bytesRead } = await fh.read(head, got, head.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    head = head.subarray(0, got);
  } catch (e) {
    throw e instanceof KensaError ? e : fileError(e, file);
  } finally {
    await fh.close();
  }

  if (head.length === 0) throw new KensaError('IMAGE_EMPTY', `${file}: the file is empty (0 bytes)`, { file });
  const format = detectFormat(head);
  if (format === null) throw notAnImage(head, file);
  if (format === 'bmp') {
    const h = readBmpHeader(head, file);
    return { format, width: h.width, height: h.height, channels: h.channels, bitDepth: 8 };
  }
  // Small files are already in memory; larger ones let libvips read just the header from disk
  // (a TIFF's directory may sit at the end of the file).
  const source = head.length === size ? head : file;
  return infoFromMetadata(await readMetadata(source, file, format), file, format);
}

// ---------------------------------------------------------------------------------------------
// Internals

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function describeErrno(e: unknown): string {
  switch (errnoCode(e)) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a folder, not a file';
    case 'ENOTDIR':
      return 'not a folder';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

function fileError(e: unknown, file: string): KensaError {
  const code = errnoCode(e);
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new KensaError('IMAGE_NOT_FOUND', `image not found: ${file}`, { file, cause: e });
  }
  return new KensaError('IMAGE_UNREADABLE', `cannot read ${file}: ${describeErrno(e)}`, { file, cause: e });
}

function checkSize(file: string, width: number, height: number, o: Resolved): void {
  if (width * height > o.maxPixels) {
    throw new KensaError(
      'IMAGE_TOO_LARGE',
      `${file}: ${width}×${height} px is over the ${describePixelLimit(o.maxPixels)}`,
      { file },
    );
  }
  if (Math.min(width, height) < o.minSide) {
    throw new KensaError(
      'IMAGE_TOO_SMALL',
      `${file}: ${width}×${height} px is too small; each side must be at least ${o.minSide} px`,
      { file },
    );
  }
}

/** Header-only metadata (no pixel limit here: the caller checks the size itself, with a clear message). */
async function readMetadata(input: Buffer | string, file: string, format: ImageFormat): Promise<Metadata> {
  try {
    return await sharp(input, { limitInputPixels: false, pages: 1, page: 0 }).metadata();
  } catch (e) {
    throw new KensaError(
      'IMAGE_CORRUPT',
      `${file}: cannot read the ${FORMAT_LABEL[format]} header: ${corruptDetail(format)} (${sharpText(e)})`,
      { file, cause: e },
    );
  }
}

function infoFromMetadata(meta: Metadata, file: string, format: ImageFormat): ImageInfo {
  const depth = meta.depth;
  if (depth !== 'uchar' && depth !== 'char' && depth !== 'ushort' && depth !== 'short') {
    const what = depth === 'float' || depth === 'double' ? 'floating-point' : `'${String(depth)}'`;
    throw new KensaError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `${file}: ${what} ${FORMAT_LABEL[format]} samples are not supported (only 8- and 16-bit images)`,
      { file },
    );
  }
  const w = meta.autoOrient?.width ?? meta.width;
  const h = meta.autoOrient?.height ?? meta.height;
  if (!(w > 0 && h > 0)) {
    throw new KensaError('IMAGE_CORRUPT', `${file}: the ${FORMAT_LABEL[format]} header gives no image size`, { file });
  }
  return {
    format,
    width: w,
    height: h,
    channels: meta.channels,
    bitDepth: depth === 'ushort' || depth === 'short' ? 16 : 8,
  };
}

function corruptDetail(format: ImageFormat): string {
  return format === 'tiff'
    ? 'truncated, corrupt or unsupported TIFF data'
    : `truncated or corrupt ${FORMAT_LABEL[format]} data`;
}

function sharpText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * The sharp call `toRgb` makes (with the decode options of loadImageFromBuffer), as source text:
 * what a consumer of an exported model runs to reproduce the engine's input pixels exactly
 * (engine/export writes it into the export's sidecar). BMP files go through Kensa's own decoder
 * first (./bmp) and enter sharp as raw pixels, without autoOrient.
 */
export function sharpRecipe(width: number, height: number, resize: ResizeMode): string {
  return (
    `sharp(fileBytes, { failOn: '${FAIL_ON}', pages: 1, page: 0 }).autoOrient()` +
    `.flatten({ background: { r: ${BLACK.r}, g: ${BLACK.g}, b: ${BLACK.b} } })` +
    `.resize(${width}, ${height}, { fit: '${FIT[resize]}', kernel: '${KERNEL}', background: { r: ${BLACK.r}, g: ${BLACK.g}, b: ${BLACK.b} }, fastShrinkOnLoad: false })` +
    `.toColourspace('srgb').removeAlpha().raw().toBuffer()`
  );
}

/** Flatten, resize, convert to 8-bit sRGB, and hand back the raw RGB bytes. */
async function toRgb(img: Sharp, o: Resolved, file: string, format: ImageFormat): Promise<Uint8Array> {
  let out;
  try {
    out = await img
      .flatten({ background: BLACK })
      .resize(o.width, o.height, {
        fit: FIT[o.resize],
        kernel: KERNEL,
        background: BLACK,
        fastShrinkOnLoad: false,
      })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    const text = sharpText(e);
    if (/pixel limit/i.test(text)) {
      throw new KensaError('IMAGE_TOO_LARGE', `${file}: the image is over the ${describePixelLimit(o.maxPixels)}`, {
        file,
        cause: e,
      });
    }
    throw new KensaError('IMAGE_CORRUPT', `${file}: ${corruptDetail(format)} (${text})`, { file, cause: e });
  }
  const { data, info } = out;
  if (info.channels !== 3 || info.width !== o.width || info.height !== o.height || data.length !== o.width * o.height * 3) {
    // Cannot happen with the pipeline above; a bug if it does.
    throw new Error(
      `image pipeline produced ${info.width}×${info.height}×${info.channels} for ${file}, expected ${o.width}×${o.height}×3`,
    );
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}
