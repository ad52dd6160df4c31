/**
 * Helpers for the Service Worker browser tests: tasks driven by the test as their agent, demo-app
 * tabs with short stream timings, what a tab renders, and what the server counts
 * (`a2a_sse_active_streams` from /metrics; never Playwright's request events, which drift when a
 * worker is stopped mid-stream).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, test, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { agentToken, devToken, metric, type RunningApi } from './server.js';

/** What the demo app reads from `window.A2A_DEMO_STREAM_OPTIONS` (web/src/app/main.ts). */
export interface StreamOptions {
  keepAliveMs?: number;
  workerTimeoutMs?: number;
  config?: Record<string, number | boolean>;
}

/** API settings that keep the tests short: heartbeats every second, a short SSE `retry:`. */
export const FAST_API_ENV: Record<string, string> = {
  SSE_HEARTBEAT_SECONDS: '1',
  SSE_RETRY_MS: '200',
  // Tokens are minted per connection; the failure tests reconnect often.
  STREAM_TOKEN_RATE_PER_TASK: '1000',
  STREAM_TOKEN_RATE_PER_USER: '5000',
};

/** Short client timings (defaults in sw/src/shared/config.ts). */
export const FAST: StreamOptions = {
  keepAliveMs: 2000,
  // Generous: on a loaded machine the first tab's worker install (precaching) can take a while.
  workerTimeoutMs: 30_000,
  config: {
    backoffBaseMs: 200,
    backoffMaxMs: 1000,
    quietReconnectMs: 500,
    healthyStreamMs: 1500,
    firstFrameTimeoutMs: 4000,
    idleTimeoutMs: 5000,
    pollIntervalMs: 500,
    streamRetryAfterMs: 3000,
    sweepIntervalMs: 1000,
    tokenTimeoutMs: 4000,
    userTokenReuseMs: 5000,
  },
};

export const USER = 'sw-e2e';
export const ORG = 'acme';
export const AGENT = 'writer';

// ------------------------------------------------------------------------------------- tasks

export interface Task {
  org: string;
  agent: string;
  id: string;
  user: string;
}

const agentTokens = new Map<string, string>();

async function agentAuth(api: RunningApi, org: string, agent: string): Promise<string> {
  const key = `${api.baseUrl} ${org}/${agent}`;
  let token = agentTokens.get(key);
  if (!token) agentTokens.set(key, (token = await agentToken(api.baseUrl, org, agent)));
  return token;
}

