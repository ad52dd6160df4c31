import { afterEach, describe, expect, it } from 'vitest';
import type { StreamConfigInput, TaskRef, WorkerToPage } from '@orchestrator-ai/transport-types';
import { ListenerGate } from '../shared/gate.js';
import { FakeNet, storedEvent, tick, until } from '../test-support/fake-net.js';
import { FakeTaskServer } from '../test-support/fake-server.js';
import { StreamStore } from './db.js';
import { StreamManager, type ClientPort } from './manager.js';

const FAST: StreamConfigInput = {
  backoffBaseMs: 5,
  backoffMaxMs: 20,
  honorServerRetry: false,
  firstFrameTimeoutMs: 300,
  healthyStreamMs: 0,
  quietReconnectMs: 100,
  pollIntervalMs: 10,
  tokenTimeoutMs: 50,
};

type TokenBehaviour = 'answer' | 'silent' | 'not-watching' | 'cors' | { status: number };

/** Fake tabs: an inbox per client, and token requests answered as told. */
class FakeTabs implements ClientPort {
  readonly inbox = new Map<string, WorkerToPage[]>();
  readonly alive = new Set<string>();
  readonly behaviour = new Map<string, TokenBehaviour>();
  readonly log: string[] = [];
  manager: StreamManager | undefined;
  minted = 0;

  open(...ids: string[]): void {
    for (const id of ids) {
      this.alive.add(id);
      if (!this.inbox.has(id)) this.inbox.set(id, []);
    }
  }

  post(clientId: string, msg: WorkerToPage): boolean {
    if (!this.alive.has(clientId)) return false;
    this.inbox.get(clientId)!.push(msg);
    if (msg.type === 'event') this.log.push(`relayed ${msg.taskId}:${msg.event.seq}`);
    if (msg.type === 'events') for (const e of msg.events) this.log.push(`relayed ${msg.taskId}:${e.seq}`);
    if (msg.type === 'token-request') {
      const b = this.behaviour.get(clientId) ?? 'answer';
      if (b === 'silent') return true;
      const reply =
        b === 'answer'
          ? { token: `${msg.kind ?? 'stream'}-token-${++this.minted}` }
          : b === 'not-watching'
            ? { error: 'not-watching' }
            : b === 'cors'
              ? { error: 'blocked by CORS: add this origin to CORS_ORIGINS', corsBlocked: true }
              : { error: 'refused', status: b.status };
      setTimeout(
        () =>
          void this.manager?.handleMessage(
            {
              type: 'token-response',
              requestId: msg.requestId,
              taskId: msg.taskId,
              kind: msg.kind,
              ...reply,
            },
            clientId,
          ),
        1,
      );
    }
    return true;
  }

  liveClientIds(): Promise<Set<string>> {
    return Promise.resolve(new Set(this.alive));
  }

  /** What a listener in this tab would get for a task (through the page's gate). */
  seen(clientId: string, taskId: string): number[] {
    const got: number[] = [];
    const gate = new ListenerGate({ onEvent: (e) => got.push(e.seq) });
    for (const m of this.inbox.get(clientId) ?? []) {
      if (m.type === 'history' && m.taskId === taskId) gate.events(m.events);
      if (m.type === 'event' && m.taskId === taskId) gate.events([m.event]);
      if (m.type === 'events' && m.taskId === taskId) gate.events(m.events);
    }
    return got;
  }

  /** Raw seqs posted to the tab (history and live), to check the worker sends nothing twice. */
  raw(clientId: string, taskId: string): number[] {
    const out: number[] = [];
    for (const m of this.inbox.get(clientId) ?? []) {
      if (m.type === 'history' && m.taskId === taskId) out.push(...m.events.map((e) => e.seq));
      if (m.type === 'event' && m.taskId === taskId) out.push(m.event.seq);
      if (m.type === 'events' && m.taskId === taskId) out.push(...m.events.map((e) => e.seq));
    }
    return out;
  }

