import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SnapshotTask, TaskEvent } from '@orchestrator-ai/transport-types';
import {
  FakeNet,
  SseChannel,
  eventFrame,
  json,
  snapshotFrame,
  statusUpdate,
  task,
} from '../test-support/fake-net.js';
import { readTaskStream, streamRequest, type ReadStreamOptions } from './sse-reader.js';
import { realTimers } from './timers.js';

const URL_ = 'https://api.test/agent-to-agent/o/a/tasks/t1/stream';

function options(net: FakeNet, extra: Partial<ReadStreamOptions> = {}) {
  const seen: { snapshots: SnapshotTask[]; events: TaskEvent[]; opened: number; retry: number[] } = {
    snapshots: [],
    events: [],
    opened: 0,
    retry: [],
  };
  const o: ReadStreamOptions = {
    taskId: 't1',
    url: URL_,
    token: 'tok',
    lastSeq: 0,
    fetch: net.fetch,
    timers: realTimers,
    firstFrameTimeoutMs: 1000,
    idleTimeoutMs: 1000,
    healthyStreamMs: 10_000,
    retentionMs: 60_000,
    onOpen: () => seen.opened++,
    onSnapshot: (s) => {
      seen.snapshots.push(s);
    },
    onEvents: (e) => {
      seen.events.push(...e);
    },
    onRetry: (ms) => seen.retry.push(ms),
    ...extra,
  };
  return { o, seen };
}