/** A task created by `user` through the REST route, worked on by the test as its agent. */
export async function createTask(api: RunningApi, user = USER, org = ORG, agent = AGENT): Promise<Task> {
  const token = await devToken(api.baseUrl, user);
  const res = await fetch(`${api.baseUrl}/agent-to-agent/${org}/${agent}/tasks`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(res.status, await res.clone().text()).toBe(201);
  const { id } = (await res.json()) as { id: string };
  return { org, agent, id, user };
}

/** Appends events as the agent; returns their seqs. */
export async function appendEvents(api: RunningApi, task: Task, events: unknown[]): Promise<number[]> {
  const token = await agentAuth(api, task.org, task.agent);
  const res = await fetch(`${api.baseUrl}/agent-to-agent/${task.org}/${task.agent}/tasks/${task.id}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return ((await res.json()) as { seqs: number[] }).seqs;
}

export const chunk = (text: string) => ({
  artifactUpdate: { artifact: { artifactId: 'a', parts: [{ text }] }, append: true },
});
export const status = (state: string) => ({ statusUpdate: { status: { state } } });

/** Appends text chunks `<label><from>;` … `<label><from+count-1>;`, one request each; returns the seqs. */
export async function appendChunks(
  api: RunningApi,
  task: Task,
  count: number,
  { label = 'c', from = 0, gapMs = 0 }: { label?: string; from?: number; gapMs?: number } = {},
): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = from; i < from + count; i++) {
    seqs.push(...(await appendEvents(api, task, [chunk(`${label}${i};`)])));
    if (gapMs > 0) await sleep(gapMs);
  }
  return seqs;
}

// ------------------------------------------------------------------------------------- tabs

/**
 * A fresh browser context (no registration, empty IndexedDB) whose tabs use `options`; every tab
 * records its `postMessage`s to the worker in `window.__swPosts` (type and page time) and the
 * connection reports its task element got in `window.__connections`.
 */
export async function newStreamContext(
  browser: Browser,
  options: StreamOptions = FAST,
): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript((opts) => {
    const w = window as unknown as {
      A2A_DEMO_STREAM_OPTIONS: unknown;
      __swPosts: { type: unknown; at: number }[];
      __swReceived: { type: unknown; events: number }[];
      __connections: { state: string; transport: string; at: number }[];
    };
    w.A2A_DEMO_STREAM_OPTIONS = opts;
    w.__swPosts = [];
    w.__swReceived = [];
    w.__connections = [];
    // What the connection indicator was told, in order (the events bubble out of the element).
    document.addEventListener('a2a-connection-change', (e) => {
      const d = (e as CustomEvent<{ state: string; transport: string }>).detail;
      w.__connections.push({ state: d.state, transport: d.transport, at: Date.now() });
    });
    if (typeof ServiceWorker === 'undefined') return;
    navigator.serviceWorker.addEventListener('message', (e: MessageEvent) => {
      const msg = e.data as { type?: unknown; events?: unknown[] } | null;
      w.__swReceived.push({ type: msg?.type, events: Array.isArray(msg?.events) ? msg.events.length : 0 });
    });
    const original = ServiceWorker.prototype.postMessage;
    ServiceWorker.prototype.postMessage = function (this: ServiceWorker, ...args: unknown[]) {
      const msg = args[0] as { type?: unknown } | null;
      w.__swPosts.push({ type: msg?.type, at: Date.now() });
      return (original as (...a: unknown[]) => void).apply(this, args);
    } as typeof original;
  }, options);
  return context;
}

export function taskUrl(api: RunningApi, task: Task): string {
  return `${api.baseUrl}/tasks/${task.org}/${task.agent}/${task.id}?user=${encodeURIComponent(task.user)}`;
}

/** Opens the demo task page in a new tab. */
export async function openTask(context: BrowserContext, api: RunningApi, task: Task): Promise<Page> {
  const page = await context.newPage();
  await page.goto(taskUrl(api, task));
  return page;
}

/** Opens the task page and waits until the Service Worker serves it live. */
export async function openLiveTask(context: BrowserContext, api: RunningApi, task: Task): Promise<Page> {
  const page = await openTask(context, api, task);
  await expectLive(page);
  return page;
}

/**
 * Opens task pages, each waiting until it is live: the first alone (it installs the worker), the
 * rest `concurrency` at a time.
 */
export async function openLiveTasks(
  context: BrowserContext,
  api: RunningApi,
  tasks: Task[],
  concurrency = 3,
): Promise<Page[]> {
  const pages: Page[] = [];
  if (tasks.length === 0) return pages;
  pages.push(await openLiveTask(context, api, tasks[0]!));
  for (let i = 1; i < tasks.length; i += concurrency) {
    pages.push(
      ...(await Promise.all(tasks.slice(i, i + concurrency).map((t) => openLiveTask(context, api, t)))),
    );
  }
  return pages;
}

export interface Connection {
  state?: string;
  transport?: string;
  via?: string;
  reason?: string;
}

/** The `<a2a-task-stream>`'s latest connection info (read-only getter). */
export async function connection(page: Page): Promise<Connection> {
  return page.locator('#task-stream').evaluate((el) => {
    const c = (el as unknown as { connection?: Connection }).connection;
    return c ? { state: c.state, transport: c.transport, via: c.via, reason: c.reason } : {};
  });
}

/** What the person sees of the connection: the indicator's state and label. */
export function connectionBase(page: Page) {
  return page.locator('#task-stream a2a-connection-status [part="base"]');
}
export function connectionLabel(page: Page) {
  return page.locator('#task-stream a2a-connection-status [part="label"]');
}

/** The tab shows "Live", served by the Service Worker (not a page fallback). */
export async function expectLive(page: Page, transport: 'worker' | 'polling' = 'worker'): Promise<void> {
  await expect(connectionBase(page)).toHaveAttribute('data-state', 'open', { timeout: 30_000 });
  await expect(connectionLabel(page)).toHaveText('Live');
  await expect(page.locator('#transport')).toHaveAttribute('data-via', 'worker');
  await expect(page.locator('#transport')).toHaveAttribute('data-transport', transport, { timeout: 30_000 });
}

/** The seqs of the rendered log entries, in DOM order (duplicates kept). */
export async function renderedSeqs(page: Page): Promise<number[]> {
  return page
    .locator('#task-stream [part="event"][data-seq]')
    .evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seq'))));
}

export const range = (from: number, to: number) =>
  Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** expect.poll intervals: short, the timings under test are short. */
export const POLL = [50, 100, 200, 250];

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

/** The tab shows exactly seqs 1..n: every event, none twice. */
export async function expectSeqs(page: Page, n: number, timeout = 15_000): Promise<void> {
  await expectSeqList(page, range(1, n), timeout);
}

/** The tab's log holds exactly these seqs, each once. */
export async function expectSeqList(page: Page, seqs: number[], timeout = 15_000): Promise<void> {
  await expect
    .poll(async () => sorted(await renderedSeqs(page)), {
      timeout,
      intervals: POLL,
      message: `rendered seqs of ${page.url()}`,
    })
    .toEqual(seqs);
}

/** The artifact text the tab shows (chunks appended in order). */
export function artifactText(page: Page) {
  return page.locator('#task-stream [part="artifact-text"]');
}

export function chunkText(count: number, label = 'c', from = 0): string {
  return range(from, from + count - 1)
    .map((i) => `${label}${i};`)
    .join('');
}

/** The element's folded task state (`taskState` getter). */
export async function taskState(page: Page): Promise<{
  state?: string;
  seq: number;
  historyTruncated?: boolean;
  earliestSeq?: number;
  final?: boolean;
  log: number;
}> {
  return page.locator('#task-stream').evaluate((el) => {
    const s = (el as unknown as { taskState: Record<string, unknown> & { log: unknown[] } }).taskState;
    return {
      state: s.state as string | undefined,
      seq: s.seq as number,
      historyTruncated: s.historyTruncated as boolean | undefined,
      earliestSeq: s.earliestSeq as number | undefined,
      final: s.final as boolean | undefined,
      log: s.log.length,
    };
  });
}

/** The connection reports the tab's element received, in order. */
export async function connectionHistory(
  page: Page,
): Promise<{ state: string; transport: string; at: number }[]> {
  return page.evaluate(
    () =>
      (window as unknown as { __connections: { state: string; transport: string; at: number }[] })
        .__connections,
  );
}

/** The page's recorded postMessages to the worker. */
export async function workerPosts(page: Page): Promise<{ type: unknown; at: number }[]> {
  return page.evaluate(() => (window as unknown as { __swPosts: { type: unknown; at: number }[] }).__swPosts);
}

/** The messages the worker sent the tab, in order: type, and how many events an `events` one held. */
export async function workerMessages(page: Page): Promise<{ type: unknown; events: number }[]> {
  return page.evaluate(
    () => (window as unknown as { __swReceived: { type: unknown; events: number }[] }).__swReceived,
  );
}

// ------------------------------------------------------------------------------------- server count

export const activeStreams = (api: RunningApi) => metric(api.baseUrl, 'a2a_sse_active_streams');

/** Waits until the server counts `value` open SSE streams. */
export async function expectStreams(api: RunningApi, value: number, timeout = 15_000): Promise<void> {
  await expect
    .poll(() => activeStreams(api), { timeout, message: 'a2a_sse_active_streams', intervals: POLL })
    .toBe(value);
}

/** Samples the server's stream gauge every `everyMs` until `stop()`: the highest value seen. */
export function sampleStreams(api: RunningApi, everyMs = 100) {
  let max = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const v = await activeStreams(api);
        if (Number.isFinite(v)) {
          max = Math.max(max, v);
          samples++;
        }
      } catch {
        // the API is restarting
      }
      await sleep(everyMs);
    }
  })();
  return {
    get max() {
      return max;
    },
    async stop(): Promise<{ max: number; samples: number }> {
      running = false;
      await loop;
      return { max, samples };
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------- worker

/** Stops every Service Worker of the context through the DevTools protocol. */
export async function stopWorkers(context: BrowserContext, page: Page): Promise<void> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('ServiceWorker.enable');
  await cdp.send('ServiceWorker.stopAllWorkers');
  await cdp.detach();
}

// ------------------------------------------------------------------------------------- figures

/**
 * Prints measured figures and merges them into `sw-figures.json` in the run's output directory
 * (e2e/test-results unless `--output` says otherwise).
 */
export function recordFigures(figures: Record<string, unknown>): void {
  const figuresFile = join(test.info().project.outputDir, 'sw-figures.json');
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(readFileSync(figuresFile, 'utf8')) as Record<string, unknown>;
  } catch {
    all = {};
  }
  Object.assign(all, figures);
  mkdirSync(dirname(figuresFile), { recursive: true });
  writeFileSync(figuresFile, `${JSON.stringify(all, null, 2)}\n`);
  console.log(`[sw-figures] ${JSON.stringify(figures)}`);
}
