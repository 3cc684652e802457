/**
 * Learning from the review end to end, against the REAL loopback host and engine:
 *
 *   sample project (UI button) → fit v1 → score (UI) → Learn is disabled and says why → the
 *   threshold (API) just above the three weakest defects, left unreviewed → verdicts through
 *   the API on every flagged part and the five highest passed good parts, by the sample's
 *   ground truth (demo.ts), defects with a small polygon around the drawn defect (all but
 *   one) → Models: "Learn from the review" →
 *   the learn job → its preview opens by itself; every figure equals `models.learnPreview`
 *   (learned from, threshold, flagged before → after, the parts that drop / rise, PG0 and
 *   expected miss rate before vs out-of-fold after, the notes) → "Not now" → the versions
 *   table shows "learn of v1" with its "Learned from review" fact and a Preview action →
 *   Preview → Accept (reason prefilled, edited) → `projects.state` says v2 is active, the audit
 *   chain verifies (report.export) → the proposal card has one row per `models.propose` row
 *   with the same figures, the best marked, Apply only when best ≠ active (rolled back through
 *   the API when the proposal is already active) → Apply → confirm with the reason built from
 *   the evidence → active; the audit chain still verifies → a part of the preview's lists
 *   opens in the review.
 *
 * Screenshots: test-results/screens/learn-preview-{dark,light}.png, learn-accept-{…},
 * models-learn-{…}, models-proposal-{…}, models-proposal-confirm-{…} and fit-learn-hint-{…}.
 */
import type { Locator, Page } from '@playwright/test';
import type { LearnPreview, ModelProposal, ModelSummary, ProjectState, QueuePage, RegionSetData, ReportExport } from '../../src-main/shared/api';
import { Rng } from '../../src-main/engine/core/random';
import { demoInspectionPlan, demoPartName } from '../../src-main/services/demo';
import { baseName, fmtFactLine, fmtInt, fmtScore } from '../../src-renderer/src/lib/format';
import { acceptReason, fmtInterval, fmtMissRate, fmtShare, proposalLabel, proposalReason } from '../../src-renderer/src/lib/learning';
import { call, expect, setTheme, shoot, test } from './fixtures';

/** The sample project's ground truth: defective part names → type. */
function sampleDefects(): Map<string, string> {
  const out = new Map<string, string>();
  demoInspectionPlan().forEach((defect, k) => {
    if (defect) out.set(demoPartName(k), defect);
  });
  return out;
}

const SIZE = 256;

/**
 * A square polygon around where demo.ts drew the defect of part `name` (renderPart(5000 + k):
 * the same seeded draws, in the same order, up to the defect's centre).
 */
function defectPolygon(name: string): RegionSetData {
  const k = Number(/part-(\d+)\.png$/.exec(name)![1]) - 1;
  const rng = new Rng(5000 + k);
  const cx = SIZE / 2 + (rng.next() - 0.5) * 8;
  const cy = SIZE / 2 + (rng.next() - 0.5) * 8;
  const rOut = 92 + (rng.next() - 0.5) * 3;
  const rIn = 44 + (rng.next() - 0.5) * 2;
  rng.next(); // light
  rng.next(); // exposure
  rng.next(); // background
  const dAng = rng.next() * Math.PI * 2;
  const dRad = rIn + 12 + rng.next() * (rOut - rIn - 24);
  const px = cx + Math.cos(dAng) * dRad;
  const py = cy + Math.sin(dAng) * dRad;
  const r = 14;
  const c = (v: number): number => Math.round(Math.min(SIZE, Math.max(0, v)));
  return { width: SIZE, height: SIZE, regions: [{ kind: 'polygon', points: [c(px - r), c(py - r), c(px + r), c(py - r), c(px + r), c(py + r), c(px - r), c(py + r)] }] };
}

const auroc = (v: number): string => v.toFixed(3);

