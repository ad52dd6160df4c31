/**
 * Automated accessibility scan (axe-core through @axe-core/playwright, open shadow roots
 * included) of the demo's home page, its task page in light and dark colour schemes, and the
 * embed example on another origin (streaming, and refused). No serious or critical violation.
 */
import { expect, test, type Page } from '@playwright/test';
import { devToken, startApi, type RunningApi } from './support/server.js';
import { serveWebExamples, type StaticSite } from './support/web-static.js';
import { createTask, seriousA11yViolations } from './support/web-helpers.js';

let api: RunningApi;
let site: StaticSite;
let otherSite: StaticSite;

test.beforeAll(async () => {
  site = await serveWebExamples();
  otherSite = await serveWebExamples();
  api = await startApi({ CORS_ORIGINS: site.origin });
});

test.afterAll(async () => {
  await api?.stop();
  await site?.close();
  await otherSite?.close();
});

const USER = 'a11y-user';

async function expectNoSeriousViolations(page: Page, what: string): Promise<void> {
  const { found, rulesRun } = await seriousA11yViolations(page);
  expect(rulesRun, `axe ran on ${what}`).toBeGreaterThan(20);
  expect(found, `serious/critical axe violations on ${what}:\n${JSON.stringify(found, null, 2)}`).toEqual([]);
}

/** Background colour of the task stream's box: tells light and dark apart. */
function streamBackground(page: Page): Promise<string> {
  return page
    .locator('a2a-task-stream section[part="base"]')
    .evaluate((el) => getComputedStyle(el).backgroundColor);
}

test('accessibility: demo home, task page (light and dark), embed example', async ({ browser }) => {
  test.setTimeout(120_000);
  const token = await devToken(api.baseUrl, USER);
  const done = await createTask(api.baseUrl, token, 'demo', 'simulator', {
    message: { parts: [{ text: 'Check the contrast' }] },
    metadata: { simulate: { steps: 3, intervalMs: 100 } },
  });
  const failed = await createTask(api.baseUrl, token, 'demo', 'simulator', {
    metadata: { simulate: { steps: 2, intervalMs: 100, fail: true } },
  });

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();

    // Home: sign-in line, form, the task list with tasks in different states.
    await page.goto(`${api.baseUrl}/?user=${USER}`);
    await expect(page.locator(`a2a-task-list [part="item"][data-task-id="${done.id}"]`)).toHaveAttribute(
      'data-state',
      'completed',
      { timeout: 20_000 },
    );
    await expect(page.locator(`a2a-task-list [part="item"][data-task-id="${failed.id}"]`)).toHaveAttribute(
      'data-state',
      'failed',
    );
    await expectNoSeriousViolations(page, 'the home page');

    // The task page (state, progress, message, artifact, log), completed in light and dark, and
    // failed (danger colours) in dark.
    const backgrounds: Record<string, string> = {};
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      for (const task of colorScheme === 'light' ? [done] : [done, failed]) {
        await page.goto(`${api.baseUrl}/tasks/demo/simulator/${task.id}?user=${USER}`);
        await expect(page.locator('a2a-task-stream [part="state"]')).toHaveAttribute(
          'data-state',
          task === done ? 'completed' : 'failed',
          { timeout: 20_000 },
        );
        await expect(page.locator('a2a-task-stream [part="event"]').first()).toBeVisible();
        expect(await page.evaluate(() => matchMedia('(prefers-color-scheme: dark)').matches)).toBe(
          colorScheme === 'dark',
        );
        backgrounds[colorScheme] = await streamBackground(page);
        await expectNoSeriousViolations(
          page,
          `the ${task === done ? 'completed' : 'failed'} task page (${colorScheme})`,
        );
      }
    }
    // The dark scan really looked at the dark theme.
    expect(backgrounds.dark).not.toBe(backgrounds.light);
    await page.emulateMedia({ colorScheme: 'light' });

    // The embed example on its own origin, while it streams and once completed.
    await page.goto(
      `${site.origin}/examples/embed.html?${new URLSearchParams({ api: api.baseUrl, user: USER, steps: '6', interval: '300' })}`,
    );
    await expect(page.locator('a2a-task-stream [part="artifact-text"]')).toBeVisible({ timeout: 20_000 });
    await expect(page.locator('a2a-task-list [part="item"]').first()).toBeVisible();
    await expectNoSeriousViolations(page, 'the embed example (streaming)');

    // …and its error state, on an origin the API refuses.
    await page.goto(
      `${otherSite.origin}/examples/embed.html?${new URLSearchParams({ api: api.baseUrl, user: USER, task: done.id })}`,
    );
    await expect(page.locator('a2a-task-stream [part="error"]')).toBeVisible({ timeout: 20_000 });
    await expectNoSeriousViolations(page, 'the embed example (refused origin, error state)');
  } finally {
    await context.close();
  }
});
