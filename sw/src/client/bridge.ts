import { Workbox } from 'workbox-window';
import type {
  ConnectionInfo,
  PageToWorker,
  StreamConfigInput,
  TaskRef,
  WorkerToPage,
} from '@orchestrator-ai/transport-types';
import type { ListenerGate } from '../shared/gate.js';
import { isWorkerToPage } from '../shared/messages.js';
import { detectHttpProtocol } from '../shared/pool.js';
import { originOf } from '../shared/refs.js';
import { StreamTokenError } from '../shared/tokens.js';
import { infoFromReport } from './direct.js';
import { accessToken, mintStreamToken, type Minter } from './mint.js';

export interface WorkerBridgeOptions {
  swUrl: string;
  swScope?: string;
  swType?: WorkerType;
  keepAliveMs: number;
  workerTimeoutMs: number;
  config?: StreamConfigInput;
}

interface Watcher {
  gate: ListenerGate;
  /** Called when the worker does not answer: the watcher moves to a page connection. */
  fail(): void;
}

interface BridgeEntry {
  ref: TaskRef;
  minter: Minter;
  watchers: Set<Watcher>;
  /** The worker answered (history or state) since the last subscribe. */
  answered: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  info: ConnectionInfo | undefined;
}

const bridges = new Map<string, WorkerBridge>();

/**
 * The page's end of the worker protocol: registers the worker (workbox-window), subscribes the
 * page's watched tasks, keeps the worker alive while it watches, answers token requests with the
 * host app's credentials, catches up after sleep, and hands what arrives to the listeners' gates.
 * One per page and script URL, shared by every client created in the page.
 */
export class WorkerBridge {
  /** Resolves `true` once a worker is active, `false` if there will be none. */
  readonly ready: Promise<boolean>;
  private registration: ServiceWorkerRegistration | undefined;
  private readonly entries = new Map<string, BridgeEntry>();
  private readonly clientId = randomId();
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  private readonly clearWaiters = new Map<string, () => void>();
  private config: StreamConfigInput | undefined;
  /** After `pagehide`: the tab is unloading or entering the back/forward cache. */
  private leaving = false;

  static for(options: WorkerBridgeOptions): WorkerBridge {
    let bridge = bridges.get(options.swUrl);
    if (!bridge) {
      bridge = new WorkerBridge(options);
      bridges.set(options.swUrl, bridge);
    } else if (options.config) {
      bridge.configure(options.config);
    }
    return bridge;
  }

  private constructor(private readonly o: WorkerBridgeOptions) {
    this.config = o.config;
    this.ready = this.init().catch(() => false);
  }

  configure(config: StreamConfigInput): void {
    this.config = { ...this.config, ...config };
    this.post({ type: 'configure', config: this.config });
  }

  /** Feeds `gate` from the worker; returns the detach function. */
  watch(ref: TaskRef, gate: ListenerGate, minter: Minter, fail: () => void): () => void {
    let entry = this.entries.get(ref.taskId);
    const watcher: Watcher = { gate, fail };
    if (!entry) {
      entry = { ref, minter, watchers: new Set(), answered: false, timer: undefined, info: undefined };
      this.entries.set(ref.taskId, entry);
    } else if (entry.info) {
      gate.connection(entry.info);
    }
    entry.watchers.add(watcher);
    // A new listener wants the whole stored history; the others drop what they already have.
    this.subscribe(entry, 0, false);
    this.startKeepAlive();
    const e = entry;
    return () => {
      e.watchers.delete(watcher);
      if (e.watchers.size > 0 || this.entries.get(ref.taskId) !== e) return;
      this.entries.delete(ref.taskId);
      if (e.timer !== undefined) clearTimeout(e.timer);
      this.post({ type: 'unsubscribe', clientId: this.clientId, taskId: ref.taskId });
      if (this.entries.size === 0) this.stopKeepAlive();
    };
  }

