#!/usr/bin/env node
// `npm run smoke:electron`: the desktop app, end to end, on a machine with the Electron binary.
//
// Launches the built app with Playwright's Electron support (under Xvfb when there is no
// display: re-runs itself through `xvfb-run -a`), then through the window's own
// `window.kensa` bridge: checks the page comes from kensa://app/ and the database uses the
// Electron build of better-sqlite3, creates and opens the sample project, fits, scores, gives
// a verdict, exports the audit report as PDF (Chromium's printToPDF) and checks the file, and
// checks that app.showInFolder refuses a path outside the project. A screenshot goes to
// test-results/smoke-electron.png.
//
// Where no backbone is on the machine it first downloads one through the app
// (app.downloadBackbone: the manifest's first downloadable default, checksummed; needs
// internet), unless KENSA_SHARED / KENSA_MODELS_DIR point at one.
// Without the Electron binary it prints one line saying it is skipped, and why, and exits 0.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { electronBinary, electronSqliteUpToDate, root } from './electron-env.mjs';

const log = (m) => console.log(`smoke:electron: ${m}`);
const electron = electronBinary();
if (!electron) {
  log('skipped: the Electron binary is not installed here (node_modules/electron/dist missing: an install made with ELECTRON_SKIP_BINARY_DOWNLOAD=1 or without access to GitHub)');
  process.exit(0);
}

// No display on Linux: run again under a virtual one.
if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && !process.env.KENSA_SMOKE_XVFB) {
  const which = spawnSync('sh', ['-c', 'command -v xvfb-run'], { encoding: 'utf8' });
  if (which.status !== 0) {
    console.error('smoke:electron: no display and no xvfb-run: install xvfb (apt-get install xvfb) or run it in a desktop session');
    process.exit(1);
  }
  const r = spawnSync('xvfb-run', ['-a', '-s', '-screen 0 1366x768x24', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, KENSA_SMOKE_XVFB: '1' },
  });
  process.exit(r.status ?? 1);
}

function step(cmd, args, what) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`smoke:electron: FAILED: ${what}`);
    process.exit(1);
  }
}

if (!electronSqliteUpToDate()) step(process.execPath, [path.join(root, 'scripts', 'build-electron-sqlite.mjs')], 'building better-sqlite3 for Electron');
step(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], 'electron-vite build');

const { _electron } = await import('playwright-core');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-smoke-'));
const env = { ...process.env, KENSA_CONFIG_DIR: path.join(tmp, 'config') };
delete env.ELECTRON_RUN_AS_NODE;
const projectDir = path.join(tmp, 'sample');
let app;
let failed = null;
try {
  const t0 = Date.now();
  app = await _electron.launch({ executablePath: electron, args: [root], cwd: root, env, timeout: 60_000 });
  const win = await app.firstWindow();
  await win.waitForLoadState('domcontentloaded');
  const url = win.url();
  if (!url.startsWith('kensa://app/')) throw new Error(`the window shows ${url}, not kensa://app/`);
  log(`window open on ${url} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

  /** One API call through the window's bridge; throws on an error envelope. */
  const call = async (method, args = {}) => {
    const r = await win.evaluate(
      async ([m, a]) => {
        const [ns, name] = m.split('.');
        return globalThis.kensa[ns][name](a);
      },
      [method, args],
    );
    if (!r.ok) throw new Error(`${method}: ${r.error.code}: ${r.error.message}`);
    return r.value;
  };
  /** Waits until the running job ends; throws with its error if it failed. */
  const waitJob = async (what) => {
    const start = Date.now();
    for (;;) {
      const st = await call('projects.state');
      if (!st.job) return st;
      if (Date.now() - start > 15 * 60_000) throw new Error(`${what} did not finish in 15 min`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  };

  let info = await call('app.info');
  log(`app.info: v${info.version}, shell ${info.shell}, SQLite build ${info.nativeBinding}, backbones ${info.backbones.map((b) => b.id).join(', ') || 'none'}`);
  if (info.nativeBinding !== 'electron') throw new Error(`the database does not use the Electron build of better-sqlite3 (${info.nativeBinding})`);
  if (info.backbones.length === 0) {
    log('no backbone on this machine: downloading one through app.downloadBackbone (checksummed)');
    info = await call('app.downloadBackbone');
    if (info.backbones.length === 0) throw new Error('still no backbone after the download');
  }

  await call('app.setReviewer', { name: 'smoke' });
  let st = await call('projects.createDemo', { dir: projectDir });
  log(`sample project: ${st.counts.train} train, ${st.counts.inspect} inspect parts`);
  await call('jobs.fit', { backbone: info.backbones[0].id });
  st = await waitJob('fit');
  if (!st.activeModel || st.activeModel.status !== 'ready') throw new Error('the fit ended without a ready model');
  log(`fit: model v${st.activeModel.version} (${st.activeModel.detector}, EP ${st.activeModel.ep})`);
  await call('jobs.score');
  st = await waitJob('score');
  if (st.counts.scored === 0) throw new Error('nothing was scored');
  log(`score: ${st.counts.scored} scored, ${st.counts.flagged} flagged`);
  const queue = await call('review.queue', { filter: 'all' });
  const part = queue.find((q) => q.score !== null) ?? queue[0];
  const v = await call('review.verdict', part.flagged ? { imageId: part.imageId, verdict: 'defect', defectType: 'smoke' } : { imageId: part.imageId, verdict: 'good' });
  log(`verdict: ${v.name} → ${v.verdict}`);
  const rep = await call('report.export', { format: 'pdf' });
  if (!existsSync(rep.file) || statSync(rep.file).size === 0) throw new Error(`report ${rep.file} missing or empty`);
  log(`report: ${rep.file} (${rep.bytes} bytes, audit ${rep.auditOk ? 'ok' : 'NOT ok'})`);
  const outside = await win.evaluate(() => globalThis.kensa.app.showInFolder({ path: '/etc/passwd' }));
  if (outside.ok) throw new Error('app.showInFolder accepted a path outside the project');
  mkdirSync(path.join(root, 'test-results'), { recursive: true });
  await win.screenshot({ path: path.join(root, 'test-results', 'smoke-electron.png') });
  log(`passed in ${((Date.now() - t0) / 1000).toFixed(0)} s (screenshot: test-results/smoke-electron.png)`);
} catch (e) {
  failed = e instanceof Error ? e.message : String(e);
} finally {
  await app?.close().catch(() => undefined);
  rmSync(tmp, { recursive: true, force: true });
}
if (failed) {
  console.error(`smoke:electron: FAILED: ${failed}`);
  process.exit(1);
}
