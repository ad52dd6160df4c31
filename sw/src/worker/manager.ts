import type {
  PageToWorker,
  SnapshotTask,
  StreamConfigInput,
  TaskRef,
  TokenKind,
  WorkerToPage,
} from '@orchestrator-ai/transport-types';
import { mergeConfig, resolveConfig, type StreamConfig } from '../shared/config.js';
import { SubscriberFeed, type FeedMessage, type History } from '../shared/feed.js';
import { isPageToWorker } from '../shared/messages.js';
import { StreamPool, isMultiplexed } from '../shared/pool.js';
import { TaskSession, type SessionReport } from '../shared/task-session.js';
import { realTimers, type FetchLike, type Timers } from '../shared/timers.js';
import { StreamTokenError } from '../shared/tokens.js';
import type { StreamStore, WatchedRecord } from './db.js';

/** How the manager reaches the tabs. */
export interface ClientPort {
  /** Posts to one tab; `false` when that tab is certainly gone. */
  post(clientId: string, message: WorkerToPage): boolean;
  /** Ids of the window clients alive now (controlled or not); `undefined` when it cannot tell. */
  liveClientIds(): Promise<Set<string> | undefined>;
}

export interface StreamManagerOptions {
  store: StreamStore;
  clients: ClientPort;
  fetch: FetchLike;
  timers?: Timers;
  random?: () => number;
  isOnline?: () => boolean;
  /** Whether a URL is on the worker's own origin (resume point as header) or not (as query). */
  sameOrigin?: (url: string) => boolean;
  /** `nextHopProtocol` of a URL's origin from the worker's own resource timing. */
  detectProtocol?: (url: string) => string | undefined;
  config?: StreamConfigInput;
  /** Run the periodic sweep and prune (the worker does; tests call `sweep()`/`prune()`). */
  housekeeping?: boolean;
}

interface Subscriber {
  clientId: string;
  feed: SubscriberFeed;
  visible: boolean;
  /** The tab reads `events` messages (it said so); otherwise it gets one `event` per event. */
  batches: boolean;
}

interface TaskEntry {
  taskId: string;
  ref: TaskRef;
  subs: Map<string, Subscriber>;
  session: TaskSession | undefined;
  report: SessionReport;
  since: number;
}

interface PendingToken {
  resolve(token: string): void;
  reject(err: StreamTokenError): void;
  timer: unknown;
}

const EMPTY_HISTORY: History = { events: [], lastSeq: 0, final: false, truncated: false };

/**
 * The worker's connection manager: one {@link TaskSession} per watched task, reference counted by
 * the tabs subscribed to it; every event stored in IndexedDB before it is relayed; late
 * subscribers get the stored history first (seam without gap or duplicate, see
 * {@link SubscriberFeed}); tokens asked from the tabs; a stream budget with polling for the rest;
 * watched tasks persisted so that any start of the worker resumes them from IndexedDB alone.
 */
export class StreamManager {
  private readonly tasks = new Map<string, TaskEntry>();
  private readonly pending = new Map<string, PendingToken>();
  /** `clientId\ntaskId` pairs a tab explicitly left: a late keep-alive must not bring them back. */
  private readonly left = new Set<string>();
  private readonly pool: StreamPool;
  private readonly timers: Timers;
  private config: StreamConfig;
  private protocol: string | undefined;
  private started: Promise<void> | undefined;
  private userToken: { token: string; at: number } | undefined;
  private userTokenInFlight: Promise<string> | undefined;
  private requestCounter = 0;
  private sweepTimer: unknown;
  private pruneTimer: unknown;
  private disposed = false;

  constructor(private readonly o: StreamManagerOptions) {
    this.timers = o.timers ?? realTimers;
    this.config = resolveConfig(o.config);
    this.pool = new StreamPool(() =>
      isMultiplexed(this.protocol) ? this.config.maxStreamsHttp2 : this.config.maxStreamsHttp1,
    );
  }

  /** Restores every watched task from IndexedDB (once per worker start). */
  start(): Promise<void> {
    this.started ??= this.restore();
    return this.started;
  }

