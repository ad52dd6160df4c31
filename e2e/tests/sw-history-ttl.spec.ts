/**
 * A task that runs longer than the message TTL (shortened to 3 s here): tabs that come late, in
 * the same browser (history from the worker's store) or in a fresh one (from the server), say that
 * earlier messages expired and still show the task's true current state, from a snapshot.
 */
import { expect, test } from './support/sw-fixtures.js';
import {
  FAST,
  FAST_API_ENV,
  POLL,
  appendChunks,
  appendEvents,
  artifactText,
  chunkText,
  connectionBase,
  createTask,
  expectSeqList,
  expectSeqs,
  expectStreams,
  newStreamContext,
  openLiveTask,
  openLiveTasks,
  status,
  stopWorkers,
  taskState,
  type Task,
} from './support/sw-helpers.js';
import { devToken, metric, type RunningApi } from './support/server.js';

const TTL_MINUTES = 0.05; // 3 s
test.use({ apiEnv: { ...FAST_API_ENV, TASK_MESSAGE_TTL_MINUTES: String(TTL_MINUTES) } });

/** The server no longer returns any of the task's first events. */
async function expectExpiredOnServer(api: RunningApi, task: Task): Promise<void> {
  const token = await devToken(api.baseUrl, task.user);
  await expect
    .poll(
      async () => {
        const res = await fetch(
          `${api.baseUrl}/agent-to-agent/${task.org}/${task.agent}/tasks/${task.id}/messages?after=0`,
          { headers: { authorization: `Bearer ${token}` } },
        );
        const page = (await res.json()) as { events: unknown[]; historyTruncated: boolean };
        return page.events.length === 0 && page.historyTruncated;
      },
      { timeout: 15_000, intervals: [250] },
    )
    .toBe(true);
}

test('a task run longer than the message TTL: historyTruncated shown, snapshot state correct', async ({
  browser,
  api,
}) => {
  test.setTimeout(120_000);
  // The worker keeps events as long as the server does (a little less, so both have dropped them
  // by the time the server has).
  const options = { ...FAST, config: { ...FAST.config, retentionMs: TTL_MINUTES * 60_000 - 500 } };
  const context = await newStreamContext(browser, options);
  const task = await createTask(api);
  const watching = await openLiveTask(context, api, task);
  await appendEvents(api, task, [status('TASK_STATE_WORKING')]);
  await appendChunks(api, task, 3);
  await expectSeqs(watching, 4);

  // The first four events expire, on the server and in the worker's store.
  await expectExpiredOnServer(api, task);
  // Late tabs: one in this browser (worker store), one in a fresh browser (server).
  const fresh = await newStreamContext(browser, options);
  const [sameBrowser, otherBrowser] = [
    ...(await openLiveTasks(context, api, [task])),
    ...(await openLiveTasks(fresh, api, [task])),
  ];
  const late = [sameBrowser!, otherBrowser!];
  await appendChunks(api, task, 2, { from: 3 });

  // The tab that watched from the start holds everything: no notice.
  await expectSeqs(watching, 6);
  await expect(artifactText(watching)).toHaveText(chunkText(5));
  await expect(watching.locator('#task-stream [part="truncated"]')).toHaveCount(0);
  for (const tab of late) {
    // Only the retained events in the log, and the notice…
    await expectSeqList(tab, [5, 6]);
    expect((await taskState(tab)).historyTruncated).toBe(true);
    const notice = tab.locator('#task-stream [part="truncated"]');
    await expect(notice).toBeVisible();
    await expect(notice).toContainText('Earlier messages expired (events before #5 are no longer kept)');
    // …and the true state from the snapshot: working, with every chunk, expired ones included.
    await expect(tab.locator('#task-stream [part="state"]')).toHaveText('Working');
    await expect(artifactText(tab)).toHaveText(chunkText(5));
    expect(await taskState(tab)).toMatchObject({ state: 'TASK_STATE_WORKING', seq: 6, final: false });
  }

  // The streams reconnect (here the browser stopped both workers). The new snapshots are relative
  // to where the tabs are and no longer say "truncated"; the logs still lack 1..4: the notice stays.
  const opened = await metric(api.baseUrl, 'a2a_sse_streams_opened_total');
  await stopWorkers(context, sameBrowser!);
  await stopWorkers(fresh, otherBrowser!);
  await expect
    .poll(() => metric(api.baseUrl, 'a2a_sse_streams_opened_total'), { timeout: 15_000, intervals: POLL })
    .toBeGreaterThanOrEqual(opened + 2);
  await appendChunks(api, task, 1, { from: 5 });
  await expectSeqs(watching, 7);
  for (const tab of late) {
    await expectSeqList(tab, [5, 6, 7]);
    await expect(tab.locator('#task-stream [part="truncated"]')).toBeVisible();
    await expect(artifactText(tab)).toHaveText(chunkText(6));
  }

  // The task completes: every tab shows it, and the final event ends the streams.
  await appendEvents(api, task, [status('TASK_STATE_COMPLETED')]);
  for (const tab of [watching, ...late]) {
    await expect(tab.locator('#task-stream [part="state"]')).toHaveText('Completed');
    await expect(connectionBase(tab)).toHaveAttribute('data-state', 'closed');
    expect(await taskState(tab)).toMatchObject({ state: 'TASK_STATE_COMPLETED', seq: 8, final: true });
  }
  await expectStreams(api, 0);
  await context.close();
  await fresh.close();
});
