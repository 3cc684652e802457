/**
 * Defect regions end to end, against the REAL loopback host: the sample project (set up through
 * the API with the host's token) → review screen → zoom in → R → a 4-point polygon by mouse
 * clicks → Enter → D → defect type → Enter. Then review.part returns the region in IMAGE
 * coordinates matching the clicks, and regions.export writes a mask whose white area is the
 * polygon's area. Screens: test-results/screens/regions-{dark,light}.png.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { blurFocus, call, expect, shoot, test, type Host } from './fixtures';


interface State {
  counts: { train: number; inspect: number; scored: number };
  activeModel: { version: number } | null;
  job: unknown;
}

async function waitFor(host: Host, what: string, ok: (s: State) => boolean, ms = 180_000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await call<State | null>(host, 'projects.state');
    if (s && ok(s)) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s?.counts)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function shoelace(p: number[]): number {
  let a = 0;
  const n = p.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) a += p[2 * j]! * p[2 * i + 1]! - p[2 * i]! * p[2 * j + 1]!;
  return Math.abs(a) / 2;
}

// ---- the flow ------------------------------------------------------------------------------

test('mark a defect polygon under zoom, save it with D, read it back and export the mask', async ({ page, host }) => {
  test.setTimeout(360_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));

  await call(host, 'app.setReviewer', { name: 'Region Tester' });
  await call(host, 'projects.createDemo', { dir: path.join(host.tmp, 'sample') });
  await waitFor(host, 'the sample parts', (s) => s.counts.train > 0 && s.counts.inspect > 0 && !s.job);
  await call(host, 'jobs.fit', {});
  await waitFor(host, 'the fit', (s) => s.activeModel !== null && !s.job);
  await call(host, 'jobs.score', {});
  await waitFor(host, 'the scores', (s) => s.counts.scored === s.counts.inspect && !s.job);

  await page.goto(host.url);
  await page.getByTestId('tab-review').click();
  const view = page.getByTestId('part-view');
  await expect(view).toHaveAttribute('data-has-map', 'true', { timeout: 30_000 });
  const imageId = Number(await view.getAttribute('data-image-id'));
  expect(imageId).toBeGreaterThan(0);
  const before = await call<{ entry: { width: number; height: number } }>(host, 'review.part', { imageId });
  const { width: iw, height: ih } = before.entry;

  // Zoom in once (the drawing must go through the viewer's transform), then mark.
  await blurFocus(page);
  await page.keyboard.press('+');
  await expect(page.getByTestId('zoom-level')).toHaveText('1.3×');
  await page.keyboard.press('r');
  await expect(page.getByTestId('mark-toolbar')).toBeVisible();
  await expect(page.getByTestId('tool-polygon')).toHaveClass(/on/);

  // Where the image lies in the pane: fitted (98 %), times the zoom, centred (no pan).
  const box = (await page.getByTestId('viewer-pane-overlay').boundingBox())!;
  const s = Math.min(box.width / iw, box.height / ih) * 0.98 * 1.25;
  const left = box.x + box.width / 2 - (iw * s) / 2;
  const top = box.y + box.height / 2 - (ih * s) / 2;
  const toScreen = (x: number, y: number): [number, number] => [left + x * s, top + y * s];
  // A quadrilateral around the image centre, in image pixels.
  const want = [0.38 * iw, 0.36 * ih, 0.62 * iw, 0.4 * ih, 0.6 * iw, 0.63 * ih, 0.4 * iw, 0.6 * ih];
  for (let i = 0; i < 4; i++) {
    const [x, y] = toScreen(want[2 * i]!, want[2 * i + 1]!);
    await page.mouse.click(x, y);
    await page.waitForTimeout(600); // not a double-click
  }
  await expect(page.getByTestId('regions-count')).toContainText('drawing 4 points');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('regions-count')).toContainText('1 region');
  await expect(page.getByTestId('drawn-region')).toHaveCount(1);
  await shoot(page, 'regions');

  // A Good verdict first asks to discard the regions: keep them.
  await page.keyboard.press('g');
  await expect(page.getByTestId('discard-regions')).toBeVisible();
  await page.getByTestId('discard-cancel').click();
  await expect(page.getByTestId('discard-regions')).toBeHidden();
  await blurFocus(page);

  await page.keyboard.press('d');
  await expect(page.getByTestId('defect-prompt')).toBeVisible();
  await page.getByTestId('defect-type-input').fill('dent');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('defect-prompt')).toBeHidden();
  await expect(page.getByTestId('mark-toolbar')).toBeHidden();

  // Back in the API: the region in image coordinates, within ~1.5 screen pixels of the clicks.
  const after = await call<{ entry: { verdict: string; defectType: string }; history: { regions: { width: number; height: number; regions: { kind: string; points: number[] }[] } | null }[] }>(
    host,
    'review.part',
    { imageId },
  );
  expect(after.entry.verdict).toBe('defect');
  expect(after.entry.defectType).toBe('dent');
  const set = after.history[after.history.length - 1]!.regions!;
  expect(set).not.toBeNull();
  expect([set.width, set.height]).toEqual([iw, ih]);
  expect(set.regions).toHaveLength(1);
  expect(set.regions[0]!.kind).toBe('polygon');
  const got = set.regions[0]!.points;
  expect(got).toHaveLength(8);
  const tol = Math.max(1.5 / s, 1);
  for (let k = 0; k < 8; k++) expect(Math.abs(got[k]! - want[k]!)).toBeLessThanOrEqual(tol);

  // The history names the regions; the saved outline shows when the part is opened again.
  await page.locator(`[data-testid="queue-row"][data-image-id="${imageId}"]`).click();
  await blurFocus(page);
  await expect(view).toHaveAttribute('data-image-id', String(imageId));
  await expect(page.getByTestId('history-regions').first()).toHaveText(/1 region$/);
  await expect(page.getByTestId('saved-regions').locator('polygon')).toHaveCount(1);
  await expect(page.getByTestId('toggle-saved-regions')).toBeVisible();
  await shoot(page, 'regions-saved');
  const exported = await call<{ dir: string; masks: number; annotations: number }>(host, 'regions.export');
  expect(exported.masks).toBe(1);
  expect(exported.annotations).toBe(1);
  const maskFile = readdirSync(path.join(exported.dir, 'masks')).find((f) => f.startsWith(`${imageId}_`))!;
  expect(maskFile).toBeTruthy();
  const { data, info } = await sharp(path.join(exported.dir, 'masks', maskFile)).greyscale().raw().toBuffer({ resolveWithObject: true });
  expect([info.width, info.height]).toEqual([iw, ih]);
  let white = 0;
  for (let i = 0; i < data.length; i += info.channels) if (data[i]! > 127) white += 1;
  const area = shoelace(want);
  expect(Math.abs(white - area) / area).toBeLessThan(0.05);
  expect(existsSync(path.join(exported.dir, 'coco.json'))).toBe(true);
  expect(errors).toEqual([]);
});
