/**
 * A real API on a loopback port with a real (embedded or MONGODB_URI) database, for integration
 * tests. Logs are captured so tests can read every line the server wrote.
 */
import { Writable } from 'node:stream';
import { EventSource } from 'eventsource';
import { loadConfig, type Config } from '../config.js';
import { createLogger } from '../logging.js';
import { createServer, type App, type AppDependencies } from '../server.js';
import { mintDevToken } from '../auth/tokens.js';
import { useTestDatabase, type TestDatabase } from './database.js';
import { routes, DEMO_AGENT, DEMO_ORG, type WireTask } from '@orchestrator-ai/transport-types';
import { ClientFactory, JsonRpcTransportFactory, type Client as A2AClient } from '@a2a-js/sdk/client';

export interface TestApp {
  app: App;
  config: Config;
  baseUrl: string;
  database: TestDatabase;
  /** Every log line written so far (raw JSON text). */
  logs: string[];
  userToken(sub?: string, ttlSeconds?: number): string;
  agentToken(org?: string, agent?: string): string;
  /** Creates a task as `sub` under org/agent (defaults: a plain org, so no simulator runs). */
  createTask(sub?: string, org?: string, agent?: string, body?: object): Promise<WireTask>;
  streamToken(taskId: string, sub?: string, org?: string, agent?: string): Promise<string>;
  append(taskId: string, body: object, org?: string, agent?: string): Promise<Response>;
  streamUrl(taskId: string, query?: Record<string, string>, org?: string, agent?: string): string;
  close(): Promise<void>;
}

export const ORG = 'acme';
export const AGENT = 'writer';