/** Serves one SSE body: the given text split into chunks at the given byte offsets. */
function serveChunks(net: FakeNet, text: string, cuts: number[]): void {
  net.onPath('/stream', (req) => {
    const ch = new SseChannel(req.signal);
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    for (const cut of [...cuts, bytes.length]) {
      ch.writeBytes(bytes.slice(at, cut));
      at = cut;
    }
    ch.close();
    return ch.response;
  });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('streamRequest', () => {
  it('puts the token in the query and the resume point in Last-Event-ID', () => {
    const r = streamRequest(URL_, 'a b', 7);
    expect(new URL(r.url).searchParams.get('token')).toBe('a b');
    expect(new URL(r.url).searchParams.has('lastEventId')).toBe(false);
    expect(r.headers['Last-Event-ID']).toBe('7');
  });

  it('can send the resume point as a query parameter instead (cross-origin, no preflight)', () => {
    const r = streamRequest(URL_, 't', 0, true);
    expect(new URL(r.url).searchParams.get('lastEventId')).toBe('0');
    expect(r.headers['Last-Event-ID']).toBeUndefined();
  });
});

describe('readTaskStream', () => {
  const body =
    'retry: 2000\n: ok\n\n' +
    snapshotFrame(0, task('t1', 2)) +
    eventFrame(1, statusUpdate('t1', 'TASK_STATE_WORKING', 'héllo ✓ 🚀')) +
    ': heartbeat\n\n' +
    eventFrame(2, statusUpdate('t1', 'TASK_STATE_WORKING', 'two'));

  it('parses snapshot and events however the bytes are split (inside UTF-8 sequences too)', async () => {
    const bytes = new TextEncoder().encode(body).length;
    const splits = [
      [],
      [1],
      [5, 6, 7],
      Array.from({ length: bytes - 1 }, (_, i) => i + 1),
      [40, 41, 120, 200],
    ];
    for (const cuts of splits) {
      const net = new FakeNet();
      serveChunks(
        net,
        body,
        cuts.filter((c) => c < bytes),
      );
      const { o, seen } = options(net, { healthyStreamMs: 0 });
      const out = await readTaskStream(o);
      expect(out).toEqual({ kind: 'ended', healthy: true, clean: true });
      expect(seen.snapshots.map((s) => s.metadata.seq)).toEqual([2]);
      expect(seen.events.map((e) => e.seq)).toEqual([1, 2]);
      const first = seen.events[0]!.event as unknown as {
        statusUpdate: { status: { message: { parts: [{ text: string }] } } };
      };
      expect(first.statusUpdate.status.message.parts[0].text).toBe('héllo ✓ 🚀');
      expect(seen.retry).toEqual([2000]);
      expect(seen.opened).toBe(1);
    }
  });

  it('accepts CRLF and CR line endings and multi-line data', async () => {
    const net = new FakeNet();
    const crlf =
      `id: 0\r\ndata: ${JSON.stringify({ task: task('t1', 1) })}\r\n\r\n` +
      'id: 1\r\ndata: {"statusUpdate":\r\ndata: {"taskId":"t1","contextId":"ctx","status":{"state":"TASK_STATE_WORKING"}}}\r\n\r\n' +
      `id: 2\rdata: ${JSON.stringify(statusUpdate('t1'))}\r\r`;
    serveChunks(net, crlf, [3, 50, 51, 120]);
    const { o, seen } = options(net);
    await readTaskStream(o);
    expect(seen.snapshots).toHaveLength(1);
    expect(seen.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(seen.events[0]!.event).toEqual({
      statusUpdate: { taskId: 't1', contextId: 'ctx', status: { state: 'TASK_STATE_WORKING' } },
    });
  });

  it('gives events an expiry of receipt time plus the retention', async () => {
    const net = new FakeNet();
    serveChunks(net, snapshotFrame(0, task('t1', 1)) + eventFrame(1, statusUpdate('t1')), []);
    const { o, seen } = options(net, { retentionMs: 90_000 });
    const before = Date.now();
    await readTaskStream(o);
    const e = seen.events[0]!;
    expect(Date.parse(e.expiresAt) - Date.parse(e.createdAt)).toBe(90_000);
    expect(Date.parse(e.createdAt)).toBeGreaterThanOrEqual(before - 1);
  });

  it('skips frames without an id, with a foreign event type, or with bad JSON', async () => {
    const net = new FakeNet();
    serveChunks(
      net,
      snapshotFrame(0, task('t1', 3)) +
        `data: ${JSON.stringify(statusUpdate('t1'))}\n\n` +
        `event: other\nid: 1\ndata: ${JSON.stringify(statusUpdate('t1'))}\n\n` +
        'id: 2\ndata: {not json\n\n' +
        eventFrame(3, statusUpdate('t1')),
      [],
    );
    const { o, seen } = options(net);
    await readTaskStream(o);
    expect(seen.events.map((e) => e.seq)).toEqual([3]);
  });

  it('stops at a terminal event without waiting for the server to close', async () => {
    const net = new FakeNet();
    let channel: SseChannel | undefined;
    net.onPath('/stream', (req) => {
      channel = new SseChannel(req.signal);
      channel.write(snapshotFrame(0, task('t1', 2)));
      channel.write(
        eventFrame(1, statusUpdate('t1')) + eventFrame(2, statusUpdate('t1', 'TASK_STATE_COMPLETED')),
      );
      return channel.response;
    });
    const { o, seen } = options(net);
    expect(await readTaskStream(o)).toEqual({ kind: 'final' });
    expect(seen.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(channel!.cancelled).toBe(true);
  });

  it('stores the events that arrived during a slow store as one batch, not one batch per chunk', async () => {
    const net = new FakeNet();
    let channel: SseChannel | undefined;
    net.onPath('/stream', (req) => {
      channel = new SseChannel(req.signal);
      channel.write(snapshotFrame(0, task('t1', 0)));
      channel.write(eventFrame(1, statusUpdate('t1')));
      return channel.response;
    });
    const batches: number[][] = [];
    let releaseFirst!: () => void;
    const firstStored = new Promise<void>((r) => (releaseFirst = r));
    const { o } = options(net, {
      onEvents: async (events) => {
        batches.push(events.map((e) => e.seq));
        if (batches.length === 1) await firstStored;
      },
    });
    const done = readTaskStream(o);
    await vi.waitFor(() => expect(batches).toEqual([[1]]));
    // Three events, each in its own network chunk, arrive while the first is being stored.
    for (const seq of [2, 3, 4]) channel!.write(eventFrame(seq, statusUpdate('t1')));
    releaseFirst();
    await vi.waitFor(() => expect(batches.length).toBe(2));
    channel!.write(eventFrame(5, statusUpdate('t1', 'TASK_STATE_COMPLETED')));
    expect(await done).toEqual({ kind: 'final' });
    expect(batches).toEqual([[1], [2, 3, 4], [5]]);
  });

  it('treats the end of a terminal snapshot replay as final even when the final event expired', async () => {
    const net = new FakeNet();
    serveChunks(
      net,
      snapshotFrame(0, task('t1', 9, 'TASK_STATE_FAILED', { historyTruncated: true, earliestSeq: 10 })),
      [],
    );
    const { o, seen } = options(net);
    expect(await readTaskStream(o)).toEqual({ kind: 'final' });
    expect(seen.snapshots[0]!.metadata.historyTruncated).toBe(true);
  });

  it('sends Last-Event-ID and reports 204 as no-content', async () => {
    const net = new FakeNet().onPath('/stream', () => new Response(null, { status: 204 }));
    const { o } = options(net, { lastSeq: 41 });
    expect(await readTaskStream(o)).toEqual({ kind: 'no-content' });
    expect(net.requests[0]!.headers.get('last-event-id')).toBe('41');
    expect(net.requests[0]!.url.searchParams.get('token')).toBe('tok');
  });

  it('reports HTTP errors with status, code and Retry-After', async () => {
    for (const [status, code] of [
      [401, 'token_expired'],
      [403, 'wrong_task'],
      [404, 'task_not_found'],
      [500, 'internal'],
    ] as const) {
      const net = new FakeNet().onPath('/stream', () => json(status, { code, message: 'x' }));
      expect(await readTaskStream(options(net).o)).toEqual({ kind: 'http-error', status, code });
    }
    const net = new FakeNet().onPath('/stream', () =>
      json(429, { code: 'rate_limited' }, { 'retry-after': '7' }),
    );
    expect(await readTaskStream(options(net).o)).toEqual({
      kind: 'http-error',
      status: 429,
      code: 'rate_limited',
      retryAfterMs: 7000,
    });
  });

  it('rejects a 200 that is not an event stream (a captive portal)', async () => {
    const net = new FakeNet().onPath(
      '/stream',
      () => new Response('<html>', { headers: { 'content-type': 'text/html' } }),
    );
    expect((await readTaskStream(options(net).o)).kind).toBe('bad-response');
  });

  it('reports a failed fetch as a network error', async () => {
    const net = new FakeNet().onPath('/stream', () => Promise.reject(new TypeError('Failed to fetch')));
    expect(await readTaskStream(options(net).o)).toEqual({
      kind: 'network-error',
      message: 'Failed to fetch',
    });
  });

  it('reports a connection dropped mid-stream as an unclean end', async () => {
    const net = new FakeNet();
    net.onPath('/stream', (req) => {
      const ch = new SseChannel(req.signal);
      ch.write(snapshotFrame(0, task('t1', 1)) + eventFrame(1, statusUpdate('t1')));
      setTimeout(() => ch.fail(), 5);
      return ch.response;
    });
    const { o, seen } = options(net);
    expect(await readTaskStream(o)).toEqual({ kind: 'ended', healthy: true, clean: false });
    expect(seen.events).toHaveLength(1);
  });

  it('an end with no new event before healthyStreamMs is not healthy', async () => {
    const net = new FakeNet();
    serveChunks(net, snapshotFrame(5, task('t1', 5)) + eventFrame(5, statusUpdate('t1')), []);
    const { o } = options(net, { lastSeq: 5 });
    expect(await readTaskStream(o)).toEqual({ kind: 'ended', healthy: false, clean: true });
  });

  it('times out when no frame arrives (a buffering proxy) and when an open stream goes silent', async () => {
    vi.useFakeTimers();
    const net = new FakeNet();
    const channels: SseChannel[] = [];
    net.onPath('/stream', (req) => {
      const ch = new SseChannel(req.signal);
      channels.push(ch);
      return ch.response;
    });
    const first = readTaskStream(options(net, { firstFrameTimeoutMs: 3000 }).o);
    await vi.advanceTimersByTimeAsync(2999);
    expect(channels[0]!.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await first).toEqual({ kind: 'stalled', opened: false });

    const second = readTaskStream(options(net, { idleTimeoutMs: 5000 }).o);
    await vi.advanceTimersByTimeAsync(10);
    channels[1]!.write(': ok\n\n');
    await vi.advanceTimersByTimeAsync(4000);
    channels[1]!.write(': heartbeat\n\n'); // re-arms the idle timer
    await vi.advanceTimersByTimeAsync(4000);
    expect(channels[1]!.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(1001);
    expect(await second).toEqual({ kind: 'stalled', opened: true });
  });

  it('returns aborted when the caller aborts, and ignores the stall timer afterwards', async () => {
    const net = new FakeNet();
    net.onPath('/stream', (req) => {
      const ch = new SseChannel(req.signal);
      ch.write(': ok\n\n');
      return ch.response;
    });
    const ac = new AbortController();
    const p = readTaskStream(options(net, { signal: ac.signal }).o);
    setTimeout(() => ac.abort(), 5);
    expect(await p).toEqual({ kind: 'aborted' });
  });

  it('waits for each batch to be handled before reading on (backpressure)', async () => {
    const net = new FakeNet();
    const order: string[] = [];
    net.onPath('/stream', (req) => {
      const ch = new SseChannel(req.signal);
      ch.write(eventFrame(1, statusUpdate('t1')));
      setTimeout(() => {
        order.push('wrote 2');
        ch.write(eventFrame(2, statusUpdate('t1')));
        ch.close();
      }, 1);
      return ch.response;
    });
    const { o } = options(net, {
      onEvents: async (events) => {
        order.push(`start ${events[0]!.seq}`);
        await new Promise((r) => setTimeout(r, 20));
        order.push(`done ${events[0]!.seq}`);
      },
    });
    await readTaskStream(o);
    expect(order.indexOf('done 1')).toBeLessThan(order.indexOf('start 2'));
  });
});
