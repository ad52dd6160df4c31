import { defineConfig } from '@playwright/test';
import { existsSync } from 'node:fs';

/**
 * Real Chromium. Where Playwright's own browsers cannot be downloaded (this machine, CI), Debian's
 * `chromium` is used: CHROMIUM_PATH overrides, /usr/bin/chromium otherwise. With neither,
 * Playwright's bundled browser is used as usual.
 */
const executablePath =
  process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

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
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
});
