/**
 * The threshold-tuning screen end to end, against the REAL loopback host and engine:
 *
 *   sample project (UI button) → fit → score (UI) → tuning screen with no verdicts says the
 *   zero-miss threshold is undefined → two defect verdicts (API) → "rests on 2 defects" →
 *   the rest of the verdicts → the slider (keyboard and mouse drag, debounced queries) moves
 *   the confusion matrix → absolute margin + "Use zero-miss threshold" → review band →
 *   reason → apply → toast + history; the queue re-flags without rescoring → PDF audit report
 *   (downloaded from the page) checked with pdftotext, page 1 rendered with pdftoppm.
 *
 * The verdicts follow the sample's ground truth (src-main/services/demo.ts: a seeded
 * permutation decides which parts are defective and of what type).
 * Screenshots: test-results/screens/tuning-{dark,light}.png (+ the lower half, the
 * no-defects and few-defects states) and report-page1.png.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import type { QueueEntry, QueuePage, ReportExport, TuningData } from '../../src-main/shared/api';
import { demoInspectionPlan, demoPartName } from '../../src-main/services/demo';
import { call, expect, screensDir, shoot, test } from './fixtures';

/** The sample project's ground truth (src-main/services/demo.ts, default sizes): defective part names → type. */
function sampleDefects(): Map<string, string> {
  const out = new Map<string, string>();
  demoInspectionPlan().forEach((defect, k) => {
    if (defect) out.set(demoPartName(k), defect);
  });
  return out;
}

/** Tuning screens start from the top of the view unless the scroll position is kept. */
async function shootTuning(page: Page, name: string, opts: { keepScroll?: boolean } = {}): Promise<void> {
  if (!opts.keepScroll) await page.getByTestId('tuning-view').evaluate((el) => el.scrollTo(0, 0));
  await shoot(page, name);
}

const fmt4 = (v: number): string => v.toFixed(4);

/** The tuning screen never shows NaN or undefined. */
async function expectClean(page: Page): Promise<void> {
  // (The no-defects notice says, in words, that the zero-miss threshold "is undefined".)
  const text = (await page.getByTestId('tuning-view').innerText()).replace('the zero-miss threshold is undefined', '');
  expect(text).not.toMatch(/\bNaN\b|\bundefined\b|\bnull\b|Infinity/);
}

async function figuresSettled(page: Page): Promise<void> {
  await expect(page.getByTestId('tuning-view').locator('.updating')).toHaveCount(0);
}

// ---- the flow ------------------------------------------------------------------------------

