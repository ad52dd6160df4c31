import { connect } from 'node:net';
import Jwt from '@hapi/jwt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '@orchestrator-ai/transport-types';
import { AGENT, ORG, readSse, startTestApp, status, textChunk, type TestApp } from './test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp({ LOG_LEVEL: 'debug' });
});
afterAll(() => t?.close());

const signatureOf = (token: string) => token.split('.')[2]!;

/** Every piece of a token that must never be written anywhere: the token and its signature. */
function secretsOf(tokens: string[]): string[] {
  return tokens.flatMap((token) => [token, signatureOf(token)]);
}

/** A log line plus every byte array in it decoded as text (pino writes Buffers as `{"type":"Buffer","data":[…]}`). */
function decoded(line: string): string {
  const arrays = [...line.matchAll(/\[(\d{1,3}(?:,\d{1,3})+)\]/g)].map((m) =>
    Buffer.from(m[1]!.split(',').map(Number)).toString('latin1'),
  );
  return [line, ...arrays].join('\n');
}

function findLeaks(haystack: string[], tokens: string[]): string[] {
  const needles = secretsOf(tokens);
  return haystack.filter((line) => needles.some((needle) => decoded(line).includes(needle)));
}

/** Sends a request Node's HTTP parser refuses (headers over its limit), carrying a token. */
function oversizedRequest(path: string, headers: Record<string, string>): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(t.baseUrl);
    const socket = connect(Number(url.port), url.hostname);
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
    socket.on('data', () => {});
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.setTimeout(2000, () => socket.destroy());
    socket.end(
      `GET ${path} HTTP/1.1\r\nHost: x\r\n${lines.join('\r\n')}\r\nX-Pad: ${'p'.repeat(20_000)}\r\n\r\n`,
    );
  });
}

