/**
 * The log and a streamed text keep their newest content in view while the reader is at their end,
 * and stay where the reader scrolled otherwise. They do it by scroll anchoring (the only anchor
 * is an empty pin after the content), so the entries already shown keep their place inside the
 * box and only the new one is painted: a box that pinned its end by moving its content (a reversed
 * flex column) repainted everything in it on every event.
 */
import type { Page } from '@playwright/test';
import type { RunningApi } from './support/server.js';
import { expect, test } from './support/sw-fixtures.js';
import {
  appendChunks,
  createTask,
  expectSeqs,
  newStreamContext,
  openLiveTask,
  renderedSeqs,
} from './support/sw-helpers.js';

test.use({ trace: 'off' });

type Box = 'log' | 'text';
const SCROLLER: Record<Box, string> = {
  log: '[part="log-scroller"]',
  text: '[part="artifact-text-scroller"]',
};

interface BoxView {
  scrollTop: number;
  overflows: boolean;
  /** The newest entry (log) or the end of the text is inside the visible box. */
  newestInView: boolean;
  /** Where the first entry or the text sits inside the scrolled content (moves if content moves). */
  contentTop: number;
}

function view(page: Page, box: Box): Promise<BoxView> {
  return page.locator('#task-stream').evaluate(
    (el, { box, selector }) => {
      const scroller = el.shadowRoot!.querySelector(selector) as HTMLElement;
      const content = scroller.firstElementChild as HTMLElement;
      const newest = box === 'log' ? (content.lastElementChild as HTMLElement) : (content as HTMLElement);
      const outer = scroller.getBoundingClientRect();
      const r = newest.getBoundingClientRect();
      const first = (box === 'log' ? content.firstElementChild : content) as HTMLElement;
      return {
        scrollTop: scroller.scrollTop,
        overflows: scroller.scrollHeight > scroller.clientHeight + 1,
        newestInView: r.bottom <= outer.bottom + 1 && r.bottom >= outer.top,
        contentTop: first.getBoundingClientRect().top - outer.top + scroller.scrollTop,
      };
    },
    { box, selector: SCROLLER[box] },
  );
}

async function wheelOver(page: Page, box: Box, deltaY: number): Promise<void> {
  const scroller = page.locator(`#task-stream ${SCROLLER[box]}`);
  await scroller.hover();
  await page.mouse.wheel(0, deltaY);
}

async function appendAndWait(
  api: RunningApi,
  page: Page,
  task: Parameters<typeof appendChunks>[1],
  from: number,
  count: number,
) {
  await appendChunks(api, task, count, { from });
  await expect.poll(async () => (await renderedSeqs(page)).at(-1), { timeout: 10_000 }).toBe(from + count);
  // Past the frame that showed it, so the scroll anchoring of that frame is done.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

test('the log and a streamed text follow their newest content until the reader scrolls away', async ({
  browser,
  api,
}) => {
  test.setTimeout(90_000);
  const task = await createTask(api);
  const context = await newStreamContext(browser);
  try {
    const page = await openLiveTask(context, api, task);
    // Enough entries and text to overflow both boxes (20rem each by default).
    await appendChunks(api, task, 60, { label: 'a longer chunk of streamed answer text, number ' });
    await expectSeqs(page, 60, 30_000);
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

    for (const box of ['log', 'text'] as const) {
      const v = await view(page, box);
      expect(v, `${box} starts at its newest content`).toMatchObject({ overflows: true, newestInView: true });
    }

    // New content: the boxes scroll along, and what was shown stays where it was in the content.
    const before = { log: await view(page, 'log'), text: await view(page, 'text') };
    await appendAndWait(api, page, task, 60, 5);
    for (const box of ['log', 'text'] as const) {
      const v = await view(page, box);
      expect(v.newestInView, `${box} shows the newest after appends`).toBe(true);
      expect(v.scrollTop, `${box} scrolled along`).toBeGreaterThan(before[box].scrollTop);
      expect(v.contentTop, `${box}: shown content did not move inside the box`).toBeCloseTo(
        before[box].contentTop,
        0,
      );
    }

    // The reader scrolls the log up: new entries no longer move it.
    await wheelOver(page, 'log', -150);
    await expect.poll(async () => (await view(page, 'log')).newestInView).toBe(false);
    const reading = await view(page, 'log');
    await appendAndWait(api, page, task, 65, 5);
    const after = await view(page, 'log');
    expect(after.scrollTop).toBeCloseTo(reading.scrollTop, 0);
    expect(after.newestInView).toBe(false);

    // Back at the end: it follows again.
    await wheelOver(page, 'log', 100_000);
    await expect.poll(async () => (await view(page, 'log')).newestInView).toBe(true);
    await appendAndWait(api, page, task, 70, 5);
    expect((await view(page, 'log')).newestInView).toBe(true);
  } finally {
    await context.close();
  }
});