  /** Handles one message from a page; `sourceId` is the sending client's id. */
  async handleMessage(data: unknown, sourceId?: string): Promise<void> {
    if (!isPageToWorker(data)) return;
    if (data.type === 'token-response') {
      this.onTokenResponse(data);
      return;
    }
    await this.start();
    const clientId = sourceId ?? ('clientId' in data ? data.clientId : undefined);
    switch (data.type) {
      case 'configure':
        this.configure(data.config);
        return;
      case 'subscribe': {
        if (data.config) this.configure(data.config);
        if (!clientId) return;
        this.left.delete(`${clientId}\n${data.task.taskId}`);
        const opts: SubscribeOptions = { afterSeq: data.afterSeq ?? 0, restart: data.catchUp !== true };
        if (data.visible !== undefined) opts.visible = data.visible;
        if (data.token !== undefined) opts.token = data.token;
        if (data.batches !== undefined) opts.batches = data.batches;
        await this.subscribe(clientId, data.task, opts);
        return;
      }
      case 'unsubscribe':
        if (!clientId) return;
        this.left.add(`${clientId}\n${data.taskId}`);
        await this.unsubscribe(clientId, data.taskId);
        return;
      case 'keepalive':
        if (data.config) this.configure(data.config);
        if (clientId) await this.keepalive(clientId, data);
        return;
      case 'online':
        for (const entry of this.tasks.values()) entry.session?.kick();
        return;
      case 'clear':
        await this.clear(clientId, data.requestId);
        return;
    }
  }

  configure(input: StreamConfigInput): void {
    const before = this.config;
    this.config = mergeConfig(this.config, input);
    if (this.o.housekeeping && this.started) {
      if (before.sweepIntervalMs !== this.config.sweepIntervalMs) this.scheduleSweep();
      if (before.pruneIntervalMs !== this.config.pruneIntervalMs) this.schedulePrune();
    }
    this.pool.rebalance();
  }

  /** Drops the subscriptions of tabs that are gone (`pagehide` is not guaranteed). */
  async sweep(): Promise<void> {
    const live = await this.o.clients.liveClientIds().catch(() => undefined);
    if (!live) return;
    for (const key of this.left) if (!live.has(key.slice(0, key.indexOf('\n')))) this.left.delete(key);
    for (const entry of [...this.tasks.values()]) {
      for (const id of [...entry.subs.keys()]) if (!live.has(id)) await this.unsubscribe(id, entry.taskId);
    }
  }

  /** IndexedDB housekeeping: expired events, stale snapshots of tasks no tab watches. */
  async prune(): Promise<{ events: number; tasks: number }> {
    try {
      return await this.o.store.prune(this.timers.now(), this.config.snapshotRetentionMs);
    } catch {
      return { events: 0, tasks: 0 };
    }
  }

