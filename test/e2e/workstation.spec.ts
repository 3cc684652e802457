/**
 * The workstation in a browser, end to end, against the REAL loopback host and engine:
 *
 *   set reviewer → create project → import 30 good bottles for training → import 12 parts to
 *   inspect + 1 corrupt file (its per-file error is listed) → fit → score → broken bottles on
 *   top of the queue → three verdicts by keyboard only (D, G, G) → threshold slider changes
 *   the flagged/passed counts → apply with a reason → reload → the verdicts are still there.
 *
 * Plus: the sample project button creates a project with parts.
 *
 * Every screen is saved in both themes to test-results/screens/<name>-<theme>.png.
 * Data: $KENSA_SHARED/data/mvtec/bottle (default ../shared). The renderer is built once for
 * the run by global-setup.ts (set KENSA_E2E_NO_BUILD=1 to skip when out/ is fresh).
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { blurFocus, expect, shared, shoot, test } from './fixtures';

const bottle = path.join(shared, 'data', 'mvtec', 'bottle');


function copySome(from: string, to: string, n: number, prefix: string): void {
  mkdirSync(to, { recursive: true });
  const files = readdirSync(from)
    .filter((f) => f.endsWith('.png'))
    .sort()
    .slice(0, n);
  for (const f of files) copyFileSync(path.join(from, f), path.join(to, `${prefix}${f}`));
}

/** The name of the part shown in the part panel. */
async function selectedName(page: Page): Promise<string> {
  return (await page.getByTestId('part-panel').locator('.name').innerText()).trim();
}

// ---- the flow ------------------------------------------------------------------------------

