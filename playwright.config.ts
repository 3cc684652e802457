/**
 * Playwright: browser end-to-end tests in test/e2e (`npx playwright test`; scripts/test.sh
 * adds `--reporter=list,json`). Browsers come from the system: `npx playwright install`
 * cannot download here, so Chromium is Debian's /usr/bin/chromium (scripts/setup.sh).
 * test/e2e/electron.spec.ts drives the desktop app through Playwright's Electron support and
 * skips itself where the Electron binary is not installed.
 */
import { defineConfig, devices } from '@playwright/test';

export default defineConfig({
  testDir: 'test/e2e',
  testMatch: ['**/*.spec.ts', '**/*.e2e.ts'],
  globalSetup: './test/e2e/global-setup.ts',
  outputDir: 'test-results',
  retries: 0,
  forbidOnly: !!process.env['CI'],
  workers: 1,
  timeout: 120_000,
  reporter: [['list']],
  use: {
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        // The workstation is designed for 1366×768 and up.
        viewport: { width: 1366, height: 768 },
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
        },
      },
    },
  ],
});
