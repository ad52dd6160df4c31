import { defineConfig } from 'vitest/config';

// One `vitest run` covers every package's unit and integration tests; Playwright tests live in e2e/.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'shared-types', root: 'shared-types', include: ['src/**/*.test.ts'] } },
      {
        test: {
          name: 'api',
          root: 'api',
          include: ['src/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'sw',
          root: 'sw',
          include: ['src/**/*.test.ts'],
          setupFiles: ['fake-indexeddb/auto'],
        },
      },
      { test: { name: 'web', root: 'web', include: ['src/**/*.test.ts'], environment: 'happy-dom' } },
      { test: { name: 'bench', root: 'e2e', include: ['bench/**/*.test.ts'] } },
    ],
  },
});
