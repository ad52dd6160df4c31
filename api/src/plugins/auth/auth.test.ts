import Jwt from '@hapi/jwt';
// The signature check @hapi/jwt's strategies run (CommonJS: its plugin calls it through this object).
import JwtCrypto from '@hapi/jwt/lib/crypto.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { routes, type WireTask } from '@orchestrator-ai/transport-types';
import { AGENT, ORG, readSse, startTestApp, textChunk, type TestApp } from '../../test-support/app.js';

let t: TestApp;
let short: TestApp;
let prod: TestApp;
beforeAll(async () => {
  [t, short, prod] = await Promise.all([
    startTestApp(),
    startTestApp({ STREAM_TOKEN_TTL_SECONDS: '10' }),
    startTestApp({ AUTH_MODE: 'production', JWT_SECRET: 'x' }),
  ]);
});
afterAll(() => Promise.all([t?.close(), short?.close(), prod?.close()]));

const nowSec = () => Math.floor(Date.now() / 1000);
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const sign = (payload: Record<string, unknown>, key: string, algorithm: 'HS256' | 'HS512' = 'HS256') =>
  Jwt.token.generate(payload, { key, algorithm }, { iat: false });
const signatureOf = (token: string) => token.split('.')[2] ?? '';

interface ErrorReply {
  status: number;
  body: { code: string; message: string; statusCode: number };
  text: string;
}

async function call(url: string, init: RequestInit = {}): Promise<ErrorReply> {
  const controller = new AbortController();
  const res = await fetch(url, { ...init, signal: controller.signal });
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    // A stream opened where an error was expected: don't wait for it to end.
    controller.abort();
    return { status: res.status, body: { code: '', message: 'an SSE stream', statusCode: 0 }, text: '' };
  }
  const text = await res.text();
  let body: ErrorReply['body'];
  try {
    body = JSON.parse(text);
  } catch {
    body = { code: '', message: text, statusCode: 0 };
  }
  return { status: res.status, body, text };
}

