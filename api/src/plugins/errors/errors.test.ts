import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes, type WireTask } from '@orchestrator-ai/transport-types';
import { AGENT, ORG, startTestApp, textChunk, type TestApp } from '../../test-support/app.js';

let t: TestApp;
let task: WireTask;
let streamToken: string;
beforeAll(async () => {
  t = await startTestApp();
  task = await t.createTask();
  streamToken = await t.streamToken(task.id);
});
afterAll(() => t?.close());

const ERROR_CODES = new Set([
  'bad_request',
  'invalid_event_id',
  'invalid_event',
  'unauthorized',
  'token_expired',
  'forbidden',
  'wrong_task',
  'not_found',
  'task_not_found',
  'method_not_allowed',
  'task_final',
  'payload_too_large',
  'unsupported_media_type',
  'rate_limited',
  'too_many_streams',
]);

interface Sent {
  label: string;
  status: number;
  text: string;
}

/** Sends a request; aborts after a short while (a stream that opens is fine, it just must not fail). */
async function send(label: string, path: string, init: RequestInit = {}): Promise<Sent> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 1500);
  try {
    const res = await fetch(t.baseUrl + path, { ...init, signal: controller.signal });
    if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
      controller.abort();
      return { label, status: res.status, text: '' };
    }
    return { label, status: res.status, text: await res.text() };
  } finally {
    clearTimeout(timer);
  }
}

/** An error reply from hapi: JSON `{code, message, statusCode}` with a known code, never 5xx. */
function expectJsonError(reply: Sent, status?: number | number[]) {
  expect(reply.status, `${reply.label}: ${reply.text}`).toBeLessThan(500);
  expect(reply.status, `${reply.label}: ${reply.text}`).toBeGreaterThanOrEqual(400);
  if (status !== undefined) expect([status].flat(), `${reply.label}: ${reply.text}`).toContain(reply.status);
  const body = JSON.parse(reply.text) as Record<string, unknown>;
  expect(Object.keys(body).sort(), reply.label).toEqual(['code', 'message', 'statusCode']);
  expect(body.statusCode, reply.label).toBe(reply.status);
  expect(ERROR_CODES.has(body.code as string), `${reply.label}: code ${String(body.code)}`).toBe(true);
  expect(typeof body.message).toBe('string');
}

const user = () => ({ authorization: `Bearer ${t.userToken()}` });
const agent = () => ({ authorization: `Bearer ${t.agentToken()}` });
const jsonHeaders = (auth: Record<string, string>) => ({ ...auth, 'content-type': 'application/json' });

