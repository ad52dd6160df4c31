import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { Socket } from 'node:net';
import { readSse, seqsOf, startTestApp, textChunk, type TestApp, json } from '../../test-support/app.js';
import { GatedLimiter } from '../../test-support/gated-limiter.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const slowDrops = (metrics: string) =>
  Number(/^a2a_sse_slow_readers_dropped_total (\d+)/m.exec(metrics)?.[1] ?? 0);

describe('stream robustness', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      SSE_HEARTBEAT_SECONDS: '0.2',
      SSE_MAX_BUFFER_BYTES: '262144',
      SSE_REPLAY_STALL_SECONDS: '2',
      MAX_STREAMS_PER_USER: '2000',
    });
  });
  afterAll(() => t.close());

  it('sends heartbeats and is never compressed, even when asked for gzip', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    const started = Date.now();
    const res = await readSse(t.streamUrl(task.id, { token }), {
      headers: { 'Accept-Encoding': 'gzip, deflate, br' },
      until: () => Date.now() - started > 700,
      timeoutMs: 900,
    });
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(res.comments.filter((c) => c === '').length).toBeGreaterThanOrEqual(2);
  });

  it('drops a slow reader without disturbing a fast one', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    const url = new URL(t.streamUrl(task.id, { token }));
    // A reader that never reads: its socket buffers fill and the server cuts it.
    let slowClosed = false;
    const slow = http.get(url, (res) => {
      res.pause();
      res.socket.setMaxListeners(20);
      res.on('close', () => (slowClosed = true));
    });
    slow.on('error', () => (slowClosed = true));
    const fast = readSse(url.toString(), { until: (f) => f.length >= 1 + 300, timeoutMs: 30_000 });
    await sleep(200);
    // 5 MB in bursts of 80 kB: far beyond the slow reader's socket buffers and the 256 kB bound.
    const big = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 60; i++) {
      const res = await t.append(task.id, { events: Array.from({ length: 5 }, () => textChunk(big)) });
      expect(res.status).toBe(200);
    }
    const result = await fast;
    expect(seqsOf(result.frames)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    for (let i = 0; i < 50 && !slowClosed; i++) await sleep(100);
    slow.destroy();
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/a2a_sse_slow_readers_dropped_total [1-9]/);
    expect(slowClosed).toBe(true);
  });

  it('lets a replay larger than the buffer bound finish for a reader that pauses (heartbeats do not drop it)', async () => {
    const task = await t.createTask();
    // More than one replay batch (5,000 events, history.ts): a stream closed as slow still delivers
    // what it had buffered, so only the second batch shows the difference.
    const events = 5400;
    const chunk = 'x'.repeat(800);
    for (let i = 0; i < events; i += 300) {
      const batch = Array.from({ length: 300 }, () => textChunk(chunk));
      expect((await t.append(task.id, { events: batch })).status).toBe(200);
    }
    const token = await t.streamToken(task.id);
    const url = t.streamUrl(task.id, { token, lastEventId: '0' });
    // The first batch is ~6 MB: more than loopback's socket buffers take, far over the 256 kB bound.
    const result = await new Promise<{ lastId: number; closedEarly: boolean }>((resolve) => {
      let lastId = 0;
      let text = '';
      const req = http.get(url, (res) => {
        res.setEncoding('utf8');
        res.pause();
        // Several heartbeat ticks (0.2 s) pass while the replay waits for this reader.
        setTimeout(() => res.resume(), 800);
        res.on('data', (data: string) => {
          text += data;
          for (const m of text.matchAll(/^id: (\d+)$/gm)) lastId = Math.max(lastId, Number(m[1]));
          text = text.slice(text.lastIndexOf('\n\n') + 2);
          if (lastId >= events) {
            req.destroy();
            resolve({ lastId, closedEarly: false });
          }
        });
        res.on('end', () => resolve({ lastId, closedEarly: true }));
      });
      req.on('error', () => resolve({ lastId, closedEarly: true }));
      req.setTimeout(10_000, () => req.destroy());
    });
    expect(result).toEqual({ lastId: events, closedEarly: false });
  });

  it('drops a replay whose reader takes nothing after SSE_REPLAY_STALL_SECONDS, with its connection', async () => {
    const task = await t.createTask();
    // ~4.8 MB in 600 events: far more than loopback's socket buffers take, in one replay batch.
    const chunk = 'x'.repeat(8 * 1024);
    for (let i = 0; i < 600; i += 150) {
      const batch = Array.from({ length: 150 }, () => textChunk(chunk));
      expect((await t.append(task.id, { events: batch })).status).toBe(200);
    }
    const metrics = async () => slowDrops(await (await fetch(`${t.baseUrl}/metrics`)).text());
    const dropsBefore = await metrics();
    const token = await t.streamToken(task.id);
    const serverSockets: Socket[] = [];
    const onConnection = (socket: Socket) => serverSockets.push(socket);
    t.app.server.listener.on('connection', onConnection);
    const req = http.get(t.streamUrl(task.id, { token, lastEventId: '0' }), (res) => {
      res.pause(); // the replay waits in the server for a reader that takes nothing
    });
    req.on('error', () => undefined);
    try {
      const started = Date.now();
      while ((await metrics()) === dropsBefore && Date.now() - started < 10_000) await sleep(100);
      const droppedAfter = Date.now() - started;
      // About 2 s without progress (heartbeats every 0.2 s), not the token's deadline.
      expect(await metrics()).toBe(dropsBefore + 1);
      expect(droppedAfter).toBeGreaterThan(1_500);
      expect(droppedAfter).toBeLessThan(8_000);
      // The connection went with what it buffered: the server does not hold megabytes for it.
      const streamSocket = serverSockets.find((s) => s.remotePort === req.socket?.localPort);
      expect(streamSocket).toBeDefined();
      expect(streamSocket!.destroyed).toBe(true);
      expect(streamSocket!.writableLength).toBe(0);
    } finally {
      t.app.server.listener.off('connection', onConnection);
      req.destroy();
    }
  });

  it('1,000 connect/disconnect cycles leave listeners and sessions at their baseline', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    const registry = (t.app.server.plugins as unknown as { streaming: { registry: { size: number } } })
      .streaming.registry;
    await sleep(100);
    const baseline = { hub: t.app.hub.subscriptionCount, sessions: registry.size };
    const url = t.streamUrl(task.id, { token });
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const controller = new AbortController();
          const res = await fetch(url, { signal: controller.signal });
          expect(res.status).toBe(200);
          const reader = res.body!.getReader();
          await reader.read();
          controller.abort();
        }),
      );
    }
    for (
      let i = 0;
      i < 50 && (t.app.hub.subscriptionCount !== baseline.hub || registry.size !== baseline.sessions);
      i++
    )
      await sleep(50);
    expect(t.app.hub.subscriptionCount).toBe(baseline.hub);
    expect(registry.size).toBe(baseline.sessions);
    expect(t.app.hub.taskCount).toBe(0);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^a2a_sse_active_streams 0$/m);
    expect(metrics).toMatch(/^a2a_sse_streams_opened_total (\d+)$/m);
  }, 60_000);
});

