import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type {
  ConnectionInfo,
  SnapshotTask,
  StreamConfigInput,
  TaskEvent,
  TaskStreamListener,
  WorkerToPage,
} from '@orchestrator-ai/transport-types';
import { FakeNet, tick, until } from '../test-support/fake-net.js';
import { FakeTaskServer } from '../test-support/fake-server.js';
import { StreamStore } from '../worker/db.js';
import { StreamManager } from '../worker/manager.js';

const API = 'https://app.test';
const FAST: StreamConfigInput = {
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  honorServerRetry: false,
  healthyStreamMs: 0,
  pollIntervalMs: 10,
  tokenTimeoutMs: 100,
};

class Recorder implements TaskStreamListener {
  seqs: number[] = [];
  snapshots: SnapshotTask[] = [];
  infos: ConnectionInfo[] = [];
  onEvent(e: TaskEvent) {
    this.seqs.push(e.seq);
  }
  onSnapshot(s: SnapshotTask) {
    this.snapshots.push(s);
  }
  onConnection(i: ConnectionInfo) {
    this.infos.push(i);
  }
  get info() {
    return this.infos.at(-1);
  }
}

function servers(net: FakeNet) {
  const map = new Map<string, FakeTaskServer>();
  return (taskId: string) => {
    let s = map.get(taskId);
    if (!s) {
      s = new FakeTaskServer(net, taskId).routes();
      map.set(taskId, s);
    }
    return s;
  };
}

const target = (taskId: string) => ({ org: 'o', agent: 'a', taskId });

describe('createTaskStreamClient without a Service Worker (direct from the page)', () => {
  // vitest runs in Node: no navigator.serviceWorker, so `auto` connects from the page.
  let dispose: (() => void) | undefined;
  afterEach(() => dispose?.());

  async function make(
    config: StreamConfigInput = {},
    getAccessToken: () => string | Promise<string> = () => 'user-secret',
  ) {
    const { createTaskStreamClient } = await import('./index.js');
    const net = new FakeNet();
    const server = servers(net);
    const client = createTaskStreamClient({
      apiBase: API,
      getAccessToken,
      fetch: net.fetch,
      config: { ...FAST, ...config },
    });
    dispose = () => client.dispose();
    return { client, net, server };
  }

  it('mints a stream token with the user token and streams the task to the listener', async () => {
    const { client, net, server } = await make();
    server('t1').append(2);
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    await until(() => expect(rec.seqs).toEqual([1, 2]));
    server('t1').append(1);
    await until(() => expect(rec.seqs).toEqual([1, 2, 3]));
    expect(await client.mode).toBe('direct');
    expect(rec.snapshots[0]!.metadata.seq).toBe(2);
    expect(rec.info).toEqual({ state: 'open', transport: 'direct', via: 'page' });
    const mint = net.seen('/t1/stream-token')[0]!;
    expect(mint.method).toBe('POST');
    expect(mint.headers.get('authorization')).toBe('Bearer user-secret');
    expect(net.seen('/t1/stream')[0]!.url.searchParams.get('token')).toBe('stream-t1-1');
    expect(net.seen('/t1/stream')[0]!.url.pathname).toBe('/agent-to-agent/o/a/tasks/t1/stream');
  });

  it('shares one connection between listeners of the page; a late one gets the history', async () => {
    const { client, net, server } = await make();
    server('t1').append(3);
    const a = new Recorder();
    const subA = client.watch(target('t1'), a);
    await until(() => expect(a.seqs).toEqual([1, 2, 3]));
    const b = new Recorder();
    const subB = client.watch(target('t1'), b);
    expect(b.seqs).toEqual([1, 2, 3]);
    server('t1').append(1);
    await until(() => expect(b.seqs).toEqual([1, 2, 3, 4]));
    expect(a.seqs).toEqual([1, 2, 3, 4]);
    expect(net.seen('/t1/stream')).toHaveLength(1);
    subA.close();
    await tick(10);
    expect(server('t1').open.size).toBe(1);
    subB.close();
    await until(() => expect(server('t1').open.size).toBe(0));
    server('t1').append(1);
    await tick(20);
    expect(b.seqs).toEqual([1, 2, 3, 4]);
  });

  it('reports an auth error when the host app has no user token', async () => {
    const { client, net } = await make({}, () => {
      throw new Error('signed out');
    });
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    await until(() => expect(rec.info?.state).toBe('error'));
    expect(rec.info).toMatchObject({ status: 401, via: 'page' });
    expect(net.requests).toHaveLength(0);
  });

  it('keeps to the stream budget and polls the other tasks', async () => {
    const { client, net, server } = await make({ maxStreamsHttp1: 2 });
    const ids = ['t1', 't2', 't3', 't4'];
    const recs = ids.map(() => new Recorder());
    for (const [i, id] of ids.entries()) {
      server(id).append(1);
      client.watch(target(id), recs[i]!);
    }
    await until(() => expect(ids.filter((id) => server(id).open.size > 0)).toEqual(['t1', 't2']));
    for (const id of ids) server(id).append(1);
    await until(() => recs.forEach((r) => expect(r.seqs).toEqual([1, 2])));
    expect(recs[3]!.info).toMatchObject({ state: 'open', transport: 'polling', via: 'page' });
    expect(net.seen('/t4/messages')[0]!.headers.get('authorization')).toBe('Bearer user-secret');
    expect(net.seen('/t4/stream')).toHaveLength(0);
  });
});

