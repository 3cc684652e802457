/**
 * `npm run bench:scale [-- --parts N] [--keep] [--pg]` — the workstation at N scored parts (default
 * 100,000), measured through the loopback host's API and in Chromium, the way a reviewer
 * meets it (--pg: a shared project, its records in PostgreSQL: a throwaway cluster on loopback,
 * test/helpers/pg-cluster.ts):
 *
 *   firstPaintMs          open the workstation on the project (review screen): navigation start
 *                         until the first queue row AND the first part's image are on screen
 *                         (median of 5 page loads, each printed)
 *   nextPartMs            J: keydown until the next part's image is on screen (the frame after
 *                         the viewer shows it), 30 presses 400 ms apart (a fast reviewer's
 *                         pace); median and p95
 *   verdictP95Ms          200 review.verdict calls through the HTTP API, one after another
 *   statsMs               threshold.stats through the API (median of 5, after one warm-up)
 *   importFilesPerSecond  images.import of a folder of 1,500 generated 256×256 PNG files
 *   reportSeconds         report.export over the period (today) as HTML and as PDF
 *   hostRssMb             the host's RSS after paging through the whole queue with
 *                         review.queue (500 per page); before, and the peak, are printed too
 *   pageHeapMb            the page's JS heap (after a forced GC) at the first part, after the J
 *                         presses, and after scrolling the queue list through 50 pages
 *
 * The project is made by bench/scale-gen.ts (a real fitted model, a real scored pool, N
 * synthetic rows written through the store) under bench/tmp/ and deleted at the end unless
 * --keep. The host is `bin/kensa-host.mjs` in its own process (so its RSS is its own); the
 * renderer is rebuilt first when a file under src-renderer/ is newer than out/renderer.
 *
 * Prints a table; the LAST line is one JSON object: parts, firstPaintMs, nextPartMs,
 * nextPartP95Ms, verdictP95Ms, statsMs, importFilesPerSecond, reportSeconds (PDF),
 * reportHtmlSeconds, hostRssMb, pageHeapMb {start, afterJ, afterScroll}, targets {name: met},
 * loadAverage {start, end, cpus} (the machine's 1-minute load: timings depend on it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from '@playwright/test';
import sharp from 'sharp';
import { buildRenderer, repoRoot } from '../src-main/host/main';
import { generateScaleProject } from './scale-gen';
import { PG_PASSWORD, startPgCluster, type PgCluster } from '../test/helpers/pg-cluster';
import { hostUrl } from '../test/helpers/host-url';

const shared = path.resolve(process.env.KENSA_SHARED ?? path.resolve('..', 'shared'));
process.env.KENSA_SHARED = shared;

const { values } = parseArgs({
  options: {
    parts: { type: 'string', default: '100000' },
    keep: { type: 'boolean', default: false },
    'import-files': { type: 'string', default: '1500' },
    pg: { type: 'boolean', default: false },
  },
  strict: true,
});
const PARTS = Number(values.parts);
const IMPORT_FILES = Number(values['import-files']);
if (!Number.isInteger(PARTS) || PARTS < 100) {
  console.error('bench:scale: --parts must be an integer of at least 100');
  process.exit(2);
}

/** Page loads for the first paint (the median is reported: the first one also warms the host's caches). */
const FIRST_PAINT_LOADS = 5;
const TARGETS = { firstPaintMs: 1500, nextPartMs: 50, verdictP95Ms: 20, statsMs: 200, importFilesPerSecond: 200, reportSeconds: 60 };
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];

const median = (xs: number[]): number => quantile(xs, 0.5);
function quantile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = (s.length - 1) * p;
  const lo = Math.floor(h);
  return s[lo]! + (h - lo) * (s[Math.min(s.length - 1, lo + 1)]! - s[lo]!);
}
const log = (line: string): void => console.error(line);

