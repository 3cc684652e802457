/**
 * The Line screen end to end, against the REAL loopback host, engine and files: a fitted
 * sample project; the line is set up in the UI (a watched folder, the CSV log) and started;
 * parts written into the folder the way a camera does (temporary name, then a rename) appear
 * in the live counts, a bad file in the quarantine list, the CSV output's delivered count;
 * the storage card applies a retention policy and shows the passed maps as previews.
 * Screenshots: test-results/screens/line-{dark,light}.png and line-settings-{dark,light}.png.
 */
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import path from 'node:path';
import type { ProjectState } from '../../src-main/shared/api';
import type { LineStatus } from '../../src-main/shared/line';
import { call, expect, setTheme, shoot, test } from './fixtures';

test('line: watch a folder, score parts as they arrive, publish, quarantine a bad file, keep storage in check', async ({ page, host }) => {
  test.setTimeout(300_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  await call(host, 'app.setReviewer', { name: 'Line Lead' });
  const demoDir = path.join(host.tmp, 'sample');
  await call<ProjectState>(host, 'projects.createDemo', { dir: demoDir });
  await call(host, 'jobs.fit', {});
  for (let i = 0; i < 600; i++) {
    const st = await call<ProjectState>(host, 'projects.state');
    if (st.activeModel && !st.job) break;
    await new Promise((r) => setTimeout(r, 500));
  }

  await page.goto(host.url);
  await setTheme(page, 'dark'); // through the toggle, before a dialog covers it
  await page.getByTestId('tab-line').click();
  await expect(page.getByTestId('line-view')).toBeVisible();
  await expect(page.getByTestId('line-state')).toHaveText('Off');

  // Set the line up in the settings dialog.
  const camera = path.join(host.tmp, 'camera');
  mkdirSync(camera);
  await page.getByTestId('line-edit').click();
  await expect(page.getByTestId('line-settings')).toBeVisible();
  await page.getByTestId('line-station-input').fill('cell-7');
  await page.getByTestId('line-add-folder').click();
  await page.getByTestId('line-folder-path').fill(camera);
  await page.getByTestId('line-csv-toggle').check();
  await page.getByTestId('line-enabled').check();
  await shoot(page, 'line-settings');
  await page.getByTestId('line-save').click();
  await expect(page.getByTestId('line-state')).toHaveText('Running', { timeout: 30_000 });
  await expect(page.getByTestId('line-station')).toHaveText('cell-7');

  // A camera writes parts under a temporary name, then renames them. (The sample's parts are
  // mirrored: new parts, not copies of the ones the project already holds.)
  const inspect = path.join(demoDir, 'sample-images', 'inspect');
  const parts = readdirSync(inspect).sort().slice(0, 12);
  for (const name of parts) {
    await sharp(path.join(inspect, name)).flop().png().toFile(path.join(camera, `${name}.part`));
    renameSync(path.join(camera, `${name}.part`), path.join(camera, `line-${name}`));
    await new Promise((r) => setTimeout(r, 100));
  }
  writeFileSync(path.join(camera, 'torn.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));

  await expect
    .poll(async () => {
      const s = await call<LineStatus>(host, 'line.status');
      return s.totals.parts - s.totals.unscored;
    }, { timeout: 120_000 })
    .toBe(parts.length);
  const s = await call<LineStatus>(host, 'line.status');
  const shown = async (id: string): Promise<number> => Number((await page.getByTestId(id).textContent())?.replace(/[^0-9]/g, ''));
  await expect.poll(async () => (await shown('line-pass')) + (await shown('line-review')) + (await shown('line-reject')), { timeout: 10_000 }).toBe(parts.length);
  expect(s.totals.pass + s.totals.review + s.totals.reject).toBe(parts.length);
  await expect(page.getByTestId('line-quarantine')).toContainText('torn.png');
  await expect(page.getByTestId('line-sink-csv')).toContainText(String(parts.length));
  await expect(page.getByTestId('line-p50')).not.toHaveText('—');

  // The CSV log holds one row per part, in arrival order.
  const csv = readFileSync(path.join(demoDir, 'line', 'results.csv'), 'utf8').trim().split(/\r?\n/);
  const header = csv[0]!.split(',');
  expect(csv.slice(1).map((l) => l.split(',')[header.indexOf('file')])).toEqual(parts.map((n) => `line-${n}`));
  await shoot(page, 'line');

  // Storage: reduce every passed map now (0 days) to a preview; flagged and reviewed maps stay whole.
  await expect.poll(() => shown('storage-passed-full'), { timeout: 15_000 }).toBe(s.totals.pass);
  const passedBefore = await shown('storage-passed-full');
  expect(passedBefore).toBeGreaterThan(0);
  await page.getByTestId('retention-days').fill('0');
  await page.getByTestId('retention-save').click();
  await expect(page.getByTestId('retention-apply')).toBeEnabled();
  await page.getByTestId('retention-apply').click();
  await expect.poll(() => shown('storage-passed-preview')).toBe(passedBefore);
  await expect.poll(() => shown('storage-passed-full')).toBe(0);

  await page.getByTestId('line-stop').click();
  await expect(page.getByTestId('line-state')).toHaveText('Off', { timeout: 20_000 });
  expect(pageErrors).toEqual([]);
});
