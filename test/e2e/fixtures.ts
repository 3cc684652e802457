/**
 * What the browser E2E specs share: the `host` fixture (the REAL loopback host, started as
 * `node bin/kensa-host.mjs --port 0` with a fresh config folder, killed afterwards; `startHost`
 * starts more, e.g. a second station), direct API
 * calls for test setup, and screenshots in both themes. The renderer is built once for the
 * whole run by ./global-setup.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, test as base, type Page } from '@playwright/test';
import { hostUrl } from '../helpers/host-url';

export const repo = path.resolve(import.meta.dirname, '../..');
export const shared = process.env['KENSA_SHARED'] ?? path.resolve(repo, '../shared');
export const screensDir = path.join(repo, 'test-results', 'screens');

export interface Host {
  url: string;
  tmp: string;
}

/** A host started by `startHost`; `stop()` ends it and deletes its temp folder. */
export interface RunningHost extends Host {
  stop(): Promise<void>;
}

/**
 * Starts the REAL loopback host (`node bin/kensa-host.mjs --port 0`) with a fresh config folder
 * in a fresh temp folder, and waits for the URL it prints. `env` adds to (or overrides) the
 * environment: e.g. a second station (`KENSA_STATION`, `PGPASSWORD`).
 */
export async function startHost(env: Record<string, string> = {}): Promise<RunningHost> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'kensa-e2e-'));
  const configDir = path.join(tmp, 'config');
  mkdirSync(configDir);
  const child: ChildProcess = spawn(process.execPath, [path.join(repo, 'bin', 'kensa-host.mjs'), '--port', '0'], {
    cwd: repo,
    env: { ...process.env, KENSA_CONFIG_DIR: configDir, KENSA_SHARED: shared, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async (): Promise<void> => {
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  };
  try {
    const url = await hostUrl(child, () => stderr, 90_000);
    return { url, tmp, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

export const test = base.extend<{ host: Host }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures name their dependencies by destructuring
  host: async ({}, use) => {
    const h = await startHost();
    await use({ url: h.url, tmp: h.tmp });
    await h.stop();
  },
});

export { expect };

/** Calls the host API directly (test setup), with the token from the page address. */
export async function call<T>(host: Host, method: string, args: object = {}): Promise<T> {
  const u = new URL(host.url);
  const token = u.searchParams.get('token') ?? '';
  const res = await fetch(new URL(`/api/${method}`, u.origin), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(args),
  });
  const body = (await res.json()) as { ok: boolean; value?: T; error?: { message: string } };
  if (!body.ok) throw new Error(`${method}: ${body.error?.message ?? res.status}`);
  return body.value as T;
}

// Code that runs in the page is passed as strings: this tsconfig (Node) has no DOM types.

/** Takes the focus off whatever has it (the keyboard shortcuts must work from there). */
export async function blurFocus(page: Page): Promise<void> {
  await page.evaluate('document.activeElement && document.activeElement.blur && document.activeElement.blur()');
}

export async function setTheme(page: Page, theme: 'dark' | 'light'): Promise<void> {
  const now = await page.evaluate('document.documentElement.dataset.theme');
  if (now === theme) return;
  if (await page.locator('[aria-modal="true"]').count()) {
    // A dialog is open and covers the toggle: switch the theme attribute directly.
    // As the app does: no colour transitions in the middle of the switch.
    await page.evaluate(`(() => {
      const root = document.documentElement;
      root.classList.add('theme-switching');
      root.dataset.theme = ${JSON.stringify(theme)};
      void root.offsetHeight;
      requestAnimationFrame(() => root.classList.remove('theme-switching'));
    })()`);
  } else {
    await page.getByTestId('theme-toggle').click();
  }
  await expect(page.locator('html')).toHaveAttribute('data-theme', theme);
}

/** Saves the page in both themes (dark first, leaves it dark); notices are dismissed first unless kept. */
export async function shoot(page: Page, name: string, opts: { keepToasts?: boolean } = {}): Promise<void> {
  mkdirSync(screensDir, { recursive: true });
  if (!opts.keepToasts) {
    const dismiss = page.getByTestId('toasts').getByRole('button', { name: 'Dismiss' });
    while ((await dismiss.count()) > 0) await dismiss.first().click();
  }
  for (const theme of ['dark', 'light'] as const) {
    await setTheme(page, theme);
    // Canvases (charts, heatmaps) repaint with the theme's colours on the next frames.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    await page.screenshot({ path: path.join(screensDir, `${name}-${theme}.png`) });
  }
  await setTheme(page, 'dark');
  // The toggle button keeps focus after a click; move it back to the page.
  if ((await page.locator('[aria-modal="true"]').count()) === 0) {
    await blurFocus(page);
  }
}
