import { existsSync } from 'node:fs';

/**
 * Real Chromium for the Playwright tests and the browser benchmark. Where Playwright's own
 * browsers cannot be downloaded (this machine, CI), Debian's `chromium` is used: CHROMIUM_PATH
 * overrides, /usr/bin/chromium otherwise. With neither, Playwright's bundled browser is used.
 */
export const CHROMIUM_PATH: string | undefined =
  process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

/** Headless, no sandbox (root in CI), and nothing that reaches the network by itself. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
