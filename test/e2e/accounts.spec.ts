/**
 * People and signatures end to end, against the REAL loopback host: on a fitted sample
 * project the first account (the administrator) is created in the UI and signs in; an
 * approver is added; four eyes is switched on; the threshold in force is signed from the
 * Threshold screen after entering the password again; the signature verifies (sign.list) and
 * shows in the threshold history; the activation signed through the API shows in the model list.
 * Screenshots: test-results/screens/accounts-{dark,light}.png, sign-{dark,light}.png,
 * threshold-signed-{dark,light}.png, models-signed-{dark,light}.png.
 */
import type { AccountsData, ProjectState, SignatureInfo } from '../../src-main/shared/api';
import { call, expect, setTheme, shoot, test } from './fixtures';

test('accounts: the first administrator, sign-in, four eyes, and signing the threshold in force', async ({ page, host }) => {
  test.setTimeout(300_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await call(host, 'app.setReviewer', { name: 'QA Lead' });
  await call<ProjectState>(host, 'projects.createDemo', { dir: `${host.tmp}/sample` });
  await call(host, 'jobs.fit', {});
  await expect.poll(async () => (await call<ProjectState>(host, 'projects.state')).threshold !== null && !(await call<ProjectState>(host, 'projects.state')).job, { timeout: 240_000 }).toBe(true);
  await call(host, 'jobs.score', {});
  await expect.poll(async () => (await call<ProjectState>(host, 'projects.state')).counts.unscored, { timeout: 240_000 }).toBe(0);

  await page.goto(host.url);
  await setTheme(page, 'dark');
  await page.getByTestId('accounts-button').click();
  await expect(page.getByTestId('accounts-dialog')).toBeVisible();
  await page.getByTestId('accounts-new-name').fill('ann');
  await page.getByTestId('accounts-new-printed').fill('Ann Admin');
  await page.getByTestId('accounts-new-password').fill('ann password');
  await page.getByTestId('accounts-create').click();
  await expect(page.getByTestId('accounts-table')).toContainText('Ann Admin');
  await page.getByTestId('accounts-sign-name').fill('ann');
  await page.getByTestId('accounts-sign-password').fill('ann password');
  await page.getByTestId('accounts-sign-in').click();
  await expect(page.getByTestId('accounts-signed-in')).toHaveText('Ann Admin');
  await page.getByTestId('accounts-new-name').fill('paula');
  await page.getByTestId('accounts-new-printed').fill('Paula Approver');
  await page.getByTestId('accounts-new-role').selectOption('approver');
  await page.getByTestId('accounts-new-password').fill('246813');
  await page.getByTestId('accounts-create').click();
  await expect(page.getByTestId('accounts-table')).toContainText('Paula Approver');
  await page.getByTestId('accounts-four-eyes').check();
  await expect.poll(async () => (await call<AccountsData>(host, 'accounts.list')).fourEyes).toBe(true);
  await shoot(page, 'accounts');
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('accounts-dialog')).toBeHidden();

  await page.getByTestId('tab-threshold').click();
  await page.getByTestId('tuning-sign').click();
  await expect(page.getByTestId('sign-dialog')).toBeVisible();
  await page.getByTestId('sign-meaning').selectOption('approved');
  await page.getByTestId('sign-password').fill('wrong password');
  await page.getByTestId('sign-confirm').click();
  await expect(page.getByTestId('toasts')).toContainText('password');
  await page.getByTestId('sign-password').fill('ann password');
  await shoot(page, 'sign');
  await page.getByTestId('sign-confirm').click();
  await expect(page.getByTestId('sign-dialog')).toBeHidden();
  const sigs = await call<SignatureInfo[]>(host, 'sign.list', { recordKind: 'threshold' });
  expect(sigs.map((s) => [s.printedName, s.meaning, s.valid])).toEqual([['Ann Admin', 'approved', true]]);

  // The threshold history shows the signature beside the threshold it signs (printed name, meaning, time).
  const inForceRow = page.getByTestId('history-row').first();
  const rowSigs = inForceRow.getByTestId('history-signatures');
  await expect(rowSigs).toBeVisible();
  await expect(rowSigs.getByTestId('signature')).toHaveCount(1);
  await expect(rowSigs).toContainText('Ann Admin');
  await expect(rowSigs).toContainText('approved');
  await expect(rowSigs).toContainText(`${sigs[0]!.signedAt.slice(0, 16).replace('T', ' ')} UTC`);
  await expect(rowSigs.getByTestId('signature')).toHaveAttribute('title', /account ann[\s\S]*The signature verifies/);
  // Scrolled so the whole history (and the signature under the threshold in force) is in sight.
  await page.evaluate(`document.querySelector('[data-testid="tuning-history"]').scrollIntoView({ block: 'end' })`);
  await expect(rowSigs).toBeInViewport({ ratio: 1 });
  await shoot(page, 'threshold-signed');

  // The model list shows the signatures of each version's activation.
  await call<SignatureInfo>(host, 'sign.record', { recordKind: 'activation', version: 1, meaning: 'responsible', password: 'ann password' });
  await page.getByTestId('tab-models').click();
  const modelSigs = page.getByTestId('model-signatures-1');
  await expect(modelSigs).toContainText('Ann Admin');
  await expect(modelSigs).toContainText('responsible');
  await expect(modelSigs.getByTestId('signature')).toHaveAttribute('title', /Meaning: responsible/);
  await expect(page.getByTestId('sign-activation-1')).toBeInViewport(); // the row still fits: the action column is not pushed out of the table
  await expect(page.getByTestId('model-summary-signatures')).toContainText('Ann Admin');
  await expect(page.getByTestId('threshold-signatures')).toContainText('approved');
  await shoot(page, 'models-signed');
  expect(pageErrors).toEqual([]);
});
