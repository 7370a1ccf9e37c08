import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // forks, not threads: the Temporal native bridge is not safe to load in worker threads.
    pool: 'forks',
    // Two cores: more parallel files only make Temporal-backed tests slower and flakier.
    maxWorkers: 2,
    testTimeout: 420_000,
    hookTimeout: 300_000,
    // One real dev server for the whole run; tests get its address through inject().
    globalSetup: ['test/support/global-setup.ts'],
    // Worker INFO logs would drown the test output.
    setupFiles: ['test/support/quiet-runtime.ts'],
  },
});
