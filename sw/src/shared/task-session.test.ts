import { afterEach, describe, expect, it, vi } from 'vitest';
import type { StreamConfigInput } from '@orchestrator-ai/transport-types';
import { FakeNet, SseChannel, json } from '../test-support/fake-net.js';
import { FakeTaskServer, RecordingSink } from '../test-support/fake-server.js';
import { until } from '../test-support/fake-net.js';
import { resolveConfig } from './config.js';
import { TaskSession, type TaskSessionOptions } from './task-session.js';
import { realTimers } from './timers.js';
import { StreamTokenError } from './tokens.js';

const REF = {
  taskId: 't1',
  streamUrl: 'https://api.test/agent-to-agent/o/a/tasks/t1/stream',
  messagesUrl: 'https://api.test/agent-to-agent/o/a/tasks/t1/messages',
  tokenUrl: 'https://api.test/agent-to-agent/o/a/tasks/t1/stream-token',
};

const FAST: StreamConfigInput = {
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  honorServerRetry: false,
  firstFrameTimeoutMs: 200,
  idleTimeoutMs: 500,
  healthyStreamMs: 50,
  quietReconnectMs: 100,
  pollIntervalMs: 10,
  streamRetryAfterMs: 60_000,
};

const sessions: TaskSession[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(sessions.splice(0).map((s) => s.stop()));
});

function setup(config: StreamConfigInput = {}, extra: Partial<TaskSessionOptions> = {}, stored = 0) {
  const net = new FakeNet();
  const server = new FakeTaskServer(net);
  const sink = new RecordingSink(stored);
  const tokens = { stream: 0, user: 0, freshUser: 0 };
  const cfg = resolveConfig({ ...FAST, ...config });
  const session = new TaskSession({
    ref: REF,
    sink,
    fetch: net.fetch,
    timers: realTimers,
    config: () => cfg,
    tokens: {
      streamToken: () => Promise.resolve(`stream-${++tokens.stream}`),
      userToken: (fresh) => {
        tokens.user++;
        if (fresh) tokens.freshUser++;
        return Promise.resolve(`user-${tokens.user}`);
      },
    },
    ...extra,
  });
  sessions.push(session);
  return { net, server, sink, tokens, session, cfg };
}

