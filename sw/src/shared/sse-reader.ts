import { createParser, type EventSourceMessage } from 'eventsource-parser';
import {
  eventState,
  isTerminalState,
  parseEventId,
  type SnapshotTask,
  type TaskEvent,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import { parseRetryAfter } from './backoff.js';
import type { FetchLike, Timers } from './timers.js';

/** How one connection attempt to a task's SSE stream ended. */
export type StreamOutcome =
  /** The task is final: a terminal event arrived, or a terminal snapshot's replay ended. */
  | { kind: 'final' }
  /** HTTP 204: the client is already at the final event. */
  | { kind: 'no-content' }
  /** The stream was open and then ended (server close, or the connection dropped). */
  | { kind: 'ended'; healthy: boolean; clean: boolean }
  | { kind: 'http-error'; status: number; retryAfterMs?: number; code?: string }
  /** `fetch` failed before any response (offline, DNS, refused). */
  | { kind: 'network-error'; message: string }
  /** No frame within the first-frame or idle timeout (a buffering proxy, a dead connection). */
  | { kind: 'stalled'; opened: boolean }
  /** 200 but not an event stream (a captive portal, a proxy's HTML page). */
  | { kind: 'bad-response'; reason: string }
  /** Cancelled by the caller. */
  | { kind: 'aborted' };

export interface ReadStreamOptions {
  taskId: string;
  /** Stream route URL without token. */
  url: string;
  token: string;
  /** Resume after this seq (`Last-Event-ID`); 0 asks for the snapshot and all retained history. */
  lastSeq: number;
  /** Send the resume point as the `lastEventId` query parameter instead of the header (cross-origin). */
  lastEventIdInQuery?: boolean;
  fetch: FetchLike;
  timers: Timers;
  signal?: AbortSignal;
  firstFrameTimeoutMs: number;
  idleTimeoutMs: number;
  healthyStreamMs: number;
  /** Lifetime given to received events (`expiresAt` = receipt time + this). */
  retentionMs: number;
  /** Called once, when the first frame (event, comment or `retry:`) arrives. */
  onOpen?(): void;
  /** The task snapshot that opens the stream. Awaited before anything after it. */
  onSnapshot?(snapshot: SnapshotTask): void | Promise<void>;
  /** Events in seq order, batched per network chunk. Awaited before reading on (backpressure). */
  onEvents(events: TaskEvent[]): void | Promise<void>;
  onRetry?(ms: number): void;
}

const NOT_READY = Symbol('not ready');
const NOT_READY_PROMISE = Promise.resolve(NOT_READY);

/** Builds the request URL and headers of a stream connection. */
export function streamRequest(
  url: string,
  token: string,
  lastSeq: number,
  lastEventIdInQuery = false,
): { url: string; headers: Record<string, string> } {
  const u = new URL(url);
  u.searchParams.set('token', token);
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (lastEventIdInQuery) u.searchParams.set('lastEventId', String(lastSeq));
  else headers['Last-Event-ID'] = String(lastSeq);
  return { url: u.toString(), headers };
}

function isSnapshotFrame(data: unknown): data is { task: SnapshotTask } {
  if (typeof data !== 'object' || data === null || !('task' in data)) return false;
  const task = (data as { task: unknown }).task;
  if (typeof task !== 'object' || task === null) return false;
  const metadata = (task as { metadata?: unknown }).metadata;
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as { seq?: unknown }).seq === 'number'
  );
}

async function readErrorCode(res: Response): Promise<string | undefined> {
  try {
    const body: unknown = await res.json();
    if (typeof body === 'object' && body !== null && typeof (body as { code?: unknown }).code === 'string') {
      return (body as { code: string }).code;
    }
  } catch {
    // not JSON: no code
  }
  return undefined;
}

/**
 * Opens one SSE connection to a task's stream with `fetch`, parses it with `eventsource-parser`
 * and hands the snapshot and events to the callbacks, awaiting each batch before reading on.
 * Never throws: every way the attempt can end is a {@link StreamOutcome}. Used by the Service
 * Worker and by pages without one.
 */
