import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { routes, type WireTask } from '@orchestrator-ai/transport-types';
import {
  readSse,
  seqsOf,
  startTestApp,
  status,
  textChunk,
  EventSource,
  type TestApp,
  ORG,
  AGENT,
  json,
} from '../../test-support/app.js';
import { waitFor } from '../../test-support/wait-for.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('task lifecycle over SSE', () => {
  it('create → mint → stream → append → complete → the stream closes', async () => {
    const task = await t.createTask();
    expect(task.status.state).toBe('TASK_STATE_SUBMITTED');
    expect(task.metadata).toMatchObject({
      streamEndpoint: routes.stream(ORG, AGENT, task.id),
      streamTokenEndpoint: routes.streamToken(ORG, AGENT, task.id),
      messagesEndpoint: routes.messages(ORG, AGENT, task.id),
    });
    const token = await t.streamToken(task.id);
    const reading = readSse(t.streamUrl(task.id, { token }), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const appended = await t.append(task.id, {
      events: [status('TASK_STATE_WORKING', 'thinking'), textChunk('Hello', false), textChunk(', world')],
    });
    expect(appended.status).toBe(200);
    expect(await json(appended)).toEqual({ seqs: [1, 2, 3] });
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'done'))).status).toBe(200);

    const result = await reading;
    expect(result.status).toBe(200);
    expect(result.headers.get('content-type')).toContain('text/event-stream');
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.headers.get('x-accel-buffering')).toBe('no');
    expect(result.raw.startsWith('retry: ')).toBe(true);
    expect(result.closedByServer).toBe(true);
    const snapshot = JSON.parse(result.frames[0]!.data) as { task: WireTask };
    expect(snapshot.task.id).toBe(task.id);
    expect(snapshot.task.metadata?.seq).toBe(0);
    expect(result.frames[0]!.id).toBe('0');
    expect(seqsOf(result.frames)).toEqual([1, 2, 3, 4]);
    const last = JSON.parse(result.frames[4]!.data);
    expect(last.statusUpdate.status.state).toBe('TASK_STATE_COMPLETED');
    expect(last.statusUpdate.status.timestamp).toMatch(/Z$/);

    // The snapshot is durable: state, merged artifact text, last seq.
    const res = await fetch(t.baseUrl + routes.task(ORG, AGENT, task.id), {
      headers: { authorization: `Bearer ${t.userToken()}` },
    });
    const stored = (await json(res)) as WireTask;
    expect(stored.status.state).toBe('TASK_STATE_COMPLETED');
    expect(stored.artifacts?.[0]?.parts).toEqual([{ text: 'Hello, world' }]);
    expect(stored.metadata?.seq).toBe(4);

    // A reconnect already at the final event gets 204; before it, the rest then close.
    const again = await readSse(t.streamUrl(task.id, { token, lastEventId: '4' }));
    expect(again.status).toBe(204);
    const tail = await readSse(t.streamUrl(task.id, { token, lastEventId: '2' }));
    expect(seqsOf(tail.frames)).toEqual([3, 4]);
    expect(tail.frames[0]!.id).toBe('2');
    expect(tail.closedByServer).toBe(true);

    // Final tasks accept no more events.
    const late = await t.append(task.id, textChunk('late'));
    expect(late.status).toBe(409);
    expect((await json(late)).code).toBe('task_final');
  });

  it('cancel gives the stream a final canceled status and closes it', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    const reading = readSse(t.streamUrl(task.id, { token }));
    await new Promise((r) => setTimeout(r, 150));
    const res = await fetch(t.baseUrl + routes.cancel(ORG, AGENT, task.id), {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userToken()}` },
    });
    expect(res.status).toBe(200);
    expect(((await json(res)) as WireTask).status.state).toBe('TASK_STATE_CANCELED');
    const result = await reading;
    expect(result.closedByServer).toBe(true);
    expect(JSON.parse(result.frames.at(-1)!.data).statusUpdate.status.state).toBe('TASK_STATE_CANCELED');
    const twice = await fetch(t.baseUrl + routes.cancel(ORG, AGENT, task.id), {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userToken()}` },
    });
    expect(twice.status).toBe(409);
  });

  it('the polling route pages retained events with lastSeq and final', async () => {
    const task = await t.createTask();
    await t.append(task.id, { events: Array.from({ length: 5 }, (_, i) => textChunk(`c${i}`, i > 0)) });
    const get = async (qs: string) => {
      const res = await fetch(`${t.baseUrl}${routes.messages(ORG, AGENT, task.id)}?${qs}`, {
        headers: { authorization: `Bearer ${t.userToken()}` },
      });
      return (await json(res)) as { events: { seq: number }[]; lastSeq: number; final: boolean };
    };
    const first = await get('after=0&limit=2');
    expect(first.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(first).toMatchObject({ lastSeq: 5, final: false });
    expect((await get('after=2&limit=10')).events.map((e) => e.seq)).toEqual([3, 4, 5]);
    await t.append(task.id, status('TASK_STATE_FAILED', 'boom'));
    const done = await get('after=5');
    expect(done).toMatchObject({ lastSeq: 6, final: true });
    expect(done.events.map((e) => e.seq)).toEqual([6]);
  });

  it('lists the user’s tasks, newest first, and nobody else’s', async () => {
    const mine = await t.createTask('lister');
    await t.createTask('someone-else');
    const res = await fetch(t.baseUrl + routes.tasks(ORG, AGENT), {
      headers: { authorization: `Bearer ${t.userToken('lister')}` },
    });
    const body = (await json(res)) as { tasks: WireTask[] };
    expect(body.tasks.map((x) => x.id)).toEqual([mine.id]);
  });

  it('the standard eventsource client reads the stream and resumes by id', async () => {
    const task = await t.createTask();
    await t.append(task.id, { events: [status('TASK_STATE_WORKING', 'a'), textChunk('x', false)] });
    const token = await t.streamToken(task.id);
    const seen: number[] = [];
    let opens = 0;
    const es = new EventSource(t.streamUrl(task.id, { token, lastEventId: '0' }));
    es.onopen = () => opens++;
    const finished = new Promise<void>((resolve) => {
      es.onmessage = (m) => {
        if (!JSON.parse(m.data).task) seen.push(Number(m.lastEventId));
        if (seen.length === 3 && opens === 1) {
          // Drop the connection from the server side: the client reconnects with Last-Event-ID.
          const registry = t.app.server.plugins as unknown as {
            streaming: { registry: { closeAll(): void } };
          };
          registry.streaming.registry.closeAll();
          void t.append(task.id, { events: [textChunk('y'), status('TASK_STATE_COMPLETED', 'ok')] });
        }
      };
      es.onerror = () => {
        if (seen.includes(5)) resolve();
      };
    });
    await t.append(task.id, textChunk('z'));
    await finished;
    es.close();
    // Each seq once, in order, across the reconnect (the reconnect's snapshot carries id 3).
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(opens).toBe(2);
  });
});

