import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Brings the local stack up when the services are not configured; see test/helpers/globalSetup.ts.
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Two cores run Kafka, the registry, FerretDB and Redis too: one test file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
