/**
 * The Service Worker keeps tabs current through what goes wrong mid-stream: the network going
 * away (a tab opened offline reads the stored history), the API restarting, the browser stopping
 * the worker, and streaming being blocked (polling, then back to streaming). Each test checks that
 * every tab shows every seq exactly once and what the server counted on /metrics.
 */
import type { Page } from '@playwright/test';
import { metric, type RunningApi } from './support/server.js';
import { expect, test } from './support/sw-fixtures.js';
import {
  FAST,
  POLL,
  appendChunks,
  artifactText,
  chunkText,
  connectionBase,
  connectionLabel,
  createTask,
  expectLive,
  expectSeqs,
  expectStreams,
  newStreamContext,
  openLiveTask,
  openLiveTasks,
  openTask,
  recordFigures,
  sampleStreams,
  sleep,
  stopWorkers,
  workerPosts,
} from './support/sw-helpers.js';

const counter = (api: RunningApi, name: string) => metric(api.baseUrl, name);

async function expectAll(pages: Page[], n: number, label = 'c'): Promise<void> {
  for (const page of pages) {
    await expectSeqs(page, n, 30_000);
    await expect(artifactText(page)).toHaveText(chunkText(n, label));
  }
}

test('network off: a tab opened offline shows the stored history; network back: live again, no gap', async ({
  browser,
  api,
}) => {
  test.setTimeout(120_000);
  const context = await newStreamContext(browser);
  const task = await createTask(api);
  const first = await openLiveTask(context, api, task);
  await appendChunks(api, task, 4);
  await expectSeqs(first, 4);

  // Going offline does not cut a stream that is already open: the API going away does.
  await context.setOffline(true);
  let down = true;
  await api.halt();
  try {
    await expect(connectionBase(first)).toHaveAttribute('data-state', 'offline', { timeout: 15_000 });
    await expect(connectionLabel(first)).toHaveText('Offline');

    // A tab opened now: the app shell comes from the worker's precache, the events from IndexedDB.
    const late = await openTask(context, api, task);
    await expectSeqs(late, 4);
    await expect(artifactText(late)).toHaveText(chunkText(4));
    await expect(connectionBase(late)).toHaveAttribute('data-state', 'offline');
    await expect(connectionLabel(late)).toHaveText('Offline');
    await expect(late.locator('#task-stream a2a-connection-status [part="hint"]')).toContainText(
      'showing saved progress',
    );

    // The API comes back and the agent goes on while this browser is still offline.
    await api.start();
    down = false;
    await appendChunks(api, task, 3, { from: 4 });
    await sleep(1000);
    expect(await counter(api, 'a2a_sse_active_streams'), 'no stream while the browser is offline').toBe(0);
    await expectSeqs(late, 4);

    // Network back: both tabs go live and catch up, each seq once.
    const streams = sampleStreams(api);
    await context.setOffline(false);
    for (const page of [first, late]) await expectLive(page);
    await expectAll([first, late], 7);
    await appendChunks(api, task, 2, { from: 7 });
    await expectAll([first, late], 9);
    await expectStreams(api, 1);
    expect((await streams.stop()).max).toBe(1);
  } finally {
    if (down) await api.start();
  }
  await context.close();
});

test('the API restarted mid-stream: tabs resume with nothing lost or repeated', async ({ browser, api }) => {
  test.setTimeout(120_000);
  const context = await newStreamContext(browser);
  const task = await createTask(api);
  const tabs = await openLiveTasks(context, api, [task, task, task]);
  await appendChunks(api, task, 4);
  await expectAll(tabs, 4);

  // Events go out and the API restarts right behind them, without waiting for the tabs.
  await appendChunks(api, task, 3, { from: 4 });
  const restarting = api.restart();
  // What the person sees meanwhile.
  await expect(connectionLabel(tabs[0]!)).toHaveText('Reconnecting…', { timeout: 15_000 });
  await restarting;
  const streams = sampleStreams(api);
  await appendChunks(api, task, 3, { from: 7 });

  for (const tab of tabs) await expectLive(tab);
  await expectAll(tabs, 10);
  await expectStreams(api, 1);
  // A new process: its counters start at zero, and the resumed stream sent only what the tabs lacked.
  expect(await counter(api, 'a2a_sse_events_sent_total')).toBeLessThanOrEqual(6);
  expect((await streams.stop()).max).toBe(1);
  await context.close();
});

/** Records, in the page, when the log first shows `seq` (page clock, ms). */
async function watchForSeq(page: Page, seq: number): Promise<void> {
  await page.evaluate((s) => {
    const w = window as unknown as { __seenAt?: number };
    delete w.__seenAt;
    const timer = setInterval(() => {
      const root = document.querySelector('#task-stream')?.shadowRoot;
      if (root?.querySelector(`[part="event"][data-seq="${s}"]`)) {
        w.__seenAt = Date.now();
        clearInterval(timer);
      }
    }, 5);
  }, seq);
}

async function seenAt(page: Page): Promise<number | undefined> {
  return page.evaluate(() => (window as unknown as { __seenAt?: number }).__seenAt);
}

