/**
 * `test` for the Service Worker browser tests: a worker-scoped `api` (the real built API on a
 * loopback port), shared by every test file that uses the same `apiEnv`. A file that needs other
 * settings says `test.use({ apiEnv: { ...FAST_API_ENV, … } })` and gets its own API.
 */
import { test as base } from '@playwright/test';
import { startApi, type RunningApi } from './server.js';
import { FAST_API_ENV, expectStreams } from './sw-helpers.js';

export const test = base.extend<{ idleServer: void }, { apiEnv: Record<string, string>; api: RunningApi }>({
  apiEnv: [FAST_API_ENV, { scope: 'worker', option: true }],
  api: [
    async ({ apiEnv }, use) => {
      const api = await startApi(apiEnv);
      await use(api);
      await api.stop();
    },
    { scope: 'worker', timeout: 90_000 },
  ],
  // Every test starts with no stream open on the server (nothing left from the previous one).
  idleServer: [
    async ({ api }, use) => {
      await expectStreams(api, 0, 15_000);
      await use();
    },
    { auto: true },
  ],
});

export { expect } from '@playwright/test';