describe('no token reaches a log line or a metric', () => {
  const issued: string[] = [];

  beforeAll(async () => {
    const user = t.userToken('redaction-user');
    const bob = t.userToken('redaction-bob');
    const agent = t.agentToken();
    issued.push(user, bob, agent);
    const auth = { authorization: `Bearer ${user}` };

    // Create and mint through the real routes.
    const created = await fetch(t.baseUrl + routes.tasks(ORG, AGENT), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ message: { parts: [{ text: 'go' }] } }),
    });
    expect(created.status).toBe(201);
    const task = (await created.json()) as { id: string };
    const mint = async () => {
      const res = await fetch(t.baseUrl + routes.streamToken(ORG, AGENT, task.id), {
        method: 'POST',
        headers: auth,
      });
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      issued.push(token);
      return token;
    };
    const token = await mint();
    const second = await mint();

    // A stream open with ?token= while the agent appends, then the task completes.
    const reading = readSse(t.streamUrl(task.id, { token }), { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    const append = await t.append(task.id, {
      events: [status('TASK_STATE_WORKING', 'working'), textChunk('hello', false)],
    });
    expect(append.status).toBe(200);
    // A resumed stream: Last-Event-ID header, token in the query among other parameters.
    const resumed = await readSse(t.streamUrl(task.id, { lastEventId: '0', token: second }), {
      headers: { 'last-event-id': '1' },
      until: (f) => f.length >= 2,
    });
    expect(resumed.status).toBe(200);
    // The user's Bearer token on the stream route.
    const viaBearer = await readSse(t.streamUrl(task.id), { headers: auth, until: (f) => f.length >= 1 });
    expect(viaBearer.status).toBe(200);
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'done'))).status).toBe(200);
    const streamed = await reading;
    expect(streamed.status).toBe(200);
    expect(streamed.closedByServer).toBe(true);

    // Failing stream opens: a forged token, an expired one, another user's token, one for another task.
    const forged = Jwt.token.generate(
      { sub: 'redaction-user', taskId: task.id, aud: 'stream', exp: Math.floor(Date.now() / 1000) + 300 },
      { key: 'not-the-secret', algorithm: 'HS256' },
    );
    const expired = Jwt.token.generate(
      { sub: 'redaction-user', taskId: task.id, aud: 'stream', exp: Math.floor(Date.now() / 1000) - 600 },
      { key: t.config.streamTokenSecret, algorithm: 'HS256' },
    );
    issued.push(forged, expired);
    for (const bad of [forged, expired, user, agent]) {
      const res = await fetch(t.streamUrl(task.id, { token: bad }));
      expect(res.status).toBe(401);
      await res.text();
    }
    const otherTask = await t.createTask('redaction-user');
    const wrongTask = await fetch(t.streamUrl(otherTask.id, { token }));
    expect(wrongTask.status).toBe(403);
    const foreign = await fetch(t.streamUrl(task.id), { headers: { authorization: `Bearer ${bob}` } });
    expect(foreign.status).toBe(404);
    const badEventId = await fetch(t.streamUrl(task.id, { token, lastEventId: 'abc' }));
    expect(badEventId.status).toBe(400);

    // Polling with Bearer, and a token in a query string where no route expects one.
    const poll = await fetch(`${t.baseUrl}${routes.messages(ORG, AGENT, task.id)}?after=0`, {
      headers: auth,
    });
    expect(poll.status).toBe(200);
    const stray = await fetch(`${t.baseUrl}${routes.messages(ORG, AGENT, task.id)}?token=${token}`, {
      headers: auth,
    });
    expect(stray.status).toBeLessThan(500);
    await stray.text();
    // 401s with a bad Bearer header, and an unknown route carrying a token.
    const unauthorized = await fetch(t.baseUrl + routes.task(ORG, AGENT, task.id), {
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(unauthorized.status).toBe(401);
    const cookie = await fetch(`${t.baseUrl}/nowhere?token=${token}&x=1`, {
      headers: { cookie: `session=${token}` },
    });
    expect(cookie.status).toBe(404);
    // Requests Node's HTTP parser itself refuses (header overflow, bad bytes) are logged as client
    // errors with the raw packet: it carries the Authorization header and the query token.
    await oversizedRequest(`${routes.stream(ORG, AGENT, task.id)}?token=${token}`, {
      authorization: `Bearer ${user}`,
    });
    await oversizedRequest(routes.task(ORG, AGENT, task.id), {
      authorization: `Bearer ${agent}`,
      'Bad Header': 'x',
    });
    // Let the logger flush the last response lines.
    await new Promise((r) => setTimeout(r, 300));
  });

  it('logs request lines for the stream route (the check below is not vacuous)', () => {
    const streamLines = t.logs.filter((line) => line.includes('/stream'));
    expect(streamLines.length).toBeGreaterThanOrEqual(8);
    // Failed stream opens are logged too, with their status.
    expect(streamLines.some((line) => /"statusCode":401/.test(line))).toBe(true);
    expect(streamLines.some((line) => /"statusCode":200/.test(line))).toBe(true);
    expect(t.logs.some((line) => /\/tasks\/[^/]+\/messages/.test(line))).toBe(true);
    // The refused raw requests are logged too (without their bytes).
    const clientErrors = t.logs.filter((line) => /HPE_HEADER_OVERFLOW|HPE_INVALID_HEADER_TOKEN/.test(line));
    expect(clientErrors.length).toBeGreaterThanOrEqual(1);
  });

  it('no log line contains any issued token or a JWT signature', () => {
    expect(issued.length).toBeGreaterThanOrEqual(7);
    const leaks = findLeaks(t.logs, issued);
    expect(leaks, leaks.join('\n')).toEqual([]);
    // No JWT-shaped string at all.
    const jwtLike = t.logs.filter((line) => /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/.test(line));
    expect(jwtLike, jwtLike.join('\n')).toEqual([]);
  });

  it('the /metrics text contains no token', async () => {
    const res = await fetch(`${t.baseUrl}${routes.metrics}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('a2a_sse_active_streams');
    expect(findLeaks([text], issued)).toEqual([]);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
    expect(text).not.toMatch(/token=/);
  });
});