// ------------------------------------------------------------------ with a (simulated) worker

/**
 * A page with `navigator.serviceWorker` whose worker is a real StreamManager in this process:
 * messages cross as structured clones, as they would between a page and its worker.
 */
function fakeBrowser(
  pageId: string,
  manager: () => StreamManager,
  deliveries: Map<string, (m: WorkerToPage) => void>,
) {
  const container = new EventTarget() as EventTarget & {
    controller: unknown;
    startMessages(): void;
  };
  const worker = {
    postMessage: (msg: unknown) => void manager().handleMessage(structuredClone(msg), pageId),
  };
  container.controller = worker;
  container.startMessages = () => undefined;
  deliveries.set(pageId, (m) => {
    const ev = new MessageEvent('message', { data: structuredClone(m) });
    Object.defineProperty(ev, 'source', { value: worker });
    container.dispatchEvent(ev);
  });
  const win = Object.assign(new EventTarget(), {
    isSecureContext: true,
    location: { origin: API, href: `${API}/tasks/o/a/t1` },
  });
  const doc = Object.assign(new EventTarget(), { visibilityState: 'visible' });
  return {
    install() {
      vi.stubGlobal('navigator', { serviceWorker: container, onLine: true });
      vi.stubGlobal('window', win);
      vi.stubGlobal('document', doc);
      vi.stubGlobal('location', win.location);
    },
    doc,
    win,
    worker,
  };
}

vi.mock('workbox-window', () => ({
  Workbox: class {
    register() {
      const nav = globalThis.navigator as unknown as { serviceWorker: { controller: unknown } };
      return Promise.resolve({ active: nav.serviceWorker.controller });
    }
    get active() {
      return Promise.resolve(
        (globalThis.navigator as unknown as { serviceWorker: { controller: unknown } }).serviceWorker
          .controller,
      );
    }
  },
}));

