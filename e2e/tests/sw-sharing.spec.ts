/**
 * The Service Worker shares one server stream per task among every tab of the browser, keeps
 * within a stream budget over HTTP/1.1 (the rest polled), and is kept alive by the tabs' periodic
 * messages. Each test checks what the tabs show and what the server counted
 * (`a2a_sse_active_streams`, `a2a_sse_events_sent_total` on /metrics).
 */
import type { Page } from '@playwright/test';
import { metric } from './support/server.js';
import { expect, test } from './support/sw-fixtures.js';
import {
  FAST,
  POLL,
  appendChunks,
  appendEvents,
  chunk,
  artifactText,
  chunkText,
  connection,
  connectionBase,
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
  workerMessages,
  workerPosts,
  type Task,
} from './support/sw-helpers.js';

const transportOf = (page: Page) => page.locator('#transport').getAttribute('data-transport');

test('five tabs on one task: one server stream, every tab shows every event, closing them releases it', async ({
  browser,
  api,
}) => {
  const eventsSent = () => metric(api.baseUrl, 'a2a_sse_events_sent_total');
  const context = await newStreamContext(browser);
  const task = await createTask(api);
  const sentBefore = await eventsSent();
  const streams = sampleStreams(api);

  const first = await openLiveTask(context, api, task);
  await appendChunks(api, task, 3);
  await expectSeqs(first, 3);
  // Four late tabs get the stored history first, then live events.
  const tabs = [first, ...(await openLiveTasks(context, api, [task, task, task, task], 4))];
  await appendChunks(api, task, 5, { from: 3, gapMs: 50 });

  for (const tab of tabs) {
    await expectSeqs(tab, 8);
    await expect(artifactText(tab)).toHaveText(chunkText(8));
    expect(await connection(tab)).toMatchObject({ state: 'open', transport: 'worker', via: 'worker' });
  }
  // The person sees the server's count in the demo's side panel.
  await expect(first.locator('#active-streams')).toHaveText('1', { timeout: 10_000 });
  expect(await metric(api.baseUrl, 'a2a_sse_active_streams')).toBe(1);
  const { max } = await streams.stop();
  expect(max, 'highest a2a_sse_active_streams while five tabs watched').toBe(1);
  // One stream: the server wrote each event once, not once per tab.
  expect((await eventsSent()) - sentBefore).toBe(8);

  // Keep-alive cost at the test's keepAliveMs, from each tab's own record of its postMessages.
  // On a fast machine the tabs may not have lived three intervals yet: wait until the first has.
  const keepalives = async (tab: Page) =>
    (await workerPosts(tab)).filter((p) => p.type === 'keepalive').length;
  await expect
    .poll(() => keepalives(first), { timeout: FAST.keepAliveMs! * 4 + 5_000 })
    .toBeGreaterThanOrEqual(3);
  const perTab: number[] = [];
  for (const tab of tabs) {
    const times = (await workerPosts(tab)).filter((p) => p.type === 'keepalive').map((p) => p.at);
    if (times.length >= 3) perTab.push(((times.length - 1) * 60_000) / (times.at(-1)! - times[0]!));
  }
  expect(perTab.length).toBeGreaterThan(0);
  const measured = perTab.reduce((a, b) => a + b, 0) / perTab.length;
  const expected = 60_000 / FAST.keepAliveMs!;
  // A tab also sends one when it is hidden (tabs opened after it can hide it): a little above.
  expect(measured).toBeGreaterThan(expected * 0.5);
  expect(measured).toBeLessThan(expected * 2);
  recordFigures({
    keepAliveAtTestTimings: {
      keepAliveMs: FAST.keepAliveMs,
      messagesPerMinutePerTab: Math.round(measured * 10) / 10,
      tabsMeasured: perTab.length,
    },
  });

  // Five events appended together reach the worker together; each tab gets them in one message.
  await appendEvents(
    api,
    task,
    [0, 1, 2, 3, 4].map((i) => chunk(`b${i};`)),
  );
  for (const tab of tabs) {
    await expectSeqs(tab, 13);
    await expect(artifactText(tab)).toHaveText(`${chunkText(8)}b0;b1;b2;b3;b4;`);
    const batches = (await workerMessages(tab)).filter((m) => m.type === 'events');
    expect(batches.map((m) => m.events).reduce((a, b) => Math.max(a, b), 0)).toBeGreaterThanOrEqual(2);
  }

  const closedAt = Date.now();
  for (const tab of tabs) await tab.close();
  await expectStreams(api, 0, 10_000);
  console.log(`[sw] last of five tabs closed -> server stream released in ${Date.now() - closedAt} ms`);
  await context.close();
});

