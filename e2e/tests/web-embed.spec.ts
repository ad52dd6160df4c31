/**
 * web/examples/embed.html as another team would host it: on its own origin (a second loopback
 * port), loading the single-file bundle web/dist/lib/a2a-components.js with one module script,
 * and giving the component the user's token through a callback. The API allows that origin in
 * CORS_ORIGINS; a third origin that is not listed is refused.
 */
import { expect, test, type Page } from '@playwright/test';
import { devToken, startApi, type RunningApi } from './support/server.js';
import { serveWebExamples, type StaticSite } from './support/web-static.js';
import {
  createTask,
  everyAttributeValue,
  range,
  renderedSeqs,
  screenshotPath,
  serverSeqs,
  taskStateOf,
} from './support/web-helpers.js';

let api: RunningApi;
let allowed: StaticSite;
let refused: StaticSite;

test.beforeAll(async () => {
  allowed = await serveWebExamples();
  refused = await serveWebExamples();
  api = await startApi({ CORS_ORIGINS: allowed.origin });
});

test.afterAll(async () => {
  await api?.stop();
  await allowed?.close();
  await refused?.close();
});

const STREAM = 'a2a-task-stream#partner-task';

function embedUrl(site: StaticSite, params: Record<string, string>): string {
  const q = new URLSearchParams({ api: api.baseUrl, user: 'embed-user', ...params });
  return `${site.origin}/examples/embed.html?${q}`;
}

/** Tokens the page received (user token from the host's sign-in, stream tokens minted by the component). */
function collectTokens(page: Page): string[] {
  const tokens: string[] = [];
  page.on('response', (res) => {
    const url = res.url();
    if (res.ok() && (url.endsWith('/auth/dev/token') || url.endsWith('/stream-token'))) {
      res.json().then(
        (body: { token?: string }) => body.token && tokens.push(body.token),
        () => undefined,
      );
    }
  });
  return tokens;
}

test('embed example on an allowed second origin: direct connection, token by callback, every event rendered', async ({
  browser,
}) => {
  test.setTimeout(60_000);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  try {
    const page = await context.newPage();
    const tokens = collectTokens(page);
    const streamResponses: { status: number; allowOrigin: string | undefined }[] = [];
    page.on('response', (res) => {
      if (/\/tasks\/[^/]+\/stream\?/.test(res.url())) {
        streamResponses.push({
          status: res.status(),
          allowOrigin: res.headers()['access-control-allow-origin'],
        });
      }
    });

    await page.goto(embedUrl(allowed, { steps: '8', interval: '300' }));
    expect(allowed.requests).toContain('/dist/lib/a2a-components.js');

    const stream = page.locator(STREAM);
    await expect(stream.locator('[part="state"]')).toHaveAttribute('data-state', 'completed', {
      timeout: 30_000,
    });
    const taskId = await stream.evaluate((el) => (el as unknown as { taskId: string }).taskId);
    expect(taskId).toMatch(/^[0-9a-f-]{36}$/);

    // Every event of the task, once, in seq order, as the server stored them.
    const state = await taskStateOf(page, STREAM);
    expect(state.final).toBe(true);
    const stored = await serverSeqs(
      api.baseUrl,
      await devToken(api.baseUrl, 'embed-user'),
      'demo',
      'simulator',
      taskId,
    );
    expect(stored.seqs).toEqual(range(state.seq));
    expect(state.seq).toBeGreaterThan(8 + 2);
    expect(await renderedSeqs(page, STREAM)).toEqual(range(state.seq));
    await expect(stream.locator('[part="artifact-text"]')).toContainText('Collected the sources.');
    // The host saw the typed events: one a2a-event per seq, status changes in its own log.
    expect(
      await page.evaluate(() => (window as unknown as { embedded: { events(): number } }).embedded.events()),
    ).toBe(state.seq);
    await expect(page.locator('#events')).toContainText('a2a-status-change "TASK_STATE_COMPLETED"');
    // The standalone indicator follows the element through `for=`.
    await expect(page.locator('a2a-connection-status[for="partner-task"] [part="base"]')).toHaveAttribute(
      'data-state',
      'closed',
    );
    // The host's task list (same callback) shows the task.
    await expect(page.locator(`a2a-task-list [part="item"][data-task-id="${taskId}"]`)).toHaveAttribute(
      'data-state',
      'completed',
    );

    // A direct connection from the page: no worker on a foreign origin.
    const how = await page.evaluate(async () => {
      const el = document.querySelector('a2a-task-stream') as unknown as {
        connection?: { transport: string; via?: string };
        getAccessToken?: unknown;
      };
      return {
        transport: el.connection?.transport,
        via: el.connection?.via,
        callback: typeof el.getAccessToken,
        registrations: (await navigator.serviceWorker.getRegistrations()).length,
        controlled: navigator.serviceWorker.controller !== null,
      };
    });
    expect(how).toEqual({
      transport: 'direct',
      via: 'page',
      callback: 'function',
      registrations: 0,
      controlled: false,
    });
    expect(allowed.requests.filter((p) => p.includes('sw'))).toEqual([]);
    // The SSE stream itself was read cross-origin, allowed for this origin only.
    expect(streamResponses.length).toBeGreaterThan(0);
    expect(streamResponses[0]).toEqual({ status: 200, allowOrigin: allowed.origin });

    // Tokens went in by callback: none of them is in any attribute (shadow roots included) or the URL.
    await expect.poll(() => tokens.length).toBeGreaterThanOrEqual(2); // the user token and a stream token
    const attributes = await everyAttributeValue(page);
    expect(attributes.length).toBeGreaterThan(50);
    for (const token of tokens) {
      expect(attributes.filter((a) => a.includes(token))).toEqual([]);
      expect(attributes.filter((a) => a.includes(token.split('.')[2]!))).toEqual([]);
    }

    await page.screenshot({ path: screenshotPath('embed-example'), fullPage: true });
  } finally {
    await context.close();
  }
});

