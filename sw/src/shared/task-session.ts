import type {
  ConnectionState,
  MessagesPage,
  SnapshotTask,
  TaskEvent,
  TaskRef,
} from '@orchestrator-ai/transport-types';
import { isTerminalState, eventState } from '@orchestrator-ai/transport-types';
import { backoffDelay, parseRetryAfter } from './backoff.js';
import type { StreamConfig } from './config.js';
import { readTaskStream, type StreamOutcome } from './sse-reader.js';
import type { FetchLike, Timers } from './timers.js';
import { StreamTokenError, type SessionTokens } from './tokens.js';

export type Transport = 'sse' | 'polling';

/** What a session tells its owner about the connection. */
export interface SessionReport {
  state: ConnectionState;
  transport: Transport;
  reason?: string;
  status?: number;
  /** Set with `closed` when the task reached its final event. */
  final?: boolean;
}

/**
 * Where a session's data goes. The session calls these one at a time, in order, and advances its
 * cursor only after `events()` resolved: a store that persists there never misses an event.
 */
export interface SessionSink {
  /** The seq up to which events are already stored, and whether the task is known to be final. */
  cursor(): Promise<{ seq: number; final: boolean }>;
  snapshot(snapshot: SnapshotTask): Promise<void>;
  /** New events only (seq above the cursor), ascending. */
  events(events: TaskEvent[]): Promise<void>;
  state(report: SessionReport): void;
}

export interface TaskSessionOptions {
  ref: TaskRef;
  sink: SessionSink;
  tokens: SessionTokens;
  fetch: FetchLike;
  timers: Timers;
  config: () => StreamConfig;
  random?: () => number;
  /** `navigator.onLine`; a network error while offline is reported as `offline`. */
  isOnline?: () => boolean;
  /** Send the resume point as a query parameter (cross-origin, avoids a CORS preflight). */
  lastEventIdInQuery?: boolean;
  /** A token to use for the first connection instead of asking for one. */
  initialToken?: string;
  /** Called when {@link TaskSession.wantsStream} may have changed (the pool rebalances). */
  onWishChange?: () => void;
}

interface Step {
  done?: boolean;
  delayMs: number;
}

const NO_DELAY: Step = { delayMs: 0 };

/**
 * Keeps one task's events flowing into a sink: an SSE stream when it may hold one, polling of
 * the messages route otherwise, switching between them without losing or repeating an event
 * (both resume from the sink's cursor). Reconnects with jittered exponential backoff, asks for a
 * fresh stream token before every connection, re-mints once on a 401 and then reports an auth
 * error, stops on a final event or a 204, and falls back to polling when streaming is blocked.
 * Runs in the Service Worker (one per watched task) and in pages without a worker.
 */
export class TaskSession {
  readonly taskId: string;
  private readonly o: TaskSessionOptions;
  private streamAllowed = true;
  /** Until this time the session polls even if it may stream (streaming looked blocked). */
  private pollingUntil = 0;
  /** Set after a fallback: the next failed probe goes straight back to polling. */
  private fellBack = false;
  private stopped = false;
  private finished = false;
  private cursor = 0;
  private attempt = 0;
  private blockedFailures = 0;
  private authRetried = false;
  private userAuthRetried = false;
  private opened = false;
  private serverRetryMs: number | undefined;
  private current: { transport: Transport; controller: AbortController } | undefined;
  private wake: (() => void) | undefined;
  private quietTimer: unknown;
  private lastReport: SessionReport | undefined;
  private running: Promise<void> | undefined;
  private initialToken: string | undefined;
  private snapshotFetchedFor = -1;

  constructor(options: TaskSessionOptions) {
    this.o = options;
    this.taskId = options.ref.taskId;
    this.initialToken = options.initialToken;
  }

  /** True while the session would use a stream if the pool allows one. */
  get wantsStream(): boolean {
    return !this.finished && !this.stopped && this.o.timers.now() >= this.pollingUntil;
  }