  /** Sign-out: the worker wipes its store; resolves when it confirmed (or after the timeout). */
  clear(): Promise<void> {
    const requestId = randomId();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.clearWaiters.delete(requestId);
        resolve();
      };
      const timer = setTimeout(done, this.o.workerTimeoutMs);
      this.clearWaiters.set(requestId, done);
      if (!this.post({ type: 'clear', requestId })) done();
    });
  }

  // ------------------------------------------------------------------ registration, lifecycle

  private async init(): Promise<boolean> {
    const container = navigator.serviceWorker;
    container.addEventListener('message', (e) => this.onMessage(e));
    container.startMessages();
    const wb = new Workbox(this.o.swUrl, {
      ...(this.o.swScope ? { scope: this.o.swScope } : {}),
      ...(this.o.swType ? { type: this.o.swType } : {}),
    });
    // If registering fails (a flaky network while checking for an update) but a worker already
    // serves this page, use it: offline is exactly when the stored history matters.
    const registration =
      (await withTimeout(wb.register({ immediate: true }), this.o.workerTimeoutMs)) ??
      (await withTimeout(container.getRegistration(this.o.swScope), this.o.workerTimeoutMs));
    if (!registration) return false;
    this.registration = registration;
    if (!registration.active && !container.controller) {
      const active = await withTimeout(wb.active, this.o.workerTimeoutMs);
      if (!active) return false;
    }
    // A new worker version took over (skipWaiting + claim): it knows nothing in memory.
    container.addEventListener('controllerchange', () => this.resubscribeAll());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.resubscribeAll();
      else this.keepAlive();
    });
    document.addEventListener('resume', () => this.resubscribeAll());
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      this.leaving = false;
      this.resubscribeAll();
    });
    // `pagehide` comes before the `visibilitychange` of an unloading page: from here on, nothing
    // may re-subscribe this tab (until it comes back from the back/forward cache).
    window.addEventListener('pagehide', () => {
      this.leaving = true;
      for (const taskId of this.entries.keys()) {
        this.post({ type: 'unsubscribe', clientId: this.clientId, taskId });
      }
    });
    window.addEventListener('online', () => {
      this.post({ type: 'online', clientId: this.clientId });
      this.resubscribeAll();
    });
    return true;
  }

  private target(): ServiceWorker | null | undefined {
    return this.registration?.active ?? navigator.serviceWorker.controller;
  }

  private post(message: PageToWorker): boolean {
    const target = this.target();
    if (!target) return false;
    target.postMessage(message);
    return true;
  }

  private subscribe(entry: BridgeEntry, afterSeq: number, catchUp: boolean): void {
    void this.ready.then((ok) => {
      if (!ok || this.leaving || this.entries.get(entry.ref.taskId) !== entry) return;
      const msg: PageToWorker = {
        type: 'subscribe',
        clientId: this.clientId,
        task: entry.ref,
        afterSeq,
        catchUp,
        visible: document.visibilityState === 'visible',
        batches: true,
      };
      if (this.config) msg.config = this.config;
      entry.answered = false;
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.timer = setTimeout(() => this.unanswered(entry), this.o.workerTimeoutMs);
      if (!this.post(msg)) this.unanswered(entry);
    });
  }

  /** The worker did not answer a subscribe: its watchers move to page connections. */
  private unanswered(entry: BridgeEntry): void {
    entry.timer = undefined;
    if (entry.answered || this.entries.get(entry.ref.taskId) !== entry) return;
    this.entries.delete(entry.ref.taskId);
    this.post({ type: 'unsubscribe', clientId: this.clientId, taskId: entry.ref.taskId });
    for (const w of entry.watchers) w.fail();
    if (this.entries.size === 0) this.stopKeepAlive();
  }

  private resubscribeAll(): void {
    for (const entry of this.entries.values()) this.subscribe(entry, lowestSeq(entry), true);
  }

  private startKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) return;
    this.keepAliveTimer = setInterval(() => this.keepAlive(), this.o.keepAliveMs);
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  /** Wakes a stopped worker (a `postMessage` does; a BroadcastChannel would not) and re-subscribes it. */
  private keepAlive(): void {
    if (this.entries.size === 0 || this.leaving) return;
    const msg: PageToWorker = {
      type: 'keepalive',
      clientId: this.clientId,
      taskIds: [...this.entries.keys()],
      tasks: [...this.entries.values()].map((e) => ({ task: e.ref, afterSeq: lowestSeq(e) })),
      visible: document.visibilityState === 'visible',
      batches: true,
    };
    if (this.config) msg.config = this.config;
    this.post(msg);
  }

  // ------------------------------------------------------------------ from the worker

  private onMessage(event: MessageEvent): void {
    const msg: unknown = event.data;
    if (!isWorkerToPage(msg)) return;
    if (msg.type === 'cleared') {
      this.onCleared(msg.requestId);
      return;
    }
    if (msg.type === 'token-request') {
      void this.onTokenRequest(msg, event.source);
      return;
    }
    const entry = this.entries.get(msg.taskId);
    if (!entry) return;
    if (!entry.answered) {
      entry.answered = true;
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
    const gates = [...entry.watchers].map((w) => w.gate);
    switch (msg.type) {
      case 'history': {
        let snapshot = msg.snapshot;
        if (snapshot && msg.truncated) {
          const metadata = { ...snapshot.metadata, historyTruncated: true };
          if (msg.earliestSeq !== undefined) metadata.earliestSeq = msg.earliestSeq;
          snapshot = { ...snapshot, metadata };
        }
        for (const g of gates) {
          if (snapshot) g.snapshot(snapshot);
          g.events(msg.events);
        }
        return;
      }
      case 'event':
        for (const g of gates) g.events([msg.event]);
        return;
      case 'events':
        for (const g of gates) g.events(msg.events);
        return;
      case 'snapshot':
        for (const g of gates) g.snapshot(msg.snapshot);
        return;
      case 'state': {
        const report = { state: msg.state, transport: msg.transport ?? 'sse' } as const;
        entry.info = infoFromReport(
          {
            ...report,
            ...(msg.reason !== undefined ? { reason: msg.reason } : {}),
            ...(msg.status !== undefined ? { status: msg.status } : {}),
          },
          'worker',
        );
        for (const g of gates) g.connection(entry.info);
        return;
      }
    }
  }

  private onCleared(requestId: string | undefined): void {
    if (requestId !== undefined) this.clearWaiters.get(requestId)?.();
    // Everything stored is gone (sign-out, here or in another tab): the watches end.
    for (const entry of this.entries.values()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      for (const w of entry.watchers) {
        w.gate.connection({ state: 'closed', transport: 'worker', via: 'worker', reason: 'signed out' });
        w.gate.closed = true;
      }
    }
    this.entries.clear();
    this.stopKeepAlive();
  }

  private async onTokenRequest(
    msg: Extract<WorkerToPage, { type: 'token-request' }>,
    source: MessageEventSource | null,
  ): Promise<void> {
    const reply = (fields: Partial<Extract<PageToWorker, { type: 'token-response' }>>) => {
      const out: PageToWorker = {
        type: 'token-response',
        requestId: msg.requestId,
        taskId: msg.taskId,
        ...fields,
      };
      const to = source && 'postMessage' in source ? (source as ServiceWorker) : this.target();
      to?.postMessage(out);
    };
    const kind = msg.kind ?? 'stream';
    const entry =
      this.entries.get(msg.taskId) ?? (kind === 'user' ? this.entries.values().next().value : undefined);
    if (!entry) {
      reply({ kind, error: 'not-watching' });
      return;
    }
    try {
      const userToken = await accessToken(entry.minter.getAccessToken);
      if (kind === 'user') {
        reply({ kind, token: userToken });
        return;
      }
      if (!entry.ref.tokenUrl) throw new StreamTokenError('no stream-token URL', { code: 'failed' });
      const res = await mintStreamToken(entry.minter.fetch, entry.ref.tokenUrl, userToken);
      const origin = originOf(entry.ref.tokenUrl);
      const httpProtocol = origin ? detectHttpProtocol(origin) : undefined;
      reply({ kind, token: res.token, ...(httpProtocol ? { httpProtocol } : {}) });
    } catch (err) {
      const e = err instanceof StreamTokenError ? err : undefined;
      reply({
        kind,
        error: e?.code === 'network' ? 'network' : err instanceof Error ? err.message : String(err),
        ...(e?.status !== undefined ? { status: e.status } : {}),
        ...(e?.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
        ...(e?.code === 'cors' ? { corsBlocked: true } : {}),
      });
    }
  }
}

function lowestSeq(entry: BridgeEntry): number {
  let min = Infinity;
  for (const w of entry.watchers) min = Math.min(min, w.gate.lastSeq);
  return Number.isFinite(min) ? min : 0;
}

function randomId(): string {
  return typeof crypto !== 'undefined' && 'randomUUID' in crypto
    ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}
