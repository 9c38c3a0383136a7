import { defineConfig } from 'vitest/config';

// `npm run test:faults`: fault injection (SIGKILLed workers, service restarts, FLUSHALL) and fuzzing
// against real services. Not part of `npm test`: it takes many minutes and restarts services.
// FAULTS_COMMANDS (default 20000) and FAULTS_FUZZ (default 10000) scale it down while iterating.
export default defineConfig({
  test: {
    name: 'faults',
    include: ['test/faults/**/*.test.ts'],
    // Brings the local stack up when the services are not configured; see test/helpers/globalSetup.ts.
    globalSetup: ['test/helpers/globalSetup.ts'],
    testTimeout: 3 * 3_600_000,
    hookTimeout: 300_000,
    // Two cores run the stack too; and the fault test restarts services: one file at a time.
    fileParallelism: false,
    // The tests print their progress and findings on stderr.
    silent: false,
  },
});
