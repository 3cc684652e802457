import { defineConfig } from 'vitest/config';

// The store suite (and the multi-station tests) on PostgreSQL: the same test files as the
// SQLite run, against a throwaway cluster that test/helpers/pg-global-setup.ts starts on a
// loopback port and removes afterwards (KENSA_TEST_PG carries its URL to the tests).
export default defineConfig({
  test: {
    include: ['test/store/**/*.test.ts', 'test/stations/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    globalSetup: ['test/helpers/pg-global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