/** Rebuilds out/renderer when it is missing or older than any file under src-renderer/. */
function ensureRenderer(): void {
  const index = path.join(repoRoot, 'out', 'renderer', 'index.html');
  const newest = (dir: string): number => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  if (existsSync(index) && statSync(index).mtimeMs >= newest(path.join(repoRoot, 'src-renderer')) && statSync(index).mtimeMs >= newest(path.join(repoRoot, 'src-main', 'shared'))) return;
  log('building the renderer (electron-vite build)…');
  if (!buildRenderer(repoRoot)) throw new Error('the renderer build failed');
}

interface HostProc {
  url: string;
  child: ChildProcess;
  call<T>(method: string, args?: object): Promise<T>;
  rssMb(): { rss: number; peak: number };
}

async function startHost(projectDir: string, configDir: string): Promise<HostProc> {
  const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'kensa-host.mjs'), '--port', '0', '--no-build', '--project', projectDir], {
    cwd: repoRoot,
    env: { ...process.env, KENSA_CONFIG_DIR: configDir, KENSA_SHARED: shared },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const url = await hostUrl(child, () => stderr, 120_000);
  const u = new URL(url);
  const token = u.searchParams.get('token') ?? '';
  return {
    url,
    child,
    async call<T>(method: string, args: object = {}): Promise<T> {
      const res = await fetch(new URL(`/api/${method}`, u.origin), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: JSON.stringify(args),
      });
      const body = (await res.json()) as { ok: boolean; value?: T; error?: { message: string } };
      if (!body.ok) throw new Error(`${method}: ${body.error?.message ?? res.status}`);
      return body.value as T;
    },
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
    },
  };
}

async function stopHost(h: HostProc): Promise<void> {
  const exited = new Promise<void>((resolve) => (h.child.exitCode !== null ? resolve() : h.child.once('exit', () => resolve())));
  h.child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  if (h.child.exitCode === null) h.child.kill('SIGKILL');
}

/** 1,500 distinct small PNG files (gradients with a per-file pattern), like a camera's folder of parts. */
async function makeImportFolder(dir: string, n: number): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const w = 256;
  const h = 256;
  for (let k = 0; k < n; k++) {
    const px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        px[o] = (x + k) & 255;
        px[o + 1] = (y * 3 + (k >> 8)) & 255;
        px[o + 2] = ((x ^ y) + k * 7) & 255;
      }
    }
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png({ compressionLevel: 6 })
      .toFile(path.join(dir, `part-${String(k).padStart(5, '0')}.png`));
  }
}

// ---- in-page probes (strings: this tsconfig has no DOM types) ---------------------------------

/** Records when the first queue row and the first part image appear (performance.now(), from navigation start). */
const FIRST_PAINT_PROBE = `(() => {
  const w = window;
  w.__kensaPaint = { row: null, part: null };
  const check = () => {
    const p = w.__kensaPaint;
    if (p.row === null && document.querySelector('[data-testid="queue-row"]')) p.row = performance.now();
    const view = document.querySelector('[data-testid="part-view"]');
    if (p.part === null && view && view.getAttribute('data-image-id')) {
      p.part = -1;
      requestAnimationFrame(() => { p.part = performance.now(); });
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-image-id'] });
})()`;

/** Presses J (a keydown on the window, as the keyboard sends it) and resolves with ms until the new part is on screen. */
const PRESS_J = `new Promise((resolve, reject) => {
  const view = document.querySelector('[data-testid="part-view"]');
  if (!view) return reject(new Error('no part view'));
  const before = view.getAttribute('data-image-id');
  const t0 = performance.now();
  const timer = setTimeout(() => { obs.disconnect(); reject(new Error('J: no new part in 10 s')); }, 10000);
  const obs = new MutationObserver(() => {
    const now = view.getAttribute('data-image-id');
    if (now && now !== before) {
      obs.disconnect();
      clearTimeout(timer);
      requestAnimationFrame(() => resolve(performance.now() - t0));
    }
  });
  obs.observe(view, { attributes: true, attributeFilter: ['data-image-id'] });
  window.dispatchEvent(new KeyboardEvent('keydown', { key: 'j', bubbles: true }));
})`;