  /** Stops every session and timer (the worker never needs it; tests do). */
  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.sweepTimer !== undefined) this.timers.clearTimeout(this.sweepTimer);
    if (this.pruneTimer !== undefined) this.timers.clearTimeout(this.pruneTimer);
    const sessions = [...this.tasks.values()].map((e) => e.session);
    this.tasks.clear();
    this.rejectPending();
    await Promise.all(sessions.map((s) => s?.stop()));
  }

  // ------------------------------------------------------------------ subscriptions

  private async restore(): Promise<void> {
    let watched: WatchedRecord[] = [];
    try {
      watched = await this.o.store.listWatched();
    } catch {
      watched = [];
    }
    const live = watched.length > 0 ? await this.o.clients.liveClientIds().catch(() => undefined) : undefined;
    for (const w of watched) {
      const ids = live ? w.clientIds.filter((id) => live.has(id)) : w.clientIds;
      if (ids.length === 0) {
        await this.o.store.deleteWatched(w.taskId).catch(() => undefined);
        continue;
      }
      if (this.tasks.has(w.taskId)) continue;
      const entry = this.newEntry(w.ref, w.since);
      for (const id of ids) {
        const sub = this.newSubscriber(entry, id);
        // Until the tab says which seq it has, history covers what it missed.
        sub.feed.pause();
        entry.subs.set(id, sub);
      }
      this.tasks.set(w.taskId, entry);
      this.ensureSession(entry, true);
    }
    if (this.o.housekeeping) {
      this.scheduleSweep();
      this.schedulePrune();
      void this.prune();
    }
  }

  private newEntry(ref: TaskRef, since: number): TaskEntry {
    return {
      taskId: ref.taskId,
      ref,
      subs: new Map(),
      session: undefined,
      report: { state: 'connecting', transport: 'sse' },
      since,
    };
  }

  private newSubscriber(entry: TaskEntry, clientId: string): Subscriber {
    const taskId = entry.taskId;
    const post = (m: FeedMessage) => this.o.clients.post(clientId, toWire(taskId, m));
    const sub: Subscriber = {
      clientId,
      visible: true,
      batches: false,
      feed: new SubscriberFeed((m) => {
        // A page of an older release ignores `events`: it gets them one by one.
        if (m.type === 'events' && !sub.batches) for (const event of m.events) post({ type: 'event', event });
        else post(m);
      }),
    };
    return sub;
  }

  private async subscribe(clientId: string, ref: TaskRef, opts: SubscribeOptions): Promise<void> {
    let entry = this.tasks.get(ref.taskId);
    if (!entry) {
      entry = this.newEntry(ref, this.timers.now());
      this.tasks.set(ref.taskId, entry);
    } else if (!entry.session || entry.session.done) {
      entry.ref = ref;
    }
    let sub = entry.subs.get(clientId);
    const added = sub === undefined;
    if (!sub) {
      sub = this.newSubscriber(entry, clientId);
      entry.subs.set(clientId, sub);
    }
    if (opts.visible !== undefined) sub.visible = opts.visible;
    if (opts.batches !== undefined) sub.batches = opts.batches;
    sub.feed.beginHistory();
    this.ensureSession(entry, opts.restart, opts.token);
    this.pool.setVisible(entry.taskId, isVisible(entry));
    let history = EMPTY_HISTORY;
    try {
      history = await this.o.store.readHistory(entry.taskId, opts.afterSeq, this.timers.now());
    } catch {
      history = EMPTY_HISTORY;
    }
    if (history.truncated && staleSnapshot(history) && this.o.isOnline?.() !== false) {
      // The stored snapshot predates events that expired here: folded with what is left it would
      // show a wrong state (status and artifact chunks lost). Take the server's current one (live
      // events wait meanwhile in the feed, and follow it).
      const fresh = await this.fetchSnapshot(entry);
      if (fresh) history = { ...history, snapshot: fresh };
    }
    if (entry.subs.get(clientId) !== sub) return;
    sub.feed.endHistory(history);
    this.postState(entry, clientId);
    if (added) await this.persistWatched(entry);
  }

  /** The task as the server has it now (user token from a tab), stored; undefined on any failure. */
  private async fetchSnapshot(entry: TaskEntry): Promise<SnapshotTask | undefined> {
    const url = entry.ref.taskUrl ?? entry.ref.messagesUrl.replace(/\/messages\/?$/, '');
    const controller = new AbortController();
    const timer = this.timers.setTimeout(() => controller.abort(), this.config.firstFrameTimeoutMs);
    try {
      const token = await this.getUserToken(entry, false);
      const res = await this.o.fetch(url, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        signal: controller.signal,
        cache: 'no-store',
      });
      if (!res.ok) return undefined;
      const body = (await res.json()) as Record<string, unknown>;
      const task = (typeof body.task === 'object' && body.task !== null ? body.task : body) as SnapshotTask;
      if (typeof task.metadata?.seq !== 'number' || typeof task.status !== 'object') return undefined;
      await this.o.store.putSnapshot(entry.taskId, task, this.timers.now()).catch(() => undefined);
      return task;
    } catch {
      return undefined;
    } finally {
      this.timers.clearTimeout(timer);
    }
  }

  private async keepalive(
    clientId: string,
    msg: Extract<PageToWorker, { type: 'keepalive' }>,
  ): Promise<void> {
    for (const t of msg.tasks ?? []) {
      if (this.left.has(`${clientId}\n${t.task.taskId}`)) continue;
      const entry = this.tasks.get(t.task.taskId);
      const sub = entry?.subs.get(clientId);
      if (!entry || !sub || sub.feed.isPaused) {
        // A restarted worker, or a sweep that misjudged: this keep-alive re-subscribes.
        const opts: SubscribeOptions = { afterSeq: t.afterSeq, restart: false };
        if (msg.visible !== undefined) opts.visible = msg.visible;
        if (msg.batches !== undefined) opts.batches = msg.batches;
        await this.subscribe(clientId, t.task, opts);
      } else {
        if (msg.batches !== undefined) sub.batches = msg.batches;
        if (msg.visible !== undefined && sub.visible !== msg.visible) {
          sub.visible = msg.visible;
          this.pool.setVisible(entry.taskId, isVisible(entry));
        }
      }
    }
  }

  private async unsubscribe(clientId: string, taskId: string): Promise<void> {
    const entry = this.tasks.get(taskId);
    if (!entry || !entry.subs.delete(clientId)) return;
    if (entry.subs.size > 0) {
      this.pool.setVisible(taskId, isVisible(entry));
      await this.persistWatched(entry);
      return;
    }
    this.tasks.delete(taskId);
    this.pool.remove(taskId);
    const session = entry.session;
    entry.session = undefined;
    void session?.stop();
    await this.o.store.deleteWatched(taskId).catch(() => undefined);
  }

  private async persistWatched(entry: TaskEntry): Promise<void> {
    if (this.tasks.get(entry.taskId) !== entry) return;
    await this.o.store
      .putWatched({
        taskId: entry.taskId,
        ref: entry.ref,
        clientIds: [...entry.subs.keys()],
        since: entry.since,
      })
      .catch(() => undefined);
  }

  private async clear(requesterId: string | undefined, requestId: string | undefined): Promise<void> {
    const notify = new Set<string>();
    for (const entry of this.tasks.values()) {
      for (const id of entry.subs.keys()) notify.add(id);
      this.pool.remove(entry.taskId);
      void entry.session?.stop();
    }
    this.tasks.clear();
    this.rejectPending();
    this.userToken = undefined;
    this.userTokenInFlight = undefined;
    await this.o.store.clear().catch(() => undefined);
    if (requesterId !== undefined) notify.delete(requesterId);
    for (const id of notify) this.o.clients.post(id, { type: 'cleared' });
    if (requesterId !== undefined) {
      this.o.clients.post(
        requesterId,
        requestId !== undefined ? { type: 'cleared', requestId } : { type: 'cleared' },
      );
    }
  }

  // ------------------------------------------------------------------ sessions

  private ensureSession(entry: TaskEntry, restart: boolean, token?: string): void {
    const old = entry.session;
    if (old && !old.done) return;
    if (old) {
      // Final tasks never reconnect; an error waits for a fresh watch (not a catch-up).
      if (entry.report.state === 'closed' || !restart) return;
      this.pool.remove(entry.taskId);
    }
    const store = this.o.store;
    const taskId = entry.taskId;
    const session: TaskSession = new TaskSession({
      ref: entry.ref,
      fetch: this.o.fetch,
      timers: this.timers,
      config: () => this.config,
      ...(this.o.random ? { random: this.o.random } : {}),
      ...(this.o.isOnline ? { isOnline: this.o.isOnline } : {}),
      lastEventIdInQuery: this.o.sameOrigin ? !this.o.sameOrigin(entry.ref.streamUrl) : false,
      ...(token !== undefined ? { initialToken: token } : {}),
      tokens: {
        streamToken: () => this.askTabs(entry, 'stream'),
        userToken: (fresh) => this.getUserToken(entry, fresh),
      },
      onWishChange: () => this.pool.rebalance(),
      sink: {
        cursor: async () => {
          const rec = await store.getTask(taskId);
          return { seq: rec?.lastSeq ?? 0, final: rec?.final ?? false };
        },
        snapshot: async (snapshot) => {
          await store.putSnapshot(taskId, snapshot, this.timers.now());
          for (const sub of entry.subs.values()) sub.feed.liveSnapshot(snapshot);
        },
        events: async (events) => {
          await store.appendEvents(taskId, events, this.timers.now());
          for (const sub of entry.subs.values()) sub.feed.liveEvents(events);
        },
        state: (report) => {
          if (entry.session !== session) return;
          entry.report = report;
          if (report.final) void store.markFinal(taskId, this.timers.now()).catch(() => undefined);
          if (report.state === 'open') this.detectProtocol(entry.ref.streamUrl);
          for (const sub of entry.subs.values()) if (!sub.feed.isPaused) this.postState(entry, sub.clientId);
        },
      },
    });
    entry.session = session;
    entry.report = { state: 'connecting', transport: 'sse' };
    this.pool.add(taskId, session, entry.since, isVisible(entry));
    session.start();
  }

  private postState(entry: TaskEntry, clientId: string): void {
    const r = entry.report;
    const msg: WorkerToPage = { type: 'state', taskId: entry.taskId, state: r.state, transport: r.transport };
    if (r.reason !== undefined) msg.reason = r.reason;
    if (r.status !== undefined) msg.status = r.status;
    this.o.clients.post(clientId, msg);
  }

  private detectProtocol(url: string): void {
    const p = this.o.detectProtocol?.(url);
    if (p) this.noteProtocol(p);
  }

  private noteProtocol(protocol: string): void {
    if (protocol === this.protocol) return;
    this.protocol = protocol;
    this.pool.rebalance();
  }

  // ------------------------------------------------------------------ tokens

  /** Tabs to ask for an entry's token: its own subscribers, those that confirmed and are visible first. */
  private candidates(entry: TaskEntry, anyTab: boolean): string[] {
    const rank = (s: Subscriber) => (s.feed.isPaused ? 2 : 0) + (s.visible ? 0 : 1);
    const own = [...entry.subs.values()].sort((a, b) => rank(a) - rank(b)).map((s) => s.clientId);
    if (!anyTab) return own;
    const others = new Set<string>();
    for (const e of this.tasks.values())
      for (const id of e.subs.keys()) if (!own.includes(id)) others.add(id);
    return [...own, ...others];
  }

  private async askTabs(entry: TaskEntry, kind: TokenKind): Promise<string> {
    for (const clientId of this.candidates(entry, kind === 'user')) {
      try {
        return await this.askTab(clientId, entry.taskId, kind);
      } catch (err) {
        // A real refusal (HTTP status, network down) is the answer; silence or "not mine" is not.
        if (
          err instanceof StreamTokenError &&
          (err.code === 'http' || err.code === 'network' || err.code === 'cors')
        )
          throw err;
        // A tab that says it does not watch the task lost its unsubscribe: forget it.
        if (err instanceof StreamTokenError && err.code === 'not-watching' && entry.subs.has(clientId)) {
          await this.unsubscribe(clientId, entry.taskId);
        }
      }
    }
    throw new StreamTokenError('no open tab answered the token request', { code: 'no-client' });
  }

  private getUserToken(entry: TaskEntry, fresh: boolean): Promise<string> {
    const now = this.timers.now();
    if (!fresh && this.userToken && now - this.userToken.at < this.config.userTokenReuseMs) {
      return Promise.resolve(this.userToken.token);
    }
    if (!fresh && this.userTokenInFlight) return this.userTokenInFlight;
    const p = this.askTabs(entry, 'user').then(
      (token) => {
        this.userToken = { token, at: this.timers.now() };
        return token;
      },
      (err: unknown) => {
        this.userToken = undefined;
        throw err;
      },
    );
    this.userTokenInFlight = p;
    const drop = () => {
      if (this.userTokenInFlight === p) this.userTokenInFlight = undefined;
    };
    p.then(drop, drop);
    return p;
  }

  private askTab(clientId: string, taskId: string, kind: TokenKind): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.disposed) {
        reject(new StreamTokenError('worker disposed', { code: 'failed' }));
        return;
      }
      const requestId = `t${++this.requestCounter}-${Math.floor((this.o.random ?? Math.random)() * 1e9)}`;
      const timer = this.timers.setTimeout(() => {
        this.pending.delete(requestId);
        reject(new StreamTokenError('the tab did not answer', { code: 'timeout' }));
      }, this.config.tokenTimeoutMs);
      this.pending.set(requestId, { resolve, reject, timer });
      const posted = this.o.clients.post(clientId, { type: 'token-request', requestId, taskId, kind });
      if (!posted) {
        this.timers.clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new StreamTokenError('the tab is gone', { code: 'no-client' }));
      }
    });
  }

  private onTokenResponse(msg: Extract<PageToWorker, { type: 'token-response' }>): void {
    if (msg.httpProtocol) this.noteProtocol(msg.httpProtocol);
    const p = this.pending.get(msg.requestId);
    if (!p) return;
    this.pending.delete(msg.requestId);
    this.timers.clearTimeout(p.timer);
    if (typeof msg.token === 'string' && msg.token.length > 0) {
      p.resolve(msg.token);
      return;
    }
    const code =
      msg.status !== undefined
        ? 'http'
        : msg.corsBlocked
          ? 'cors'
          : msg.error === 'not-watching'
            ? 'not-watching'
            : msg.error === 'network'
              ? 'network'
              : 'failed';
    const opts: { code: typeof code; status?: number; retryAfterMs?: number } = { code };
    if (msg.status !== undefined) opts.status = msg.status;
    if (msg.retryAfterMs !== undefined) opts.retryAfterMs = msg.retryAfterMs;
    p.reject(new StreamTokenError(msg.error ?? 'token refused', opts));
  }

  private rejectPending(): void {
    for (const [id, p] of this.pending) {
      this.timers.clearTimeout(p.timer);
      p.reject(new StreamTokenError('cancelled', { code: 'failed' }));
      this.pending.delete(id);
    }
  }

  // ------------------------------------------------------------------ housekeeping

  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined) this.timers.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
    if (this.disposed) return;
    this.sweepTimer = this.timers.setTimeout(() => {
      void this.sweep().finally(() => this.scheduleSweep());
    }, this.config.sweepIntervalMs);
  }

  private schedulePrune(): void {
    if (this.pruneTimer !== undefined) this.timers.clearTimeout(this.pruneTimer);
    this.pruneTimer = undefined;
    if (this.disposed) return;
    this.pruneTimer = this.timers.setTimeout(() => {
      void this.prune().finally(() => this.schedulePrune());
    }, this.config.pruneIntervalMs);
  }
}