/** An error answer: the status, a JSON `{code, message, statusCode}` body, and no token anywhere in it. */
function expectError(reply: ErrorReply, status: number, code: string | undefined, tokens: string[] = []) {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.body).toEqual({ code: expect.any(String), message: expect.any(String), statusCode: status });
  if (code) expect(reply.body.code).toBe(code);
  for (const token of tokens.filter(Boolean)) {
    expect(reply.text).not.toContain(token);
    const signature = signatureOf(token);
    if (signature.length > 8) expect(reply.text).not.toContain(signature);
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('stream route: bad tokens are 401 JSON', () => {
  let task: WireTask;
  beforeAll(async () => {
    task = await t.createTask();
  });
  const stream = (query: Record<string, string>, headers: Record<string, string> = {}) =>
    call(t.streamUrl(task.id, query), { headers });

  it('no token', async () => {
    expectError(await stream({}), 401, 'unauthorized');
    expectError(await stream({ token: '' }), 401, 'unauthorized');
  });

  it('malformed tokens', async () => {
    for (const token of ['garbage', 'a.b.c', 'a.b', '....', 'eyJhbGciOiJIUzI1NiJ9.%%%.x', 'x'.repeat(3000)]) {
      expectError(await stream({ token }), 401, undefined, [token]);
    }
  });

  it('an expired stream token (code token_expired)', async () => {
    const token = sign(
      { sub: 'alice', taskId: task.id, aud: 'stream', iat: nowSec() - 600, exp: nowSec() - 60 },
      t.config.streamTokenSecret,
    );
    expectError(await stream({ token }), 401, 'token_expired', [token]);
  });

  it('an unsigned (alg: none) token', async () => {
    const payload = { sub: 'alice', taskId: task.id, aud: 'stream', exp: nowSec() + 300 };
    for (const header of [{ alg: 'none', typ: 'JWT' }, { alg: 'None' }, { alg: 'NONE' }]) {
      for (const token of [`${b64url(header)}.${b64url(payload)}.`, `${b64url(header)}.${b64url(payload)}`]) {
        expectError(await stream({ token }), 401, 'unauthorized', [token]);
      }
    }
  });

  it('a wrongly signed token', async () => {
    const claims = { sub: 'alice', taskId: task.id, aud: 'stream', exp: nowSec() + 300 };
    const token = sign(claims, 'not-the-secret');
    expectError(await stream({ token }), 401, 'unauthorized', [token]);
    // A valid token whose payload was swapped keeps its (now wrong) signature.
    const valid = await t.streamToken(task.id);
    const [h, , s] = valid.split('.');
    const tampered = `${h}.${b64url({ ...claims, sub: 'mallory' })}.${s}`;
    expectError(await stream({ token: tampered }), 401, 'unauthorized', [tampered, valid]);
  });

  it('an HS512 token signed with the right secret', async () => {
    const token = sign(
      { sub: 'alice', taskId: task.id, aud: 'stream', exp: nowSec() + 300 },
      t.config.streamTokenSecret,
      'HS512',
    );
    expectError(await stream({ token }), 401, 'unauthorized', [token]);
  });

  it('a user token or an agent token in ?token=', async () => {
    const user = t.userToken();
    expectError(await stream({ token: user }), 401, 'unauthorized', [user]);
    const agent = t.agentToken();
    expectError(await stream({ token: agent }), 401, 'unauthorized', [agent]);
  });

  it('a stream token minted for another audience claim or without taskId', async () => {
    const noTask = sign({ sub: 'alice', aud: 'stream', exp: nowSec() + 300 }, t.config.streamTokenSecret);
    expectError(await stream({ token: noTask }), 401, 'unauthorized', [noTask]);
    const wrongAud = sign(
      { sub: 'alice', taskId: task.id, aud: 'user', exp: nowSec() + 300 },
      t.config.streamTokenSecret,
    );
    expectError(await stream({ token: wrongAud }), 401, 'unauthorized', [wrongAud]);
  });

  it('a bad Bearer header on the stream route', async () => {
    const token = sign({ sub: 'alice', aud: 'user', exp: nowSec() + 300 }, 'wrong');
    expectError(await stream({}, bearer(token)), 401, 'unauthorized', [token]);
    const stream2 = await t.streamToken(task.id);
    // A stream token is not a Bearer credential.
    expectError(await stream({}, bearer(stream2)), 401, 'unauthorized', [stream2]);
  });
});

describe('stream route: right tokens', () => {
  it('a stream token for another task is 403 wrong_task', async () => {
    const mine = await t.createTask();
    const other = await t.createTask();
    const token = await t.streamToken(mine.id);
    expectError(await call(t.streamUrl(other.id, { token })), 403, 'wrong_task', [token]);
    // Same answer whether or not the other task exists.
    expectError(await call(t.streamUrl('no-such-task', { token })), 403, 'wrong_task', [token]);
  });

  it('the stream token and a user Bearer header both open the stream, which never echoes the token', async () => {
    const task = await t.createTask();
    await t.append(task.id, textChunk('hi', false));
    const token = await t.streamToken(task.id);
    const viaQuery = await readSse(t.streamUrl(task.id, { token, lastEventId: '0' }), {
      until: (f) => f.length >= 2,
    });
    expect(viaQuery.status).toBe(200);
    expect(JSON.parse(viaQuery.frames[0]!.data).task.id).toBe(task.id);
    expect(viaQuery.frames[1]!.id).toBe('1');
    expect(viaQuery.raw).not.toContain(token);

    const user = t.userToken();
    const viaBearer = await readSse(t.streamUrl(task.id, { lastEventId: '0' }), {
      headers: bearer(user),
      until: (f) => f.length >= 2,
    });
    expect(viaBearer.status).toBe(200);
    expect(viaBearer.headers.get('content-type')).toContain('text/event-stream');
    expect(viaBearer.frames.map((f) => f.id)).toEqual(['0', '1']);
    expect(viaBearer.raw).not.toContain(user);
  });

  it("another user's task answers exactly like an unknown task (404, same body)", async () => {
    const task = await t.createTask('alice');
    const bob = t.userToken('bob');
    const pairs: Array<[string, string, RequestInit]> = [
      [t.streamUrl(task.id), t.streamUrl('does-not-exist'), { headers: bearer(bob) }],
      [
        t.baseUrl + routes.task(ORG, AGENT, task.id),
        t.baseUrl + routes.task(ORG, AGENT, 'does-not-exist'),
        { headers: bearer(bob) },
      ],
      [
        t.baseUrl + routes.streamToken(ORG, AGENT, task.id),
        t.baseUrl + routes.streamToken(ORG, AGENT, 'does-not-exist'),
        { method: 'POST', headers: bearer(bob) },
      ],
      [
        t.baseUrl + routes.messages(ORG, AGENT, task.id),
        t.baseUrl + routes.messages(ORG, AGENT, 'does-not-exist'),
        { headers: bearer(bob) },
      ],
      [
        t.baseUrl + routes.cancel(ORG, AGENT, task.id),
        t.baseUrl + routes.cancel(ORG, AGENT, 'does-not-exist'),
        { method: 'POST', headers: bearer(bob) },
      ],
      // The right task id under another org/agent is unknown too.
      [
        t.streamUrl(task.id, {}, 'other-org'),
        t.streamUrl('does-not-exist'),
        { headers: bearer(t.userToken()) },
      ],
    ];
    for (const [foreign, unknown, init] of pairs) {
      const a = await call(foreign, init);
      const b = await call(unknown, init);
      expectError(a, 404, undefined, [bob]);
      expect(a.text).toBe(b.text);
    }
    // And alice still sees it.
    const res = await fetch(t.baseUrl + routes.task(ORG, AGENT, task.id), {
      headers: bearer(t.userToken('alice')),
    });
    expect(res.status).toBe(200);
  });
});

describe('user tokens on user routes', () => {
  const taskUrl = () => t.baseUrl + routes.tasks(ORG, AGENT);
  const listWith = (token: string) => call(taskUrl(), { headers: bearer(token) });

  it('a valid user token works', async () => {
    const token = sign({ sub: 'carol', aud: 'user', exp: nowSec() + 60 }, t.config.jwtSecret);
    expect((await listWith(token)).status).toBe(200);
  });

  it('refuses a token without exp', async () => {
    const token = Jwt.token.generate(
      { sub: 'carol', aud: 'user' },
      { key: t.config.jwtSecret, algorithm: 'HS256' },
    );
    expect(Jwt.token.decode(token).decoded.payload.exp).toBeUndefined();
    expectError(await listWith(token), 401, 'unauthorized', [token]);
  });

  it('refuses a wrong or missing aud', async () => {
    for (const aud of ['stream', 'agent', 'someone-else', undefined]) {
      const token = sign({ sub: 'carol', ...(aud ? { aud } : {}), exp: nowSec() + 60 }, t.config.jwtSecret);
      expectError(await listWith(token), 401, 'unauthorized', [token]);
    }
  });

  it('refuses tokens expired beyond the clock skew, accepts one expired within it', async () => {
    const skew = t.config.clockSkewSeconds;
    expect(skew).toBeGreaterThanOrEqual(2);
    const old = sign({ sub: 'carol', aud: 'user', exp: nowSec() - skew - 30 }, t.config.jwtSecret);
    expectError(await listWith(old), 401, 'unauthorized', [old]);
    const justOver = sign({ sub: 'carol', aud: 'user', exp: nowSec() - skew - 2 }, t.config.jwtSecret);
    expectError(await listWith(justOver), 401, 'unauthorized', [justOver]);
    const withinSkew = sign({ sub: 'carol', aud: 'user', exp: nowSec() - 1 }, t.config.jwtSecret);
    expect((await listWith(withinSkew)).status).toBe(200);
  });

  it('refuses other bad user tokens: wrong secret, alg none, HS512, no sub, no token', async () => {
    const claims = { sub: 'carol', aud: 'user', exp: nowSec() + 60 };
    const tokens = [
      sign(claims, 'wrong-secret'),
      `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`,
      sign(claims, t.config.jwtSecret, 'HS512'),
      sign({ aud: 'user', exp: nowSec() + 60 }, t.config.jwtSecret),
      sign({ sub: '', aud: 'user', exp: nowSec() + 60 }, t.config.jwtSecret),
    ];
    for (const token of tokens) expectError(await listWith(token), 401, 'unauthorized', [token]);
    expectError(await call(taskUrl()), 401, 'unauthorized');
    expectError(
      await call(taskUrl(), { headers: { authorization: 'Basic Zm9vOmJhcg==' } }),
      401,
      'unauthorized',
    );
  });
});

describe('agent tokens', () => {
  it('work on the append route of their own org/agent only', async () => {
    const task = await t.createTask();
    const ok = await t.append(task.id, textChunk('a', false));
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ seqs: [1] });

    const eventsUrl = t.baseUrl + routes.events(ORG, AGENT, task.id);
    const post = (token: string) =>
      call(eventsUrl, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        body: JSON.stringify(textChunk('b')),
      });
    for (const token of [t.agentToken(ORG, 'other-agent'), t.agentToken('other-org', AGENT)]) {
      expectError(await post(token), 403, 'forbidden', [token]);
    }
    const user = t.userToken();
    expectError(await post(user), 401, 'unauthorized', [user]);
    const stream = await t.streamToken(task.id);
    expectError(await post(stream), 401, 'unauthorized', [stream]);
    // An agent token without its org/agent binding is no agent token.
    const unbound = sign({ sub: 'x', aud: 'agent', exp: nowSec() + 60 }, t.config.jwtSecret);
    expectError(await post(unbound), 401, 'unauthorized', [unbound]);

    // Nothing was appended by the refused requests.
    const messages = await fetch(t.baseUrl + routes.messages(ORG, AGENT, task.id), { headers: bearer(user) });
    expect(((await messages.json()) as { lastSeq: number }).lastSeq).toBe(1);
  });

  it('are refused on every user route and on the stream route', async () => {
    const task = await t.createTask();
    const agent = t.agentToken();
    const requests: Array<[string, RequestInit]> = [
      [
        routes.tasks(ORG, AGENT),
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' },
      ],
      [routes.tasks(ORG, AGENT), {}],
      [routes.task(ORG, AGENT, task.id), {}],
      [routes.streamToken(ORG, AGENT, task.id), { method: 'POST' }],
      [routes.messages(ORG, AGENT, task.id), {}],
      [routes.cancel(ORG, AGENT, task.id), { method: 'POST' }],
      [routes.stream(ORG, AGENT, task.id), {}],
    ];
    for (const [path, init] of requests) {
      const reply = await call(t.baseUrl + path, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), ...bearer(agent) },
      });
      expectError(reply, 401, 'unauthorized', [agent]);
    }
  });
});

