/**
 * Two review stations on one shared project, end to end, against two REAL loopback hosts and
 * a throwaway PostgreSQL cluster (test/helpers/pg-cluster.ts):
 *
 *   station-1 creates the shared project (records in PostgreSQL, files in the folder), imports
 *   synthetic washers, fits and scores → station-2 (its own host, config and PGPASSWORD) opens
 *   the same folder → station-1 opens the top flagged part → station-2 opens another part by
 *   itself, sees the claim badge on that row, and, opening it, the banner → J at station-1
 *   passes over the part station-2 has open → station-1's defect verdict (keyboard) shows in
 *   station-2's row within a second (measured and printed), and the banner goes when
 *   station-1 moves on → after a verdict, station-1 opens the next part station-2 is NOT
 *   reviewing → a threshold change from station-2 based on a stale threshold is refused,
 *   naming who changed it → while a model change runs at station-1 (its lock), station-2's
 *   status bar says so and its refit is refused with that message.
 *
 * Screens: test-results/screens/stations-*-<theme>.png (station-2's review screen).
 * Skipped where PostgreSQL is not installed (scripts/setup.sh installs it as root).
 */
import path from 'node:path';
import type { Page } from '@playwright/test';
import type { ProjectState, QueueEntry, QueuePage, StationsInfo } from '../../src-main/shared/api';
import { writeDemoImages } from '../../src-main/services/demo';
import { fmtScore } from '../../src-renderer/src/lib/format';
import { PG_PASSWORD, pgBinDir, psql, startPgCluster, type PgCluster } from '../helpers/pg-cluster';
import { blurFocus, call, expect, shoot, startHost, test, type RunningHost } from './fixtures';

const row = (page: Page, imageId: number) => page.locator(`[data-testid="queue-row"][data-image-id="${imageId}"]`);
const selectedId = async (page: Page): Promise<number> => Number(await page.locator('[data-testid="queue-row"].sel').getAttribute('data-image-id'));