test('import → fit → score → review by keyboard → threshold → reload keeps the verdicts', async ({ page, host }) => {
  test.setTimeout(480_000);
  test.skip(!existsSync(path.join(bottle, 'train', 'good')), `no MVTec bottle data at ${bottle}`);

  const train = path.join(host.tmp, 'train');
  const inspect = path.join(host.tmp, 'inspect');
  copySome(path.join(bottle, 'train', 'good'), train, 30, 'good_');
  copySome(path.join(bottle, 'test', 'good'), inspect, 6, 'good_');
  copySome(path.join(bottle, 'test', 'broken_large'), inspect, 6, 'broken_');
  writeFileSync(path.join(inspect, 'corrupt_part.png'), Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('this is not really a PNG image')]));

  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));

  // Start: the reviewer prompt on first run.
  await page.goto(host.url);
  await expect(page.getByTestId('start-view')).toBeVisible();
  await expect(page.getByTestId('reviewer-form')).toBeVisible();
  await shoot(page, 'start-first-run');
  await page.getByTestId('reviewer-input').fill('QA Tester');
  await page.getByTestId('reviewer-save').click();
  await expect(page.getByTestId('reviewer-form')).toBeHidden();

  // A failed call shows a readable error (which folder, what is wrong), not a blank screen.
  await page.getByTestId('open-dir').fill(path.join(host.tmp, 'no-such-project'));
  await page.getByTestId('open-submit').click();
  const err = page.getByTestId('toast-error');
  await expect(err).toBeVisible();
  await expect(err).toContainText('no-such-project');
  await shoot(page, 'start', { keepToasts: true });
  await err.getByRole('button', { name: 'Dismiss' }).click();

  // Create the project.
  await page.getByTestId('create-name').fill('Bottles, line 1');
  await page.getByTestId('create-dir').fill(path.join(host.tmp, 'project'));
  await page.getByTestId('create-submit').click();
  await expect(page.getByTestId('import-view')).toBeVisible();
  await expect(page.getByTestId('project-name')).toHaveText('Bottles, line 1');

  // Import the training parts.
  await page.getByTestId('role-train').click();
  await page.getByTestId('import-path').fill(train);
  await page.getByTestId('import-submit').click();
  const latest = page.getByTestId('import-result').first();
  await expect(latest.getByTestId('import-added')).toHaveText('30', { timeout: 60_000 });
  await expect(page.getByTestId('count-train')).toHaveText('30');

  // Import the parts to inspect, with the corrupt file: its error is listed.
  await page.getByTestId('role-inspect').click();
  await page.getByTestId('import-path').fill(inspect);
  await page.getByTestId('import-submit').click();
  await expect(latest.getByTestId('import-added')).toHaveText('12', { timeout: 60_000 });
  await expect(latest.getByTestId('import-errors-count')).toHaveText('1');
  const errors = latest.getByTestId('import-errors');
  await expect(errors).toContainText('corrupt_part.png');
  await expect(errors.locator('li')).toHaveCount(1);
  await expect(page.getByTestId('count-inspect')).toHaveText('12');
  await shoot(page, 'import-errors');

  // Fit.
  await page.getByTestId('tab-fit').click();
  await expect(page.getByTestId('fit-view')).toBeVisible();
  await expect(page.getByTestId('fit-ratio')).toHaveValue('0.1');
  await page.getByTestId('fit-start').click();
  await expect(page.getByTestId('job-progress')).toBeVisible({ timeout: 15_000 });
  // Catch the bar with real numbers if the fit is not over by then (it takes seconds).
  await page
    .getByTestId('job-progress')
    .filter({ hasText: ' / ' })
    .waitFor({ timeout: 10_000 })
    .catch(() => {});
  await shoot(page, 'fit-progress');
  await expect(page.getByTestId('model-version')).toHaveText('v1', { timeout: 180_000 });
  await expect(page.getByTestId('job-outcome-fit')).toContainText('finished', { timeout: 30_000 });
  await expect(page.getByTestId('job-progress')).toBeHidden();
  await shoot(page, 'fit-summary');

  // Score.
  await page.getByTestId('score-start').click();
  await expect(page.getByTestId('job-outcome-score')).toContainText('finished', { timeout: 180_000 });
  await expect(page.getByTestId('go-review')).toBeVisible();
  await shoot(page, 'score-done');

  // Review: scores in the queue, broken bottles on top.
  await page.getByTestId('tab-review').click();
  await expect(page.getByTestId('review-view')).toBeVisible();
  const rows = page.getByTestId('queue-row');
  await expect(rows).toHaveCount(12);
  await expect(page.getByTestId('filter-count-all')).toHaveText('12');
  const top = await rows.locator('.name').allInnerTexts();
  const brokenOnTop = top.slice(0, 6).filter((n) => n.startsWith('broken_')).length;
  expect(top[0]).toMatch(/^broken_/);
  expect(brokenOnTop).toBeGreaterThanOrEqual(5);
  const scores = (await rows.getByTestId('queue-score').allInnerTexts()).map(Number);
  expect(scores.every((s) => Number.isFinite(s))).toBe(true);
  expect([...scores].sort((a, b) => b - a)).toEqual(scores);

  // The first part is open with its heatmap and the score-vs-threshold statement.
  await expect(page.getByTestId('part-view')).toHaveAttribute('data-has-map', 'true', { timeout: 30_000 });
  await expect(page.getByTestId('score-statement')).toContainText('threshold');
  await shoot(page, 'review');

  // Keyboard only, without clicking first: D (defect, with a type), G, G.
  await blurFocus(page);
  const first = await selectedName(page);
  expect(first).toBe(top[0]);
  await page.keyboard.press('d');
  await expect(page.getByTestId('defect-prompt')).toBeVisible();
  await page.keyboard.type('broken');
  await shoot(page, 'review-defect-prompt');
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('defect-prompt')).toBeHidden();
  await expect.poll(() => selectedName(page)).not.toBe(first);
  const second = await selectedName(page);
  await page.keyboard.press('g');
  await expect.poll(() => selectedName(page)).not.toBe(second);
  const third = await selectedName(page);
  await page.keyboard.press('g');
  await expect.poll(() => selectedName(page)).not.toBe(third);
  await expect(page.getByTestId('filter-count-defect')).toHaveText('1');
  await expect(page.getByTestId('filter-count-good')).toHaveText('2');
  await expect(page.getByTestId('filter-count-unreviewed')).toHaveText('9');
  const verdictOf = (name: string) => page.getByTestId('queue-row').filter({ has: page.locator('.name', { hasText: name }) });
  await expect(verdictOf(first)).toHaveAttribute('data-verdict', 'defect');
  await expect(verdictOf(second)).toHaveAttribute('data-verdict', 'good');
  await expect(verdictOf(third)).toHaveAttribute('data-verdict', 'good');

  // History of a reviewed part; view toggles by keyboard.
  await verdictOf(first).click();
  await expect(page.getByTestId('verdict-history')).toContainText('QA Tester');
  await expect(page.getByTestId('verdict-history')).toContainText('broken');
  await blurFocus(page);
  await page.keyboard.press('s');
  await expect(page.getByTestId('viewer-pane-map')).toBeVisible();
  await page.keyboard.press('+');
  await expect(page.getByTestId('zoom-level')).not.toHaveText('Fit');
  await shoot(page, 'review-side-by-side');
  await page.keyboard.press('0');
  await expect(page.getByTestId('zoom-level')).toHaveText('Fit');
  await page.keyboard.press('s');
  await expect(page.getByTestId('viewer-pane-overlay')).toBeVisible();
  await page.keyboard.press('f');
  await expect(page.getByTestId('filter-unreviewed')).toHaveAttribute('aria-checked', 'true');
  await expect(rows).toHaveCount(9);
  await page.keyboard.press('f');
  await page.keyboard.press('f');
  await page.keyboard.press('f');
  await page.keyboard.press('f');
  await page.keyboard.press('f');
  await expect(page.getByTestId('filter-all')).toHaveAttribute('aria-checked', 'true');

  // Help overlay lists the shortcuts; Esc closes it.
  await page.keyboard.press('?');
  const help = page.getByTestId('help-overlay');
  await expect(help).toBeVisible();
  for (const label of ['Next part', 'Good part', 'Defect', 'Undo', 'Heatmap on / off', 'Side by side', 'Zoom to fit', 'Cycle the filter']) {
    await expect(help).toContainText(label);
  }
  await shoot(page, 'help');
  await page.keyboard.press('Escape');
  await expect(help).toBeHidden();

  // Threshold tuning: the slider moves the live figures; applying needs a reason.
  await page.getByTestId('tab-threshold').click();
  await expect(page.getByTestId('tuning-view')).toBeVisible();
  const load = page.getByTestId('rate-load');
  const slider = page.getByTestId('tuning-slider');
  await slider.focus();
  await page.keyboard.press('Home');
  await expect(load).toHaveText('100.0 %');
  await page.keyboard.press('End');
  await expect(load).toHaveText('0.0 %');
  await expect(page.getByTestId('cm-fn-count')).toHaveText('1');
  // Zero-miss for the one reviewed defect (the panel warns that it rests on 1 defect).
  await expect(page.getByTestId('zero-miss-few')).toContainText('rests on 1 defect');
  await page.getByTestId('use-zero-miss').click();
  await expect(page.getByTestId('cm-fn-count')).toHaveText('0');
  await expect(page.getByTestId('tuning-apply')).toBeDisabled();
  await page.getByTestId('tuning-reason').fill('zero-miss on the reviewed defect (e2e)');
  await shoot(page, 'threshold');
  const statusBefore = await page.getByTestId('status-threshold').innerText();
  await page.getByTestId('tuning-apply').click();
  await expect(page.getByTestId('toast-success').filter({ hasText: /Threshold v\d+ set/ })).toBeVisible();
  await expect(page.getByTestId('status-threshold')).not.toHaveText(statusBefore);
  const chosen = (await page.getByTestId('status-threshold').innerText()).replace(/^\D+/, '');

  // Reload: the verdicts (and the threshold) are still there.
  await page.reload();
  await expect(page.getByTestId('review-view')).toBeVisible({ timeout: 30_000 });
  await expect(page.getByTestId('filter-count-defect')).toHaveText('1');
  await expect(page.getByTestId('filter-count-good')).toHaveText('2');
  await expect(verdictOf(first)).toHaveAttribute('data-verdict', 'defect');
  await expect(verdictOf(second)).toHaveAttribute('data-verdict', 'good');
  await expect(verdictOf(third)).toHaveAttribute('data-verdict', 'good');
  await expect(page.getByTestId('status-threshold')).toContainText(chosen);

  // Undo by keyboard on the defect part, then redo it.
  await verdictOf(first).click();
  await blurFocus(page);
  await page.keyboard.press('u');
  await expect(verdictOf(first)).toHaveAttribute('data-verdict', '');
  await expect(page.getByTestId('filter-count-defect')).toHaveText('0');
  await page.keyboard.press('d');
  await page.keyboard.press('Escape'); // no type: still a defect
  await expect(verdictOf(first)).toHaveAttribute('data-verdict', 'defect');

  // Refit with the two good verdicts on flagged parts; the done event says how many dropped.
  await page.getByTestId('tab-fit').click();
  const refit = page.getByTestId('refit-start');
  await expect(refit).toContainText('2 pending');
  await expect(refit).toBeEnabled();
  await refit.click();
  await expect(page.getByTestId('refit-dropped')).toContainText('dropped below the threshold', { timeout: 180_000 });
  await expect(page.getByTestId('model-version')).toHaveText('v2');
  await expect(refit).toContainText('0 pending');
  await expect(refit).toBeDisabled();
  await shoot(page, 'refit');

  // Models: two versions; roll back to v1 (needs a reason).
  await page.getByTestId('tab-models').click();
  await expect(page.getByTestId('model-row')).toHaveCount(2);
  await shoot(page, 'models');
  await page.getByTestId('rollback-1').click();
  await expect(page.getByTestId('reason-confirm')).toBeDisabled();
  await page.getByTestId('reason-input').fill('e2e: back to the first fit');
  await shoot(page, 'models-rollback');
  await page.getByTestId('reason-confirm').click();
  await expect(page.getByTestId('reason-dialog')).toBeHidden();
  await expect(page.getByTestId('status-model')).toContainText('v1');
  await expect(page.getByTestId('model-row').filter({ hasText: 'active' })).toContainText('v1');

  expect(consoleErrors).toEqual([]);
});

