#!/usr/bin/env node
// Builds better-sqlite3 for Electron's ABI into native/electron/better_sqlite3.node
// (gitignored), leaving the Node build under node_modules (CLI, web host, tests) untouched.
//
//   node scripts/build-electron-sqlite.mjs [--force]
//
// Called by `npm run setup`, `npm start` (when the build is missing or stale) and
// `npm run package:*`. Only where the Electron binary is installed: without it (installs
// made with ELECTRON_SKIP_BINARY_DOWNLOAD=1) it prints one line and exits 0.
//
// How: a temporary copy of node_modules/better-sqlite3 (without its build/) gets
//   1. prebuild-install --runtime=electron --target=<electron version> (a prebuilt binary
//      from better-sqlite3's GitHub releases), or else
//   2. node-gyp rebuild --runtime=electron --target=<version> --dist-url=https://electronjs.org/headers
//      (a compiler and Electron's headers);
// the result is loaded once by the Electron binary itself (ELECTRON_RUN_AS_NODE) to prove
// its ABI, then copied into place with build-info.json. Never electron-rebuild or
// electron-builder install-app-deps (they rebuild node_modules in place: ../shared/ENVIRONMENT.md).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  betterSqliteVersion,
  electronBinary,
  electronSqliteDir,
  electronSqliteFile,
  electronSqliteInfo,
  electronSqliteUpToDate,
  electronVersion,
  root,
} from './electron-env.mjs';

const log = (m) => console.log(`setup: ${m}`);
const force = process.argv.includes('--force');

const electron = electronBinary();
if (!electron) {
  log('skipping better-sqlite3 for Electron: the Electron binary is not installed (node_modules/electron/dist); the CLI, web host and tests use the Node build');
  process.exit(0);
}
if (!force && electronSqliteUpToDate()) {
  log(`better-sqlite3 for Electron ${electronVersion()} is up to date (native/electron)`);
  process.exit(0);
}

const target = electronVersion();
const bsVersion = betterSqliteVersion();
log(`building better-sqlite3 ${bsVersion} for Electron ${target} (${process.platform}-${process.arch}) into native/electron`);

// npm passes its config as npm_config_*; `nodedir` (set on some machines) or a stray target /
// runtime would make node-gyp build against Node's headers and mislabel the result.
const env = { ...process.env };
for (const k of Object.keys(env)) {
  if (/^npm_config_(nodedir|target|runtime|disturl|dist_url|arch|target_arch|build_from_source|devdir)$/i.test(k)) delete env[k];
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-sqlite-electron-'));
const pkg = path.join(tmp, 'better-sqlite3');
let ok = false;
try {
  cpSync(path.join(root, 'node_modules', 'better-sqlite3'), pkg, {
    recursive: true,
    filter: (src) => !src.startsWith(path.join(root, 'node_modules', 'better-sqlite3', 'build')),
  });
  const built = path.join(pkg, 'build', 'Release', 'better_sqlite3.node');
  const run = (cmd, args) => spawnSync(cmd, args, { cwd: pkg, env, stdio: 'inherit' }).status === 0 && existsSync(built);

  const prebuild = path.join(root, 'node_modules', 'prebuild-install', 'bin.js');
  let method = 'prebuild-install';
  let done =
    existsSync(prebuild) &&
    run(process.execPath, [prebuild, '--runtime=electron', `--target=${target}`, `--arch=${process.arch}`, `--platform=${process.platform}`]);
  if (!done) {
    method = 'node-gyp';
    log('no prebuilt binary could be fetched; compiling with node-gyp against Electron headers');
    const npmGyp = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    const gypArgs = ['rebuild', '--release', '--runtime=electron', `--target=${target}`, `--arch=${process.arch}`, '--dist-url=https://electronjs.org/headers'];
    done = existsSync(npmGyp) ? run(process.execPath, [npmGyp, ...gypArgs]) : run(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['--no-install', 'node-gyp', ...gypArgs]);
  }
  if (!done) throw new Error('neither prebuild-install nor node-gyp produced a build (no internet access, or no C++ toolchain)');

  // Prove the ABI: the Electron binary itself, as Node, opens an in-memory database with it.
  const probe = `const D=require(${JSON.stringify(pkg)});const db=new D(':memory:',{nativeBinding:${JSON.stringify(built)}});console.log('sqlite '+db.prepare('select sqlite_version() v').get().v);db.close();`;
  const check = spawnSync(electron, ['-e', probe], { env: { ...env, ELECTRON_RUN_AS_NODE: '1' }, encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`the build does not load in Electron ${target}: ${(check.stderr || check.stdout || '').trim().split('\n')[0]}`);

  mkdirSync(electronSqliteDir, { recursive: true });
  cpSync(built, `${electronSqliteFile}.tmp`);
  renameSync(`${electronSqliteFile}.tmp`, electronSqliteFile);
  writeFileSync(
    electronSqliteInfo,
    JSON.stringify({ electron: target, betterSqlite3: bsVersion, platform: process.platform, arch: process.arch, method, builtAt: new Date().toISOString(), check: check.stdout.trim() }, null, 2) + '\n',
  );
  log(`better-sqlite3 for Electron ${target}: ${path.relative(root, electronSqliteFile)} (${method}, ${check.stdout.trim()} loads in Electron)`);
  ok = true;
} catch (e) {
  console.error(
    `setup: could not build better-sqlite3 for Electron: ${e instanceof Error ? e.message : String(e)}. ` +
      'The desktop app cannot open projects until it exists: run `npm run setup` again with internet access. The CLI, web host and tests are unaffected.',
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