test('three tasks across six tabs: exactly three server streams', async ({ browser, api }) => {
  const eventsSent = () => metric(api.baseUrl, 'a2a_sse_events_sent_total');
  const context = await newStreamContext(browser);
  const tasks: Task[] = [];
  for (let i = 0; i < 3; i++) tasks.push(await createTask(api));
  const sentBefore = await eventsSent();
  const streams = sampleStreams(api);

  // Three tabs on the first task, two on the second, one on the third.
  const layout = [0, 0, 0, 1, 1, 2];
  const pages = await openLiveTasks(
    context,
    api,
    layout.map((i) => tasks[i]!),
  );
  await expectStreams(api, 3);

  const counts = [4, 3, 2];
  for (const [i, task] of tasks.entries()) await appendChunks(api, task, counts[i]!, { label: `t${i}-` });
  for (const [n, page] of pages.entries()) {
    const i = layout[n]!;
    await expectSeqs(page, counts[i]!);
    await expect(artifactText(page)).toHaveText(chunkText(counts[i]!, `t${i}-`));
  }
  expect(await metric(api.baseUrl, 'a2a_sse_active_streams')).toBe(3);
  const { max } = await streams.stop();
  expect(max, 'highest a2a_sse_active_streams with six tabs on three tasks').toBe(3);
  expect((await eventsSent()) - sentBefore).toBe(4 + 3 + 2);

  // The third task's only tab leaves: its stream goes, the others stay.
  await pages[5]!.close();
  await expectStreams(api, 2, 10_000);
  await context.close();
  await expectStreams(api, 0, 10_000);
});

