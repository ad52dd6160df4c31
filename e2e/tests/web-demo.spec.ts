/**
 * The demo flow of issue 6, in real Chromium against the real API (dev mode, simulator on):
 * sign in as a dev user, start a simulated task from the form, watch it stream to Completed on
 * the task page, open it in a second tab and see one server stream. Takes the README's
 * screenshots of the demo on the way.
 */
import { expect, test, type Page } from '@playwright/test';
import { devToken, metric, startApi, type RunningApi } from './support/server.js';
import {
  createTask,
  range,
  renderedSeqs,
  screenshotPath,
  serverSeqs,
  taskStateOf,
} from './support/web-helpers.js';

let api: RunningApi;

test.beforeAll(async () => {
  api = await startApi();
});

test.afterAll(async () => {
  await api?.stop();
});

const EVENTS = 'a2a-task-stream [part="event"][data-seq]';
const STATE = 'a2a-task-stream [part="state"]';

async function activeStreamsShown(page: Page): Promise<string> {
  return (await page.locator('#active-streams').textContent())?.trim() ?? '';
}

test('demo: sign in, start a simulated task, watch it stream to Completed; a second tab shares one server stream', async ({
  browser,
}) => {
  test.setTimeout(90_000);
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const page = await context.newPage();

    // Sign in as a dev user: the app asks the dev token route for `?user=`.
    const signIn = page.waitForResponse(
      (r) => r.url().endsWith('/auth/dev/token') && r.request().method() === 'POST',
    );
    await page.goto(`${api.baseUrl}/?user=demo-user`);
    expect((await signIn).status()).toBe(200);
    await expect(page.locator('#current-user')).toHaveText('demo-user');
    // Signed in: the (still empty) task list loaded with the token instead of failing.
    await expect(page.locator('a2a-task-list [part="empty"]')).toBeVisible();
    await expect(page.locator('a2a-task-list [part="error"]')).toHaveCount(0);

    // Start a simulated task with the steps and speed chosen in the form.
    const form = page.locator('#new-task');
    await form.locator('input[name="text"]').fill('Summarize the e2e report');
    await form.locator('input[name="steps"]').fill('40');
    await form.locator('input[name="intervalMs"]').fill('500');
    await form.locator('input[name="chunkSize"]').fill('16');
    const created = page.waitForResponse(
      (r) => r.url().endsWith('/agent-to-agent/demo/simulator/tasks') && r.request().method() === 'POST',
    );
    await form.getByRole('button', { name: 'Start task' }).click();
    const createdRes = await created;
    expect(createdRes.status()).toBe(201);
    const createBody = JSON.parse(createdRes.request().postData() ?? '{}') as {
      metadata: { simulate: Record<string, unknown> };
    };
    expect(createBody.metadata.simulate).toMatchObject({ steps: 40, intervalMs: 500, chunkSize: 16 });
    const taskId = ((await createdRes.json()) as { id: string }).id;

    // The app moves to the task page and the task streams there; a second tab opens the same
    // task while it still runs.
    await expect(page).toHaveURL(new RegExp(`/tasks/demo/simulator/${taskId}(\\?|$)`));
    const second = await context.newPage();
    await second.goto(page.url());
    // Both tabs are served by the Service Worker (not by connections of their own) and stream.
    const live = (tab: Page) =>
      tab.evaluate(() => {
        const el = document.querySelector('a2a-task-stream') as
          | (HTMLElement & { connection?: { state: string; via?: string }; taskState: { log: unknown[] } })
          | null;
        return (
          el?.connection?.state === 'open' && el.connection.via === 'worker' && el.taskState.log.length > 0
        );
      });
    await expect.poll(() => live(page), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => live(second), { timeout: 20_000 }).toBe(true);

    // One server stream for the two tabs: /metrics, sampled while the task is still running.
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      samples.push(await metric(api.baseUrl, 'a2a_sse_active_streams'));
      await page.waitForTimeout(200);
    }
    expect((await taskStateOf(second)).final, 'the task must still run while streams are counted').toBe(
      false,
    );
    expect(samples, `a2a_sse_active_streams while two tabs watch: ${samples}`).toEqual([1, 1, 1]);
    // …and the "what you are seeing" panel shows that live count in both tabs.
    await expect.poll(() => activeStreamsShown(page), { timeout: 6_000 }).toBe('1');
    await expect.poll(() => activeStreamsShown(second), { timeout: 6_000 }).toBe('1');
    expect((await taskStateOf(second)).final).toBe(false);
    for (const tab of [page, second]) {
      await expect(tab.locator('#transport')).toHaveAttribute('data-via', 'worker');
      await expect(tab.locator('#transport')).toHaveAttribute('data-transport', 'worker');
      await expect(tab.locator('#transport')).toContainText('Service Worker');
    }

    // Mid-stream screenshot (progress under way, artifact growing).
    await expect
      .poll(async () => (await taskStateOf(page)).progress ?? 0, { timeout: 15_000 })
      .toBeGreaterThan(0.2);
    await expect(page.locator(STATE)).toHaveAttribute('data-state', 'working');
    await expect(page.locator('a2a-task-stream [part="artifact-text"]')).toBeVisible();
    await expect(page.locator('a2a-task-stream [part="progress"]')).toBeVisible();
    await page.screenshot({ path: screenshotPath('demo-task-streaming'), fullPage: true });

    // Completed, in both tabs.
    await expect(page.locator(STATE)).toHaveAttribute('data-state', 'completed', { timeout: 30_000 });
    await expect(page.locator(STATE)).toHaveText(/completed/i);
    await expect(second.locator(STATE)).toHaveAttribute('data-state', 'completed', { timeout: 15_000 });
    await expect(page.locator('#cancel-task')).toHaveCount(0);

    // Every event, once, in seq order, in both tabs, the same as the server stored.
    const final = await taskStateOf(page);
    expect(final.final).toBe(true);
    const stored = await serverSeqs(
      api.baseUrl,
      await devToken(api.baseUrl, 'demo-user'),
      'demo',
      'simulator',
      taskId,
    );
    expect(stored.final).toBe(true);
    expect(stored.seqs).toEqual(range(final.seq));
    expect(final.seq).toBeGreaterThan(40 + 2); // a status per step, chunks, start and end
    expect(await renderedSeqs(page)).toEqual(range(final.seq));
    expect(await renderedSeqs(second)).toEqual(range(final.seq));
    await expect(page.locator(`${EVENTS}`).last()).toHaveAttribute('data-state', 'completed');

    // The stream is over: no server stream left, and the panel says so.
    await expect.poll(() => metric(api.baseUrl, 'a2a_sse_active_streams'), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => activeStreamsShown(page), { timeout: 6_000 }).toBe('0');
    await second.close();

    await page.screenshot({ path: screenshotPath('demo-task-completed'), fullPage: true });

    // Two more tasks of the same user for the list (one that fails, one still running).
    const token = await devToken(api.baseUrl, 'demo-user');
    const failing = await createTask(api.baseUrl, token, 'demo', 'simulator', {
      message: { parts: [{ text: 'Reconcile the ledgers' }] },
      metadata: { simulate: { steps: 2, intervalMs: 50, fail: true } },
    });
    const running = await createTask(api.baseUrl, token, 'demo', 'simulator', {
      message: { parts: [{ text: 'Index the archive' }] },
      metadata: { simulate: { steps: 500, intervalMs: 1000 } },
    });

    // Back to the list: the tasks are there with their states.
    await page.getByRole('link', { name: '← All tasks' }).click();
    await expect(page).toHaveURL(/\/(\?user=demo-user)?$/);
    const item = (id: string) => page.locator(`a2a-task-list [part="item"][data-task-id="${id}"]`);
    await expect(item(taskId)).toHaveAttribute('data-state', 'completed', { timeout: 10_000 });
    await expect(item(failing.id)).toHaveAttribute('data-state', 'failed', { timeout: 10_000 });
    await expect(item(running.id)).toHaveAttribute('data-state', 'working', { timeout: 10_000 });
    await page.screenshot({ path: screenshotPath('demo-home'), fullPage: true });
  } finally {
    await context.close();
  }
});
