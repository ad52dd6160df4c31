/**
 * The browser every other test runs in: Debian's Chromium (or Playwright's) without the hidden
 * omnibox WebUI renderers that full headless Chromium builds for every window (e2e/chromium.ts),
 * which cost about 0.08 of a core per idle window and slowed every test that opens several tabs.
 */
import { expect, test } from '@playwright/test';

test('test windows carry no hidden omnibox WebUI renderers', async ({ browser }) => {
  const context = await browser.newContext();
  try {
    await Promise.all([context.newPage(), context.newPage(), context.newPage()]);
    const session = await browser.newBrowserCDPSession();
    const { targetInfos } = (await session.send('Target.getTargets', { filter: [{}] })) as {
      targetInfos: Array<{ type: string; url: string }>;
    };
    await session.detach();
    expect(targetInfos.filter((t) => t.type === 'page')).toHaveLength(3);
    expect(targetInfos.filter((t) => t.type === 'browser_ui').map((t) => t.url)).toEqual([]);
  } finally {
    await context.close();
  }
});