describe('bearer tokens already verified', () => {
  let noSkew: TestApp;
  beforeAll(async () => {
    noSkew = await startTestApp({ JWT_CLOCK_SKEW_SECONDS: '0' });
  });
  afterAll(() => noSkew?.close());

  const agentSign = (exp: number) =>
    sign({ sub: `${ORG}/${AGENT}`, org: ORG, agent: AGENT, aud: 'agent', exp }, noSkew.config.jwtSecret);
  const appendWith = (taskId: string, token: string, text: string) =>
    call(noSkew.baseUrl + routes.events(ORG, AGENT, taskId), {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify(textChunk(text)),
    });

  it('are checked once per token, not on every request', async () => {
    const task = await noSkew.createTask();
    const agent = agentSign(nowSec() + 600);
    const user = sign({ sub: 'alice', aud: 'user', exp: nowSec() + 600 }, noSkew.config.jwtSecret);
    const verify = vi.spyOn(JwtCrypto, 'verify');
    try {
      for (let i = 0; i < 5; i++) expect((await appendWith(task.id, agent, `c${i}`)).status).toBe(200);
      for (let i = 0; i < 3; i++)
        expect(
          (await call(noSkew.baseUrl + routes.tasks(ORG, AGENT), { headers: bearer(user) })).status,
        ).toBe(200);
      expect(verify).toHaveBeenCalledTimes(2);
    } finally {
      verify.mockRestore();
    }
  });

  it('stay accepted only until they expire', async () => {
    const task = await noSkew.createTask();
    const exp = nowSec() + 2;
    const agent = agentSign(exp);
    const user = sign({ sub: 'alice', aud: 'user', exp }, noSkew.config.jwtSecret);
    const list = () => call(noSkew.baseUrl + routes.tasks(ORG, AGENT), { headers: bearer(user) });
    expect((await appendWith(task.id, agent, 'a')).status).toBe(200);
    expect((await appendWith(task.id, agent, 'b')).status).toBe(200);
    expect((await list()).status).toBe(200);
    expect((await list()).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    expectError(await appendWith(task.id, agent, 'c'), 401, 'unauthorized', [agent]);
    expectError(await list(), 401, 'unauthorized', [user]);
  });

  it('are known by their exact bytes: the same claims with another signature are checked afresh', async () => {
    const task = await noSkew.createTask();
    const agent = agentSign(nowSec() + 600);
    expect((await appendWith(task.id, agent, 'a')).status).toBe(200);
    const [header, payload] = agent.split('.');
    const forged = `${header}.${payload}.${signatureOf(sign({ x: 1 }, 'not-the-secret'))}`;
    expectError(await appendWith(task.id, forged, 'b'), 401, 'unauthorized', [forged]);
    const otherKey = sign(Jwt.token.decode(agent).decoded.payload, 'not-the-secret');
    expectError(await appendWith(task.id, otherKey, 'c'), 401, 'unauthorized', [otherKey]);
    const messages = await fetch(noSkew.baseUrl + routes.messages(ORG, AGENT, task.id), {
      headers: bearer(noSkew.userToken()),
    });
    expect(((await messages.json()) as { lastSeq: number }).lastSeq).toBe(1);
  });
});

describe('dev token route', () => {
  const devToken = (app: TestApp, body: unknown) =>
    fetch(app.baseUrl + routes.devToken, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('issues user tokens in dev mode that work on user routes', async () => {
    const res = await devToken(t, { sub: 'dave', role: 'user' });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; expiresAt: string };
    expect(Object.keys(body).sort()).toEqual(['expiresAt', 'token']);
    expect(new Date(body.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const payload = Jwt.token.decode(body.token).decoded.payload as Record<string, unknown>;
    expect(payload).toMatchObject({ sub: 'dave', aud: 'user' });
    expect(payload.exp).toBe(Math.floor(new Date(body.expiresAt).getTime() / 1000));
    const create = await fetch(t.baseUrl + routes.tasks(ORG, AGENT), {
      method: 'POST',
      headers: { ...bearer(body.token), 'content-type': 'application/json' },
      body: '{}',
    });
    expect(create.status).toBe(201);
    // role defaults to user
    const plain = await devToken(t, { sub: 'dave' });
    expect(plain.status).toBe(200);
  });

  it('issues agent tokens bound to org/agent that work on the append route', async () => {
    const task = await t.createTask();
    const res = await devToken(t, { sub: 'bot', role: 'agent', org: ORG, agent: AGENT });
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(Jwt.token.decode(token).decoded.payload).toMatchObject({ aud: 'agent', org: ORG, agent: AGENT });
    const append = await fetch(t.baseUrl + routes.events(ORG, AGENT, task.id), {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify(textChunk('x', false)),
    });
    expect(append.status).toBe(200);
    // …and not on the user routes.
    expectError(
      await call(t.baseUrl + routes.tasks(ORG, AGENT), { headers: bearer(token) }),
      401,
      'unauthorized',
    );
  });

  it('answers 400 JSON for an agent token without org and agent, or a bad body', async () => {
    const bad = [
      { sub: 'bot', role: 'agent' },
      { sub: 'bot', role: 'agent', org: ORG },
      { sub: 'bot', role: 'agent', agent: AGENT },
      { role: 'user' },
      { sub: '', role: 'user' },
      { sub: 'x', role: 'admin' },
    ];
    for (const body of bad) {
      const res = await devToken(t, body);
      const reply = { status: res.status, text: await res.text(), body: {} as ErrorReply['body'] };
      reply.body = JSON.parse(reply.text);
      expectError(reply, 400, 'bad_request');
    }
  });

  it('does not exist in production mode (404 JSON)', async () => {
    expect(prod.config.authMode).toBe('production');
    const res = await devToken(prod, { sub: 'dave', role: 'user' });
    const text = await res.text();
    expectError({ status: res.status, text, body: JSON.parse(text) }, 404, 'not_found');
    // Production still accepts its own HS256 user tokens.
    const token = sign({ sub: 'dave', aud: 'user', exp: nowSec() + 60 }, 'x');
    const list = await fetch(prod.baseUrl + routes.tasks(ORG, AGENT), { headers: bearer(token) });
    expect(list.status).toBe(200);
  });
});

describe('stream token response', () => {
  async function mint(app: TestApp) {
    const task = await app.createTask('erin');
    const before = nowSec();
    const res = await fetch(app.baseUrl + routes.streamToken(ORG, AGENT, task.id), {
      method: 'POST',
      headers: bearer(app.userToken('erin')),
    });
    expect(res.status).toBe(200);
    // A token response must not be stored by any cache.
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as { token: string; expiresAt: string; streamUrl: string };
    return { task, before, body };
  }

  it.each([
    ['default', () => t, 300],
    ['STREAM_TOKEN_TTL_SECONDS=10', () => short, 10],
  ])(
    'has shape {token, expiresAt, streamUrl} and a JWT bound to user and task (%s)',
    async (_name, app, ttl) => {
      const { task, before, body } = await mint(app());
      expect(Object.keys(body).sort()).toEqual(['expiresAt', 'streamUrl', 'token']);
      expect(body.streamUrl).toBe(routes.stream(ORG, AGENT, task.id));
      const { header, payload } = Jwt.token.decode(body.token).decoded as {
        header: Record<string, unknown>;
        payload: Record<string, unknown>;
      };
      expect(header.alg).toBe('HS256');
      expect(payload).toMatchObject({ aud: 'stream', sub: 'erin', taskId: task.id });
      const exp = payload.exp as number;
      expect(exp).toBeGreaterThanOrEqual(before + ttl - 1);
      expect(exp).toBeLessThanOrEqual(nowSec() + ttl + 1);
      expect(new Date(body.expiresAt).getTime()).toBe(exp * 1000);
      expect(body.expiresAt).toMatch(/Z$/);
    },
  );

  it('a fresh 10 s stream token opens the stream; the same claims past exp + skew are token_expired', async () => {
    const { task, body } = await mint(short);
    const url = short.baseUrl + body.streamUrl + `?token=${encodeURIComponent(body.token)}`;
    const open = await readSse(url, { until: (f) => f.length >= 1 });
    expect(open.status).toBe(200);
    // A token with the same claims but already past exp + skew is refused as expired.
    const stale = sign(
      { sub: 'erin', taskId: task.id, aud: 'stream', exp: nowSec() - short.config.clockSkewSeconds - 1 },
      short.config.streamTokenSecret,
    );
    expectError(await call(short.streamUrl(task.id, { token: stale })), 401, 'token_expired', [stale]);
  });
});