describe('createTaskStreamClient with the Service Worker', () => {
  let manager: StreamManager;
  let net: FakeNet;
  let server: (id: string) => FakeTaskServer;
  const deliveries = new Map<string, (m: WorkerToPage) => void>();
  const alive = new Set<string>();
  const posted: WorkerToPage[] = [];
  let swCounter = 0;

  beforeEach(() => {
    net = new FakeNet();
    server = servers(net);
    deliveries.clear();
    alive.clear();
    posted.length = 0;
    manager = new StreamManager({
      store: new StreamStore(`client-${Math.random()}`),
      fetch: net.fetch,
      config: FAST,
      clients: {
        post: (id, msg) => {
          const deliver = deliveries.get(id);
          if (!deliver || !alive.has(id)) return false;
          posted.push(msg);
          setTimeout(() => deliver(msg), 0);
          return true;
        },
        liveClientIds: () => Promise.resolve(new Set(alive)),
      },
    });
  });

  afterEach(async () => {
    await manager.dispose();
    vi.unstubAllGlobals();
  });

  async function page(id: string, options: { keepAliveMs?: number; workerTimeoutMs?: number } = {}) {
    const env = fakeBrowser(id, () => manager, deliveries);
    env.install();
    alive.add(id);
    const { createTaskStreamClient } = await import('./index.js');
    const client = createTaskStreamClient({
      apiBase: API,
      getAccessToken: () => 'user-secret',
      fetch: net.fetch,
      swUrl: `/sw-${++swCounter}.js`,
      keepAliveMs: options.keepAliveMs ?? 60_000,
      workerTimeoutMs: options.workerTimeoutMs ?? 2000,
      config: FAST,
    });
    return { client, env };
  }

  it('subscribes through the worker, answers its token request, and delivers in order', async () => {
    const { client } = await page('tab-1');
    server('t1').append(2);
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    expect(await client.mode).toBe('worker');
    await until(() => expect(rec.seqs).toEqual([1, 2]));
    server('t1').append(2);
    await until(() => expect(rec.seqs).toEqual([1, 2, 3, 4]));
    expect(rec.info).toEqual({ state: 'open', transport: 'worker', via: 'worker' });
    // the page minted with the user token; the worker connected with the stream token
    expect(net.seen('/t1/stream-token')[0]!.headers.get('authorization')).toBe('Bearer user-secret');
    expect(net.seen('/t1/stream')[0]!.url.searchParams.get('token')).toBe('stream-t1-1');
    client.dispose();
  });

  it('reads the live events the worker relays together in one message', async () => {
    const { client } = await page('tab-1');
    const t1 = server('t1');
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    await until(() => expect(t1.open.size).toBe(1));
    t1.append(4);
    await until(() => expect(rec.seqs).toEqual([1, 2, 3, 4]));
    // The page said it reads batches, so the worker sent the four events as one message.
    expect(
      posted.filter((m) => m.type === 'events').map((m) => m.type === 'events' && m.events.length),
    ).toEqual([4]);
    expect(posted.filter((m) => m.type === 'event')).toEqual([]);
    t1.append(2);
    await until(() => expect(rec.seqs).toEqual([1, 2, 3, 4, 5, 6]));
    client.dispose();
  });

  it('gives two tabs one stream, and a tab that opens later the history first', async () => {
    const a = await page('tab-a');
    const ra = new Recorder();
    a.client.watch(target('t1'), ra);
    server('t1').append(3);
    await until(() => expect(ra.seqs).toEqual([1, 2, 3]));
    const b = await page('tab-b');
    const rb = new Recorder();
    b.client.watch(target('t1'), rb);
    await until(() => expect(rb.seqs).toEqual([1, 2, 3]));
    server('t1').append(1);
    await until(() => expect(rb.seqs).toEqual([1, 2, 3, 4]));
    expect(ra.seqs).toEqual([1, 2, 3, 4]);
    expect(net.seen('/t1/stream')).toHaveLength(1);
    a.client.dispose();
    b.client.dispose();
    await until(() => expect(server('t1').open.size).toBe(0));
  });

  it('keeps the worker alive and re-subscribes a restarted worker, catching up from IndexedDB', async () => {
    const { client } = await page('tab-1', { keepAliveMs: 20 });
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    server('t1').append(2);
    await until(() => expect(rec.seqs).toEqual([1, 2]));
    // the worker is stopped and a fresh one starts (same IndexedDB, nothing in memory)
    const store = (manager as unknown as { o: { store: StreamStore } }).o.store;
    await manager.dispose();
    server('t1').append(2);
    manager = new StreamManager({
      store: new StreamStore(store.name),
      fetch: net.fetch,
      config: FAST,
      clients: (
        manager as unknown as { o: { clients: ConstructorParameters<typeof StreamManager>[0]['clients'] } }
      ).o.clients,
    });
    await until(() => expect(rec.seqs).toEqual([1, 2, 3, 4]), 3000);
    server('t1').append(1);
    await until(() => expect(rec.seqs).toEqual([1, 2, 3, 4, 5]));
    client.dispose();
  });

  it('catches up when the tab becomes visible again', async () => {
    const { client, env } = await page('tab-1');
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    server('t1').append(1);
    await until(() => expect(rec.seqs).toEqual([1]));
    // the tab sleeps: the worker's messages to it are lost
    alive.delete('tab-1');
    server('t1').append(2);
    await tick(30);
    expect(rec.seqs).toEqual([1]);
    alive.add('tab-1');
    env.doc.visibilityState = 'visible';
    env.doc.dispatchEvent(new Event('visibilitychange'));
    await until(() => expect(rec.seqs).toEqual([1, 2, 3]));
    client.dispose();
  });

  it('on pagehide the tab leaves, and the visibilitychange that follows does not re-subscribe it', async () => {
    const { client, env } = await page('tab-1', { keepAliveMs: 10 });
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    server('t1').append(1);
    await until(() => expect(rec.seqs).toEqual([1]));
    const sent: string[] = [];
    const post = env.worker.postMessage;
    env.worker.postMessage = (msg: unknown) => {
      sent.push((msg as { type: string }).type);
      post(msg);
    };
    // the order of an unloading page: pagehide, then visibilitychange to hidden
    env.win.dispatchEvent(new Event('pagehide'));
    env.doc.visibilityState = 'hidden';
    env.doc.dispatchEvent(new Event('visibilitychange'));
    await tick(50);
    expect(sent).toEqual(['unsubscribe']);
    expect(server('t1').open.size).toBe(0);
    client.dispose();
  });

  it('falls back to a page connection when the worker does not answer', async () => {
    const { client, env } = await page('tab-1', { workerTimeoutMs: 50 });
    env.worker.postMessage = () => undefined; // a broken worker
    server('t1').append(2);
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    await until(() => expect(rec.seqs).toEqual([1, 2]));
    expect(rec.info).toMatchObject({ state: 'open', transport: 'direct', via: 'page' });
    client.dispose();
  });

  it('clear() wipes the worker store and ends the watches', async () => {
    const { client } = await page('tab-1');
    const rec = new Recorder();
    client.watch(target('t1'), rec);
    server('t1').append(2);
    await until(() => expect(rec.seqs).toEqual([1, 2]));
    await client.clear();
    expect(rec.info).toMatchObject({ state: 'closed', reason: 'signed out' });
    const store = (manager as unknown as { o: { store: StreamStore } }).o.store;
    expect(await store.getTask('t1')).toBeUndefined();
    expect(server('t1').open.size).toBe(0);
    client.dispose();
  });
});