test('eight tasks over HTTP/1.1: at most the budget of 4 streams, the rest polled, every tab current', async ({
  browser,
  api,
}) => {
  test.setTimeout(120_000);
  const context = await newStreamContext(browser);
  const tasks: Task[] = [];
  for (let i = 0; i < 8; i++) tasks.push(await createTask(api));
  const streams = sampleStreams(api);

  // Every tab says "Live" through the worker: by stream or, over the budget, by polling.
  const pages = [await openLiveTask(context, api, tasks[0]!)];
  for (let i = 1; i < tasks.length; i += 3) {
    pages.push(...(await Promise.all(tasks.slice(i, i + 3).map((task) => openTask(context, api, task)))));
  }
  for (const page of pages) {
    await expect(connectionBase(page)).toHaveAttribute('data-state', 'open', { timeout: 30_000 });
    await expect(page.locator('#transport')).toHaveAttribute('data-via', 'worker');
  }
  const protocol = await pages[0]!.evaluate(() =>
    (performance.getEntriesByType('resource') as PerformanceResourceTiming[])
      .filter((e) => e.name.includes('/agent-to-agent/'))
      .map((e) => e.nextHopProtocol)
      .at(-1),
  );
  expect(protocol).toBe('http/1.1');
  await expectStreams(api, 4);
  const transports = async () => (await Promise.all(pages.map(transportOf))).sort();
  await expect
    .poll(transports, { timeout: 15_000, intervals: POLL })
    .toEqual([...Array<string>(4).fill('polling'), ...Array<string>(4).fill('worker')]);

  for (const [i, task] of tasks.entries()) await appendChunks(api, task, 3, { label: `t${i}-` });
  for (const [i, page] of pages.entries()) {
    await expectSeqs(page, 3);
    await expect(artifactText(page)).toHaveText(chunkText(3, `t${i}-`));
  }

  // The page's own API calls do not wait behind the streams (6 sockets per origin on HTTP/1.1).
  const calls = await pages[7]!.evaluate(async () => {
    const out: { status: number; ms: number }[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const res = await fetch(`/healthz?n=${i}`, { cache: 'no-store' });
      await res.text();
      out.push({ status: res.status, ms: Math.round(performance.now() - t) });
    }
    return out;
  });
  console.log(
    `[sw] /healthz from a page while 8 tasks are watched: ${calls.map((c) => `${c.ms} ms`).join(', ')}`,
  );
  for (const c of calls) {
    expect(c.status).toBe(200);
    expect(c.ms).toBeLessThan(3000);
  }

  const { max } = await streams.stop();
  expect(max, 'highest a2a_sse_active_streams with eight tasks watched').toBeLessThanOrEqual(4);

  // Two streaming tabs leave: two polled tasks are promoted to streams, still within the budget.
  const streaming: number[] = [];
  for (const [i, page] of pages.entries()) if ((await transportOf(page)) === 'worker') streaming.push(i);
  expect(streaming).toHaveLength(4);
  const leaving = streaming.slice(0, 2);
  for (const i of leaving) await pages[i]!.close();
  const staying = [...pages.keys()].filter((i) => !leaving.includes(i));
  await expect
    .poll(async () => (await Promise.all(staying.map((i) => transportOf(pages[i]!)))).sort(), {
      timeout: 15_000,
      intervals: POLL,
    })
    .toEqual([...Array<string>(2).fill('polling'), ...Array<string>(4).fill('worker')]);
  await expectStreams(api, 4);
  for (const i of staying) await appendChunks(api, tasks[i]!, 1, { label: `t${i}-`, from: 3 });
  for (const i of staying) await expectSeqs(pages[i]!, 4);

  await context.close();
  await expectStreams(api, 0, 10_000);
});

test('keep-alive cost at the default timings: messages per minute per tab', async ({ browser, api }) => {
  // Default client timings (keepAliveMs 15 000); the page's clock is fast-forwarded one minute.
  const context = await newStreamContext(browser, { workerTimeoutMs: 30_000 });
  await context.clock.install();
  const tasks = [await createTask(api), await createTask(api)];
  const pages = await openLiveTasks(context, api, tasks);
  const before = await Promise.all(pages.map(workerPosts));
  await context.clock.runFor(60_000);
  const after = await Promise.all(pages.map(workerPosts));
  const perTab = pages.map(
    (_, i) =>
      after[i]!.filter((p) => p.type === 'keepalive').length -
      before[i]!.filter((p) => p.type === 'keepalive').length,
  );
  console.log(`[sw] keep-alive messages in one minute at default timings, per tab: ${perTab.join(', ')}`);
  // 60 000 / 15 000: enough to keep the worker from idling out (Chromium: 30 s), no more.
  for (const n of perTab) {
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThanOrEqual(5);
  }
  // After the minute the tabs are still served live by the worker.
  for (const [i, task] of tasks.entries()) await appendChunks(api, task, 1, { label: `k${i}-` });
  for (const page of pages) {
    await expectSeqs(page, 1);
    await expectLive(page);
  }
  recordFigures({
    keepAliveAtDefaultTimings: {
      keepAliveMs: 15_000,
      messagesPerMinutePerTab: perTab.reduce((a, b) => a + b, 0) / perTab.length,
      tabsMeasured: perTab.length,
      method: 'page clock fast-forwarded 60 s; postMessage calls of type keepalive counted in each tab',
    },
  });
  await context.close();
});