test('tuning: zero-miss with a margin, review band, apply with a reason, PDF audit report', async ({ page, host }) => {
  test.setTimeout(300_000);
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });

  // Sample project through the UI, then fit and score.
  await page.goto(host.url);
  await page.getByTestId('reviewer-input').fill('QA Engineer');
  await page.getByTestId('reviewer-save').click();
  await page.getByTestId('demo-button').click();
  await expect(page.getByTestId('start-view')).toBeHidden({ timeout: 120_000 });
  await page.getByTestId('tab-fit').click();
  await page.getByTestId('fit-start').click();
  await expect(page.getByTestId('model-version')).toHaveText('v1', { timeout: 180_000 });
  await page.getByTestId('score-start').click();
  await expect(page.getByTestId('job-outcome-score')).toContainText('finished', { timeout: 180_000 });

  const queue = (await call<QueuePage>(host, 'review.queue')).items;
  const truth = sampleDefects();
  expect(queue.length).toBe(24);
  expect(queue.every((e) => e.score !== null)).toBe(true);
  const defects = queue.filter((e) => truth.has(e.name)).sort((a, b) => a.score! - b.score!);
  const goods = queue.filter((e) => !truth.has(e.name)).sort((a, b) => b.score! - a.score!);
  expect(defects.length).toBe(10);

  // Tuning screen before any verdict: explicit "undefined" state, never NaN.
  await page.getByTestId('tab-threshold').click();
  const view = page.getByTestId('tuning-view');
  await expect(view).toBeVisible();
  await expect(page.getByTestId('zero-miss-none')).toContainText('No defects reviewed yet: the zero-miss threshold is undefined; keep reviewing flagged parts');
  await expect(page.getByTestId('use-zero-miss')).toBeDisabled();
  await expect(page.getByTestId('rate-recall')).toHaveText('—');
  await expectClean(page);
  await shootTuning(page, 'tuning-no-defects');

  // Two defect verdicts (the two weakest defects): the proposal rests on 2 defects. The
  // screen follows the project event by itself.
  const verdict = (e: QueueEntry, v: 'good' | 'defect') => call<QueueEntry>(host, 'review.verdict', { imageId: e.imageId, verdict: v, ...(v === 'defect' ? { defectType: truth.get(e.name) } : {}) });
  await verdict(defects[0]!, 'defect');
  await verdict(defects[1]!, 'defect');
  await expect(page.getByTestId('zero-miss-few')).toContainText('The proposal rests on 2 defects');
  // Expected miss rate on new parts (leave-one-out): shown, with the main side's warning below 10 defects.
  await expect(page.getByTestId('zero-miss-expected-line')).toHaveText(/^Expected miss rate on new parts: \d+\.\d % \(LOO, 2 defects; ≤ \d+\.\d % at 95 %\)$/);
  await expect(page.getByTestId('zero-miss-expected-warning')).toHaveText('Only 2 reviewed defects: too few for the expected miss rate to mean much (it needs at least 10). Keep reviewing flagged parts.');
  await expect(page.getByTestId('zero-miss-raw')).toHaveText(fmt4(defects[0]!.score!));
  await expectClean(page);
  await shootTuning(page, 'tuning-few-defects');

  // The other defects and the six highest-scoring good parts.
  for (const d of defects.slice(2)) await verdict(d, 'defect');
  for (const g of goods.slice(0, 6)) await verdict(g, 'good');
  await expect(page.getByTestId('zero-miss-few')).toBeHidden();
  await expect(page.getByTestId('zero-miss-expected-line')).toContainText('(LOO, 10 defects; ≤ ');
  await expect(page.getByTestId('zero-miss-expected-warning')).toBeHidden();
  await expect(view.getByText('16 reviewed (10 defects, 6 good)')).toBeVisible();
  await figuresSettled(page);

  // The slider: keyboard to both ends, then a mouse drag; the confusion matrix follows.
  const slider = page.getByTestId('tuning-slider');
  const fn = page.getByTestId('cm-fn-count');
  const tp = page.getByTestId('cm-tp-count');
  await slider.focus();
  await page.keyboard.press('End');
  await expect(fn).toHaveText('10');
  await expect(tp).toHaveText('0');
  await expect(page.getByTestId('rate-recall')).toHaveText('0.0 %');
  await expect(page.getByTestId('rate-load')).toHaveText('0.0 %');
  await page.keyboard.press('Home');
  await expect(fn).toHaveText('0');
  await expect(tp).toHaveText('10');
  await expect(page.getByTestId('rate-recall')).toHaveText('100.0 %');
  await expect(page.getByTestId('rate-load')).toHaveText('100.0 %');

  let statsCalls = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/api/threshold.stats')) statsCalls += 1;
  });
  const box = (await slider.boundingBox())!;
  const y = box.y + box.height / 2;
  await page.mouse.move(box.x + 8, y);
  await page.mouse.down();
  const moves = 30;
  for (let i = 1; i <= moves; i++) await page.mouse.move(box.x + 8 + ((box.width - 16) * i) / moves, y);
  await page.mouse.up();
  await expect(fn).toHaveText('10');
  await figuresSettled(page);
  expect(statsCalls).toBeGreaterThan(0);
  // A press on the histogram moves the candidate there (near the low end: nothing missed).
  await page.getByTestId('tuning-histogram').click({ position: { x: 70, y: 100 } });
  await expect(fn).toHaveText('0');
  await expect(page.getByTestId('tuning-source')).toHaveText('set by hand');
  expect(statsCalls).toBeLessThan(moves); // debounced: not one query per pointer move
  await expectClean(page);

  // Log counts: the histogram re-queries with log heights; nothing else changes.
  await page.getByTestId('tuning-log').check();
  await figuresSettled(page);
  await expect(fn).toHaveText('0');
  await shootTuning(page, 'tuning-log');
  await page.getByTestId('tuning-log').uncheck();

  // Zero-miss with an absolute margin of 0.05 score units.
  await page.getByTestId('margin-kind-absolute').click();
  const margin = page.getByTestId('margin-value');
  await margin.fill('');
  await margin.pressSequentially('0.05'); // typed key by key: "0.0" must not collapse to "0"
  await expect(margin).toHaveValue('0.05');
  const expected = await call<TuningData>(host, 'threshold.stats', { margin: { kind: 'absolute', value: 0.05 } });
  expect(expected.zeroMiss.status).toBe('ok');
  if (expected.zeroMiss.status !== 'ok') return;
  const proposal = expected.zeroMiss.threshold;
  // raw − max(0.05, half the empty gap down to the highest reviewed good part below raw)
  const raw = defects[0]!.score!;
  const below = goods.slice(0, 6).map((g) => g.score!).filter((s) => s < raw);
  const used = Math.max(0.05, below.length > 0 ? (raw - Math.max(...below)) / 2 : 0);
  expect(proposal).toBeCloseTo(raw - used, 10);
  expect(expected.zeroMiss).toMatchObject({ margin: 0.05, marginUsed: used > 0.05 ? 'gap' : 'margin' });
  await expect(page.getByTestId('zero-miss-threshold')).toHaveText(fmt4(proposal));
  await expect(page.getByTestId('zero-miss-to-weakest')).toHaveText(fmt4(used));
  await expect(page.getByTestId('zero-miss-gap')).toHaveCount(used > 0.05 ? 1 : 0);
  if (used > 0.05) await expect(page.getByTestId('zero-miss-gap')).toHaveText('Margin widened to half the empty gap below the weakest defect: no reviewed good part changes side.');
  await page.getByTestId('use-zero-miss').click();
  await expect(page.getByTestId('tuning-candidate')).toHaveValue(fmt4(proposal));
  await expect(page.getByTestId('tuning-source')).toHaveText('zero-miss proposal');
  await expect(fn).toHaveText('0');
  await expect(tp).toHaveText('10');
  await figuresSettled(page);
  const atProposal = await call<TuningData>(host, 'threshold.stats', { threshold: proposal });
  await expect(page.getByTestId('cm-fp-count')).toHaveText(String(atProposal.confusion.fp));
  await expect(page.getByTestId('cm-tn-count')).toHaveText(String(atProposal.confusion.tn));
  await expect(page.getByTestId('rate-pg0')).toHaveText(`${(100 * atProposal.goodPassed!).toFixed(1)} %`);

  // Review band: a reject threshold; band counts, no defect in the pass band.
  await page.getByTestId('bands-toggle').check();
  await expect(page.getByTestId('band-table')).toBeVisible();
  await expect(page.getByTestId('band-missed')).toHaveText('No reviewed defect in the pass band');
  await expect(page.getByTestId('reject-slider')).toBeVisible();
  const passTotal = Number(await page.getByTestId('band-pass-total').innerText());
  const reviewTotal = Number(await page.getByTestId('band-review-total').innerText());
  const rejectTotal = Number(await page.getByTestId('band-reject-total').innerText());
  expect(passTotal + reviewTotal + rejectTotal).toBe(24);
  const rejectAt = Number(await page.getByTestId('reject-value').inputValue());
  expect(rejectAt).toBeGreaterThan(proposal);

  // Apply: the reason is required.
  const apply = page.getByTestId('tuning-apply');
  await expect(apply).toBeDisabled();
  const reason = 'E2E zero-miss on 10 reviewed defects, margin 0.05 score units';
  await page.getByTestId('tuning-reason').fill('   ');
  await expect(apply).toBeDisabled();
  await page.getByTestId('tuning-reason').fill(reason);
  await expect(apply).toBeEnabled();
  await shootTuning(page, 'tuning');
  // The lower half of the screen too (curves, per-type recall, export).
  await view.evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await shootTuning(page, 'tuning-lower', { keepScroll: true });
  await view.evaluate((el) => el.scrollTo(0, 0));

  await apply.click();
  await expect(page.getByTestId('toast-success').filter({ hasText: 'Threshold v2 set' })).toBeVisible();
  const history = page.getByTestId('history-row');
  await expect(history).toHaveCount(2);
  await expect(history.first()).toContainText(fmt4(proposal));
  await expect(history.first()).toContainText(reason);
  await expect(history.first()).toContainText('QA Engineer');
  await expect(page.getByTestId('tuning-in-force')).toContainText(fmt4(proposal));
  await expect(page.getByTestId('tuning-apply')).toBeDisabled(); // the reason is cleared

  // The threshold in force and the queue: re-flagged at the new value, scores unchanged.
  const st = await call<{ threshold: { value: number; reviewUpper: number | null } | null }>(host, 'projects.state');
  expect(st.threshold?.value).toBe(proposal);
  expect(st.threshold?.reviewUpper).not.toBeNull();
  const after = (await call<QueuePage>(host, 'review.queue')).items;
  const scoreOf = new Map(queue.map((e) => [e.imageId, e.score]));
  for (const e of after) {
    expect(e.score).toBe(scoreOf.get(e.imageId));
    expect(e.flagged).toBe(e.score! >= proposal);
  }
  await expectClean(page);

  // Export the audit report as a PDF and take the download the page offers.
  await page.getByTestId('export-format-pdf').check();
  await page.getByTestId('export-report').click();
  const result = page.getByTestId('export-result');
  await expect(result).toBeVisible({ timeout: 120_000 });
  await expect(page.getByTestId('export-audit')).toHaveText('AUDIT TRAIL VERIFIED');
  await expect(page.getByTestId('export-parts')).toHaveText('16');
  await expect(page.getByTestId('export-file')).toContainText('exports');
  await expect(page.getByTestId('export-file')).toContainText('.pdf');
  await view.evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await shootTuning(page, 'tuning-exported', { keepScroll: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-download').click()]);
  mkdirSync(screensDir, { recursive: true });
  const pdf = path.join(screensDir, 'report.pdf');
  await download.saveAs(pdf);
  expect(readFileSync(pdf).subarray(0, 5).toString()).toBe('%PDF-');

  // The PDF's key figures (pdftotext in reading order, whitespace collapsed).
  const text = spawnSync('pdftotext', [pdf, '-'], { encoding: 'utf8' });
  expect(text.status).toBe(0);
  writeFileSync(path.join(screensDir, 'report.txt'), text.stdout);
  const t = text.stdout.replace(/\s+/g, ' ');
  const v = fmt4(proposal);
  const c = atProposal.confusion;
  expect(t).toContain(`Threshold in force ${v}`);
  expect(t).toContain(`Confusion matrix at threshold ${v} (model v1)`);
  const cards = /RECALL MISSED DEFECTS PRECISION (?:PG0|GOOD PASSED) REVIEW LOAD (\S+) (\d+) (\S+) (\S+) (\S+)/.exec(t);
  expect(cards, 'the summary cards').not.toBeNull();
  expect(cards![1]).toBe('100.0%'); // recall
  expect(cards![2]).toBe('0'); // missed defects
  expect(cards![4]).toBe(`${(100 * atProposal.goodPassed!).toFixed(1)}%`); // PG0
  expect(cards![5]).toBe(`${(100 * atProposal.reviewLoad.share!).toFixed(1)}%`); // review load
  expect(t).toContain('10 of 10 defects flagged');
  expect(t).toMatch(new RegExp(`\\b${c.tp} ${c.fn} TP · flagged FN · missed`));
  expect(t).toMatch(new RegExp(`\\b${c.fp} ${c.tn} FP · false alarm TN · passed`));
  expect([c.tp, c.fn]).toEqual([10, 0]);
  expect(t).toContain('Safety margin 0.0500 (absolute, score units)');
  expect(t).toContain(`Reject at ${fmt4(st.threshold!.reviewUpper!)}`);
  expect(t).toContain(reason);
  expect(t).toContain('VERIFIED');

  mkdirSync(screensDir, { recursive: true });
  const png = spawnSync('pdftoppm', ['-png', '-r', '50', '-f', '1', '-l', '1', '-singlefile', pdf, path.join(screensDir, 'report-page1')]);
  expect(png.status).toBe(0);

  // The other formats come back as well (CSV: one row per reviewed part).
  await page.getByTestId('export-format-csv').check();
  await page.getByTestId('export-report').click();
  await expect(page.getByTestId('export-file')).toContainText('.csv', { timeout: 60_000 });
  const csv = await call<ReportExport>(host, 'report.export', { format: 'csv' });
  expect(csv.parts).toBe(16);
  expect(Buffer.from(csv.dataBase64!, 'base64').toString('utf8').trim().split('\n').length).toBeGreaterThan(16);

  expect(consoleErrors).toEqual([]);
});