describe('TaskSession over SSE', () => {
  it('streams snapshot and events into the sink, then stops at the final event', async () => {
    const { server, sink, session, net } = setup();
    server.routes();
    server.append(3);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1, 2, 3]));
    expect(sink.snapshots[0]!.metadata.seq).toBe(3);
    expect(sink.last).toMatchObject({ state: 'open', transport: 'sse' });
    server.append(2);
    server.complete();
    await until(() => expect(sink.last).toEqual({ state: 'closed', transport: 'sse', final: true }));
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sink.violations).toEqual([]);
    expect(session.done).toBe(true);
    expect(net.seen('/stream')).toHaveLength(1);
    // first connection asks for all retained history
    expect(net.seen('/stream')[0]!.headers.get('last-event-id')).toBe('0');
  });

  it('mints a fresh token for each reconnect and resumes from the last seq, seamlessly', async () => {
    const { server, sink, session, net, tokens } = setup({ healthyStreamMs: 0 });
    server.routes();
    server.append(2);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1, 2]));
    for (let round = 0; round < 3; round++) {
      server.closeAll(); // the server closes before the token expires
      await until(() => expect(server.open.size).toBe(1));
      server.append(2);
    }
    await until(() => expect(sink.seqs).toHaveLength(8));
    expect(sink.violations).toEqual([]);
    const streams = net.seen('/stream');
    expect(streams.map((r) => r.headers.get('last-event-id'))).toEqual(['0', '2', '4', '6']);
    expect(streams.map((r) => r.url.searchParams.get('token'))).toEqual([
      'stream-1',
      'stream-2',
      'stream-3',
      'stream-4',
    ]);
    expect(tokens.stream).toBe(4);
    // a healthy close is not shown as a reconnect
    expect(sink.states.map((s) => s.state)).not.toContain('reconnecting');
  });

  it('drops events the server repeats at or below the cursor', async () => {
    const { net, sink, session } = setup({}, {}, 5);
    net.onPath('/stream', (req) => {
      const ch = new SseChannel(req.signal);
      ch.write(
        'id: 5\ndata: {"task":{"id":"t1","contextId":"c","status":{"state":"TASK_STATE_WORKING"},"metadata":{"seq":7}}}\n\n',
      );
      for (const seq of [4, 5, 6, 6, 7])
        ch.write(
          `id: ${seq}\ndata: {"statusUpdate":{"taskId":"t1","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}}\n\n`,
        );
      return ch.response;
    });
    session.start();
    await until(() => expect(sink.seqs).toEqual([6, 7]));
    expect(sink.violations).toEqual([]);
  });

  it('stops on 204 without retrying', async () => {
    const { net, sink, session } = setup();
    net.onPath('/stream', () => new Response(null, { status: 204 }));
    session.start();
    await until(() => expect(sink.last).toEqual({ state: 'closed', transport: 'sse', final: true }));
    await new Promise((r) => setTimeout(r, 50));
    expect(net.seen('/stream')).toHaveLength(1);
  });

  it('does not connect at all when the store knows the task is final', async () => {
    const { net, sink, session } = setup();
    sink.final = true;
    session.start();
    await until(() => expect(sink.last?.state).toBe('closed'));
    expect(net.requests).toHaveLength(0);
  });

  it('on 401 mints once more, then reports an auth error instead of looping', async () => {
    const { net, sink, session, tokens } = setup();
    net.onPath('/stream', () => json(401, { code: 'token_expired', message: 'expired' }));
    session.start();
    await until(() => expect(sink.last?.state).toBe('error'));
    expect(sink.last).toMatchObject({ state: 'error', status: 401, reason: expect.stringContaining('auth') });
    await new Promise((r) => setTimeout(r, 50));
    expect(net.seen('/stream')).toHaveLength(2);
    expect(tokens.stream).toBe(2);
  });

  it('a 401 followed by a good token carries on, and a later 401 gets its own retry', async () => {
    const { net, server, sink, session } = setup({ healthyStreamMs: 0 });
    let refuse = 1;
    net.on(
      (r) => r.url.pathname.endsWith('/stream') && refuse > 0,
      () => {
        refuse--;
        return json(401, { code: 'token_expired' });
      },
    );
    server.routes();
    server.append(1);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1]));
    refuse = 1;
    server.closeAll();
    server.append(1);
    await until(() => expect(sink.seqs).toEqual([1, 2]));
    expect(sink.states.some((s) => s.state === 'error')).toBe(false);
  });

  it.each([403, 404])('reports %i as an error and stops', async (status) => {
    const { net, sink, session } = setup();
    net.onPath('/stream', () => json(status, { code: 'x' }));
    session.start();
    await until(() => expect(sink.last?.state).toBe('error'));
    expect(sink.last?.status).toBe(status);
    await new Promise((r) => setTimeout(r, 30));
    expect(net.seen('/stream')).toHaveLength(1);
  });

  it('reports a refused token mint (401/403/404) as an error without connecting', async () => {
    const { net, sink, session } = setup(
      {},
      {
        tokens: {
          streamToken: () => Promise.reject(new StreamTokenError('no', { code: 'http', status: 403 })),
          userToken: () => Promise.resolve('u'),
        },
      },
    );
    session.start();
    await until(() => expect(sink.last?.state).toBe('error'));
    expect(sink.last?.status).toBe(403);
    expect(net.requests).toHaveLength(0);
  });

  it('stops with an error that names CORS when the API refuses the page origin', async () => {
    let calls = 0;
    const { net, sink, session } = setup(
      {},
      {
        tokens: {
          streamToken: () => {
            calls++;
            return Promise.reject(new StreamTokenError('blocked by CORS: add it', { code: 'cors' }));
          },
          userToken: () => Promise.resolve('u'),
        },
      },
    );
    session.start();
    await until(() => expect(sink.last?.state).toBe('error'));
    expect(sink.last?.reason).toBe('blocked by CORS: add it');
    await new Promise((r) => setTimeout(r, 50));
    // No retry loop: nothing changes until the API's configuration does.
    expect(calls).toBe(1);
    expect(net.requests).toHaveLength(0);
    expect(sink.stateNames()).not.toContain('reconnecting/sse');
  });

  it('waits and retries when no tab can give a token', async () => {
    let calls = 0;
    const { server, sink, session } = setup(
      {},
      {
        tokens: {
          streamToken: () =>
            ++calls < 3
              ? Promise.reject(new StreamTokenError('none', { code: 'no-client' }))
              : Promise.resolve('late'),
          userToken: () => Promise.resolve('u'),
        },
      },
    );
    server.routes();
    server.append(1);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1]));
    expect(calls).toBe(3);
    expect(sink.stateNames()).toContain('reconnecting/sse');
  });

  it('backs off exponentially with jitter between failed attempts, and reports offline', async () => {
    vi.useFakeTimers();
    let online = false;
    const { net, sink, session } = setup(
      { backoffBaseMs: 1000, backoffMaxMs: 8000, backoffJitter: 0.5 },
      { random: () => 1, isOnline: () => online },
    );
    const times: number[] = [];
    net.onPath('/stream', () => {
      times.push(Date.now());
      return Promise.reject(new TypeError('Failed to fetch'));
    });
    session.start();
    await vi.advanceTimersByTimeAsync(40_000);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps.slice(0, 6)).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    expect(sink.last).toMatchObject({ state: 'offline', transport: 'sse' });
    // no flapping between offline and reconnecting while the network is down
    expect(sink.stateNames()).toEqual(['connecting/sse', 'offline/sse']);
    // network errors are not "streaming blocked": no switch to polling
    expect(net.seen('/messages')).toHaveLength(0);
    online = true;
    await vi.advanceTimersByTimeAsync(8000);
    expect(sink.last?.state).toBe('reconnecting');
  });

  it('kick() retries at once instead of waiting out the backoff', async () => {
    vi.useFakeTimers();
    const { net, server, sink, session } = setup({ backoffBaseMs: 10_000, backoffMaxMs: 60_000 });
    let down = true;
    net.on(
      (r) => down && r.url.pathname.endsWith('/stream'),
      () => Promise.reject(new TypeError('Failed to fetch')),
    );
    server.routes();
    server.append(1);
    session.start();
    await vi.advanceTimersByTimeAsync(100);
    expect(net.seen('/stream')).toHaveLength(1);
    down = false;
    session.kick();
    await vi.advanceTimersByTimeAsync(100);
    expect(sink.seqs).toEqual([1]);
  });

  it('honours Retry-After on 429', async () => {
    vi.useFakeTimers();
    const { net, session } = setup({ backoffBaseMs: 10, backoffMaxMs: 100_000 });
    const times: number[] = [];
    net.onPath('/stream', () => {
      times.push(Date.now());
      return json(429, { code: 'rate_limited' }, { 'retry-after': '30' });
    });
    session.start();
    await vi.advanceTimersByTimeAsync(31_000);
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(30_000);
  });
});