test('the sample project button creates a project with parts', async ({ page, host }) => {
  test.setTimeout(240_000);
  await page.goto(host.url);
  await page.getByTestId('reviewer-input').fill('Demo Reviewer');
  await page.getByTestId('reviewer-save').click();
  await page.getByTestId('demo-button').click();
  await expect(page.getByTestId('demo-button')).toHaveText(/Creating/);
  await expect(page.getByTestId('start-view')).toBeHidden({ timeout: 180_000 });
  await expect(page.getByTestId('project-name')).toBeVisible();
  await page.getByTestId('tab-import').click();
  await expect(page.getByTestId('count-train')).not.toHaveText('0');
  await expect(page.getByTestId('count-inspect')).not.toHaveText('0');
  const train = Number((await page.getByTestId('count-train').innerText()).replace(/,/g, ''));
  const inspect = Number((await page.getByTestId('count-inspect').innerText()).replace(/,/g, ''));
  expect(train).toBeGreaterThan(0);
  expect(inspect).toBeGreaterThan(0);

  // Browser imports send the bytes (images.upload): a dropped file, then a picked file.
  if (existsSync(path.join(bottle, 'test', 'good'))) {
    await page.getByTestId('role-inspect').click();
    const png = (name: string) => path.join(bottle, 'test', 'good', name);
    const dropped = { name: 'dropped_bottle.png', b64: readFileSync(png('010.png')).toString('base64') };
    const dt = await page.evaluateHandle(`(() => {
      const { name, b64 } = ${JSON.stringify(dropped)};
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], name, { type: 'image/png' }));
      return transfer;
    })()`);
    await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: dt });
    const result = page.getByTestId('import-result').first();
    await expect(result.getByTestId('import-added')).toHaveText('1', { timeout: 30_000 });
    await expect(page.getByTestId('count-inspect')).toHaveText(String(inspect + 1));

    await page.locator('input[type=file]').setInputFiles([png('011.png'), png('010.png')]);
    await expect(page.getByTestId('import-result')).toHaveCount(2);
    await expect(result.getByTestId('import-added')).toHaveText('1');
    await expect(result.getByTestId('import-existing')).toHaveText('1');
    await expect(page.getByTestId('count-inspect')).toHaveText(String(inspect + 2));
  }

  // The sample fits, scores and shows heatmaps like a real product.
  await page.getByTestId('tab-fit').click();
  await shoot(page, 'demo-fit');
  await page.getByTestId('fit-start').click();
  await expect(page.getByTestId('model-version')).toHaveText('v1', { timeout: 180_000 });
  await page.getByTestId('score-start').click();
  await expect(page.getByTestId('job-outcome-score')).toContainText('finished', { timeout: 180_000 });
  await page.getByTestId('go-review').click();
  await expect(page.getByTestId('part-view')).toHaveAttribute('data-has-map', 'true', { timeout: 30_000 });
  // Past the two uploaded bottles (not washers: rightly all hot) to the first sample part.
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await expect(page.getByTestId('part-panel').locator('.name')).toHaveText(/^part-/);
  await expect(page.getByTestId('part-view')).toHaveAttribute('data-has-map', 'true', { timeout: 30_000 });
  await shoot(page, 'demo-review');
});