export async function readTaskStream(o: ReadStreamOptions): Promise<StreamOutcome> {
  if (o.signal?.aborted) return { kind: 'aborted' };
  const controller = new AbortController();
  let why: 'stalled' | 'aborted' | undefined;
  const onAbort = () => {
    why ??= 'aborted';
    controller.abort();
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timer: unknown;
  const disarm = () => {
    if (timer !== undefined) o.timers.clearTimeout(timer);
    timer = undefined;
  };
  const arm = (ms: number) => {
    disarm();
    timer = o.timers.setTimeout(() => {
      why ??= 'stalled';
      controller.abort();
    }, ms);
  };

  let opened = false;
  let openedAt = 0;
  let newEvents = 0;
  let maxSeq = o.lastSeq;
  let snapshotSeen = false;
  let snapshotTerminal = false;
  let sawFinal = false;

  const interrupted = (): StreamOutcome | undefined => {
    if (why === 'aborted') return { kind: 'aborted' };
    if (why === 'stalled') return { kind: 'stalled', opened };
    return undefined;
  };

  arm(o.firstFrameTimeoutMs);
  try {
    const req = streamRequest(o.url, o.token, o.lastSeq, o.lastEventIdInQuery);
    let res: Response;
    try {
      res = await o.fetch(req.url, { headers: req.headers, signal: controller.signal, cache: 'no-store' });
    } catch (err) {
      return (
        interrupted() ?? { kind: 'network-error', message: err instanceof Error ? err.message : String(err) }
      );
    }
    if (res.status === 204) {
      void res.body?.cancel().catch(() => undefined);
      return { kind: 'no-content' };
    }
    if (!res.ok) {
      const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), o.timers.now());
      const code = await readErrorCode(res);
      const out: StreamOutcome = { kind: 'http-error', status: res.status };
      if (retryAfterMs !== undefined) out.retryAfterMs = retryAfterMs;
      if (code !== undefined) out.code = code;
      return out;
    }
    const contentType = res.headers.get('content-type') ?? '';
    if (!res.body || !contentType.toLowerCase().includes('text/event-stream')) {
      void res.body?.cancel().catch(() => undefined);
      return { kind: 'bad-response', reason: `expected text/event-stream, got ${contentType || 'nothing'}` };
    }

    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const messages: EventSourceMessage[] = [];
    let frames = 0;
    let lastChar: string | undefined;
    const parser = createParser({
      onEvent: (m) => {
        frames++;
        messages.push(m);
      },
      onRetry: (ms) => {
        frames++;
        o.onRetry?.(ms);
      },
      onComment: () => {
        frames++;
      },
    });

    let next: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
    const take = () => {
      const p = next ?? reader.read();
      next = undefined;
      return p;
    };
    const feed = (bytes: Uint8Array) => {
      const text = decoder.decode(bytes, { stream: true });
      if (text.length > 0) lastChar = text[text.length - 1];
      parser.feed(text);
    };
    /**
     * Takes the chunks that are already here (they arrived while the last batch was being
     * stored) so they are stored as one batch: one event per chunk, each stored on its own,
     * fell further behind whenever a store took longer than the gap between two events.
     * A read that is not ready yet is kept for the next turn; an end or error is left to it.
     */
    const takeReady = async () => {
      for (;;) {
        const p = next ?? reader.read();
        next = p;
        let r: ReadableStreamReadResult<Uint8Array> | typeof NOT_READY;
        try {
          r = await Promise.race([p, NOT_READY_PROMISE]);
        } catch {
          return;
        }
        if (r === NOT_READY || r.done) return;
        next = undefined;
        feed(r.value);
      }
    };

    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await take();
      } catch {
        const stop = interrupted();
        if (stop) return stop;
        return ended(false);
      }
      if (chunk.done) {
        // A CR at the very end is a complete line ending; the parser waits for a possible LF.
        const rest = decoder.decode() + (lastChar === '\r' ? '\n' : '');
        if (rest) parser.feed(rest);
        if (frames > 0) await drain();
        return snapshotTerminal || sawFinal ? { kind: 'final' } : ended(true);
      }
      feed(chunk.value);
      await takeReady();
      if (frames === 0) continue;
      frames = 0;
      disarm();
      if (!opened) {
        opened = true;
        openedAt = o.timers.now();
        o.onOpen?.();
      }
      await drain();
      if (sawFinal) {
        void reader.cancel().catch(() => undefined);
        return { kind: 'final' };
      }
      const stop = interrupted();
      if (stop) {
        void reader.cancel().catch(() => undefined);
        return stop;
      }
      arm(o.idleTimeoutMs);
    }

    async function drain(): Promise<void> {
      let batch: TaskEvent[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const out = batch;
        batch = [];
        await o.onEvents(out);
      };
      while (messages.length > 0 && !sawFinal) {
        const m = messages.shift()!;
        if (m.event !== undefined && m.event !== 'message') continue;
        let data: unknown;
        try {
          data = JSON.parse(m.data);
        } catch {
          continue;
        }
        if (!snapshotSeen && isSnapshotFrame(data)) {
          snapshotSeen = true;
          snapshotTerminal = isTerminalState(data.task.status?.state);
          await flush();
          await o.onSnapshot?.(data.task);
          continue;
        }
        const seq = parseEventId(m.id);
        if (seq === undefined || typeof data !== 'object' || data === null) continue;
        const now = o.timers.now();
        const event = data as WireStreamResponse;
        batch.push({
          taskId: o.taskId,
          seq,
          event,
          createdAt: new Date(now).toISOString(),
          expiresAt: new Date(now + o.retentionMs).toISOString(),
        });
        if (seq > maxSeq) {
          maxSeq = seq;
          newEvents++;
        }
        if (isTerminalState(eventState(event))) sawFinal = true;
      }
      await flush();
    }
  } finally {
    disarm();
    o.signal?.removeEventListener('abort', onAbort);
  }

  function ended(clean: boolean): StreamOutcome {
    if (!opened) return { kind: 'stalled', opened: false };
    const healthy = newEvents > 0 || o.timers.now() - openedAt >= o.healthyStreamMs;
    return { kind: 'ended', healthy, clean };
  }
}