interface SubscribeOptions {
  afterSeq: number;
  restart: boolean;
  visible?: boolean;
  token?: string;
  batches?: boolean;
}

/** History that misses expired events and whose snapshot does not cover them. */
function staleSnapshot(history: History): boolean {
  const earliest = history.earliestSeq ?? history.lastSeq + 1;
  const seq = history.snapshot?.metadata?.seq;
  return typeof seq !== 'number' || seq < earliest - 1;
}

function isVisible(entry: TaskEntry): boolean {
  for (const s of entry.subs.values()) if (s.visible) return true;
  return false;
}

function toWire(taskId: string, m: FeedMessage): WorkerToPage {
  switch (m.type) {
    case 'event':
      return { type: 'event', taskId, event: m.event };
    case 'events':
      return { type: 'events', taskId, events: m.events };
    case 'snapshot':
      return { type: 'snapshot', taskId, snapshot: m.snapshot };
    case 'history': {
      const h = m.history;
      const out: WorkerToPage = {
        type: 'history',
        taskId,
        events: h.events,
        lastSeq: h.lastSeq,
        final: h.final,
        truncated: h.truncated,
      };
      if (h.snapshot) out.snapshot = h.snapshot;
      if (h.earliestSeq !== undefined) out.earliestSeq = h.earliestSeq;
      return out;
    }
  }
}