export async function startTestApp(
  env: Record<string, string> = {},
  dependencies: Pick<AppDependencies, 'limiter'> = {},
): Promise<TestApp> {
  const database = await useTestDatabase();
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    JWT_SECRET: 'test-secret-' + Math.random(),
    ...env,
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ level: env.LOG_LEVEL ?? 'info', destination });
  const app = await createServer({ config, database: database.database, logger, ...dependencies });
  await app.server.start();
  const baseUrl = app.server.info.uri;
  const devSettings = {
    secret: config.jwtSecret,
    ttlSeconds: 3600,
    userAudience: config.userTokenAudience,
    agentAudience: config.agentTokenAudience,
  };
  const userToken = (sub = 'alice', ttlSeconds = 3600) =>
    mintDevToken({ ...devSettings, ttlSeconds }, { sub, role: 'user' }).token;
  const agentToken = (org = ORG, agent = AGENT) =>
    mintDevToken(devSettings, { sub: `${org}/${agent}`, role: 'agent', org, agent }).token;

  const t: TestApp = {
    app,
    config,
    baseUrl,
    database,
    logs,
    userToken,
    agentToken,
    async createTask(sub = 'alice', org = ORG, agent = AGENT, body = {}) {
      const res = await fetch(baseUrl + routes.tasks(org, agent), {
        method: 'POST',
        headers: { authorization: `Bearer ${userToken(sub)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`create task: ${res.status} ${await res.text()}`);
      return (await res.json()) as WireTask;
    },
    async streamToken(taskId, sub = 'alice', org = ORG, agent = AGENT) {
      const res = await fetch(baseUrl + routes.streamToken(org, agent, taskId), {
        method: 'POST',
        headers: { authorization: `Bearer ${userToken(sub)}` },
      });
      if (res.status !== 200) throw new Error(`stream token: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    append(taskId, body, org = ORG, agent = AGENT) {
      return fetch(baseUrl + routes.events(org, agent, taskId), {
        method: 'POST',
        headers: { authorization: `Bearer ${agentToken(org, agent)}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    },
    streamUrl(taskId, query = {}, org = ORG, agent = AGENT) {
      const qs = new URLSearchParams(query).toString();
      return `${baseUrl}${routes.stream(org, agent, taskId)}${qs ? `?${qs}` : ''}`;
    },
    async close() {
      await app.server.stop({ timeout: 2000 });
      await database.close();
    },
  };
  return t;
}

export { DEMO_AGENT, DEMO_ORG, EventSource };

/** A status update event body. */
export function status(state: string, text?: string) {
  return {
    statusUpdate: {
      status: {
        state,
        ...(text
          ? { message: { messageId: `m-${Math.random()}`, role: 'ROLE_AGENT', parts: [{ text }] } }
          : {}),
      },
    },
  };
}

export function textChunk(text: string, append = true, artifactId = 'out') {
  return { artifactUpdate: { artifact: { artifactId, parts: [{ text }] }, append } };
}

export interface SseFrame {
  id?: string;
  event?: string;
  data: string;
}

/**
 * Reads an SSE response over fetch, frame by frame (a minimal spec parser: tests need to see
 * exact ids, comments and where the server closes).
 */
export async function readSse(
  url: string,
  options: {
    headers?: Record<string, string>;
    until?: (frames: SseFrame[]) => boolean;
    timeoutMs?: number;
    signal?: AbortSignal;
  } = {},
): Promise<{
  status: number;
  headers: Headers;
  frames: SseFrame[];
  comments: string[];
  closedByServer: boolean;
  raw: string;
}> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 10_000);
  options.signal?.addEventListener('abort', () => controller.abort());
  const res = await fetch(url, { headers: options.headers ?? {}, signal: controller.signal });
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  let raw = '';
  let closedByServer = false;
  if (res.status === 200 && res.body) {
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          closedByServer = true;
          break;
        }
        raw += value;
        buffer += value;
        let index: number;
        while ((index = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, index);
          buffer = buffer.slice(index + 2);
          const frame = parseSseBlock(block, comments);
          if (frame) frames.push(frame);
        }
        if (options.until?.(frames)) {
          controller.abort();
          break;
        }
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  }
  clearTimeout(timer);
  return { status: res.status, headers: res.headers, frames, comments, closedByServer, raw };
}

/** One SSE block (the text between blank lines): its frame when it has data; comments collected. */
function parseSseBlock(block: string, comments: string[]): SseFrame | undefined {
  const frame: SseFrame = { data: '' };
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) comments.push(line.slice(1).trim());
    else if (line.startsWith('data: ')) data.push(line.slice(6));
    else if (line.startsWith('id: ')) frame.id = line.slice(4);
    else if (line.startsWith('event: ')) frame.event = line.slice(7);
  }
  if (data.length === 0) return undefined;
  frame.data = data.join('\n');
  return frame;
}

export const seqsOf = (frames: SseFrame[]) => frames.slice(1).map((f) => Number(f.id));

/** The official `@a2a-js/sdk` client for org/agent, built from its agent card, authenticated as `sub`. */
export async function a2aClient(
  t: TestApp,
  org = DEMO_ORG,
  agent = DEMO_AGENT,
  sub = 'alice',
): Promise<A2AClient> {
  const token = t.userToken(sub);
  const fetchImpl: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('authorization', `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory({ transports: [new JsonRpcTransportFactory({ fetchImpl })] });
  // The card path is resolved relative to the base, so the base needs its trailing slash.
  return factory.createFromUrl(`${t.baseUrl}${routes.agentBase(org, agent)}/`);
}

/** POSTs a raw JSON-RPC body to org/agent with `A2A-Version: 1.0` and a user token (override via `headers`). */
export function a2aPost(
  t: TestApp,
  body: unknown,
  options: {
    org?: string;
    agent?: string;
    sub?: string;
    headers?: Record<string, string>;
    suffix?: string;
  } = {},
): Promise<Response> {
  const { org = DEMO_ORG, agent = DEMO_AGENT, sub = 'alice', suffix = '' } = options;
  return fetch(`${t.baseUrl}${routes.agentBase(org, agent)}${suffix}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'a2a-version': '1.0',
      authorization: `Bearer ${t.userToken(sub)}`,
      ...options.headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The SSE frames of a response body, read until the server closes it (or `until` says stop). */
export async function sseFrames(
  res: Response,
  until?: (frames: SseFrame[], comments: string[]) => boolean,
): Promise<{ frames: SseFrame[]; comments: string[]; closedByServer: boolean }> {
  const frames: SseFrame[] = [];
  const comments: string[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { frames, comments, closedByServer: true };
    buffer += value;
    let index: number;
    while ((index = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, index);
      buffer = buffer.slice(index + 2);
      const frame = parseSseBlock(block, comments);
      if (frame) frames.push(frame);
    }
    if (until?.(frames, comments)) {
      await reader.cancel();
      return { frames, comments, closedByServer: false };
    }
  }
}

/** A response body as JSON, loosely typed for assertions. */
export const json = (res: Response): Promise<any> => res.json();
