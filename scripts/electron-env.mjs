// Where the Electron binary and the Electron build of better-sqlite3 live, for the scripts
// that launch, smoke-test or package the desktop app (start.mjs, build-electron-sqlite.mjs,
// smoke-electron.mjs, package.mjs). Plain Node, no dependencies.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const electronPkg = path.join(root, 'node_modules', 'electron');

/** The Electron executable that electron's postinstall downloaded, or null. */
export function electronBinary() {
  const dist = path.join(electronPkg, 'dist');
  const pathFile = path.join(electronPkg, 'path.txt');
  if (!existsSync(dist) || !existsSync(pathFile)) return null;
  const binary = path.join(dist, readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : null;
}

export function electronVersion() {
  return JSON.parse(readFileSync(path.join(electronPkg, 'package.json'), 'utf8')).version;
}

export function betterSqliteVersion() {
  return JSON.parse(readFileSync(path.join(root, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')).version;
}

/** The Electron build of better-sqlite3 (src-main/app/native-binding.ts looks here in development). */
export const electronSqliteDir = path.join(root, 'native', 'electron');
export const electronSqliteFile = path.join(electronSqliteDir, 'better_sqlite3.node');
export const electronSqliteInfo = path.join(electronSqliteDir, 'build-info.json');

/** True when native/electron holds a build for this Electron and better-sqlite3 version, platform and arch. */
export function electronSqliteUpToDate() {
  if (!existsSync(electronSqliteFile) || !existsSync(electronSqliteInfo)) return false;
  try {
    const info = JSON.parse(readFileSync(electronSqliteInfo, 'utf8'));
    return (
      info.electron === electronVersion() &&
      info.betterSqlite3 === betterSqliteVersion() &&
      info.platform === process.platform &&
      info.arch === process.arch
    );
  } catch {
    return false;
  }
}