test('the worker stopped mid-stream: it resumes from IndexedDB, nothing lost', async ({ browser, api }) => {
  test.setTimeout(120_000);
  const context = await newStreamContext(browser);
  const task = await createTask(api);
  const tabs = await openLiveTasks(context, api, [task, task]);
  await appendChunks(api, task, 5);
  await expectAll(tabs, 5);
  await expectStreams(api, 1);
  const sentBefore = await counter(api, 'a2a_sse_events_sent_total');

  // Three times: stop the worker mid-stream, let the agent go on, time the next event's arrival.
  const samples: { stopToRendered: number; stopToTabMessage: number; tabMessageToRendered: number }[] = [];
  let last = 5;
  for (let round = 0; round < 3; round++) {
    const openedBefore = await counter(api, 'a2a_sse_streams_opened_total');
    for (const tab of tabs) await watchForSeq(tab, last + 1);
    await stopWorkers(context, tabs[0]!);
    const stoppedAt = Date.now();
    // The stopped worker's stream is gone on the server (maybe already replaced by the resumed one).
    await expect
      .poll(
        async () => {
          const active = await counter(api, 'a2a_sse_active_streams');
          const opened = await counter(api, 'a2a_sse_streams_opened_total');
          return active === 0 || (active === 1 && opened > openedBefore);
        },
        { timeout: 10_000, intervals: [20, 50, 100] },
      )
      .toBe(true);
    // This event reaches the tabs only through a restarted worker.
    await appendChunks(api, task, 1, { from: last });
    last++;
    await expect.poll(() => seenAt(tabs[0]!), { timeout: 20_000, intervals: POLL }).toBeDefined();
    const rendered = Math.min(
      ...(await Promise.all(tabs.map(seenAt))).filter((t): t is number => t !== undefined),
    );
    // The worker is restarted by the next message from a tab: a keep-alive at the latest.
    const woke = Math.min(
      ...(await Promise.all(tabs.map(workerPosts)))
        .flat()
        .filter((p) => p.at >= stoppedAt)
        .map((p) => p.at),
    );
    samples.push({
      stopToRendered: rendered - stoppedAt,
      stopToTabMessage: woke - stoppedAt,
      tabMessageToRendered: rendered - woke,
    });
    await expectAll(tabs, last);
    await expectStreams(api, 1);
  }
  await appendChunks(api, task, 2, { from: last });
  last += 2;
  await expectAll(tabs, last);
  for (const tab of tabs) await expectLive(tab);
  await expectStreams(api, 1);
  // Each restart resumed after the last seq stored in IndexedDB: the server sent every event
  // after the first five once, and nothing again.
  expect((await counter(api, 'a2a_sse_events_sent_total')) - sentBefore).toBe(last - 5);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const stopToRendered = samples.map((x) => x.stopToRendered);
  const tabMessageToRendered = samples.map((x) => x.tabMessageToRendered);
  recordFigures({
    stoppedWorkerResume: {
      stopToNextEventRenderedMs: { median: median(stopToRendered), samples: stopToRendered },
      tabMessageToNextEventRenderedMs: {
        median: median(tabMessageToRendered),
        samples: tabMessageToRendered,
      },
      stopToFirstTabMessageMs: samples.map((x) => x.stopToTabMessage),
      keepAliveMs: FAST.keepAliveMs,
      note:
        'stop = CDP ServiceWorker.stopAllWorkers resolved; the next event is appended as soon as the server ' +
        'saw the old stream close; the first tab message after the stop (a keep-alive, every keepAliveMs) ' +
        'restarts the worker, which resumes from IndexedDB (token from a tab, stream with Last-Event-ID)',
    },
  });
  for (const ms of stopToRendered) expect(ms).toBeLessThan(15_000);
  await context.close();
});

test('polling fallback mid-stream and back: no event lost or repeated, transport shown', async ({
  browser,
  api,
}) => {
  test.setTimeout(120_000);
  const context = await newStreamContext(browser);
  const task = await createTask(api);
  const tabs = await openLiveTasks(context, api, [task, task]);
  await appendChunks(api, task, 3);
  await expectAll(tabs, 3);
  const sentBefore = await counter(api, 'a2a_sse_events_sent_total');

  // A proxy starts refusing the stream route (the messages route still works)…
  const blocked = (url: URL) => url.pathname.endsWith(`/tasks/${task.id}/stream`);
  let refused = 0;
  await context.route(blocked, (route) => {
    refused++;
    return route.fulfill({
      status: 502,
      contentType: 'application/json',
      body: '{"code":"bad_gateway","message":"streaming blocked by a proxy"}',
    });
  });
  // …and the open stream drops (the browser stopped the worker): every reconnect is refused.
  await stopWorkers(context, tabs[0]!);
  const appending = appendChunks(api, task, 5, { from: 3, gapMs: 150 });
  for (const tab of tabs) await expectLive(tab, 'polling');
  await expect(tabs[0]!.locator('#task-stream a2a-connection-status [part="hint"]')).toContainText(
    'checking for updates',
  );
  await appending;
  await expectAll(tabs, 8);
  expect(refused).toBeGreaterThanOrEqual(3);
  await expectStreams(api, 0);
  await appendChunks(api, task, 2, { from: 8 });
  await expectAll(tabs, 10);

  // The proxy goes away: the worker tries a stream again and switches back, mid-task.
  await context.unroute(blocked);
  for (const tab of tabs) await expectLive(tab, 'worker');
  await expectStreams(api, 1);
  await appendChunks(api, task, 3, { from: 10 });
  await expectAll(tabs, 13);
  // The stream resumed where polling stopped: the server streamed only 11..13.
  expect((await counter(api, 'a2a_sse_events_sent_total')) - sentBefore).toBe(3);
  await context.close();
});