  get holdsStream(): boolean {
    return this.wantsStream && this.streamAllowed;
  }

  /** Ended for good: final, an error that retrying cannot fix, or stopped. */
  get done(): boolean {
    return this.finished || this.stopped;
  }

  get report(): SessionReport | undefined {
    return this.lastReport;
  }

  start(): void {
    if (this.running) return;
    this.running = this.run().catch((err: unknown) => {
      this.finish({
        state: 'error',
        transport: this.current?.transport ?? 'sse',
        reason: `internal error: ${err instanceof Error ? err.message : String(err)}`,
      });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.controller.abort();
    this.wake?.();
    this.clearQuiet();
    await this.running;
  }

  /** Whether the pool lets this session hold a stream; a change interrupts the current attempt. */
  setStreamAllowed(allowed: boolean): void {
    if (this.streamAllowed === allowed) return;
    this.streamAllowed = allowed;
    if (this.current && this.current.transport !== this.desiredTransport()) this.current.controller.abort();
    this.wake?.();
  }

  /** Retry now if the session is waiting (the network came back). */
  kick(): void {
    this.attempt = 0;
    this.wake?.();
  }

  private desiredTransport(): Transport {
    return this.streamAllowed && this.o.timers.now() >= this.pollingUntil ? 'sse' : 'polling';
  }

  private async run(): Promise<void> {
    const start = await this.o.sink.cursor();
    this.cursor = start.seq;
    if (start.final) {
      this.finish({ state: 'closed', transport: 'sse', final: true });
      return;
    }
    while (!this.stopped && !this.finished) {
      if (this.pollingUntil !== 0 && this.o.timers.now() >= this.pollingUntil) {
        this.pollingUntil = 0;
        this.o.onWishChange?.();
      }
      const transport = this.desiredTransport();
      const step = transport === 'sse' ? await this.streamStep() : await this.pollStep();
      if (this.stopped || this.finished || step.done) break;
      // A switch of transport (pool promotion or demotion) skips the wait.
      if (step.delayMs > 0 && this.desiredTransport() === transport) await this.sleep(step.delayMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.o.timers.clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = this.o.timers.setTimeout(done, ms);
      this.wake = done;
    });
  }

  // ---------------------------------------------------------------- reporting

  private emit(report: SessionReport): void {
    const last = this.lastReport;
    if (
      last &&
      last.state === report.state &&
      last.transport === report.transport &&
      last.reason === report.reason &&
      last.status === report.status
    ) {
      return;
    }
    this.lastReport = report;
    this.o.sink.state(report);
  }

  /** Reports the start of an attempt; after an `open` state it stays quiet for a while. */
  private announce(transport: Transport): void {
    const last = this.lastReport;
    if (last?.state === 'open') {
      if (this.quietTimer === undefined) {
        this.quietTimer = this.o.timers.setTimeout(() => {
          this.quietTimer = undefined;
          if (this.lastReport?.state === 'open' && !this.done)
            this.emit({ state: 'reconnecting', transport });
        }, this.o.config().quietReconnectMs);
      }
      return;
    }
    // Still offline: keep saying so rather than flapping to `reconnecting` at every attempt.
    if (last?.state === 'offline' && this.offline()) return;
    this.emit({ state: this.opened ? 'reconnecting' : 'connecting', transport });
  }

  private clearQuiet(): void {
    if (this.quietTimer !== undefined) this.o.timers.clearTimeout(this.quietTimer);
    this.quietTimer = undefined;
  }

  private opening(transport: Transport): void {
    this.clearQuiet();
    this.opened = true;
    this.emit({ state: 'open', transport });
  }

  private finish(report: SessionReport): void {
    this.clearQuiet();
    this.finished = true;
    this.emit(report);
    this.o.onWishChange?.();
  }

  private offline(): boolean {
    return this.o.isOnline ? !this.o.isOnline() : false;
  }

  private waiting(transport: Transport, reason: string, delayMs: number, status?: number): Step {
    this.clearQuiet();
    const report: SessionReport = { state: this.offline() ? 'offline' : 'reconnecting', transport, reason };
    if (status !== undefined) report.status = status;
    this.emit(report);
    return { delayMs };
  }

  private nextDelay(extraMs?: number): number {
    const delay = backoffDelay(this.attempt, this.o.config(), this.o.random, this.serverRetryMs);
    this.attempt++;
    return Math.max(delay, extraMs ?? 0);
  }

  // ---------------------------------------------------------------- data

  private async accept(events: TaskEvent[]): Promise<void> {
    const fresh = events.filter((e) => e.seq > this.cursor).sort((a, b) => a.seq - b.seq);
    const unique: TaskEvent[] = [];
    for (const e of fresh)
      if (unique.length === 0 || unique[unique.length - 1]!.seq !== e.seq) unique.push(e);
    if (unique.length === 0) return;
    await this.o.sink.events(unique);
    this.cursor = unique[unique.length - 1]!.seq;
  }

  // ---------------------------------------------------------------- streaming

  private async streamStep(): Promise<Step> {
    this.announce('sse');
    let token: string;
    try {
      token = this.initialToken ?? (await this.o.tokens.streamToken());
      this.initialToken = undefined;
    } catch (err) {
      return this.tokenFailure(err, 'sse');
    }
    if (this.stopped) return { done: true, delayMs: 0 };
    if (this.desiredTransport() !== 'sse') return NO_DELAY;
    const config = this.o.config();
    const controller = new AbortController();
    this.current = { transport: 'sse', controller };
    let sawFinalEvent = false;
    const outcome = await readTaskStream({
      taskId: this.taskId,
      url: this.o.ref.streamUrl,
      token,
      lastSeq: this.cursor,
      lastEventIdInQuery: this.o.lastEventIdInQuery ?? false,
      fetch: this.o.fetch,
      timers: this.o.timers,
      signal: controller.signal,
      firstFrameTimeoutMs: config.firstFrameTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      healthyStreamMs: config.healthyStreamMs,
      retentionMs: config.retentionMs,
      onOpen: () => {
        this.authRetried = false;
        this.opening('sse');
      },
      onSnapshot: (snapshot) => this.o.sink.snapshot(snapshot),
      onEvents: async (events) => {
        await this.accept(events);
        if (events.some((e) => isTerminalState(eventState(e.event)))) sawFinalEvent = true;
      },
      onRetry: (ms) => {
        this.serverRetryMs = ms;
      },
    });
    this.current = undefined;
    return this.afterStream(outcome, sawFinalEvent);
  }

  private afterStream(outcome: StreamOutcome, sawFinalEvent: boolean): Step {
    const config = this.o.config();
    switch (outcome.kind) {
      case 'final':
      case 'no-content':
        this.finish({ state: 'closed', transport: 'sse', final: true });
        return { done: true, delayMs: 0 };
      case 'aborted':
        return NO_DELAY;
      case 'ended':
        if (sawFinalEvent) {
          this.finish({ state: 'closed', transport: 'sse', final: true });
          return { done: true, delayMs: 0 };
        }
        if (outcome.healthy) {
          // The server closes streams before their token expires; reconnect at once, quietly.
          this.attempt = 0;
          this.blockedFailures = 0;
          this.fellBack = false;
          return NO_DELAY;
        }
        if (this.offline()) return this.waiting('sse', 'connection lost', this.nextDelay());
        return this.streamFailure('stream closed early', config);
      case 'http-error':
        return this.httpFailure(outcome.status, outcome.code, outcome.retryAfterMs, 'sse', config);
      case 'network-error':
        return this.waiting('sse', `network error: ${outcome.message}`, this.nextDelay());
      case 'stalled':
        if (this.offline()) return this.waiting('sse', 'connection lost', this.nextDelay());
        return this.streamFailure(
          outcome.opened ? 'stream went silent' : 'no stream data (buffering proxy?)',
          config,
        );
      case 'bad-response':
        return this.streamFailure(outcome.reason, config);
    }
  }

  /** A failure with the network up: counts towards the polling fallback. */
  private streamFailure(reason: string, config: StreamConfig, status?: number): Step {
    this.blockedFailures++;
    const threshold = this.fellBack ? 1 : Math.max(1, config.streamFailuresBeforePolling);
    if (this.blockedFailures >= threshold) {
      this.blockedFailures = 0;
      this.fellBack = true;
      this.attempt = 0;
      this.pollingUntil = this.o.timers.now() + config.streamRetryAfterMs;
      this.o.onWishChange?.();
      const report: SessionReport = {
        state: 'reconnecting',
        transport: 'polling',
        reason: `polling: ${reason}`,
      };
      if (status !== undefined) report.status = status;
      this.clearQuiet();
      this.emit(report);
      return NO_DELAY;
    }
    return this.waiting('sse', reason, this.nextDelay(), status);
  }

  private httpFailure(
    status: number,
    code: string | undefined,
    retryAfterMs: number | undefined,
    transport: Transport,
    config: StreamConfig,
  ): Step {
    const detail = code ? `${status} ${code}` : String(status);
    if (status === 401) {
      const retried = transport === 'sse' ? this.authRetried : this.userAuthRetried;
      if (!retried) {
        if (transport === 'sse') this.authRetried = true;
        else this.userAuthRetried = true;
        return NO_DELAY;
      }
      this.finish({ state: 'error', transport, reason: `auth: ${detail}`, status });
      return { done: true, delayMs: 0 };
    }
    if (status === 403 || status === 404) {
      this.finish({
        state: 'error',
        transport,
        reason: status === 404 ? `not found: ${detail}` : `forbidden: ${detail}`,
        status,
      });
      return { done: true, delayMs: 0 };
    }
    if (status === 429)
      return this.waiting(transport, `rate limited: ${detail}`, this.nextDelay(retryAfterMs), status);
    if (transport === 'sse') return this.streamFailure(`HTTP ${detail}`, config, status);
    return this.waiting(transport, `HTTP ${detail}`, this.nextDelay(retryAfterMs), status);
  }

  private tokenFailure(err: unknown, transport: Transport): Step {
    const e =
      err instanceof StreamTokenError
        ? err
        : new StreamTokenError(err instanceof Error ? err.message : String(err), { code: 'failed' });
    if (e.status === 401 || e.status === 403 || e.status === 404) {
      const kind = e.status === 401 ? 'auth' : e.status === 404 ? 'not found' : 'forbidden';
      this.finish({
        state: 'error',
        transport,
        reason: `${kind}: token mint refused (${e.message})`,
        status: e.status,
      });
      return { done: true, delayMs: 0 };
    }
    // Retrying cannot help until the API's configuration changes: say what to change.
    if (e.code === 'cors') {
      this.finish({ state: 'error', transport, reason: e.message });
      return { done: true, delayMs: 0 };
    }
    return this.waiting(transport, `no token: ${e.message}`, this.nextDelay(e.retryAfterMs), e.status);
  }

  // ---------------------------------------------------------------- polling

  private async pollStep(): Promise<Step> {
    if (this.lastReport?.transport !== 'polling' || this.lastReport.state !== 'open')
      this.announce('polling');
    const config = this.o.config();
    let token: string;
    try {
      token = await this.o.tokens.userToken(this.userAuthRetried);
    } catch (err) {
      return this.tokenFailure(err, 'polling');
    }
    if (this.stopped) return { done: true, delayMs: 0 };
    if (this.desiredTransport() !== 'polling') return NO_DELAY;
    const controller = new AbortController();
    this.current = { transport: 'polling', controller };
    const timer = this.o.timers.setTimeout(
      () => controller.abort(),
      Math.max(config.firstFrameTimeoutMs, 1000),
    );
    try {
      const url = new URL(this.o.ref.messagesUrl);
      url.searchParams.set('after', String(this.cursor));
      url.searchParams.set('limit', String(config.pollPageLimit));
      let res: Response;
      try {
        res = await this.o.fetch(url.toString(), {
          headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
          signal: controller.signal,
          cache: 'no-store',
        });
      } catch (err) {
        if (this.stopped) return { done: true, delayMs: 0 };
        if (controller.signal.aborted && this.desiredTransport() !== 'polling') return NO_DELAY;
        return this.waiting(
          'polling',
          `network error: ${err instanceof Error ? err.message : String(err)}`,
          this.nextDelay(),
        );
      }
      if (!res.ok) {
        const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.o.timers.now());
        let code: string | undefined;
        try {
          const body = (await res.json()) as { code?: unknown };
          if (typeof body.code === 'string') code = body.code;
        } catch {
          // no JSON body
        }
        return this.httpFailure(res.status, code, retryAfterMs, 'polling', config);
      }
      let page: MessagesPage;
      try {
        page = (await res.json()) as MessagesPage;
      } catch (err) {
        if (controller.signal.aborted && this.desiredTransport() !== 'polling') return NO_DELAY;
        return this.waiting(
          'polling',
          `bad messages page: ${err instanceof Error ? err.message : String(err)}`,
          this.nextDelay(),
        );
      }
      this.userAuthRetried = false;
      this.attempt = 0;
      if (page.historyTruncated && this.snapshotFetchedFor !== this.cursor) {
        this.snapshotFetchedFor = this.cursor;
        await this.truncatedSnapshot(token, page, controller.signal);
      }
      const now = this.o.timers.now();
      const events: TaskEvent[] = (page.events ?? []).map((e) => {
        const created = Date.parse(e.createdAt);
        const base = Number.isNaN(created) ? now : created;
        return {
          taskId: this.taskId,
          seq: e.seq,
          event: e.event,
          createdAt: new Date(base).toISOString(),
          expiresAt: new Date(base + config.retentionMs).toISOString(),
        };
      });
      await this.accept(events);
      this.opening('polling');
      // Final, and nothing more to fetch (events up to lastSeq may have expired).
      if (page.final && (this.cursor >= page.lastSeq || events.length < config.pollPageLimit)) {
        this.finish({ state: 'closed', transport: 'polling', final: true });
        return { done: true, delayMs: 0 };
      }
      return { delayMs: events.length >= config.pollPageLimit ? 0 : config.pollIntervalMs };
    } finally {
      this.o.timers.clearTimeout(timer);
      this.current = undefined;
    }
  }

  /**
   * Polling found that events after the cursor expired. The messages route has no snapshot, so
   * fetch the task (best effort) and hand it on marked as truncated: never a silent partial replay.
   */
  private async truncatedSnapshot(token: string, page: MessagesPage, signal: AbortSignal): Promise<void> {
    const taskUrl = this.o.ref.taskUrl ?? this.o.ref.messagesUrl.replace(/\/messages\/?$/, '');
    try {
      const res = await this.o.fetch(taskUrl, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
        signal,
        cache: 'no-store',
      });
      if (!res.ok) return;
      const body = (await res.json()) as Record<string, unknown>;
      const task = (typeof body.task === 'object' && body.task !== null ? body.task : body) as SnapshotTask;
      if (typeof task.metadata?.seq !== 'number' || typeof task.status !== 'object') return;
      const metadata = { ...task.metadata, historyTruncated: true };
      if (page.earliestSeq !== undefined) metadata.earliestSeq = page.earliestSeq;
      await this.o.sink.snapshot({ ...task, metadata });
    } catch {
      // the events still flow; the snapshot stays what it was
    }
  }
}
