/**
 * Dropped files: in Electron their local paths (window.kensa.pathForFile → images.import);
 * in a browser their bytes (read as base64 → images.upload, in batches), with dropped
 * folders walked recursively.
 */
import { pathForFile } from './api';

const IMAGE_EXT = /\.(png|jpe?g|bmp|tiff?|webp|gif|pgm|ppm|pnm)$/i;

/** Synchronously captures what was dropped (DataTransfer empties after the event). */
export function captureDrop(dt: DataTransfer): { files: File[]; entries: FileSystemEntry[] } {
  const files = [...dt.files];
  const entries: FileSystemEntry[] = [];
  for (const item of [...dt.items]) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry) entries.push(entry);
  }
  return { files, entries };
}

/** Local paths of dropped files and folders (Electron only); null in a browser. */
export function dropPaths(files: File[]): string[] | null {
  if (files.length === 0) return null;
  const paths = files.map((f) => pathForFile(f));
  if (paths.some((p) => p === null)) return null;
  return paths as string[];
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Files of the dropped entries; folders are walked (image files only, hidden files skipped). */
export async function walkEntries(entries: FileSystemEntry[], fallback: File[]): Promise<{ file: File; name: string }[]> {
  if (entries.length === 0) return fallback.map((file) => ({ file, name: file.name }));
  const out: { file: File; name: string }[] = [];
  const walk = async (entry: FileSystemEntry, top: boolean): Promise<void> => {
    if (entry.name.startsWith('.')) return;
    if (entry.isFile) {
      if (!top && !IMAGE_EXT.test(entry.name)) return;
      out.push({ file: await entryFile(entry as FileSystemFileEntry), name: entry.fullPath.replace(/^\//, '') || entry.name });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await readEntries(reader);
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, false);
      }
    }
  };
  for (const e of entries) await walk(e, true);
  return out;
}

export function fileToBase64(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => {
      const url = String(r.result);
      const comma = url.indexOf(',');
      resolve(comma >= 0 ? url.slice(comma + 1) : '');
    };
    r.onerror = () => reject(new Error(`could not read ${file.name}: ${r.error?.message ?? 'read error'}`));
    r.readAsDataURL(file);
  });
}

/** Splits files into upload batches of at most `maxFiles` files and about `maxBytes` bytes. */
export function batches<T extends { file: File }>(items: T[], maxFiles = 40, maxBytes = 24 * 1024 * 1024): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let size = 0;
  for (const it of items) {
    if (cur.length > 0 && (cur.length >= maxFiles || size + it.file.size > maxBytes)) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(it);
    size += it.file.size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}
