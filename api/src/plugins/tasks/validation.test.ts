import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type WireTask } from '@orchestrator-ai/transport-types';
import {
  AGENT,
  EventSource,
  ORG,
  readSse,
  seqsOf,
  startTestApp,
  status,
  textChunk,
  type TestApp,
} from '../../test-support/app.js';

let t: TestApp;
let small: TestApp;
beforeAll(async () => {
  [t, small] = await Promise.all([startTestApp(), startTestApp({ MAX_APPEND_BATCH: '5' })]);
});
afterAll(() => Promise.all([t?.close(), small?.close()]));

interface Reply {
  status: number;
  text: string;
  body: { code?: string; message?: string; statusCode?: number; seqs?: number[] };
}

async function post(
  app: TestApp,
  taskId: string,
  body: string | Uint8Array,
  contentType = 'application/json',
) {
  const res = await fetch(app.baseUrl + routes.events(ORG, AGENT, taskId), {
    method: 'POST',
    headers: { authorization: `Bearer ${app.agentToken()}`, 'content-type': contentType },
    body,
  });
  const text = await res.text();
  let parsed: Reply['body'] = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // asserted below
  }
  return { status: res.status, text, body: parsed } satisfies Reply;
}

function expectError(reply: Reply, status: number, code?: string | RegExp) {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.body).toEqual({ code: expect.any(String), message: expect.any(String), statusCode: status });
  if (typeof code === 'string') expect(reply.body.code).toBe(code);
  else if (code) expect(reply.body.code).toMatch(code);
}

async function lastSeq(app: TestApp, taskId: string): Promise<number> {
  const res = await fetch(app.baseUrl + routes.messages(ORG, AGENT, taskId), {
    headers: { authorization: `Bearer ${app.userToken()}` },
  });
  return ((await res.json()) as { lastSeq: number }).lastSeq;
}

const json = (value: unknown) => JSON.stringify(value);

