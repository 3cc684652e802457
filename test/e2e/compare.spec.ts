/**
 * Detectors and the version comparison end to end, against the REAL loopback host and engine:
 *
 *   sample project (UI button) → the fit screen lists every detector of `app.info` (title +
 *   summary; the coreset ratio only for PatchCore) → fit v1 (PatchCore, default) → score →
 *   fit v2 with a detector chosen in the UI (PaDiM when the engine lists it; otherwise
 *   PatchCore again at another coreset ratio) → verdicts through the API → the comparison
 *   says v2 has not scored the reviewed parts → "Score reviewed parts with every version"
 *   (the `compare` job) → one table row per ready version whose figures match
 *   `models.compare` → "Make active" on v1 (confirm) → `projects.state` says v1 is active.
 *
 * The verdicts follow the sample's ground truth (src-main/services/demo.ts).
 * Screenshots: test-results/screens/fit-detectors-{dark,light}.png (+ fit-detectors-trains)
 * and models-compare-{dark,light}.png (+ models-compare-confirm).
 */
import type { Page } from '@playwright/test';
import type { AppInfo, ModelComparison, ProjectState, QueuePage } from '../../src-main/shared/api';
import { demoInspectionPlan, demoPartName } from '../../src-main/services/demo';
import { fmtDuration } from '../../src-renderer/src/lib/format';
import { call, expect, shoot, test } from './fixtures';

function sampleDefects(): Map<string, string> {
  const out = new Map<string, string>();
  demoInspectionPlan().forEach((defect, k) => {
    if (defect) out.set(demoPartName(k), defect);
  });
  return out;
}