  /** The live messages posted to a tab for a task: `event` with one seq, `events` with several. */
  live(clientId: string, taskId: string): Array<{ type: string; seqs: number[] }> {
    const out: Array<{ type: string; seqs: number[] }> = [];
    for (const m of this.inbox.get(clientId) ?? []) {
      if (m.type === 'event' && m.taskId === taskId) out.push({ type: 'event', seqs: [m.event.seq] });
      if (m.type === 'events' && m.taskId === taskId)
        out.push({ type: 'events', seqs: m.events.map((e) => e.seq) });
    }
    return out;
  }

  states(clientId: string, taskId: string): string[] {
    return (this.inbox.get(clientId) ?? [])
      .filter((m): m is Extract<WorkerToPage, { type: 'state' }> => m.type === 'state' && m.taskId === taskId)
      .map((m) => `${m.state}/${m.transport}`);
  }

  lastState(clientId: string, taskId: string) {
    return (this.inbox.get(clientId) ?? [])
      .filter((m): m is Extract<WorkerToPage, { type: 'state' }> => m.type === 'state' && m.taskId === taskId)
      .at(-1);
  }
}

const ref = (taskId: string): TaskRef => ({
  taskId,
  streamUrl: `https://api.test/agent-to-agent/o/a/tasks/${taskId}/stream`,
  messagesUrl: `https://api.test/agent-to-agent/o/a/tasks/${taskId}/messages`,
  tokenUrl: `https://api.test/agent-to-agent/o/a/tasks/${taskId}/stream-token`,
});

/** Notes in the tabs' log each event the store has written, next to the `relayed` entries. */
function logStores(store: StreamStore, tabs: FakeTabs): void {
  const append = store.appendEvents.bind(store);
  store.appendEvents = async (taskId, events, now) => {
    await append(taskId, events, now);
    for (const e of events) tabs.log.push(`stored ${taskId}:${e.seq}`);
  };
}

const managers: StreamManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.dispose()));
});

function setup(config: StreamConfigInput = {}, dbName = `mgr-${Math.random()}`) {
  const net = new FakeNet();
  const tabs = new FakeTabs();
  const store = new StreamStore(dbName);
  const manager = new StreamManager({
    store,
    clients: tabs,
    fetch: net.fetch,
    config: { ...FAST, ...config },
  });
  tabs.manager = manager;
  managers.push(manager);
  const servers = new Map<string, FakeTaskServer>();
  const server = (taskId: string) => {
    let s = servers.get(taskId);
    if (!s) {
      s = new FakeTaskServer(net, taskId).routes();
      servers.set(taskId, s);
    }
    return s;
  };
  const subscribe = (clientId: string, taskId: string, afterSeq = 0, catchUp = false, batches?: boolean) =>
    manager.handleMessage(
      { type: 'subscribe', clientId, task: ref(taskId), afterSeq, catchUp, ...(batches ? { batches } : {}) },
      clientId,
    );
  return { net, tabs, store, manager, server, subscribe, dbName };
}