describe('agent append: validation', () => {
  let task: WireTask;
  beforeAll(async () => {
    task = await t.createTask();
  });

  it('accepts one well-formed event and a batch', async () => {
    const one = await post(t, task.id, json(status('TASK_STATE_WORKING', 'hi')));
    expect(one.status, one.text).toBe(200);
    const batch = await post(t, task.id, json({ events: [textChunk('a', false), textChunk('b')] }));
    expect(batch.body.seqs?.length).toBe(2);
  });

  it.each([
    ['a status update without status', { statusUpdate: {} }],
    ['an unknown state', status('TASK_STATE_EXPLODED')],
    ['a lowercase state', status('working')],
    [
      'a part with two kinds',
      { artifactUpdate: { artifact: { artifactId: 'x', parts: [{ text: 'a', data: { b: 1 } }] } } },
    ],
    ['a part with no kind', { artifactUpdate: { artifact: { artifactId: 'x', parts: [{}] } } }],
    ['an artifact without parts', { artifactUpdate: { artifact: { artifactId: 'x', parts: [] } } }],
    ['both statusUpdate and artifactUpdate', { ...status('TASK_STATE_WORKING'), ...textChunk('x') }],
    ['an empty object', {}],
    ['an empty batch', { events: [] }],
    ['a batch with one bad event', { events: [textChunk('ok'), status('NOPE')] }],
    ['a bare array', [textChunk('a')]],
    ['null', null],
    ['a string', 'statusUpdate'],
    ['a number', 42],
    ['an unknown top-level field', { ...textChunk('x'), extra: true }],
    [
      'a text part that is not a string',
      { artifactUpdate: { artifact: { artifactId: 'x', parts: [{ text: 5 }] } } },
    ],
    [
      'a message with a bad role',
      {
        statusUpdate: {
          status: {
            state: 'TASK_STATE_WORKING',
            message: { messageId: 'm', role: 'ROLE_GOD', parts: [{ text: 'x' }] },
          },
        },
      },
    ],
  ])('refuses %s with 400 JSON and appends nothing', async (_name, body) => {
    const before = await lastSeq(t, task.id);
    expectError(await post(t, task.id, json(body)), 400);
    expect(await lastSeq(t, task.id)).toBe(before);
  });

  it('names the offending field in the 400 message, inside a batch too', async () => {
    const single = await post(t, task.id, json(status('TASK_STATE_EXPLODED')));
    expectError(single, 400);
    expect(single.body.message).toContain('statusUpdate.status.state');
    const batch = await post(
      t,
      task.id,
      json({ events: [textChunk('ok'), { statusUpdate: { status: {} } }] }),
    );
    expectError(batch, 400);
    expect(batch.body.message).toContain('events[1]');
  });

  it.each([
    ['not JSON', 'this is not json'],
    ['truncated JSON', '{"statusUpdate": {"status": {"state": "TASK_STATE_WO'],
    ['an empty body', ''],
    ['random bytes', new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256))],
    ['JSON with a BOM and garbage', '\uFEFF{]'],
  ])('refuses %s with 400 JSON', async (_name, body) => {
    expectError(await post(t, task.id, body), 400);
  });

  it.each([
    ['text/plain'],
    ['application/x-www-form-urlencoded'],
    ['application/xml'],
    ['multipart/form-data; boundary=x'],
  ])('refuses content type %s with 415 unsupported_media_type', async (type) => {
    expectError(await post(t, task.id, json(textChunk('x')), type), 415, 'unsupported_media_type');
  });

  it('refuses a single event over MAX_EVENT_BYTES (256 KiB) with 413, accepts one just under', async () => {
    const before = await lastSeq(t, task.id);
    expectError(
      await post(t, task.id, json(textChunk('x'.repeat(256 * 1024 + 1)))),
      413,
      'payload_too_large',
    );
    expectError(
      await post(t, task.id, json({ events: [textChunk('small'), textChunk('y'.repeat(300 * 1024))] })),
      413,
      'payload_too_large',
    );
    expect(await lastSeq(t, task.id)).toBe(before);
    const ok = await post(t, task.id, json(textChunk('z'.repeat(200 * 1024))));
    expect(ok.status, ok.text.slice(0, 200)).toBe(200);
  });

  it('refuses a body far over every limit with 413, not 5xx', async () => {
    const reply = await post(t, task.id, json({ events: [textChunk('w'.repeat(20 * 1024 * 1024))] }));
    expectError(reply, 413, 'payload_too_large');
  });

  it('refuses more than the default MAX_APPEND_BATCH (500) events with 413', async () => {
    const target = await t.createTask();
    const events = Array.from({ length: 501 }, (_, i) => textChunk(String(i)));
    expectError(await post(t, target.id, json({ events })), 413, 'payload_too_large');
    expect(await lastSeq(t, target.id)).toBe(0);
  });

  it('refuses a batch over MAX_APPEND_BATCH=5 with 413 and accepts exactly 5', async () => {
    const target = await small.createTask();
    const events = (n: number) => Array.from({ length: n }, (_, i) => textChunk(String(i)));
    expectError(await post(small, target.id, json({ events: events(6) })), 413, 'payload_too_large');
    expect(await lastSeq(small, target.id)).toBe(0);
    const ok = await post(small, target.id, json({ events: events(5) }));
    expect(ok.body.seqs).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses JSON nested deeper than 64 levels with 400 and accepts shallower', async () => {
    const nest = (levels: number) => {
      let value: unknown = 'leaf';
      for (let i = 0; i < levels; i++) value = { n: value };
      return value;
    };
    const event = (levels: number) => ({
      statusUpdate: { status: { state: 'TASK_STATE_WORKING' }, metadata: nest(levels) },
    });
    // Exactly 64 levels (62 + root + statusUpdate) pass; 65 do not.
    const ok = await post(t, task.id, json(event(62)));
    expect(ok.status, ok.text).toBe(200);
    expectError(await post(t, task.id, json(event(63))), 400, 'bad_request');
    expectError(await post(t, task.id, json(event(70))), 400);
    // Pathological depth: still a clean 400.
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expectError(await post(t, task.id, deep), 400);
    const deepObject = '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000);
    expectError(await post(t, task.id, deepObject), 400);
    // The same limit guards the user routes.
    const create = await fetch(t.baseUrl + routes.tasks(ORG, AGENT), {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userToken()}`, 'content-type': 'application/json' },
      body: json({ metadata: nest(100) }),
    });
    expect(create.status).toBe(400);
  });

  it('refuses object keys containing NUL with 400 (they cannot be stored), on every route that stores JSON', async () => {
    const before = await lastSeq(t, task.id);
    const events = [
      { statusUpdate: { status: { state: 'TASK_STATE_WORKING' }, metadata: { 'a\u0000b': 1 } } },
      { artifactUpdate: { artifact: { artifactId: 'x', parts: [{ data: { deep: { '\u0000': 1 } } }] } } },
    ];
    for (const event of events) expectError(await post(t, task.id, json(event)), 400, 'bad_request');
    expect(await lastSeq(t, task.id)).toBe(before);
    const create = await fetch(t.baseUrl + routes.tasks(ORG, AGENT), {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userToken()}`, 'content-type': 'application/json' },
      body: json({ metadata: { '\u0000': 1 } }),
    });
    expect(create.status).toBe(400);
    // A refused event never takes concurrent, valid appends down with it.
    const replies = await Promise.all([
      post(t, task.id, json(textChunk('ok1'))),
      post(t, task.id, json(events[0])),
      post(t, task.id, json(textChunk('ok2'))),
    ]);
    expect(replies.map((r) => r.status)).toEqual([200, 400, 200]);
    expect(await lastSeq(t, task.id)).toBe(before + 2);
  });

  it('answers 404 for an unknown task', async () => {
    expectError(await post(t, 'no-such-task', json(textChunk('x'))), 404, /not_found/);
  });

  it('answers 409 task_final once the task is final', async () => {
    const target = await t.createTask();
    expect((await post(t, target.id, json(status('TASK_STATE_COMPLETED', 'done')))).status).toBe(200);
    expectError(await post(t, target.id, json(textChunk('late'))), 409, 'task_final');
    expectError(await post(t, target.id, json(status('TASK_STATE_WORKING'))), 409, 'task_final');
    expect(await lastSeq(t, target.id)).toBe(1);
  });
});

