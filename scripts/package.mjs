#!/usr/bin/env node
// `npm run package:linux | package:win | package:mac` (`package` = this platform): the
// installers (linux AppImage + deb, windows nsis, mac dmg; electron-builder.json) in dist/.
// Run it on the target platform itself with internet access (electron-builder downloads
// Electron; better-sqlite3's Electron build is made for this platform).
//
// 1. better-sqlite3 for Electron into native/electron (scripts/build-electron-sqlite.mjs;
//    electron-builder.json's extraResources copies it to resources/native/ in the app, where
//    the packaged main process loads it through better-sqlite3's `nativeBinding`);
// 2. electron-vite build (out/);
// 3. electron-builder with this repo's config. Its own in-place rebuild of node_modules
//    (npmRebuild) stays off: it would replace the Node build the CLI and tests use
//    (../shared/ENVIRONMENT.md); the native rebuild for Electron is step 1, in a copy.
// Backbones are not bundled: the app downloads one on first use (`kensa backbone download`,
// checksummed) or is pointed at a file.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { electronBinary, root } from './electron-env.mjs';

const want = process.argv[2] ?? { linux: 'linux', win32: 'win', darwin: 'mac' }[process.platform];
const host = { linux: 'linux', win32: 'win', darwin: 'mac' }[process.platform];
if (!['linux', 'win', 'mac'].includes(want ?? '')) {
  console.error('package: usage: node scripts/package.mjs linux|win|mac');
  process.exit(2);
}
if (want !== host) {
  console.error(`package: build the ${want} installers on ${want}: better-sqlite3's Electron build must be made for the target platform (this is ${host})`);
  process.exit(2);
}
if (!electronBinary()) {
  console.error('package: the Electron binary is not installed (node_modules/electron/dist): run `npm run setup` with internet access first');
  process.exit(1);
}
const run = (args, what) => {
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`package: FAILED: ${what}`);
    process.exit(r.status ?? 1);
  }
};
run([path.join(root, 'scripts', 'build-electron-sqlite.mjs')], 'better-sqlite3 for Electron');
run([path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], 'electron-vite build');
run([path.join(root, 'node_modules', 'electron-builder', 'cli.js'), `--${want}`, '--config', 'electron-builder.json', '--publish', 'never'], 'electron-builder');