/** The preview dialog shows exactly what models.learnPreview says. */
async function expectPreview(dialog: Locator, pv: LearnPreview): Promise<void> {
  const id = (t: string): Locator => dialog.getByTestId(t);
  await expect(id('lp-learned-defects')).toHaveText(fmtInt(pv.learnedFrom.defects));
  await expect(id('lp-learned-goods')).toHaveText(fmtInt(pv.learnedFrom.goods));
  await expect(id('lp-learned-regions')).toHaveText(`${fmtInt(pv.learnedFrom.defectsWithRegions)} with regions drawn`);
  await expect(id('lp-learned-types').locator('.chip')).toHaveText(pv.learnedFrom.defectTypes);
  await expect(id('lp-learned-weight')).toHaveText(pv.learnedFrom.weight.toFixed(2));
  expect(pv.threshold).not.toBeNull();
  await expect(id('lp-threshold')).toHaveText(fmtScore(pv.threshold));
  if (pv.thresholdAfter !== null) await expect(id('lp-threshold-after')).toHaveText(fmtScore(pv.thresholdAfter));
  await expect(id('lp-flagged-before')).toHaveText(fmtInt(pv.flagged.before));
  await expect(id('lp-flagged-after')).toHaveText(fmtInt(pv.flagged.after));
  for (const kind of ['dropped', 'raised'] as const) {
    const list = pv[kind];
    await expect(id(`lp-${kind}-count`)).toHaveText(fmtInt(list.length));
    const rows = id(`lp-${kind}`).getByTestId(`lp-${kind}-row`);
    await expect(rows).toHaveCount(Math.min(6, list.length));
    for (const [i, c] of list.slice(0, 6).entries()) {
      await expect(rows.nth(i)).toContainText(baseName(c.path));
      await expect(rows.nth(i)).toContainText(`${fmtScore(c.before)} → ${fmtScore(c.after)}`);
      await expect(rows.nth(i)).toContainText(c.verdict ?? 'not reviewed');
    }
    await expect(id(`lp-${kind}-more`)).toHaveCount(list.length > 6 ? 1 : 0);
  }
  const b = pv.reviewed.before;
  const a = pv.reviewed.after;
  await expect(id('lp-pg0-before')).toHaveText(fmtShare(b.pg0));
  await expect(id('lp-pg0-after')).toHaveText(fmtShare(a.pg0));
  await expect(id('lp-miss-before')).toHaveText(fmtMissRate(b.expectedMiss));
  await expect(id('lp-miss-after')).toHaveText(fmtMissRate(a.expectedMiss));
  await expect(id('lp-parts-before')).toHaveText(fmtInt(b.parts));
  await expect(id('lp-parts-after')).toHaveText(fmtInt(a.parts));
  // The notes, verbatim; warning style when the estimate is not reliable.
  if (b.expectedMiss && a.expectedMiss && b.expectedMiss.note === a.expectedMiss.note) {
    await expect(id('lp-note-both')).toContainText(a.expectedMiss.note);
    if (a.expectedMiss.reliable) await expect(id('lp-note-both')).not.toHaveClass(/warn/);
    else await expect(id('lp-note-both')).toHaveClass(/warn/);
  } else {
    for (const [key, e] of [['before', b.expectedMiss], ['after', a.expectedMiss]] as const) {
      if (!e) continue;
      await expect(id(`lp-note-${key}`)).toContainText(e.note);
      if (e.reliable) await expect(id(`lp-note-${key}`)).not.toHaveClass(/warn/);
      else await expect(id(`lp-note-${key}`)).toHaveClass(/warn/);
    }
  }
  expect(await dialog.innerText()).not.toMatch(/\bNaN\b|\bundefined\b|\bnull\b|Infinity/);
}