describe('token lifetime', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ STREAM_TOKEN_TTL_SECONDS: '10', JWT_CLOCK_SKEW_SECONDS: '0' });
  });
  afterAll(() => t.close());

  it('closes a stream in the last fifth of its token’s life, before it expires', async () => {
    const task = await t.createTask();
    const tokenRes = await fetch(
      `${t.baseUrl}${new URL(t.streamUrl(task.id)).pathname.replace('/stream', '/stream-token')}`,
      {
        method: 'POST',
        headers: { authorization: `Bearer ${t.userToken()}` },
      },
    );
    const { token, expiresAt } = (await json(tokenRes)) as { token: string; expiresAt: string };
    const opened = Date.now();
    const result = await readSse(t.streamUrl(task.id, { token }), { timeoutMs: 15_000 });
    const closedAt = Date.now();
    expect(result.closedByServer).toBe(true);
    const life = Date.parse(expiresAt) - opened;
    expect(closedAt - opened).toBeGreaterThanOrEqual(life * 0.8 - 300);
    expect(closedAt).toBeLessThan(Date.parse(expiresAt));
    // And the expired token no longer opens anything.
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now() + 1100));
    const late = await fetch(t.streamUrl(task.id, { token }));
    expect(late.status).toBe(401);
    expect((await json(late)).code).toBe('token_expired');
  }, 25_000);
});

describe('a client that leaves while its stream is being opened', () => {
  const limiter = new GatedLimiter();
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({}, { limiter });
  });
  afterAll(() => t.close());

  it('leaves no stream, subscription or lease behind, and the user can open the next one', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    const hubBaseline = t.app.hub.subscriptionCount;
    limiter.shut();
    const request = http.get(new URL(t.streamUrl(task.id, { token })));
    request.on('error', () => undefined);
    await limiter.waitForArrivals(limiter.arrived + 1);
    // The tab goes away while the server still waits on the lease.
    request.destroy();
    await sleep(100);
    limiter.open();
    await sleep(200);

    expect(limiter.held.get('alice')).toBe(0);
    expect(t.app.hub.subscriptionCount).toBe(hubBaseline);
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^a2a_sse_active_streams 0$/m);
    // With a budget of one stream, the user's next stream opens (a leaked lease would make it a 429).
    await t.append(task.id, { events: [textChunk('after')] });
    const next = await readSse(t.streamUrl(task.id, { token, lastEventId: '0' }), {
      until: (f) => f.length >= 2,
      timeoutMs: 5000,
    });
    expect(next.status).toBe(200);
    expect(seqsOf(next.frames)).toEqual([1]);
  });
});
