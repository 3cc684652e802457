import { defineConfig } from 'vitest/config';

// Unit + integration tests (engine, store, services, host). Browser E2E lives in test/e2e
// and runs under Playwright, not Vitest.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