describe('TaskSession fallback to polling', () => {
  it('polls after repeated stream failures with the network up, then streams again, losing and repeating nothing', async () => {
    const { net, server, sink, session, tokens } = setup({
      streamFailuresBeforePolling: 3,
      streamRetryAfterMs: 150,
    });
    let blocked = true;
    net.on(
      (r) => blocked && r.url.pathname.endsWith('/stream'),
      () => json(503, { code: 'unavailable' }),
    );
    server.routes();
    server.append(3);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1, 2, 3]));
    expect(net.seen('/stream')).toHaveLength(3);
    expect(sink.last).toMatchObject({ state: 'open', transport: 'polling' });
    const polls = net.seen('/messages');
    expect(polls[0]!.url.searchParams.get('after')).toBe('0');
    expect(polls[0]!.headers.get('authorization')).toMatch(/^Bearer user-/);
    server.append(2);
    await until(() => expect(sink.seqs).toHaveLength(5));
    blocked = false;
    // after streamRetryAfterMs the session probes the stream again and stays on it
    await until(() => expect(sink.last).toMatchObject({ state: 'open', transport: 'sse' }), 3000);
    const probe = net.seen('/stream').at(-1)!;
    expect(probe.headers.get('last-event-id')).toBe('5');
    server.append(2);
    server.complete();
    await until(() => expect(sink.last?.state).toBe('closed'));
    expect(sink.seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(sink.violations).toEqual([]);
    expect(tokens.user).toBeGreaterThan(0);
  });

  it('falls back when a buffering proxy delivers nothing within the first-frame timeout', async () => {
    const { net, server, sink, session } = setup({ streamFailuresBeforePolling: 2, firstFrameTimeoutMs: 30 });
    net.onPath('/stream', (req) => new SseChannel(req.signal).response); // headers, then silence
    server.routes();
    server.append(2);
    session.start();
    await until(() => expect(sink.seqs).toEqual([1, 2]));
    expect(net.seen('/stream')).toHaveLength(2);
    expect(sink.last?.transport).toBe('polling');
    expect(sink.states.some((s) => s.reason?.includes('buffering'))).toBe(true);
  });

  it('a failed probe goes straight back to polling', async () => {
    const { net, server, sink, session } = setup({ streamFailuresBeforePolling: 2, streamRetryAfterMs: 60 });
    net.onPath('/stream', () => json(502, {}));
    server.routes();
    server.append(1);
    session.start();
    await until(() => expect(net.seen('/stream').length).toBeGreaterThanOrEqual(4));
    const kinds = net.requests.map((r) => (r.url.pathname.endsWith('/stream') ? 's' : 'p')).join('');
    // two failures, then polls; each later probe is a single stream attempt between polls
    expect(kinds.startsWith('ssp')).toBe(true);
    expect(kinds.slice(3)).not.toContain('ss');
    expect(sink.violations).toEqual([]);
  });

  it('polling stops at the final event and reports closed', async () => {
    const { net, server, sink, session } = setup();
    session.setStreamAllowed(false);
    server.routes();
    server.append(2);
    server.complete();
    session.start();
    await until(() => expect(sink.last).toEqual({ state: 'closed', transport: 'polling', final: true }));
    expect(sink.seqs).toEqual([1, 2, 3]);
    expect(net.seen('/stream')).toHaveLength(0);
  });

  it('pages through a long backlog without waiting between full pages', async () => {
    const { net, server, sink, session } = setup({ pollPageLimit: 10, pollIntervalMs: 10_000 });
    session.setStreamAllowed(false);
    server.routes();
    server.append(35);
    session.start();
    await until(() => expect(sink.seqs).toHaveLength(35));
    expect(net.seen('/messages').map((r) => r.url.searchParams.get('after'))).toEqual([
      '0',
      '10',
      '20',
      '30',
    ]);
    expect(sink.violations).toEqual([]);
  });

  it('on a polling 401 asks for a fresh user token once, then reports an auth error', async () => {
    const { net, sink, session, tokens } = setup();
    session.setStreamAllowed(false);
    net.onPath('/messages', () => json(401, { code: 'unauthorized' }));
    session.start();
    await until(() => expect(sink.last?.state).toBe('error'));
    expect(sink.last).toMatchObject({ transport: 'polling', status: 401 });
    expect(net.seen('/messages')).toHaveLength(2);
    expect(tokens.freshUser).toBe(1);
  });

  it('marks the snapshot truncated when polling finds expired history', async () => {
    const { net, server, sink, session } = setup({}, {}, 2);
    session.setStreamAllowed(false);
    server.routes();
    server.append(10);
    server.expiredThrough = 6;
    session.start();
    await until(() => expect(sink.seqs).toEqual([7, 8, 9, 10]));
    expect(sink.snapshots).toHaveLength(1);
    expect(sink.snapshots[0]!.metadata).toMatchObject({ seq: 10, historyTruncated: true, earliestSeq: 7 });
    expect(net.seen('/tasks/t1')).toHaveLength(1);
  });
});

describe('TaskSession and the stream budget', () => {
  it('switches between stream and polling when the pool says so, without loss or repetition', async () => {
    const { net, server, sink, session } = setup();
    server.routes();
    server.append(2);
    session.start();
    await until(() => expect(sink.last).toMatchObject({ state: 'open', transport: 'sse' }));
    for (let round = 0; round < 3; round++) {
      session.setStreamAllowed(false); // demoted: the stream is closed, polling takes over
      await until(() => expect(server.open.size).toBe(0));
      server.append(2);
      await until(() => expect(sink.last).toMatchObject({ state: 'open', transport: 'polling' }));
      await until(() => expect(sink.seqs.at(-1)).toBe(server.lastSeq));
      server.append(1);
      session.setStreamAllowed(true); // promoted
      await until(() => expect(server.open.size).toBe(1));
      server.append(1);
      await until(() => expect(sink.seqs.at(-1)).toBe(server.lastSeq));
    }
    expect(sink.seqs).toEqual(Array.from({ length: server.lastSeq }, (_, i) => i + 1));
    expect(sink.violations).toEqual([]);
    expect(net.seen('/stream').length).toBe(4);
  });
});