// The table's formats (ModelsView.svelte): never NaN, "—" for a missing figure.
const int = (v: number | null): string => (v === null ? '—' : Math.round(v).toLocaleString('en-US'));
const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(1)} %`);
const auroc = (v: number | null): string => (v === null ? '—' : v.toFixed(3));

async function fitAndWait(page: Page, version: number): Promise<void> {
  await page.getByTestId('fit-start').click();
  await expect(page.getByTestId('job-progress')).toBeVisible({ timeout: 15_000 });
  await expect(page.getByTestId('model-version')).toHaveText(`v${version}`, { timeout: 300_000 });
  await expect(page.getByTestId('job-outcome-fit')).toContainText('finished', { timeout: 30_000 });
  await expect(page.getByTestId('job-progress')).toBeHidden();
}

test('detectors: choose one to fit, compare the versions on reviewed parts, make the older one active', async ({ page, host }) => {
  test.setTimeout(600_000);
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });

  await page.goto(host.url);
  await page.getByTestId('reviewer-input').fill('QA Engineer');
  await page.getByTestId('reviewer-save').click();
  await page.getByTestId('demo-button').click();
  await expect(page.getByTestId('start-view')).toBeHidden({ timeout: 120_000 });
  await page.getByTestId('tab-fit').click();
  await expect(page.getByTestId('fit-view')).toBeVisible();

  // The chooser lists what the engine offers, default (PatchCore) first and chosen.
  const info = await call<AppInfo>(host, 'app.info');
  expect(info.detectors.length).toBeGreaterThan(0);
  expect(info.detectors[0]!.id).toBe('patchcore');
  const chooser = page.getByTestId('detector-chooser');
  await expect(chooser.getByRole('radio')).toHaveCount(info.detectors.length);
  for (const d of info.detectors) {
    await expect(page.getByTestId(`detector-${d.id}`)).toContainText(d.title);
    await expect(page.getByTestId(`detector-${d.id}`)).toContainText(d.summary.slice(1, 30));
  }
  await expect(chooser.getByRole('radio', { name: /PatchCore/ })).toBeChecked();
  await expect(page.getByTestId('fit-ratio')).toBeVisible();
  await expect(page.getByTestId('fit-detector-title')).toHaveText('PatchCore');

  // v1: PatchCore, then score every part to inspect.
  await fitAndWait(page, 1);
  await expect(page.getByTestId('model-detector')).toHaveText('PatchCore');
  await expect(page.getByTestId('status-detector')).toContainText('PatchCore');
  let st = (await call<ProjectState | null>(host, 'projects.state'))!;
  expect(st.activeModel!.detector).toBe('patchcore');
  expect(st.activeModel!.facts.length).toBeGreaterThan(0);
  await expect(page.getByTestId(`model-fact-${st.activeModel!.facts[0]!.key}`)).toBeVisible();
  await page.getByTestId('score-start').click();
  await expect(page.getByTestId('job-outcome-score')).toContainText('finished', { timeout: 180_000 });
  const v1Queue = (await call<QueuePage>(host, 'review.queue')).items;
  expect(v1Queue.length).toBe(24);
  expect(v1Queue.every((e) => e.score !== null)).toBe(true);

  // v2: PaDiM when the engine has it, else PatchCore again with a smaller coreset. PaDiM is
  // chosen by keyboard (arrow keys move through the radio group), checked by its test id.
  const padim = info.detectors.find((d) => d.id === 'padim') ?? null;
  const second = padim ?? info.detectors[0]!;
  const radios = chooser.getByRole('radio');
  const trained = info.detectors.find((d) => d.trains);
  if (trained) {
    // A detector that trains networks says that fitting takes a while; no coreset ratio.
    await page.getByTestId(`detector-${trained.id}`).click();
    await expect(page.getByTestId('fit-trains-note')).toContainText('tens of seconds to minutes on a CPU');
    await expect(page.getByTestId('fit-ratio')).toBeHidden();
    await shoot(page, 'fit-detectors-trains');
  }
  if (padim) {
    await radios.first().focus();
    const steps = info.detectors.findIndex((d) => d.id === 'padim');
    for (let i = 0; i < steps; i++) await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('detector-padim').getByRole('radio')).toBeChecked();
    await expect(page.getByTestId('fit-ratio')).toBeHidden();
    await expect(page.getByTestId('fit-detector-title')).toHaveText(padim.title);
    if (padim.trains) await expect(page.getByTestId('fit-trains-note')).toContainText('tens of seconds to minutes');
  } else {
    await page.getByTestId('detector-patchcore').click();
    await expect(page.getByTestId('detector-patchcore').getByRole('radio')).toBeChecked();
    await page.getByTestId('fit-ratio').fill('0.05');
  }
  await shoot(page, 'fit-detectors');
  await fitAndWait(page, 2);
  await expect(page.getByTestId('model-detector')).toHaveText(second.title);
  st = (await call<ProjectState | null>(host, 'projects.state'))!;
  expect(st.activeModel!.version).toBe(2);
  expect(st.activeModel!.detector).toBe(second.id);
  if (!second.canRefit) {
    await expect(page.getByTestId('refit-start')).toBeDisabled();
    await expect(page.getByTestId('refit-blocked')).toContainText('cannot take reviewed parts in a refit');
  }

  // Verdicts (API): the three defects v1 scored lowest and the three good parts it scored
  // highest, so the versions can differ at their thresholds.
  const truth = sampleDefects();
  const defects = v1Queue.filter((e) => truth.has(e.name)).sort((a, b) => a.score! - b.score!).slice(0, 3);
  const goods = v1Queue.filter((e) => !truth.has(e.name)).sort((a, b) => b.score! - a.score!).slice(0, 3);
  expect(defects.length + goods.length).toBe(6);
  for (const d of defects) await call(host, 'review.verdict', { imageId: d.imageId, verdict: 'defect', defectType: truth.get(d.name) });
  for (const g of goods) await call(host, 'review.verdict', { imageId: g.imageId, verdict: 'good' });
  const reviewed = defects.length + goods.length;

  // Models: v2 has not scored the reviewed parts yet.
  await page.getByTestId('tab-models').click();
  const table = page.getByTestId('compare-table');
  const rows = table.getByTestId('compare-row');
  await expect(rows).toHaveCount(2);
  const row = (v: number) => table.locator(`[data-testid="compare-row"][data-version="${v}"]`);
  await expect(row(1).getByTestId('cmp-covered')).toHaveText(`${reviewed} / ${reviewed}`);
  await expect(row(2).getByTestId('cmp-covered')).toHaveText(`0 / ${reviewed}`);
  await expect(page.getByTestId('compare-incomplete')).toBeVisible();

  // The compare job scores them; the table refreshes by itself.
  await page.getByTestId('compare-score').click();
  await expect(row(2).getByTestId('cmp-covered')).toHaveText(`${reviewed} / ${reviewed}`, { timeout: 300_000 });
  await expect(page.getByTestId('compare-incomplete')).toBeHidden();
  await expect(page.getByTestId('compare-score')).toBeEnabled({ timeout: 30_000 });

  const cmp = await call<ModelComparison>(host, 'models.compare');
  expect(cmp.reviewed).toBe(reviewed);
  expect(cmp.defects).toBe(defects.length);
  expect(cmp.rows.map((r) => r.version).sort()).toEqual([1, 2]);
  await expect(rows).toHaveCount(cmp.rows.length);
  for (const r of cmp.rows) {
    const tr = row(r.version);
    expect(r.reviewedScored).toBe(reviewed);
    expect(r.auroc).not.toBeNull();
    await expect(tr.getByTestId('cmp-detector')).toHaveText(info.detectors.find((d) => d.id === r.detector)!.title);
    await expect(tr.getByTestId('cmp-auroc')).toHaveText(auroc(r.auroc));
    await expect(tr.getByTestId('cmp-pg0')).toHaveText(pct(r.pg0));
    await expect(tr.getByTestId('cmp-misses')).toHaveText(int(r.misses));
    await expect(tr.getByTestId('cmp-misses').locator('.miss')).toHaveCount(r.misses !== null && r.misses > 0 ? 1 : 0);
    await expect(tr.getByTestId('cmp-false-alarms')).toHaveText(int(r.falseAlarms));
    await expect(tr.getByTestId('cmp-load')).toHaveText(pct(r.reviewLoad?.share));
    await expect(tr.getByTestId('cmp-fit')).toHaveText(fmtDuration(r.fitSeconds));
    await expect(tr.getByTestId(`make-active-${r.version}`)).toHaveCount(r.active ? 0 : 1);
  }
  expect(cmp.rows.find((r) => r.active)?.version).toBe(2);
  expect(await page.getByTestId('compare').innerText()).not.toMatch(/\bNaN\b|\bundefined\b|\bnull\b|Infinity/);
  await page.getByTestId('compare').scrollIntoViewIfNeeded();
  await shoot(page, 'models-compare');

  // Make the older version active (after a confirm, with the reason the comparison gives).
  await page.getByTestId('make-active-1').click();
  const dialog = page.getByTestId('make-active-dialog');
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(`chosen from the comparison on ${reviewed} reviewed parts`);
  await shoot(page, 'models-compare-confirm');
  await page.getByTestId('make-active-confirm').click();
  await expect(dialog).toBeHidden();
  await expect.poll(async () => (await call<ProjectState | null>(host, 'projects.state'))!.activeModel!.version).toBe(1);
  await expect(row(1).getByText('active')).toBeVisible();
  await expect(page.getByTestId('make-active-2')).toBeVisible();
  await expect(page.getByTestId('status-model')).toContainText('v1');
  await expect(page.getByTestId('model-row').filter({ hasText: 'active' })).toContainText('v1');

  expect(consoleErrors).toEqual([]);
});