test('embed example on an origin not in CORS_ORIGINS is refused and shows an error state', async ({
  browser,
}) => {
  test.setTimeout(60_000);
  // The API's own answers: the listed origin gets CORS headers, the other one none.
  for (const [origin, expected] of [
    [allowed.origin, allowed.origin],
    [refused.origin, null],
  ] as const) {
    const preflight = await fetch(`${api.baseUrl}/auth/dev/token`, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin'), origin).toBe(expected);
  }

  // An existing task of the user, so the page goes straight to the component.
  const task = await createTask(api.baseUrl, await devToken(api.baseUrl, 'embed-user'), 'demo', 'simulator', {
    metadata: { simulate: { steps: 3, intervalMs: 100 } },
  });

  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('requestfailed', (req) => {
      if (req.url().startsWith(api.baseUrl)) blocked.push(new URL(req.url()).pathname);
    });
    const errors: string[] = [];
    await page.exposeFunction('reportA2AError', (kind: string) => errors.push(kind));
    await page.addInitScript(() =>
      document.addEventListener('a2a-error', (e) =>
        (window as unknown as { reportA2AError(k: string): void }).reportA2AError(
          (e as CustomEvent<{ kind: string }>).detail.kind,
        ),
      ),
    );
    await page.goto(embedUrl(refused, { task: task.id }));

    const stream = page.locator(STREAM);
    await expect(stream.locator('[part="error"]')).toBeVisible({ timeout: 20_000 });
    await expect(stream.locator('[part="error"]')).toHaveAttribute('role', 'alert');
    await expect(stream.locator('[part="retry"]')).toBeVisible();
    await expect(stream.locator('a2a-connection-status [part="base"]')).toHaveAttribute(
      'data-state',
      'error',
    );
    await expect(page.locator('a2a-connection-status[for="partner-task"] [part="base"]')).toHaveAttribute(
      'data-state',
      'error',
    );
    await expect(page.locator('a2a-task-list [part="error"]')).toBeVisible();
    await expect(page.locator('#events')).toContainText('a2a-error');
    expect(errors.length).toBeGreaterThan(0);
    // Nothing of the task reached the page, and the browser blocked the cross-origin calls.
    expect(await renderedSeqs(page, STREAM)).toEqual([]);
    expect((await taskStateOf(page, STREAM)).seq).toBe(0);
    expect(blocked).toContain('/auth/dev/token');
    expect(blocked.filter((p) => p.endsWith('/stream'))).toEqual([]);
  } finally {
    await context.close();
  }
});

test('a refused origin that signs its users in elsewhere: the stream says CORS and which origin to allow', async ({
  browser,
}) => {
  test.setTimeout(60_000);
  const userToken = await devToken(api.baseUrl, 'embed-user');
  const task = await createTask(api.baseUrl, userToken, 'demo', 'simulator', {
    metadata: { simulate: { steps: 3, intervalMs: 100 } },
  });
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    // The host's own sign-in (not the API's): the first call to the API is the component's mint.
    await page.addInitScript((token: string) => {
      const apiFetch = window.fetch.bind(window);
      window.fetch = (input, init) =>
        String(input instanceof Request ? input.url : input).endsWith('/auth/dev/token')
          ? Promise.resolve(
              Response.json({ token, expiresAt: new Date(Date.now() + 3_600_000).toISOString() }),
            )
          : apiFetch(input, init);
    }, userToken);
    const blocked: string[] = [];
    page.on('requestfailed', (req) => {
      if (req.url().startsWith(api.baseUrl)) blocked.push(`${req.method()} ${new URL(req.url()).pathname}`);
    });
    await page.goto(embedUrl(refused, { task: task.id }));

    const error = page.locator(STREAM).locator('[part="error"]');
    await expect(error).toBeVisible({ timeout: 20_000 });
    await expect(error).toContainText('CORS_ORIGINS');
    await expect(error).toContainText(refused.origin);
    await expect(error).not.toContainText('network connection');
    await expect(page.locator(STREAM).locator('a2a-connection-status [part="base"]')).toHaveAttribute(
      'data-state',
      'error',
    );
    // It stopped there: one refused mint (then one opaque probe), no retry loop, no stream.
    await page.waitForTimeout(3_000);
    expect(blocked.filter((r) => r.startsWith('POST') && r.endsWith('/stream-token'))).toHaveLength(1);
    expect(blocked.filter((r) => r.endsWith('/stream'))).toEqual([]);
    expect(await renderedSeqs(page, STREAM)).toEqual([]);
  } finally {
    await context.close();
  }
});
