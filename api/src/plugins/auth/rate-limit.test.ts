import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '@orchestrator-ai/transport-types';
import { AGENT, ORG, startTestApp, type TestApp } from '../../test-support/app.js';

const PER_TASK = 3;
const PER_USER = 5;
const WINDOW = 10;

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({
    STREAM_TOKEN_RATE_PER_TASK: String(PER_TASK),
    STREAM_TOKEN_RATE_PER_USER: String(PER_USER),
    STREAM_TOKEN_RATE_WINDOW_SECONDS: String(WINDOW),
  });
});
afterAll(() => t?.close());

async function mint(taskId: string, sub: string, headers: Record<string, string> = {}) {
  const res = await fetch(t.baseUrl + routes.streamToken(ORG, AGENT, taskId), {
    method: 'POST',
    headers: { authorization: `Bearer ${t.userToken(sub)}`, ...headers },
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text, body: JSON.parse(text) };
}

function expectLimited(reply: Awaited<ReturnType<typeof mint>>) {
  expect(reply.status, reply.text).toBe(429);
  expect(reply.body).toEqual({ code: 'rate_limited', message: expect.any(String), statusCode: 429 });
  expect(reply.retryAfter).toMatch(/^\d+$/);
  const seconds = Number(reply.retryAfter);
  expect(seconds).toBeGreaterThanOrEqual(1);
  expect(seconds).toBeLessThanOrEqual(WINDOW);
  expect(reply.text).not.toMatch(/eyJ/); // no token in the refusal
}

describe('stream token rate limit (per task 3, per user 5, window 10 s)', () => {
  it('refuses the 4th mint for one task with 429 rate_limited and a Retry-After of at most the window', async () => {
    const a = await t.createTask('u1');
    for (let i = 0; i < PER_TASK; i++) {
      const ok = await mint(a.id, 'u1');
      expect(ok.status, ok.text).toBe(200);
      expect(typeof ok.body.token).toBe('string');
    }
    expectLimited(await mint(a.id, 'u1'));
  });

  it('another task of the same user is not limited by the first task’s count', async () => {
    const [a, b] = await Promise.all([t.createTask('u2'), t.createTask('u2')]);
    for (let i = 0; i < PER_TASK; i++) expect((await mint(a.id, 'u2')).status).toBe(200);
    expectLimited(await mint(a.id, 'u2'));
    // u2 has made 4 requests; the 5th (task b) is still within the per-user limit.
    const ok = await mint(b.id, 'u2');
    expect(ok.status, ok.text).toBe(200);
    // The 6th is over the per-user limit, even for a fresh task.
    const c = await t.createTask('u2');
    expectLimited(await mint(c.id, 'u2'));
  });

  it('another user is unaffected', async () => {
    const a = await t.createTask('u3');
    for (let i = 0; i < PER_TASK; i++) expect((await mint(a.id, 'u3')).status).toBe(200);
    expectLimited(await mint(a.id, 'u3'));
    const other = await t.createTask('u4');
    for (let i = 0; i < PER_TASK; i++) expect((await mint(other.id, 'u4')).status).toBe(200);
  });

  it('spoofed X-Forwarded-For headers neither reset nor move the limit', async () => {
    const a = await t.createTask('u5');
    const spoof = (i: number) => ({
      'x-forwarded-for': `10.0.${i}.${i + 1}, 192.168.1.${i}`,
      'x-real-ip': `172.16.0.${i}`,
      forwarded: `for=203.0.113.${i}`,
    });
    for (let i = 0; i < PER_TASK; i++) expect((await mint(a.id, 'u5', spoof(i))).status).toBe(200);
    for (let i = 10; i < 14; i++) expectLimited(await mint(a.id, 'u5', spoof(i)));
    // Someone else spoofing u5's would-be address is not limited by u5's count.
    const other = await t.createTask('u6');
    expect((await mint(other.id, 'u6', spoof(0))).status).toBe(200);
  });

  it.each([
    ['a trailing slash', (path: string) => `${path}/`],
    [
      'a percent-encoded task id',
      (path: string) =>
        path.replace(
          /\/tasks\/(.)/,
          (_m, ch: string) => `/tasks/%${ch.charCodeAt(0).toString(16).toUpperCase()}`,
        ),
    ],
    ['a double slash', (path: string) => path.replace('/tasks/', '/tasks//')],
  ])('%s does not give the same task a fresh per-task budget', async (_name, spell) => {
    const sub = `u7-${Math.random().toString(36).slice(2)}`;
    const a = await t.createTask(sub);
    for (let i = 0; i < PER_TASK; i++) expect((await mint(a.id, sub)).status).toBe(200);
    expectLimited(await mint(a.id, sub));
    // The user has made 4 of 5 allowed requests: only the per-task limit can refuse this one.
    const path = spell(routes.streamToken(ORG, AGENT, a.id));
    const res = await fetch(t.baseUrl + path, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.userToken(sub)}` },
    });
    const text = await res.text();
    expect([404, 429], `${path}: ${text}`).toContain(res.status);
    expect(text).not.toContain('"token"');
  });

  it('the window expires: minting works again after Retry-After (a 2 s window)', async () => {
    const quick = await startTestApp({
      STREAM_TOKEN_RATE_PER_TASK: '1',
      STREAM_TOKEN_RATE_PER_USER: '5',
      STREAM_TOKEN_RATE_WINDOW_SECONDS: '2',
    });
    try {
      const a = await quick.createTask('u8');
      const mintQuick = () =>
        fetch(quick.baseUrl + routes.streamToken(ORG, AGENT, a.id), {
          method: 'POST',
          headers: { authorization: `Bearer ${quick.userToken('u8')}` },
        });
      expect((await mintQuick()).status).toBe(200);
      const refused = await mintQuick();
      expect(refused.status).toBe(429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      await new Promise((r) => setTimeout(r, retryAfter * 1000 + 300));
      expect((await mintQuick()).status).toBe(200);
    } finally {
      await quick.close();
    }
  });
});