/** Polls a page expression until it is truthy (page.waitForFunction evaluates strings, which the renderer's CSP forbids). */
async function waitFor(page: Page, expr: string, timeoutMs: number, pollMs = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (await page.evaluate(expr)) return true;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}

async function heapMb(page: Page): Promise<number> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('HeapProfiler.collectGarbage');
  const r = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number };
  await cdp.detach();
  return r.usedSize / 1024 / 1024;
}

async function firstPaint(browser: Browser, url: string): Promise<{ ms: number; row: number; part: number; page: Page }> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.addInitScript(FIRST_PAINT_PROBE);
  await page.goto(url);
  if (!(await waitFor(page, 'window.__kensaPaint && window.__kensaPaint.row !== null && window.__kensaPaint.part > 0', 60_000, 50))) throw new Error('the review screen did not paint a queue row and a part within 60 s');
  const p = (await page.evaluate('window.__kensaPaint')) as { row: number; part: number };
  return { ms: Math.max(p.row, p.part), row: p.row, part: p.part, page };
}

// ---- the run ----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const root = path.join(repoRoot, 'bench', 'tmp', `scale-${PARTS}-${Date.now().toString(36)}`);
  const projectDir = path.join(root, 'project');
  const configDir = path.join(root, 'config');
  const importDir = path.join(root, 'import');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(path.join(configDir, 'settings.json'), JSON.stringify({ reviewer: 'Bench Reviewer', recent: [] }));
  const rows: [string, string, string][] = [];
  const out: Record<string, unknown> = { parts: PARTS };
  // This machine's 1-minute load average at the start and end: the timings mean little without it on a shared machine.
  const loadStart = os.loadavg()[0]!;
  let host: HostProc | null = null;
  let browser: Browser | null = null;
  let cluster: PgCluster | null = null;
  try {
    ensureRenderer();
    if (values.pg) {
      cluster = await startPgCluster();
      process.env.PGPASSWORD = PG_PASSWORD; // the host inherits it: the shared project file has no password
      out.store = 'postgres';
    }
    const gen = await generateScaleProject({ dir: projectDir, parts: PARTS, log, ...(cluster ? { store: `${cluster.url()}?schema=scale` } : {}) });
    rows.push(['generate project', `${gen.seconds.total.toFixed(1)} s`, `fit ${gen.seconds.fit.toFixed(1)} s, pool ${gen.seconds.poolScore.toFixed(1)} s, ${PARTS.toLocaleString('en-US')} rows ${gen.seconds.rows.toFixed(1)} s, ${gen.reviewed} verdicts ${gen.seconds.verdicts.toFixed(1)} s`]);
    log(`making ${IMPORT_FILES} PNG files to import…`);
    await makeImportFolder(importDir, IMPORT_FILES);

    host = await startHost(projectDir, configDir);
    const st = await host.call<{ counts: { inspect: number; flagged: number; reviewed: number } }>('projects.state');
    log(`host up: ${st.counts.inspect} parts, ${st.counts.flagged} flagged, ${st.counts.reviewed} reviewed; RSS ${host.rssMb().rss.toFixed(0)} MB`);

    // ---- browser: first paint, J, page heap ----
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
    const loads: { ms: number; row: number; part: number }[] = [];
    let page: Page | null = null;
    for (let i = 0; i < FIRST_PAINT_LOADS; i++) {
      const r = await firstPaint(browser, host.url);
      loads.push(r);
      if (page) await page.close();
      page = r.page;
    }
    const fp = median(loads.map((l) => l.ms));
    out.firstPaintMs = Math.round(fp);
    rows.push(['first paint (review screen)', `${fp.toFixed(0)} ms`, `loads ${loads.map((l) => `${l.ms.toFixed(0)}`).join(' / ')} ms (row ${loads.map((l) => l.row.toFixed(0)).join('/')}, part ${loads.map((l) => l.part.toFixed(0)).join('/')})`]);

    const p = page!;
    await p.waitForTimeout(1000);
    const heapStart = await heapMb(p);
    const js: number[] = [];
    for (let i = 0; i < 30; i++) {
      js.push((await p.evaluate(PRESS_J)) as number);
      await p.waitForTimeout(400);
    }
    out.nextPartMs = Math.round(median(js) * 10) / 10;
    out.nextPartP95Ms = Math.round(quantile(js, 0.95) * 10) / 10;
    rows.push(['next part (J)', `${median(js).toFixed(1)} ms`, `p95 ${quantile(js, 0.95).toFixed(1)} ms, max ${Math.max(...js).toFixed(1)} ms over ${js.length} presses`]);

    const heapBefore = await heapMb(p); // after the J presses
    const PAGES = 50;
    for (let k = 0; k < PAGES; k++) {
      // Scroll the list to its end: the queue loads the next page of 200.
      const before = await p.locator('[data-testid="queue-list"] ol').getAttribute('style');
      await p.evaluate(`(() => { const l = document.querySelector('[data-testid="queue-list"]'); l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event('scroll')); })()`);
      await waitFor(p, `document.querySelector('[data-testid="queue-list"] ol')?.getAttribute('style') !== ${JSON.stringify(before)}`, 20_000);
      await p.waitForTimeout(100);
    }
    await p.waitForTimeout(1500);
    const loadedRows = Number(((await p.locator('[data-testid="queue-list"] ol').getAttribute('style')) ?? '').replace(/\D+/g, '')) / 56;
    const heapAfter = await heapMb(p);
    out.pageHeapMb = { start: Math.round(heapStart * 10) / 10, afterJ: Math.round(heapBefore * 10) / 10, afterScroll: Math.round(heapAfter * 10) / 10, rowsLoaded: Math.round(loadedRows) };
    rows.push(['page JS heap', `${heapStart.toFixed(1)} → ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MB`, `at the first part / after ${js.length} × J / after scrolling the queue list through ${PAGES} pages (${Math.round(loadedRows)} rows loaded), after GC`]);
    await browser.close();
    browser = null;

    // ---- API: verdicts ----
    const picks: number[] = [];
    for (const filter of ['flagged', 'passed'] as const) {
      let after: unknown = undefined;
      while (picks.length < (filter === 'flagged' ? 120 : 200)) {
        const page = await host.call<{ items: { imageId: number; verdict: string | null }[]; next: unknown }>('review.queue', { filter, limit: 500, ...(after ? { after } : {}) });
        for (const it of page.items) if (it.verdict === null && picks.length < (filter === 'flagged' ? 120 : 200)) picks.push(it.imageId);
        if (!page.next) break;
        after = page.next;
      }
    }
    const vt: number[] = [];
    for (const [i, imageId] of picks.entries()) {
      const t = performance.now();
      await host.call('review.verdict', i % 4 === 0 ? { imageId, verdict: 'defect', defectType: 'contamination' } : { imageId, verdict: 'good' });
      vt.push(performance.now() - t);
    }
    out.verdictP95Ms = Math.round(quantile(vt, 0.95) * 10) / 10;
    rows.push(['verdict (API)', `p95 ${quantile(vt, 0.95).toFixed(1)} ms`, `median ${median(vt).toFixed(1)} ms, max ${Math.max(...vt).toFixed(1)} ms over ${vt.length} calls`]);

    // ---- API: threshold.stats ----
    const s0 = performance.now();
    await host.call('threshold.stats', {});
    const firstStats = performance.now() - s0;
    const sts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await host.call('threshold.stats', { margin: { kind: 'spread', value: 0.1 } });
      sts.push(performance.now() - t);
    }
    out.statsMs = Math.round(median(sts) * 10) / 10;
    rows.push(['threshold.stats (API)', `${median(sts).toFixed(1)} ms`, `first call ${firstStats.toFixed(1)} ms, max ${Math.max(...sts).toFixed(1)} ms`]);

    // ---- API: page through the whole queue; the host's memory ----
    const rssBefore = host.rssMb();
    const tq = performance.now();
    let after: unknown = undefined;
    let seen = 0;
    let pages = 0;
    const rssSeries: number[] = [];
    do {
      const page = await host.call<{ items: unknown[]; next: unknown }>('review.queue', { limit: 500, ...(after ? { after } : {}) });
      seen += page.items.length;
      pages++;
      after = page.next;
      if (pages % 50 === 0) rssSeries.push(host.rssMb().rss);
    } while (after);
    const pagingMs = performance.now() - tq;
    const rssAfter = host.rssMb();
    out.hostRssMb = Math.round(rssAfter.rss);
    out.hostRssBeforeMb = Math.round(rssBefore.rss);
    rows.push(['host RSS (paging the queue)', `${rssAfter.rss.toFixed(0)} MB`, `before ${rssBefore.rss.toFixed(0)} MB, every 50 pages ${rssSeries.map((r) => r.toFixed(0)).join(' ')} MB, peak ${rssAfter.peak.toFixed(0)} MB; ${seen} parts in ${pages} pages, ${(pagingMs / pages).toFixed(1)} ms/page`]);

    // ---- API: report ----
    const today = new Date().toISOString().slice(0, 10);
    const th = performance.now();
    const html = await host.call<{ bytes: number; parts: number }>('report.export', { format: 'html', from: today });
    const htmlSeconds = (performance.now() - th) / 1000;
    const tp = performance.now();
    const pdf = await host.call<{ bytes: number; parts: number }>('report.export', { format: 'pdf', from: today });
    const pdfSeconds = (performance.now() - tp) / 1000;
    out.reportSeconds = Math.round(pdfSeconds * 10) / 10;
    out.reportHtmlSeconds = Math.round(htmlSeconds * 10) / 10;
    rows.push(['audit report (PDF)', `${pdfSeconds.toFixed(1)} s`, `${pdf.parts} reviewed parts listed, ${(pdf.bytes / 1024 / 1024).toFixed(1)} MB; HTML ${htmlSeconds.toFixed(1)} s, ${(html.bytes / 1024 / 1024).toFixed(1)} MB`]);

    // ---- API: import ----
    const ti = performance.now();
    const imp = await host.call<{ added: number; existing: number; errors: unknown[] }>('images.import', { paths: [importDir], role: 'inspect' });
    const importSeconds = (performance.now() - ti) / 1000;
    out.importFilesPerSecond = Math.round(IMPORT_FILES / importSeconds);
    rows.push(['import (API)', `${(IMPORT_FILES / importSeconds).toFixed(0)} files/s`, `${imp.added} added, ${imp.existing} existing, ${imp.errors.length} errors in ${importSeconds.toFixed(1)} s`]);
  } finally {
    if (browser) await browser.close().catch(() => undefined);
    if (host) await stopHost(host);
    cluster?.stop();
    if (!values.keep) rmSync(root, { recursive: true, force: true });
    else log(`kept ${root}`);
  }

  const met: Record<string, boolean> = {};
  for (const [k, limit] of Object.entries(TARGETS)) {
    const v = out[k];
    if (typeof v === 'number') met[k] = k === 'importFilesPerSecond' ? v >= limit : v <= limit;
  }
  out.targets = met;
  out.loadAverage = { start: Math.round(loadStart * 100) / 100, end: Math.round(os.loadavg()[0]! * 100) / 100, cpus: os.cpus().length };
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  console.log(`\nScale bench: ${PARTS.toLocaleString('en-US')} parts (${os.cpus().length} CPUs, load average ${loadStart.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end)`);
  for (const [a, b, c] of rows) console.log(`  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`);
  console.log(`  targets: ${Object.entries(TARGETS).map(([k, v]) => `${k} ${k === 'importFilesPerSecond' ? '≥' : '≤'} ${v} ${met[k] ? 'met' : 'NOT met'}`).join('; ')}`);
  console.log(JSON.stringify(out));
}

await main();
