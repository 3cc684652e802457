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
// The main process opens the project database with the Electron build of better-sqlite3
// (native/electron/better_sqlite3.node, made by `npm run setup`); when it is missing or was
// made for another Electron version, this builds it first (scripts/build-electron-sqlite.mjs:
// a separate copy, the Node build under node_modules stays intact). If that fails (offline)
// the window still opens and says how to fix it (About box, and on opening a project).
// Never runs electron-rebuild / electron-builder install-app-deps (../shared/ENVIRONMENT.md).
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { electronBinary, electronSqliteUpToDate, root } from './electron-env.mjs';

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
  if (!electronSqliteUpToDate()) {
    spawnSync(process.execPath, [path.join(root, 'scripts', 'build-electron-sqlite.mjs')], { cwd: root, stdio: 'inherit' });
  }
  const build = spawnSync(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
  // `electron .` runs package.json "main" (out/main/main.js).
  run(electron, [root, ...process.argv.slice(2)]);
}