/** The proposal card shows one row per models.propose row, with the same figures. */
async function expectProposal(page: Page, p: ModelProposal): Promise<void> {
  const card = page.getByTestId('proposal');
  await expect(card.getByTestId('proposal-reason')).toContainText(p.reason);
  const rows = card.getByTestId('proposal-row');
  await expect(rows).toHaveCount(p.rows.length);
  for (const r of p.rows) {
    const tr = card.locator(`[data-testid="proposal-row"][data-version="${r.version}"]`);
    await expect(tr.getByTestId('prop-label')).toHaveText(proposalLabel(r));
    await expect(tr.getByTestId('prop-pg0')).toHaveText(fmtShare(r.pg0));
    await expect(tr.getByTestId('prop-pg0-interval')).toHaveText(fmtInterval(r.pg0Interval));
    await expect(tr.getByTestId('prop-misses')).toHaveText(`${fmtInt(r.misses)} / ${fmtInt(r.defects)}`);
    await expect(tr.getByTestId('prop-miss-interval')).toHaveText(fmtInterval(r.missInterval));
    await expect(tr.getByTestId('prop-good-passed')).toHaveText(`${fmtInt(r.goodPassed)} / ${fmtInt(r.goods)}`);
    await expect(tr.getByTestId('prop-auroc')).toHaveText(auroc(r.auroc));
    await expect(tr.getByTestId('prop-evaluated')).toHaveText(fmtInt(r.evaluated));
    await expect(tr.getByTestId('prop-best')).toHaveCount(r.version === p.best ? 1 : 0);
    if (r.version === p.best) await expect(tr).toHaveClass(/best/);
  }
  await expect(card.getByTestId('proposal-skipped-row')).toHaveCount(p.skipped.length);
  for (const k of p.skipped) await expect(card.locator(`[data-testid="proposal-skipped-row"][data-version="${k.version}"]`)).toContainText(k.why);
  // Same figures as the active version (the tie-break chose it): said so.
  const best = p.rows.find((r) => r.version === p.best);
  const act = p.rows.find((r) => r.version === p.active);
  const tied = !!best && !!act && best !== act && best.pg0 === act.pg0 && best.misses === act.misses && best.goodPassed === act.goodPassed && best.auroc === act.auroc;
  await expect(card.getByTestId('proposal-tied')).toHaveCount(tied ? 1 : 0);
  if (p.best !== null && p.best !== p.active) await expect(page.getByTestId('proposal-apply')).toBeEnabled();
  else await expect(page.getByTestId('proposal-apply')).toBeDisabled();
  expect(await card.innerText()).not.toMatch(/\bNaN\b|\bundefined\b|\bnull\b|Infinity/);
}