describe('delivery order', () => {
  it('sends an appended event to its streams before it answers the agent', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    // One process sees both sockets, so the order of arrival is the order the server sent in.
    const arrivals: string[] = [];
    const stream = http.get(t.streamUrl(task.id, { token }));
    const opened = new Promise<void>((resolve) =>
      stream.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const [, seq] of chunk.matchAll(/^id: ?(\d+)$/gm))
            if (seq !== '0') arrivals.push(`event ${seq}`);
        });
        resolve();
      }),
    );
    await opened;
    const appendOne = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify(textChunk(`chunk ${n}`));
        const req = http.request(t.baseUrl + routes.events(ORG, AGENT, task.id), {
          method: 'POST',
          headers: { authorization: `Bearer ${t.agentToken()}`, 'content-type': 'application/json' },
        });
        req.on('response', (res) => {
          arrivals.push(`reply ${n}`);
          res.resume();
          res.on('end', () => resolve());
        });
        req.on('error', reject);
        req.end(body);
      });
    for (let n = 1; n <= 5; n++) {
      await appendOne(n);
      await waitFor(() => arrivals.includes(`event ${n}`));
    }
    stream.destroy();
    expect(arrivals).toEqual([1, 2, 3, 4, 5].flatMap((n) => [`event ${n}`, `reply ${n}`]));
  });
});