describe('StreamManager', () => {
  it('holds one stream per task for any number of tabs, and every tab gets every event once', async () => {
    const { net, tabs, server, subscribe } = setup();
    const t1 = server('t1');
    t1.append(2);
    tabs.open('A', 'B', 'C', 'D', 'E');
    for (const id of ['A', 'B', 'C', 'D', 'E']) await subscribe(id, 't1');
    await until(() => expect(tabs.seen('E', 't1')).toEqual([1, 2]));
    t1.append(3);
    await until(() => {
      for (const id of ['A', 'B', 'C', 'D', 'E']) expect(tabs.seen(id, 't1')).toEqual([1, 2, 3, 4, 5]);
    });
    expect(net.seen('/t1/stream')).toHaveLength(1);
    expect(t1.open.size).toBe(1);
    for (const id of ['A', 'B', 'C', 'D', 'E']) {
      const raw = tabs.raw(id, 't1');
      expect(new Set(raw).size).toBe(raw.length);
      expect(tabs.lastState(id, 't1')).toMatchObject({ state: 'open', transport: 'sse' });
    }
  });

  it('stores every event before relaying it', async () => {
    const { tabs, store, server, subscribe } = setup();
    logStores(store, tabs);
    tabs.open('A');
    const t1 = server('t1');
    await subscribe('A', 't1');
    t1.append(5);
    await until(() => expect(tabs.seen('A', 't1')).toHaveLength(5));
    for (let seq = 1; seq <= 5; seq++) {
      const stored = tabs.log.indexOf(`stored t1:${seq}`);
      expect(stored).toBeGreaterThanOrEqual(0);
      expect(stored).toBeLessThan(tabs.log.indexOf(`relayed t1:${seq}`));
    }
  });

  it('relays events stored together in one message to a tab that reads batches, one by one to a tab that does not', async () => {
    const { tabs, store, server, subscribe } = setup();
    logStores(store, tabs);
    tabs.open('new', 'old');
    const t1 = server('t1');
    await subscribe('new', 't1', 0, false, true);
    await subscribe('old', 't1');
    await until(() => expect(tabs.lastState('new', 't1')).toMatchObject({ state: 'open' }));
    // Five events written at once reach the worker together and are stored in one batch.
    t1.append(5);
    await until(() => expect(tabs.seen('old', 't1')).toEqual([1, 2, 3, 4, 5]));
    await until(() => expect(tabs.seen('new', 't1')).toEqual([1, 2, 3, 4, 5]));
    expect(tabs.live('new', 't1')).toEqual([{ type: 'events', seqs: [1, 2, 3, 4, 5] }]);
    // A page of an older release ignores messages it does not know: it gets every event alone.
    expect(tabs.live('old', 't1')).toEqual([1, 2, 3, 4, 5].map((seq) => ({ type: 'event', seqs: [seq] })));
    for (let seq = 1; seq <= 5; seq++)
      expect(tabs.log.indexOf(`stored t1:${seq}`)).toBeLessThan(tabs.log.indexOf(`relayed t1:${seq}`));
    // A lone event still goes as `event`.
    t1.append(1);
    await until(() => expect(tabs.seen('new', 't1')).toEqual([1, 2, 3, 4, 5, 6]));
    expect(tabs.live('new', 't1').at(-1)).toEqual({ type: 'event', seqs: [6] });
  });

  it('gives a late tab the stored history, then live events, with no gap or duplicate at the seam', async () => {
    const { tabs, store, server, subscribe, net } = setup();
    const t1 = server('t1');
    tabs.open('A', 'B');
    await subscribe('A', 't1');
    t1.append(5);
    await until(() => expect(tabs.seen('A', 't1')).toEqual([1, 2, 3, 4, 5]));
    // while B's history is being read, two more events arrive and are relayed
    const read = store.readHistory.bind(store);
    store.readHistory = async (...args) => {
      const h = await read(...args);
      t1.append(2);
      await until(() => expect(tabs.seen('A', 't1')).toHaveLength(7));
      return h;
    };
    await subscribe('B', 't1');
    t1.append(1);
    await until(() => expect(tabs.seen('B', 't1')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]));
    const raw = tabs.raw('B', 't1');
    expect(raw).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const first = tabs.inbox.get('B')!.find((m) => m.type === 'history');
    expect(first).toMatchObject({ type: 'history', lastSeq: 5, truncated: false });
    expect(net.seen('/t1/stream')).toHaveLength(1);
  });

  it("gives a late tab the server's current snapshot when stored events expired past the stored one", async () => {
    const { tabs, server, subscribe, net } = setup({ retentionMs: 1000 });
    const t1 = server('t1');
    tabs.open('A', 'B');
    await subscribe('A', 't1');
    await until(() => expect(tabs.lastState('A', 't1')).toMatchObject({ state: 'open' }));
    t1.append(3);
    await until(() => expect(tabs.seen('A', 't1')).toEqual([1, 2, 3]));
    // The stream's snapshot (seq 0) is stored; events 1..3 expire here, then 4..5 arrive.
    await new Promise((r) => setTimeout(r, 1100));
    t1.append(2);
    await until(() => expect(tabs.seen('A', 't1')).toEqual([1, 2, 3, 4, 5]));
    await subscribe('B', 't1');
    const history = tabs.inbox.get('B')!.find((m) => m.type === 'history');
    expect(history).toMatchObject({ type: 'history', truncated: true, lastSeq: 5 });
    // Not the stale stored snapshot (seq 0): the server's, which covers the expired events.
    expect(history?.type === 'history' && history.snapshot?.metadata.seq).toBe(5);
    expect(net.seen('/tasks/t1')).toHaveLength(1);
    expect(net.seen('/t1/stream')).toHaveLength(1);
  });

  it('closes the stream when the last tab leaves, by unsubscribe or by the sweep', async () => {
    const { tabs, store, server, subscribe, manager } = setup();
    const t1 = server('t1');
    tabs.open('A', 'B');
    await subscribe('A', 't1');
    await subscribe('B', 't1');
    await until(() => expect(t1.open.size).toBe(1));
    expect((await store.listWatched())[0]?.clientIds.sort()).toEqual(['A', 'B']);
    await manager.handleMessage({ type: 'unsubscribe', clientId: 'A', taskId: 't1' }, 'A');
    await tick(20);
    expect(t1.open.size).toBe(1);
    expect((await store.listWatched())[0]?.clientIds).toEqual(['B']);
    tabs.alive.delete('B'); // closed without pagehide
    await manager.sweep();
    await until(() => expect(t1.open.size).toBe(0));
    expect(await store.listWatched()).toEqual([]);
  });

  it('a keep-alive that arrives after a tab left does not bring the subscription back', async () => {
    const { tabs, server, subscribe, manager, store } = setup();
    const t1 = server('t1');
    tabs.open('A');
    await subscribe('A', 't1');
    await until(() => expect(t1.open.size).toBe(1));
    await manager.handleMessage({ type: 'unsubscribe', clientId: 'A', taskId: 't1' }, 'A');
    await manager.handleMessage(
      { type: 'keepalive', clientId: 'A', taskIds: ['t1'], tasks: [{ task: ref('t1'), afterSeq: 0 }] },
      'A',
    );
    await tick(30);
    expect(t1.open.size).toBe(0);
    expect(await store.listWatched()).toEqual([]);
    // an explicit subscribe (back from the back/forward cache) is honoured
    await subscribe('A', 't1', 0, true);
    await until(() => expect(t1.open.size).toBe(1));
  });

  it('a restarted worker resumes every watched task from IndexedDB alone', async () => {
    const first = setup();
    const t1 = first.server('t1');
    first.tabs.open('A', 'gone');
    await first.subscribe('A', 't1');
    await first.subscribe('gone', 't2');
    t1.append(3);
    await until(() => expect(first.tabs.seen('A', 't1')).toEqual([1, 2, 3]));
    // the browser stops the worker: its memory and its connections go, IndexedDB stays. It
    // was stopped between storing event 4 and relaying it.
    await first.manager.dispose();
    expect(t1.open.size).toBe(0);
    t1.append(1);
    await first.store.appendEvents('t1', [storedEvent('t1', 4)], Date.now());
    t1.append(1); // event 5 happens while it is stopped

    const net = first.net;
    const tabs = new FakeTabs();
    tabs.open('A'); // tab 'gone' was closed meanwhile
    tabs.inbox.set('A', [...first.tabs.inbox.get('A')!]);
    const manager = new StreamManager({
      store: new StreamStore(first.dbName),
      clients: tabs,
      fetch: net.fetch,
      config: FAST,
    });
    tabs.manager = manager;
    managers.push(manager);
    await manager.start();
    // it reconnects at once, resuming after the last stored seq, with a token from the tab
    await until(() => expect(t1.open.size).toBe(1));
    expect(net.seen('/t1/stream').at(-1)!.headers.get('last-event-id')).toBe('4');
    expect(tabs.inbox.get('A')!.some((m) => m.type === 'token-request')).toBe(true);
    // nothing for the task whose only tab is gone
    expect(net.seen('/t2/stream')).toHaveLength(1);
    expect((await new StreamStore(first.dbName).listWatched()).map((w) => w.taskId)).toEqual(['t1']);
    // event 5 is not relayed to the tab yet: it must not skip event 4
    await until(() => expect(first.net.seen('/t1/stream').length).toBeGreaterThanOrEqual(2));
    await tick(20);
    expect(tabs.seen('A', 't1')).toEqual([1, 2, 3]);
    // the tab's next keep-alive says where it is; it gets what it missed, then live events
    await manager.handleMessage(
      {
        type: 'keepalive',
        clientId: 'A',
        taskIds: ['t1'],
        tasks: [{ task: ref('t1'), afterSeq: 3 }],
        batches: true,
      },
      'A',
    );
    t1.append(1);
    await until(() => expect(tabs.seen('A', 't1')).toEqual([1, 2, 3, 4, 5, 6]));
    const raw = tabs.raw('A', 't1');
    expect(new Set(raw).size).toBe(raw.length);
    // The keep-alive told the restarted worker that this tab reads batches.
    t1.append(3);
    await until(() => expect(tabs.seen('A', 't1')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(tabs.live('A', 't1').at(-1)).toEqual({ type: 'events', seqs: [7, 8, 9] });
  });

  it('asks the next tab when one does not answer or does not watch the task', async () => {
    const { tabs, server, subscribe, store } = setup();
    const t1 = server('t1');
    t1.append(1);
    tabs.open('silent', 'other', 'good');
    tabs.behaviour.set('silent', 'silent');
    tabs.behaviour.set('other', 'not-watching');
    await subscribe('silent', 't1');
    await subscribe('other', 't1');
    await subscribe('good', 't1');
    await until(() => expect(tabs.seen('good', 't1')).toEqual([1]));
    const asked = (id: string) => tabs.inbox.get(id)!.filter((m) => m.type === 'token-request').length;
    expect(asked('silent')).toBeGreaterThan(0);
    expect(asked('other')).toBe(1);
    expect(asked('good')).toBe(1);
    // the tab that said it does not watch the task is no longer counted as a watcher
    expect((await store.listWatched())[0]!.clientIds.sort()).toEqual(['good', 'silent']);
  });

  it('reports a refused token mint to every tab as an error, and a fresh watch retries', async () => {
    const { tabs, server, subscribe, net } = setup();
    const t1 = server('t1');
    tabs.open('A', 'B');
    tabs.behaviour.set('A', { status: 401 });
    tabs.behaviour.set('B', { status: 401 });
    await subscribe('A', 't1');
    await subscribe('B', 't1');
    await until(() => expect(tabs.lastState('B', 't1')).toMatchObject({ state: 'error', status: 401 }));
    expect(tabs.lastState('A', 't1')).toMatchObject({ state: 'error', status: 401 });
    expect(net.seen('/t1/stream')).toHaveLength(0);
    // a catch-up (tab woke up) does not restart it; a new watch does
    tabs.behaviour.set('A', 'answer');
    await subscribe('A', 't1', 0, true);
    await tick(30);
    expect(t1.open.size).toBe(0);
    await subscribe('A', 't1', 0, false);
    await until(() => expect(t1.open.size).toBe(1));
    await until(() => expect(tabs.lastState('B', 't1')).toMatchObject({ state: 'open' }));
  });

  it("reports the tab's CORS refusal to every tab as an error that says so, without retrying", async () => {
    const { tabs, server, subscribe, net } = setup();
    server('t1');
    tabs.open('A', 'B');
    tabs.behaviour.set('A', 'cors');
    tabs.behaviour.set('B', 'cors');
    await subscribe('A', 't1');
    await subscribe('B', 't1');
    await until(() => expect(tabs.lastState('B', 't1')).toMatchObject({ state: 'error' }));
    expect(tabs.lastState('A', 't1')?.reason).toBe('blocked by CORS: add this origin to CORS_ORIGINS');
    await tick(50);
    expect(tabs.states('A', 't1')).not.toContain('reconnecting/sse');
    expect(net.seen('/t1/stream')).toHaveLength(0);
  });

  it('holds no more streams than the budget; the rest are polled and promoted when a stream frees', async () => {
    const { tabs, server, subscribe, net } = setup({ maxStreamsHttp1: 4 });
    const ids = ['t1', 't2', 't3', 't4', 't5', 't6', 't7', 't8'];
    tabs.open('A', 'B');
    for (const [i, id] of ids.entries()) {
      server(id).append(1);
      await subscribe(i % 2 ? 'A' : 'B', id);
    }
    const openStreams = () => ids.filter((id) => server(id).open.size > 0);
    await until(() => expect(openStreams()).toHaveLength(4));
    expect(openStreams()).toEqual(['t1', 't2', 't3', 't4']);
    for (const id of ids) server(id).append(2);
    await until(() => {
      for (const [i, id] of ids.entries()) expect(tabs.seen(i % 2 ? 'A' : 'B', id)).toEqual([1, 2, 3]);
    });
    expect(tabs.lastState('B', 't5')).toMatchObject({ state: 'open', transport: 'polling' });
    expect(net.seen('/t5/messages').length).toBeGreaterThan(0);
    expect(net.seen('/t5/messages')[0]!.headers.get('authorization')).toMatch(/^Bearer user-token/);
    // t2 completes: its stream frees and t5, the longest-watched poller, gets it
    server('t2').complete();
    await until(() => expect(openStreams()).toEqual(['t1', 't3', 't4', 't5']));
    expect(net.seen('/t5/stream').at(-1)!.headers.get('last-event-id')).toBe('3');
    server('t5').append(1);
    await until(() => expect(tabs.seen('B', 't5')).toEqual([1, 2, 3, 4]));
    expect(tabs.lastState('B', 't5')).toMatchObject({ state: 'open', transport: 'sse' });
    expect(tabs.lastState('A', 't2')).toMatchObject({ state: 'closed' });
    expect(Math.max(...ids.map((id) => server(id).open.size))).toBeLessThanOrEqual(1);
  });

  it('raises the budget when a tab reports HTTP/2', async () => {
    const { tabs, server, subscribe, manager } = setup({ maxStreamsHttp1: 1, maxStreamsHttp2: 3 });
    tabs.open('A');
    for (const id of ['t1', 't2', 't3']) {
      server(id);
      await subscribe('A', id);
    }
    const open = () => ['t1', 't2', 't3'].filter((id) => server(id).open.size > 0).length;
    await until(() => expect(open()).toBe(1));
    await manager.handleMessage(
      { type: 'token-response', requestId: 'none', taskId: 't1', httpProtocol: 'h2' },
      'A',
    );
    await until(() => expect(open()).toBe(3));
  });

  it('clear() stops every stream, wipes IndexedDB and tells every tab', async () => {
    const { tabs, store, server, subscribe, manager } = setup();
    const t1 = server('t1');
    tabs.open('A', 'B');
    await subscribe('A', 't1');
    await subscribe('B', 't1');
    t1.append(2);
    await until(() => expect(tabs.seen('B', 't1')).toEqual([1, 2]));
    await manager.handleMessage({ type: 'clear', requestId: 'r1' }, 'A');
    await until(() => expect(t1.open.size).toBe(0));
    expect(await store.getTask('t1')).toBeUndefined();
    expect(await store.getEvents('t1', 0, Date.now())).toEqual([]);
    expect(await store.listWatched()).toEqual([]);
    expect(tabs.inbox.get('A')!.at(-1)).toEqual({ type: 'cleared', requestId: 'r1' });
    expect(tabs.inbox.get('B')!.at(-1)).toEqual({ type: 'cleared' });
  });

  it('a final task is served from the store and never reconnected', async () => {
    const { tabs, server, subscribe, net } = setup();
    const t1 = server('t1');
    tabs.open('A', 'B');
    await subscribe('A', 't1');
    t1.append(2);
    t1.complete();
    await until(() => expect(tabs.lastState('A', 't1')).toMatchObject({ state: 'closed' }));
    await subscribe('B', 't1');
    await until(() => expect(tabs.seen('B', 't1')).toEqual([1, 2, 3]));
    expect(tabs.lastState('B', 't1')).toMatchObject({ state: 'closed' });
    expect(tabs.inbox.get('B')!.find((m) => m.type === 'history')).toMatchObject({ final: true });
    await tick(30);
    expect(net.seen('/t1/stream')).toHaveLength(1);
  });

  it('ignores malformed messages', async () => {
    const { manager, net } = setup();
    for (const junk of [
      null,
      1,
      'x',
      {},
      { type: 'subscribe' },
      { type: 'subscribe', clientId: 'A', task: {} },
      { type: 'nope' },
    ]) {
      await manager.handleMessage(junk, 'A');
    }
    expect(net.requests).toHaveLength(0);
  });
});