test('learn from the review: learn job, preview, accept with a reason, proposal', async ({ page, host }) => {
  test.setTimeout(600_000);
  const consoleErrors: string[] = [];
  page.on('pageerror', (e) => consoleErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });

  // Sample project through the UI, fit and score.
  await page.goto(host.url);
  // Choose the theme with the toggle before any dialog opens (a dialog makes shoot() switch the
  // page's attribute only, which the app's own theme state does not follow).
  await setTheme(page, 'dark');
  await page.getByTestId('reviewer-input').fill('QA Engineer');
  await page.getByTestId('reviewer-save').click();
  await page.getByTestId('demo-button').click();
  await expect(page.getByTestId('start-view')).toBeHidden({ timeout: 120_000 });
  await page.getByTestId('tab-fit').click();
  // The refit step points to learning on the Models screen.
  await expect(page.getByTestId('fit-learn-hint')).toContainText('Learn from the review');
  await page.getByTestId('fit-start').click();
  await expect(page.getByTestId('model-version')).toHaveText('v1', { timeout: 300_000 });
  await page.getByTestId('score-start').click();
  await expect(page.getByTestId('job-outcome-score')).toContainText('finished', { timeout: 180_000 });
  await page.getByTestId('fit-learn-hint').scrollIntoViewIfNeeded();
  await shoot(page, 'fit-learn-hint');

  // Models before any verdict: Learn is disabled and says why.
  await page.getByTestId('fit-learn-link').click();
  await expect(page.getByTestId('models-view')).toBeVisible();
  await expect(page.getByTestId('learn-blocked')).toContainText('Review some parts first');
  await expect(page.getByTestId('learn-start')).toBeDisabled();

  // The threshold (API) just above the three weakest defects, which stay unreviewed: the
  // learning step may raise them over it (the preview's "rise" list).
  const truth = sampleDefects();
  const scored = (await call<QueuePage>(host, 'review.queue')).items;
  expect(scored.length).toBe(24);
  const byScore = scored.filter((e) => truth.has(e.name)).sort((a, b) => a.score! - b.score!);
  expect(byScore.length).toBe(10);
  const held = byScore.slice(0, 3);
  const threshold = held[2]!.score! + 0.05 * (byScore[3]!.score! - held[2]!.score!);
  await call(host, 'threshold.set', { value: threshold, reason: 'e2e: just above the three weakest defects, left unreviewed' });

  // Verdicts (API): every flagged part and the five highest passed good parts, by the ground
  // truth; defects with a polygon around the drawn defect, except the first (so "with
  // regions" < defects).
  const queue = (await call<QueuePage>(host, 'review.queue')).items;
  const flagged = queue.filter((e) => e.flagged);
  expect(flagged.filter((e) => truth.has(e.name)).length).toBe(7);
  const passed = queue.filter((e) => !e.flagged).sort((a, b) => b.score! - a.score!);
  const chosen = [...flagged, ...passed.filter((e) => !truth.has(e.name)).slice(0, 5)];
  let withRegions = 0;
  let defects = 0;
  for (const e of chosen) {
    const type = truth.get(e.name);
    if (type) {
      const regions = defects > 0 ? defectPolygon(e.name) : null;
      defects += 1;
      if (regions) withRegions += 1;
      await call(host, 'review.verdict', { imageId: e.imageId, verdict: 'defect', defectType: type, regions });
    } else {
      await call(host, 'review.verdict', { imageId: e.imageId, verdict: 'good' });
    }
  }
  const goods = chosen.length - defects;
  expect(defects).toBeGreaterThanOrEqual(5);
  expect(goods).toBeGreaterThanOrEqual(4);
  await expect(page.getByTestId('learn-counts')).toHaveText(`Reviewed so far: ${defects} defects, ${goods} good parts.`);
  await expect(page.getByTestId('learn-blocked')).toBeHidden();

  // Learn: the job runs with progress, then the preview opens by itself.
  await page.getByTestId('learn-start').click();
  const dialog = page.getByTestId('learn-preview');
  await expect(dialog.getByTestId('lp-learned-defects')).toBeVisible({ timeout: 480_000 });
  let st = (await call<ProjectState | null>(host, 'projects.state'))!;
  const learned = st.models.find((m) => m.kind === 'learn')!;
  expect(learned).toBeDefined();
  expect(learned.version).toBe(2);
  expect(learned.parentVersion).toBe(1);
  expect(learned.status).toBe('ready');
  expect(learned.active).toBe(false);
  expect(st.activeModel!.version).toBe(1);
  await expect(dialog).toContainText('Learning step v2: what accepting it would change');
  const pv = await call<LearnPreview>(host, 'models.learnPreview', { version: 2 });
  expect(pv.learnedFrom.defects).toBe(defects);
  expect(pv.learnedFrom.goods).toBe(goods);
  expect(pv.learnedFrom.defectsWithRegions).toBe(withRegions);
  expect(pv.reviewed.after.outOfFold).toBe(true);
  expect(pv.threshold).toBeCloseTo(threshold, 9);
  expect(pv.flagged.after).toBe(pv.flagged.before - pv.dropped.length + pv.raised.length);
  console.log(`learning step: dropped ${pv.dropped.length}, raised ${pv.raised.map((c) => `${baseName(c.path)} ${c.before.toFixed(3)}→${c.after.toFixed(3)} (${truth.get(baseName(c.path)) ?? 'good'})`).join(', ') || 'none'}`);
  await expectPreview(dialog, pv);
  await shoot(page, 'learn-preview');

  // Not now: the version stays, as "learn of v1" with its fact and a Preview action.
  await dialog.getByTestId('lp-not-now').click();
  await expect(dialog).toBeHidden();
  const row = page.getByTestId('model-row').filter({ hasText: 'learn of v1' });
  await expect(row).toHaveCount(1);
  await expect(row.getByTestId('model-row-kind')).toHaveText('learn of v1');
  const fact = learned.facts.find((f) => f.key === 'review')!;
  expect(fact.label).toBe('Learned from review');
  await expect(row.getByTestId('model-row-fact')).toHaveText(fmtFactLine(fact));
  await expect(row).toContainText('waiting');
  await expect(page.getByTestId('learn-waiting')).toContainText('Learning step v2 (on v1) is waiting for your decision.');
  await page.getByTestId('learn').scrollIntoViewIfNeeded();
  await shoot(page, 'models-learn');

  // Preview again from the table, then Accept with the reason (prefilled, edited).
  await page.getByTestId('preview-2').click();
  await expect(dialog.getByTestId('lp-learned-defects')).toBeVisible();
  await expectPreview(dialog, pv);
  await dialog.getByTestId('lp-accept').click();
  const reason = dialog.getByTestId('lp-reason');
  await expect(reason).toHaveValue(acceptReason(pv));
  const edited = `${acceptReason(pv)}; checked by QA`;
  await reason.fill(edited);
  await shoot(page, 'learn-accept');
  await dialog.getByTestId('lp-accept-confirm').click();
  await expect(dialog).toBeHidden();
  await expect.poll(async () => (await call<ProjectState | null>(host, 'projects.state'))!.activeModel!.version).toBe(2);
  st = (await call<ProjectState | null>(host, 'projects.state'))!;
  expect(st.models.find((m: ModelSummary) => m.version === 2)!.active).toBe(true);
  await expect(page.getByTestId('status-model')).toContainText('v2');
  await expect(page.getByTestId('model-kind')).toHaveText('learn of v1');
  await expect(page.getByTestId('learn-waiting')).toBeHidden();
  // The audit chain still verifies with the 'activate' event in it (the report checks it).
  const report = await call<ReportExport>(host, 'report.export', { format: 'json' });
  expect(report.auditOk).toBe(true);

  // The proposal: one row per ready version, figures as models.propose has them.
  let p = await call<ModelProposal>(host, 'models.propose');
  expect(p.active).toBe(2);
  expect(p.rows.map((r) => r.version).sort()).toEqual([1, 2]);
  expect(p.best).not.toBeNull();
  await page.getByTestId('proposal').scrollIntoViewIfNeeded();
  await expectProposal(page, p);
  await shoot(page, 'models-proposal');
  if (p.best === p.active) {
    // The proposal is already active: roll back (API) to the other version, so Apply is offered.
    await call(host, 'models.rollback', { version: 1, reason: 'e2e: back to v1 to apply the proposal' });
    await expect.poll(async () => (await call<ModelProposal>(host, 'models.propose')).active).toBe(1);
    p = await call<ModelProposal>(host, 'models.propose');
    await expect(page.getByTestId('proposal').locator('[data-testid="proposal-row"][data-version="1"]')).toContainText('active');
    await expectProposal(page, p);
  }
  if (p.best !== p.active) {
    await page.getByTestId('proposal-apply').click();
    const confirm = page.getByTestId('proposal-confirm-dialog');
    await expect(confirm.getByTestId('proposal-confirm-reason')).toHaveText(`Reason in the audit log: “${proposalReason(p)}”`);
    await shoot(page, 'models-proposal-confirm');
    await page.getByTestId('proposal-confirm').click();
    await expect(confirm).toBeHidden();
    await expect.poll(async () => (await call<ProjectState | null>(host, 'projects.state'))!.activeModel!.version).toBe(p.best);
    await expect(page.getByTestId('proposal-apply')).toBeDisabled();
  }
  expect((await call<ReportExport>(host, 'report.export', { format: 'json' })).auditOk).toBe(true);

  // A part of the preview's lists opens in the review.
  const first = pv.dropped[0] ?? pv.raised[0];
  if (first) {
    await page.getByTestId('preview-2').click();
    await expect(dialog.getByTestId('lp-learned-defects')).toBeVisible();
    await dialog.getByTestId(pv.dropped[0] ? 'lp-dropped-row' : 'lp-raised-row').first().getByRole('button').click();
    await expect(dialog).toBeHidden();
    await expect(page.getByTestId('review-view')).toBeVisible();
    await expect(page.getByTestId('part-panel')).toContainText(baseName(first.path));
  }

  expect(consoleErrors).toEqual([]);
});
