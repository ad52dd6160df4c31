/**
 * What one streamed event costs the tab that shows it: Chromium's own counters (CDP
 * `Performance.getMetrics`) over events appended one at a time, each waited for in the DOM. Ten
 * tabs on one machine render every event in two or three of them (figure 6 of the benchmarks),
 * so a second layout per event is a third more of the browser's main-thread time in every tab.
 */
import { expect, test } from './support/sw-fixtures.js';
import {
  appendChunks,
  createTask,
  expectSeqs,
  newStreamContext,
  openLiveTask,
  renderedSeqs,
  sleep,
} from './support/sw-helpers.js';

test.use({ trace: 'off' });

const EVENTS = 20;

test('an appended event costs the tab one layout', async ({ browser, api }) => {
  test.setTimeout(90_000);
  const task = await createTask(api);
  const context = await newStreamContext(browser);
  try {
    const page = await openLiveTask(context, api, task);
    // A log with entries in it already, as a task that has run a while has.
    await appendChunks(api, task, 60);
    await expectSeqs(page, 60, 30_000);

    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const layouts = async () =>
      (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'LayoutCount')!.value;
    const before = await layouts();
    for (let n = 61; n <= 60 + EVENTS; n++) {
      await appendChunks(api, task, 1, { from: n });
      await expect.poll(async () => (await renderedSeqs(page)).at(-1), { timeout: 10_000 }).toBe(n);
      // Past the frame that showed it, so a layout it leaves for the next frame is counted too.
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await sleep(50);
    }
    const perEvent = ((await layouts()) - before) / EVENTS;
    console.log(`layouts per appended event: ${perEvent.toFixed(2)}`);
    // One per render, with room for the odd one of the page around it (the side panel's figures).
    expect(perEvent).toBeLessThanOrEqual(1.4);
  } finally {
    await context.close();
  }
});
