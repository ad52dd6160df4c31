/**
 * What one streamed event costs the tab that shows it: Chromium's own counters (CDP
 * `Performance.getMetrics`) over events appended one at a time, each waited for in the DOM. Ten
 * tabs on one machine render every event in two or three of them (figure 6 of the benchmarks),
 * so a second layout per event is a third more of the browser's main-thread time in every tab.
 */
import { randomUUID } from 'node:crypto';
import { expect, test } from '@playwright/test';
import { agentToken, devToken, startApi, type RunningApi } from './support/server.js';
import { createTask, renderedSeqs } from './support/web-helpers.js';

test.use({ trace: 'off' });

let api: RunningApi;

test.beforeAll(async () => {
  api = await startApi();
});

test.afterAll(async () => {
  await api?.stop();
});

const ORG = 'e2e';
const AGENT = 'render';
const USER = 'render-user';
const EVENTS = 20;

test('an appended event costs the tab one layout, and the log is laid out once per render', async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const userToken = await devToken(api.baseUrl, USER);
  const agent = await agentToken(api.baseUrl, ORG, AGENT);
  const task = await createTask(api.baseUrl, userToken, ORG, AGENT, {
    message: { parts: [{ text: 'render cost' }] },
  });
  const append = async (n: number) => {
    const res = await fetch(`${api.baseUrl}/agent-to-agent/${ORG}/${AGENT}/tasks/${task.id}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${agent}` },
      body: JSON.stringify({
        artifactUpdate: {
          taskId: task.id,
          contextId: task.contextId,
          artifact: { artifactId: 'out', parts: [{ text: `chunk ${n} ${randomUUID()}\n` }] },
          append: n > 1,
        },
      }),
    });
    expect(res.status).toBe(200);
  };

  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  try {
    const page = await context.newPage();
    await page.goto(`${api.baseUrl}/tasks/${ORG}/${AGENT}/${task.id}?user=${USER}`);
    // A log with entries in it already, as a task that has run a while has.
    for (let n = 1; n <= 60; n++) await append(n);
    await expect.poll(async () => (await renderedSeqs(page)).length, { timeout: 30_000 }).toBe(60);

    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const layouts = async () =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'LayoutCount')!.value;
    const before = await layouts();
    for (let n = 61; n <= 60 + EVENTS; n++) {
      await append(n);
      await expect.poll(async () => (await renderedSeqs(page)).at(-1), { timeout: 10_000 }).toBe(n);
      // Past the frame that showed it, so a layout it leaves for the next frame is counted too.
      await page.evaluate(
        () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(r, 50)))),
      );
    }
    const perEvent = ((await layouts()) - before) / EVENTS;
    console.log(`layouts per appended event: ${perEvent.toFixed(2)}`);
    // One per render, with room for the odd one of the page around it (the side panel's figures).
    expect(perEvent).toBeLessThanOrEqual(1.4);
  } finally {
    await context.close();
  }
});
