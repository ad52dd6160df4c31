/**
 * Stream tokens are short-lived; the server closes a stream before its token expires and the
 * worker reconnects with a fresh token minted by a tab. With a 10 s token the test sees that
 * happen twice mid-stream: the person keeps seeing "Live" and every event once, and the server
 * never streamed an event twice.
 */
import { metric } from './support/server.js';
import { expect, test } from './support/sw-fixtures.js';
import {
  FAST,
  FAST_API_ENV,
  appendChunks,
  artifactText,
  chunkText,
  connectionHistory,
  connectionLabel,
  createTask,
  expectSeqs,
  expectStreams,
  newStreamContext,
  openLiveTasks,
  sampleStreams,
} from './support/sw-helpers.js';

test.use({ apiEnv: { ...FAST_API_ENV, STREAM_TOKEN_TTL_SECONDS: '10' } });

test('a stream token expiring mid-stream: seamless continuation, every seq once', async ({
  browser,
  api,
}) => {
  test.setTimeout(120_000);
  const counter = (name: string) => metric(api.baseUrl, name);
  // The default quiet period: a reconnect after a healthy close is not shown as "Reconnecting…".
  const context = await newStreamContext(browser, {
    ...FAST,
    config: { ...FAST.config, quietReconnectMs: 2000 },
  });
  const task = await createTask(api);
  const tabs = await openLiveTasks(context, api, [task, task]);
  const expiredBefore = await counter('a2a_sse_token_expiry_closes_total');
  const openedBefore = await counter('a2a_sse_streams_opened_total');
  const sentBefore = await counter('a2a_sse_events_sent_total');
  const connectionsBefore = await Promise.all(tabs.map(async (t) => (await connectionHistory(t)).length));
  const streams = sampleStreams(api);

  // The agent streams steadily until the server has closed two streams for token expiry.
  let n = 0;
  const deadline = Date.now() + 45_000;
  while ((await counter('a2a_sse_token_expiry_closes_total')) - expiredBefore < 2) {
    expect(Date.now(), 'two token-expiry closes within 45 s').toBeLessThan(deadline);
    await appendChunks(api, task, 1, { from: n++ });
    await new Promise((r) => setTimeout(r, 250));
  }
  await appendChunks(api, task, 3, { from: n, gapMs: 100 });
  n += 3;

  for (const tab of tabs) {
    await expectSeqs(tab, n);
    await expect(artifactText(tab)).toHaveText(chunkText(n));
    await expect(connectionLabel(tab)).toHaveText('Live');
  }
  // Seamless for the person: the indicator never left "Live" while tokens were renewed.
  for (const [i, tab] of tabs.entries()) {
    const seen = (await connectionHistory(tab)).slice(connectionsBefore[i]);
    expect(seen.filter((c) => c.state !== 'open' || c.transport !== 'worker')).toEqual([]);
  }
  // For the server: streams were closed and reopened (one at a time), and no event went out twice.
  expect((await counter('a2a_sse_streams_opened_total')) - openedBefore).toBeGreaterThanOrEqual(2);
  expect((await counter('a2a_sse_events_sent_total')) - sentBefore).toBe(n);
  expect((await streams.stop()).max).toBe(1);
  await expectStreams(api, 1);
  console.log(`[sw] ${n} events over two token expiries, each rendered once in ${tabs.length} tabs`);
  await context.close();
});
