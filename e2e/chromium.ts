import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/**
 * Chromium features turned off on top of Playwright's own list. Full Chromium in headless mode
 * (not the headless shell) builds each window's hidden omnibox popups as WebUI pages
 * (`chrome://omnibox-popup.top-chrome/`, and its `omnibox_popup_aim.html`), each in a renderer
 * that keeps running: ten idle blank windows used 0.83 of a core with them and 0.02 without
 * (Chromium 156, this machine). No page or worker of ours needs them.
 */
export const DISABLED_BROWSER_FEATURES = [
  'WebUIOmniboxPopup',
  'WebUIOmniboxAimPopup',
  'WebUIOmniboxFullPopup',
];

/**
 * A wrapper script for the Chromium executable: merges DISABLED_BROWSER_FEATURES into the
 * `--disable-features` switch Playwright passes (a second switch would replace Playwright's list:
 * the last one wins), and pins every Chromium process to `core` with `taskset` when given (the
 * pipe Playwright talks over survives the execs).
 */
export function chromiumWrapperScript(executable: string, core?: number): string {
  const features = DISABLED_BROWSER_FEATURES.join(',');
  return [
    '#!/bin/sh',
    `extra=${features}`,
    'merged=',
    'for a in "$@"; do',
    '  shift',
    '  case "$a" in --disable-features=*) a="$a,$extra"; merged=1 ;; esac',
    '  set -- "$@" "$a"',
    'done',
    '[ -n "$merged" ] || set -- "$@" "--disable-features=$extra"',
    `exec ${core !== undefined ? `taskset -c ${core} ` : ''}${JSON.stringify(executable)} "$@"`,
    '',
  ].join('\n');
}

/** Writes {@link chromiumWrapperScript} for `executable` to `file` (executable) and returns `file`. */
export function writeChromiumWrapper(file: string, executable: string, core?: number): string {
  writeFileSync(file, chromiumWrapperScript(executable, core));
  chmodSync(file, 0o755);
  return file;
}

/**
 * What the Playwright tests launch: CHROMIUM_PATH through the wrapper (one file per user, the
 * same content every time), or Playwright's own browser as it is.
 */
export function testChromiumExecutable(): string | undefined {
  if (!CHROMIUM_PATH) return undefined;
  const uid = process.getuid?.() ?? 0;
  return writeChromiumWrapper(join(tmpdir(), `orchestrator-e2e-chromium-${uid}.sh`), CHROMIUM_PATH);
}
