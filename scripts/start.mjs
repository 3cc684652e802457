#!/usr/bin/env node
// Starts Kensa (`npm start`).
//
// With the Electron binary installed (node_modules/electron/dist, downloaded by electron's
// postinstall), this builds the app (electron-vite build → out/) and opens the desktop
// window on it. Extra arguments go to the app: `npm start -- --some-flag`.
//
// Without it (installs made with ELECTRON_SKIP_BINARY_DOWNLOAD=1, e.g. machines that cannot
// reach GitHub), the desktop window cannot open: this says so in one line and starts the
// loopback web host instead (bin/kensa-host.mjs: the same workstation, in a browser, on
// 127.0.0.1), which prints its `Kensa workstation: http://127.0.0.1:<port>/?token=…` URL.
// `npm start -- --project DIR [--port N]` passes those options to either.
//
// Never runs electron-rebuild / electron-builder install-app-deps: on a machine without the
// Electron binary they delete or mislabel better-sqlite3's native build (../shared/
// ENVIRONMENT.md). TODO: when the main process starts opening the database, rebuild
// better-sqlite3 for Electron's ABI here, into a separate copy, and only when the Electron
// binary is present, so the Node build that the CLI and tests use stays intact.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const electronPkg = path.join(root, 'node_modules', 'electron');

/** The Electron executable that electron's postinstall downloaded, or null. */
function electronBinary() {
  const dist = path.join(electronPkg, 'dist');
  const pathFile = path.join(electronPkg, 'path.txt');
  if (!existsSync(dist) || !existsSync(pathFile)) return null;
  const binary = path.join(dist, readFileSync(pathFile, 'utf8').trim());
  return existsSync(binary) ? binary : null;
}

/** Runs `command args` with our stdio, forwards Ctrl-C/SIGTERM to it, and exits with its status. */
function run(command, args) {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const electron = electronBinary();
if (!electron) {
  console.log('Kensa: the Electron binary is not installed here (node_modules/electron/dist); starting the browser workstation (loopback web host) instead');
  run(process.execPath, [path.join(root, 'bin', 'kensa-host.mjs'), ...process.argv.slice(2)]);
} else {
  const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // `electron .` runs package.json "main" (out/main/main.js).
  run(electron, [root, ...process.argv.slice(2)]);
}