/** Content as an object key: NUL is not allowed in keys (refused with 400, tested above). */
const keyOf = (text: string) => text.split('\u0000').join('');

describe('content cannot break SSE framing', () => {
  const nasty = [
    'line one\nline two',
    'carriage\rreturn',
    'windows\r\nline',
    'nul\u0000byte',
    '\n\nid: 999\ndata: forged\n\n',
    '\r\rid: 998\rdata: forged\r\r',
    '\r\n\r\nevent: error\r\ndata: {"forged":true}\r\n\r\n',
    'data: forged',
    ':comment\n\nretry: 1',
    'unicode\u2028separators\u2029and \u0085 NEL',
  ];

  it('newline, CR, CRLF and NUL arrive intact, each inside exactly one SSE event', async () => {
    const task = await t.createTask();
    const events = nasty.map((text, i) =>
      i % 2 === 0
        ? textChunk(text, false, `a${i}`)
        : {
            statusUpdate: {
              status: {
                state: 'TASK_STATE_WORKING',
                message: {
                  messageId: `m${i}`,
                  role: 'ROLE_AGENT',
                  parts: [{ text }],
                  metadata: { [keyOf(text)]: text },
                },
              },
            },
          },
    );
    const res = await post(t, task.id, json({ events }));
    expect(res.body.seqs).toEqual(nasty.map((_, i) => i + 1));

    const token = await t.streamToken(task.id);
    const read = await readSse(t.streamUrl(task.id, { token, lastEventId: '0' }), {
      until: (f) => f.length >= nasty.length + 1,
      timeoutMs: 5000,
    });
    expect(read.status).toBe(200);
    // Exactly the snapshot plus one frame per event, ids 1..N, nothing forged.
    expect(read.frames.length).toBe(nasty.length + 1);
    expect(seqsOf(read.frames)).toEqual(nasty.map((_, i) => i + 1));
    expect(read.frames.every((f) => f.event === undefined)).toBe(true);
    expect(read.raw).not.toContain('\r');
    expect(read.raw).not.toContain('\u0000');
    const lines = read.raw.split('\n');
    expect(lines.filter((l) => /^(id: 99|event:|data: forged|retry: 1$)/.test(l))).toEqual([]);
    nasty.forEach((text, i) => {
      const data = JSON.parse(read.frames[i + 1]!.data);
      const got =
        i % 2 === 0
          ? data.artifactUpdate.artifact.parts[0].text
          : data.statusUpdate.status.message.parts[0].text;
      expect(got).toBe(text);
      if (i % 2 === 1) expect(data.statusUpdate.status.message.metadata[keyOf(text)]).toBe(text);
    });

    // The polling route returns the same text byte for byte.
    const poll = await fetch(`${t.baseUrl}${routes.messages(ORG, AGENT, task.id)}?after=0`, {
      headers: { authorization: `Bearer ${t.userToken()}` },
    });
    const page = (await poll.json()) as {
      events: { event: { artifactUpdate?: { artifact: { parts: { text: string }[] } } } }[];
    };
    expect(page.events[0]!.event.artifactUpdate!.artifact.parts[0]!.text).toBe(nasty[0]);
  });

  it('the standard EventSource client (which splits on CR, LF and CRLF) sees exactly one message per event', async () => {
    const task = await t.createTask();
    const appended = await post(t, task.id, json({ events: nasty.map((text) => textChunk(text, false)) }));
    expect(appended.status).toBe(200);
    const token = await t.streamToken(task.id);
    const es = new EventSource(t.streamUrl(task.id, { token, lastEventId: '0' }));
    const messages: { id: string; data: string }[] = [];
    let otherEvents = 0;
    es.addEventListener('error', () => {});
    for (const type of ['error', 'forged'])
      es.addEventListener(type, (e) => 'data' in e && e.data && otherEvents++);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${messages.length} messages`)), 5000);
      es.onmessage = (m) => {
        messages.push({ id: m.lastEventId, data: m.data });
        if (messages.length === nasty.length + 1) {
          clearTimeout(timer);
          // Give a forged extra event the chance to show up.
          setTimeout(resolve, 200);
        }
      };
    });
    es.close();
    expect(otherEvents).toBe(0);
    expect(messages.length).toBe(nasty.length + 1);
    expect(messages.map((m) => m.id)).toEqual(['0', ...nasty.map((_, i) => String(i + 1))]);
    expect(messages.slice(1).map((m) => JSON.parse(m.data).artifactUpdate.artifact.parts[0].text)).toEqual(
      nasty,
    );
  });
});

describe('event ids', () => {
  let task: WireTask;
  let token: string;
  beforeAll(async () => {
    task = await t.createTask();
    await post(t, task.id, json({ events: [textChunk('a', false), textChunk('b'), textChunk('c')] }));
    token = await t.streamToken(task.id);
  });

  const bad = ['abc', '-1', '1.5', '99999999999999999999', '1e3', '0x10', '+1', '1 2', 'NaN', '١'];

  it.each(bad)('lastEventId=%j is 400 invalid_event_id', async (value) => {
    const res = await fetch(t.streamUrl(task.id, { token, lastEventId: value }));
    const text = await res.text();
    expectError({ status: res.status, text, body: JSON.parse(text) }, 400, 'invalid_event_id');
  });

  it.each(bad.filter((v) => /^[\x20-\x7e]*$/.test(v)))(
    'Last-Event-ID: %j is 400 invalid_event_id',
    async (value) => {
      const res = await fetch(t.streamUrl(task.id, { token }), { headers: { 'last-event-id': value } });
      const text = await res.text();
      expectError({ status: res.status, text, body: JSON.parse(text) }, 400, 'invalid_event_id');
    },
  );

  it('an id beyond the task’s last seq is 400 invalid_event_id; the last seq itself is fine', async () => {
    for (const value of ['4', '1000', String(Number.MAX_SAFE_INTEGER), '9999999999999999']) {
      const res = await fetch(t.streamUrl(task.id, { token, lastEventId: value }));
      const text = await res.text();
      expectError({ status: res.status, text, body: JSON.parse(text) }, 400, 'invalid_event_id');
    }
    const header = await fetch(t.streamUrl(task.id, { token }), { headers: { 'last-event-id': '4' } });
    expect(header.status).toBe(400);
    expect(((await header.json()) as { code: string }).code).toBe('invalid_event_id');
    const atEnd = await readSse(t.streamUrl(task.id, { token, lastEventId: '3' }), {
      until: (f) => f.length >= 1,
    });
    expect(atEnd.status).toBe(200);
    expect(atEnd.frames[0]!.id).toBe('3');
  });

  it('the polling route refuses after=-1 and other bad paging with 400', async () => {
    for (const qs of [
      'after=-1',
      'after=abc',
      'after=1.5',
      'after=99999999999999999999',
      'limit=0',
      'limit=-3',
      'limit=x',
    ]) {
      const res = await fetch(`${t.baseUrl}${routes.messages(ORG, AGENT, task.id)}?${qs}`, {
        headers: { authorization: `Bearer ${t.userToken()}` },
      });
      const text = await res.text();
      expectError({ status: res.status, text, body: JSON.parse(text) }, 400);
    }
  });
});