test('two stations on one PostgreSQL project: claims, banner, cross-station verdict, stale threshold refused', async ({ page, context }) => {
  test.setTimeout(420_000);
  test.skip(!pgBinDir(), 'PostgreSQL is not installed (apt-get install postgresql)');

  let cluster: PgCluster | null = null;
  const hosts: RunningHost[] = [];
  try {
    cluster = await startPgCluster();
    const [one, two] = await Promise.all([
      // station-1 creates the project with the password in the URL; kensa-project.json keeps
      // no password, so station-2 brings its own (PGPASSWORD), as a real station would.
      startHost({ KENSA_STATION: 'station-1' }),
      startHost({ KENSA_STATION: 'station-2', PGPASSWORD: PG_PASSWORD }),
    ]);
    hosts.push(one!, two!);
    const host1 = one!;
    const host2 = two!;
    await call(host1, 'app.setReviewer', { name: 'Ann' });
    await call(host2, 'app.setReviewer', { name: 'Bo' });

    // ---- the shared project, made at station-1 ------------------------------------------
    const dir = path.join(host1.tmp, 'shared-washers');
    await call<ProjectState>(host1, 'projects.create', { dir, name: 'Washers, two stations', store: `${cluster.url()}?schema=e2e_stations` });
    const layout = await writeDemoImages(dir, { train: 24, goodInspect: 8, defective: 6 });
    await call(host1, 'images.import', { paths: [layout.trainDir], role: 'train' });
    await call(host1, 'images.import', { paths: [layout.inspectDir], role: 'inspect' });
    await call(host1, 'jobs.fit', {});
    await expect
      .poll(
        async () => {
          const st = await call<ProjectState>(host1, 'projects.state');
          return st.threshold !== null && !st.job;
        },
        { timeout: 240_000 },
      )
      .toBe(true);
    await call(host1, 'jobs.score', {});
    await expect.poll(async () => (await call<ProjectState>(host1, 'projects.state')).counts.unscored, { timeout: 240_000 }).toBe(0);

    // ---- station-2 opens the same folder ----------------------------------------------------
    const st2 = await call<ProjectState>(host2, 'projects.open', { dir });
    expect(st2.counts.scored).toBe(layout.inspect);
    const info2 = await call<StationsInfo>(host2, 'stations.status');
    expect(info2.station).toBe('station-2');
    expect(info2.store.engine).toBe('postgres');
    expect(info2.store.label).not.toContain(PG_PASSWORD);
    await expect.poll(async () => (await call<StationsInfo>(host2, 'stations.status')).feed).toBe('notify');

    // The queue in its order (score, highest first): the top part is flagged.
    const all = (await call<QueuePage>(host1, 'review.queue', { filter: 'all' })).items;
    expect(all.length).toBe(layout.inspect);
    const [top, second, third, fourth] = all as [QueueEntry, QueueEntry, QueueEntry, QueueEntry];
    expect(top.flagged).toBe(true);
    const claimsAt = async (h: RunningHost): Promise<string[]> => (await call<StationsInfo>(h, 'stations.status')).claims.map((c) => `${c.imageId}:${c.station}:${c.reviewer}`).sort();

    // ---- station-1 opens the top flagged part (the queue opens it by itself) ---------------
    const page1 = page;
    const page2 = await context.newPage();
    const errors: string[] = [];
    for (const p of [page1, page2]) p.on('pageerror', (e) => errors.push(e.message));
    await page1.goto(host1.url);
    await expect(page1.getByTestId('review-view')).toBeVisible();
    await expect.poll(() => selectedId(page1)).toBe(top.imageId);
    // Claimed once the selection rests on it: station-2's host sees it.
    await expect.poll(() => claimsAt(host2)).toEqual([`${top.imageId}:station-1:Ann`]);

    // ---- station-2: opens another part by itself; the badge; the banner ---------------------
    await page2.goto(host2.url);
    await expect(page2.getByTestId('review-view')).toBeVisible();
    await expect(page2.getByTestId('status-station')).toContainText('station-2');
    await expect(page2.getByTestId('status-station')).toContainText('PostgreSQL');
    await expect(page2.getByTestId('status-feed')).toHaveText('live feed');
    // Station-1 is reviewing the top part: station-2's queue opens the next one.
    await expect.poll(() => selectedId(page2)).toBe(second.imageId);
    const badge = row(page2, top.imageId).getByTestId('claim-badge');
    await expect(badge).toHaveText('Ann@station-1');
    await expect(badge).toHaveAttribute('title', /Ann is reviewing this part at station-1 \(claim until \d\d:\d\d:\d\d/);
    await expect(page2.getByTestId('claim-banner')).toBeHidden();
    await row(page2, top.imageId).click();
    await blurFocus(page2);
    const banner = page2.getByTestId('claim-banner');
    await expect(banner).toBeVisible();
    await expect(banner).toContainText('Ann is reviewing this part at station-1.');
    await expect(banner).toContainText('A verdict given here is recorded too');
    await expect(page2.getByTestId('part-view')).toHaveAttribute('data-has-map', 'true', { timeout: 30_000 });
    await shoot(page2, 'stations-claimed');
    // Station-1 sees no banner on its own part.
    await expect(page1.getByTestId('claim-banner')).toBeHidden();

    // ---- J at station-1 passes over the part station-2 has open -----------------------------
    await row(page2, second.imageId).click();
    await blurFocus(page2);
    await expect(row(page1, second.imageId).getByTestId('claim-badge')).toHaveText('Bo@station-2');
    await expect(row(page1, top.imageId).getByTestId('claim-badge')).toHaveCount(0);
    await blurFocus(page1);
    await page1.keyboard.press('j');
    await expect.poll(() => selectedId(page1)).toBe(third.imageId);
    await page1.keyboard.press('k');
    await expect.poll(() => selectedId(page1)).toBe(top.imageId);
    // ... and a click still opens it (the banner tells station-1 who has it).
    await row(page1, second.imageId).click();
    await expect(page1.getByTestId('claim-banner')).toContainText('Bo is reviewing this part at station-2.');
    await row(page1, top.imageId).click();
    await blurFocus(page1);
    await expect(page1.getByTestId('claim-banner')).toBeHidden();
    await expect.poll(() => claimsAt(host2)).toEqual([`${top.imageId}:station-1:Ann`, `${second.imageId}:station-2:Bo`].sort());

    // Station-2 back on the top part (held by station-1 again).
    await row(page2, top.imageId).click();
    await blurFocus(page2);
    await expect(page2.getByTestId('claim-banner')).toContainText('Ann is reviewing this part at station-1.');
    await expect(row(page2, top.imageId)).toHaveAttribute('data-verdict', '');

    // ---- station-1's verdict, by keyboard, seen at station-2 --------------------------------
    // Station-2's page notes (its own clock, which is this machine's) when the row shows it.
    const verdictShown = (p: Page): Promise<number> =>
      p.evaluate(`new Promise((resolve) => {
        const tick = () => {
          const r = document.querySelector('[data-testid="queue-row"][data-image-id="${top.imageId}"]');
          if (r && r.dataset.verdict) resolve(Date.now()); else setTimeout(tick, 5);
        };
        tick();
      })`) as Promise<number>;
    const seen = verdictShown(page2);
    const own = verdictShown(page1);
    await page1.keyboard.press('d');
    await expect(page1.getByTestId('defect-prompt')).toBeVisible();
    await page1.keyboard.type('scratch');
    const t0 = Date.now();
    await page1.keyboard.press('Enter');
    await expect(row(page2, top.imageId)).toHaveAttribute('data-verdict', 'defect', { timeout: 2000 });
    const delay = (await seen) - t0;
    console.log(`station-1 verdict (Enter) → shown in station-1's own row: ${(await own) - t0} ms, in station-2's row: ${delay} ms`);
    expect(delay).toBeLessThan(1000);
    await expect(row(page2, top.imageId)).toContainText('defect · scratch');
    // The open part's history at station-2 has it too; station-1 moved on, so the banner went.
    await expect(page2.getByTestId('current-verdict')).toContainText('Defect · scratch');
    await expect(page2.getByTestId('verdict-history')).toContainText('Ann');
    await expect(page2.getByTestId('claim-banner')).toBeHidden();
    // Station-1 moved on to the next unreviewed part; station-2 now holds the part it has open.
    await expect.poll(() => selectedId(page1)).toBe(second.imageId);
    await expect.poll(() => claimsAt(host1)).toEqual([`${top.imageId}:station-2:Bo`, `${second.imageId}:station-1:Ann`].sort());
    await expect(page2.getByTestId('filter-count-defect')).toHaveText('1');
    await shoot(page2, 'stations-verdict-seen');

    // ---- after a verdict, the next part opened is not one another station is reviewing ------
    await row(page2, third.imageId).click();
    await blurFocus(page2);
    await expect(row(page1, third.imageId).getByTestId('claim-badge')).toHaveText('Bo@station-2');
    await page1.keyboard.press('g');
    await expect(row(page2, second.imageId)).toHaveAttribute('data-verdict', 'good', { timeout: 2000 });
    await expect.poll(() => selectedId(page1)).toBe(fourth.imageId);

    // ---- a threshold tuned against a stale one is refused ------------------------------------
    const base = (await call<ProjectState>(host2, 'projects.state')).threshold!;
    await call(host1, 'threshold.set', { value: base.value * 1.01, reason: 'e2e: station-1 tightens', basedOn: base.id });
    const refused = call(host2, 'threshold.set', { value: base.value * 0.99, reason: 'e2e: station-2 tuned against the old one', basedOn: base.id });
    await expect(refused).rejects.toThrow(/Ann|station-1/);
    const msg = await refused.catch((e: Error) => e.message);
    console.log(`stale threshold.set at station-2: ${msg}`);
    // The threshold station-1 set stands, and station-2's screen follows it.
    const now = (await call<ProjectState>(host2, 'projects.state')).threshold!;
    expect(now.id).not.toBe(base.id);
    expect(now.setBy).toBe('Ann');
    await expect(page2.getByTestId('status-threshold')).toContainText(fmtScore(now.value));

    // ---- a model change running at station-1: station-2's status bar says so, and its refit is refused
    // (the lock a refit at station-1 would hold, written behind Kensa's back)
    const at = '(extract(epoch FROM clock_timestamp()) * 1000)';
    psql(cluster.url(), `INSERT INTO e2e_stations.station_locks VALUES ('refit', 'station-1', 'Ann', 'refit of v1', ${at}, ${at} + 120000)`);
    await expect(page2.getByTestId('status-lock')).toHaveText('Model change at station-1');
    await page2.getByTestId('tab-fit').click();
    await page2.getByTestId('refit-start').click();
    const refusedToast = page2.getByTestId('toast-error');
    await expect(refusedToast).toContainText('Ann on station station-1 is already doing this (refit of v1');
    await shoot(page2, 'stations-refit-refused', { keepToasts: true });
    psql(cluster.url(), `DELETE FROM e2e_stations.station_locks WHERE name = 'refit'`);
    await expect(page2.getByTestId('status-lock')).toHaveCount(0);

    expect(errors).toEqual([]);
  } finally {
    await Promise.all(hosts.map((h) => h.stop()));
    cluster?.stop();
  }
});