describe('routing errors', () => {
  it('an unknown route is 404 JSON with code not_found', async () => {
    for (const path of [
      '/nope',
      '/agent-to-agent',
      '/agent-to-agent/acme',
      '/api/v1/tasks',
      '/%00',
      '/..%2F..%2Fetc%2Fpasswd',
    ]) {
      const reply = await send(`GET ${path}`, path);
      expectJsonError(reply, 404);
      expect(JSON.parse(reply.text).code).toBe('not_found');
    }
    const post = await send('POST /nope', '/nope', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expectJsonError(post, 404);
    expect(JSON.parse(post.text).code).toBe('not_found');
  });

  it('a wrong method is 404 or 405 JSON', async () => {
    const cases: Array<[string, string]> = [
      ['DELETE', routes.task(ORG, AGENT, task.id)],
      ['PUT', routes.task(ORG, AGENT, task.id)],
      ['PATCH', routes.tasks(ORG, AGENT)],
      ['GET', routes.events(ORG, AGENT, task.id)],
      ['GET', routes.streamToken(ORG, AGENT, task.id)],
      ['GET', routes.cancel(ORG, AGENT, task.id)],
      ['POST', routes.stream(ORG, AGENT, task.id)],
      ['DELETE', routes.stream(ORG, AGENT, task.id)],
      ['GET', routes.devToken],
      ['PUT', '/healthz'],
    ];
    for (const [method, path] of cases) {
      const reply = await send(`${method} ${path}`, path, { method, headers: user() });
      expectJsonError(reply, [404, 405]);
      expect(['not_found', 'method_not_allowed']).toContain(JSON.parse(reply.text).code);
    }
  });
});

describe('no junk input makes the server answer 5xx', () => {
  it('weird path params', async () => {
    const ids = [
      '%00',
      'a%00b',
      '%ZZ',
      '%E0%A4%A',
      '%C0%AF',
      '%F0%9F%92%A9',
      '..%2F..%2Fetc%2Fpasswd',
      '%2E%2E',
      'a'.repeat(5000),
      '__proto__',
      'constructor',
      '$where',
      '%7B%22%24ne%22%3Anull%7D',
      '%24gt',
      '%20',
      '%0D%0ASet-Cookie:%20x=1',
    ];
    for (const id of ids) {
      for (const suffix of ['', '/stream', '/messages', '/stream-token', '/cancel', '/events']) {
        const path = `/agent-to-agent/${ORG}/${AGENT}/tasks/${id}${suffix}`;
        const method = ['/stream-token', '/cancel', '/events'].includes(suffix) ? 'POST' : 'GET';
        const headers = suffix === '/events' ? jsonHeaders(agent()) : user();
        const body = suffix === '/events' ? JSON.stringify(textChunk('x')) : undefined;
        const reply = await send(`${method} ${path}`, path, { method, headers, ...(body ? { body } : {}) });
        expectJsonError(reply);
        expect(reply.text).not.toMatch(/Set-Cookie/i);
      }
      const stream = await send(
        `stream token on ${id}`,
        `/agent-to-agent/${ORG}/${AGENT}/tasks/${id}/stream?token=${streamToken}`,
      );
      expectJsonError(stream);
    }
    for (const org of ['%00', '%ZZ', 'a%2Fb', 'x'.repeat(300), '%24where']) {
      const reply = await send(`org ${org}`, `/agent-to-agent/${org}/${AGENT}/tasks`, { headers: user() });
      expectJsonError(reply);
    }
  });

  it('weird query strings', async () => {
    const base = routes.messages(ORG, AGENT, task.id);
    const streamBase = routes.stream(ORG, AGENT, task.id);
    const cases = [
      `${base}?after=1&after=2`,
      `${base}?after[$gt]=1`,
      `${base}?after=%00`,
      `${base}?limit=1e400`,
      `${base}?__proto__=1`,
      `${base}?constructor[prototype][x]=1`,
      `${routes.tasks(ORG, AGENT)}?pageToken=abc`,
      `${routes.tasks(ORG, AGENT)}?pageSize=100000`,
      `${routes.tasks(ORG, AGENT)}?contextId=${'c'.repeat(5000)}`,
      `${routes.task(ORG, AGENT, task.id)}?historyLength=-1`,
      `${streamBase}?token=${streamToken}&lastEventId=1&lastEventId=2`,
      `${streamBase}?token=${streamToken}&token=${streamToken}`,
      `${streamBase}?token=${streamToken}&lastEventId=%00`,
      `${streamBase}?token=${streamToken}&unknown=1`,
      `${streamBase}?token=%ZZ`,
      `${streamBase}?token=${'x'.repeat(6000)}`,
    ];
    for (const path of cases) {
      const reply = await send(path, path, { headers: user() });
      if (reply.status >= 400) expectJsonError(reply);
      else expect(reply.status, path).toBeLessThan(300);
    }
  });

  it('random bytes and hostile JSON bodies', async () => {
    const bytes = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    const targets: Array<[string, Record<string, string>]> = [
      [routes.tasks(ORG, AGENT), user()],
      [routes.events(ORG, AGENT, task.id), agent()],
      [routes.streamToken(ORG, AGENT, task.id), user()],
      [routes.cancel(ORG, AGENT, task.id), user()],
      [routes.devToken, {}],
    ];
    const bodies: Array<[string, NonNullable<RequestInit['body']>, string | undefined]> = [
      ['random bytes as JSON', bytes, 'application/json'],
      ['random bytes as octet-stream', bytes, 'application/octet-stream'],
      ['random bytes without a type', bytes, undefined],
      ['utf-16 JSON', Buffer.from('{"a":1}', 'utf16le'), 'application/json; charset=utf-16'],
      ['prototype poisoning', '{"__proto__":{"polluted":true}}', 'application/json'],
      ['constructor poisoning', '{"constructor":{"prototype":{"polluted":true}}}', 'application/json'],
      ['operator injection', '{"sub":{"$ne":null},"role":"user"}', 'application/json'],
      ['a huge number', `{"metadata":{"n":1${'0'.repeat(400)}}}`, 'application/json'],
      ['deep arrays', '['.repeat(10_000) + ']'.repeat(10_000), 'application/json'],
      ['a lone surrogate', '{"sub":"\\ud800"}', 'application/json'],
      ['form data', 'a=1&b=2', 'application/x-www-form-urlencoded'],
      ['bad multipart', '--x\r\nnope', 'multipart/form-data; boundary=x'],
      ['a bogus content type', '{}', '!!!/???'],
    ];
    for (const [path, auth] of targets) {
      for (const [label, body, type] of bodies) {
        const reply = await send(`${label} → POST ${path}`, path, {
          method: 'POST',
          headers: { ...auth, ...(type ? { 'content-type': type } : {}) },
          body,
        });
        if (reply.status >= 400) expectJsonError(reply);
        else expect(reply.status, `${label} → ${path}: ${reply.text}`).toBeLessThan(300);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('bad and hostile content encodings', async () => {
    const path = routes.tasks(ORG, AGENT);
    const bomb = gzipSync(Buffer.alloc(16 * 1024 * 1024, 0x20)); // 16 MiB of spaces, ~16 KiB compressed
    const cases: Array<[string, NonNullable<RequestInit['body']>, string]> = [
      ['junk gzip', 'not gzip at all', 'gzip'],
      ['junk deflate', 'not deflate', 'deflate'],
      ['junk brotli', 'not brotli', 'br'],
      ['unknown encoding', '{}', 'x-made-up'],
      ['a gzip bomb', bomb, 'gzip'],
      ['valid gzip of junk', gzipSync(Buffer.from('{{{')), 'gzip'],
    ];
    for (const [label, body, encoding] of cases) {
      const reply = await send(label, path, {
        method: 'POST',
        headers: { ...jsonHeaders(user()), 'content-encoding': encoding },
        body,
      });
      if (reply.status >= 400) expectJsonError(reply);
      else expect(reply.status, `${label}: ${reply.text}`).toBeLessThan(300);
    }
    const oversized = await send('1 MiB+ JSON on a user route', path, {
      method: 'POST',
      headers: jsonHeaders(user()),
      body: JSON.stringify({ metadata: { pad: 'p'.repeat(2 * 1024 * 1024) } }),
    });
    expectJsonError(oversized, 413);
    expect(JSON.parse(oversized.text).code).toBe('payload_too_large');
  });

  it('huge and odd header values', async () => {
    const big = 'A'.repeat(6_000); // two of these stay under Node's 16 KiB header limit
    const header = (headers: Record<string, string>, path = routes.task(ORG, AGENT, task.id)) =>
      send(`headers ${Object.keys(headers).join(',')} on ${path}`, path, { headers });
    for (const reply of [
      await header({ authorization: `Bearer ${big}` }),
      await header({ authorization: big }),
      await header({ authorization: 'Bearer ' }),
      await header({ authorization: 'Bearer a.b.c.d.e' }),
      await header({ authorization: `Bearer ${'eyJ'.repeat(3000)}.x.y` }),
      await header({ ...user(), 'last-event-id': big }, routes.stream(ORG, AGENT, task.id)),
      await header(
        { 'last-event-id': '1' },
        `${routes.stream(ORG, AGENT, task.id)}?token=${streamToken}&lastEventId=${big}`,
      ),
      await header({ ...user(), 'x-forwarded-for': big, 'user-agent': big }),
      await header({ ...user(), cookie: `a=${big}` }),
      await header({ ...user(), accept: big, 'accept-encoding': big }),
      await header({ ...user(), 'content-length': '0', 'content-type': big }),
    ]) {
      if (reply.status >= 400) expectJsonError(reply);
      else expect(reply.status, reply.label).toBeLessThan(300);
    }
    // Past Node's header limit the HTTP parser itself refuses (431): a client error, never 5xx.
    const tooBig = await send('64 KiB header', routes.task(ORG, AGENT, task.id), {
      headers: { ...user(), 'x-junk': 'j'.repeat(64 * 1024) },
    });
    expect(tooBig.status).toBeGreaterThanOrEqual(400);
    expect(tooBig.status).toBeLessThan(500);
  });

  it('malformed raw HTTP never gets a 5xx', async () => {
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(Number(new URL(t.baseUrl).port), '127.0.0.1');
        let data = '';
        socket.on('data', (chunk) => (data += chunk.toString('latin1')));
        socket.on('error', () => resolve(data));
        socket.on('close', () => resolve(data));
        socket.setTimeout(1500, () => socket.destroy());
        socket.end(request);
      });
    const p = routes.task(ORG, AGENT, task.id);
    const requests = [
      `GET ${p}/%ZZ%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET /agent-to-agent/acme/writer/tasks/\u00ff\u00fe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET http://evil.example${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `GET ${p} HTTP/9.9\r\nHost: x\r\n\r\n`,
      `GET ${p} HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n`,
      `POST ${routes.tasks(ORG, AGENT)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{"short":`,
      `POST ${routes.tasks(ORG, AGENT)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n`,
      `POST ${routes.tasks(ORG, AGENT)} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{}{}{}`,
      `BREW ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      `\r\n\r\n\u0000\u0001\u0002garbage\r\n\r\n`,
    ];
    for (const request of requests) {
      const answer = await raw(request);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1];
      if (status)
        expect(
          Number(status),
          `${JSON.stringify(request.slice(0, 60))} → ${answer.slice(0, 200)}`,
        ).toBeLessThan(500);
    }
  });

  it('HEAD on the stream route of a running task answers at once (it must not hold the connection)', async () => {
    const live = await t.createTask();
    const token = await t.streamToken(live.id);
    const started = Date.now();
    let status = 0;
    try {
      status = (
        await send('HEAD stream', `${routes.stream(ORG, AGENT, live.id)}?token=${token}`, { method: 'HEAD' })
      ).status;
    } catch {
      // aborted by send() after 1.5 s: no answer at all
    }
    expect(status, `no answer after ${Date.now() - started} ms`).toBeGreaterThanOrEqual(200);
    expect(status).toBeLessThan(500);
  });

  it('the server is still healthy and logged no 5xx', async () => {
    expect((await fetch(t.baseUrl + '/healthz')).status).toBe(200);
    expect((await fetch(t.baseUrl + '/readyz')).status).toBe(200);
    const check = await fetch(t.baseUrl + routes.task(ORG, AGENT, task.id), { headers: user() });
    expect(check.status).toBe(200);
    // Server errors: a 5xx response, or an error logged for a request (not Node's own client parse errors).
    const fivexx = t.logs.filter(
      (line) => /"statusCode":5\d\d/.test(line) || (/"level":(50|60)/.test(line) && !/"client"/.test(line)),
    );
    expect(fivexx, fivexx.join('\n').slice(0, 3000)).toEqual([]);
  });
});
