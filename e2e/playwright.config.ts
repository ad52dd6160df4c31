import { defineConfig } from '@playwright/test';
import { CHROMIUM_ARGS, testChromiumExecutable } from './chromium.js';

// Debian's Chromium through a wrapper that also turns off its hidden omnibox WebUI (chromium.ts).
const executablePath = testChromiumExecutable();

export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    trace: 'off',
    launchOptions: {
      ...(executablePath ? { executablePath } : {}),
      args: [...CHROMIUM_ARGS],
    },
  },
});
