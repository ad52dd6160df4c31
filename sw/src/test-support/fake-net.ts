import type { SnapshotTask, TaskEvent, WireStreamResponse } from '@orchestrator-ai/transport-types';
import type { FetchLike } from '../shared/timers.js';

/** One request seen by {@link FakeNet}. */
export interface SeenRequest {
  url: URL;
  method: string;
  headers: Headers;
  signal: AbortSignal | undefined;
}

type Handler = (req: SeenRequest) => Response | Promise<Response>;

/** A scriptable `fetch`: each request goes to the first route whose test matches. */
export class FakeNet {
  readonly requests: SeenRequest[] = [];
  private routes: Array<{ test: (req: SeenRequest) => boolean; handle: Handler }> = [];

  readonly fetch: FetchLike = async (input, init) => {
    const req: SeenRequest = {
      url: new URL(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      signal: init?.signal ?? undefined,
    };
    this.requests.push(req);
    if (req.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const route = this.routes.find((r) => r.test(req));
    if (!route) return json(404, { code: 'not_found', message: 'no route' });
    return route.handle(req);
  };

  on(test: (req: SeenRequest) => boolean, handle: Handler): this {
    this.routes.push({ test, handle });
    return this;
  }

  /** Routes whose path ends with `suffix`. */
  onPath(suffix: string, handle: Handler): this {
    return this.on((r) => r.url.pathname.endsWith(suffix), handle);
  }

  seen(suffix: string): SeenRequest[] {
    return this.requests.filter((r) => r.url.pathname.endsWith(suffix));
  }
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...headers },
  });
}

/**
 * A live SSE response the test writes to. Aborting the request's signal errors the body, as a
 * real `fetch` does.
 */
export class SseChannel {
  readonly response: Response;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly encoder = new TextEncoder();
  closed = false;
  cancelled = false;

  constructor(signal?: AbortSignal, headers: Record<string, string> = {}) {
    const stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.controller = c;
      },
      cancel: () => {
        this.cancelled = true;
        this.closed = true;
      },
    });
    signal?.addEventListener('abort', () => this.fail(new DOMException('aborted', 'AbortError')), {
      once: true,
    });
    this.response = new Response(stream, {
      status: 200,
      headers: { 'content-type': 'text/event-stream', ...headers },
    });
  }

  write(text: string): void {
    this.writeBytes(this.encoder.encode(text));
  }

  writeBytes(bytes: Uint8Array): void {
    if (this.closed) return;
    this.controller.enqueue(bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.close();
  }

  fail(err: unknown = new TypeError('network error')): void {
    if (this.closed) return;
    this.closed = true;
    this.controller.error(err);
  }
}

export function task(
  taskId: string,
  seq: number,
  state = 'TASK_STATE_WORKING',
  extra: Record<string, unknown> = {},
): SnapshotTask {
  return {
    id: taskId,
    contextId: 'ctx',
    status: { state: state as SnapshotTask['status']['state'] },
    metadata: { seq, ...extra },
  };
}

export function statusUpdate(
  taskId: string,
  state = 'TASK_STATE_WORKING',
  text?: string,
): WireStreamResponse {
  return {
    statusUpdate: {
      taskId,
      contextId: 'ctx',
      status: {
        state: state as SnapshotTask['status']['state'],
        ...(text ? { message: { messageId: `m-${text}`, role: 'ROLE_AGENT', parts: [{ text }] } } : {}),
      },
    },
  };
}

export function snapshotFrame(lastEventId: number, snapshot: SnapshotTask): string {
  return `id: ${lastEventId}\ndata: ${JSON.stringify({ task: snapshot })}\n\n`;
}

export function eventFrame(seq: number, data: WireStreamResponse): string {
  return `id: ${seq}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function storedEvent(taskId: string, seq: number, now = Date.now(), ttlMs = 3_600_000): TaskEvent {
  return {
    taskId,
    seq,
    event: statusUpdate(taskId, 'TASK_STATE_WORKING', `step ${seq}`),
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + ttlMs).toISOString(),
  };
}

export function messagesPage(
  taskId: string,
  seqs: number[],
  lastSeq: number,
  final = false,
  extra: { historyTruncated?: boolean; earliestSeq?: number } = {},
): Response {
  return json(200, {
    taskId,
    events: seqs.map((seq) => ({
      seq,
      event: statusUpdate(
        taskId,
        final && seq === lastSeq ? 'TASK_STATE_COMPLETED' : 'TASK_STATE_WORKING',
        `step ${seq}`,
      ),
      createdAt: new Date().toISOString(),
    })),
    lastSeq,
    final,
    historyTruncated: extra.historyTruncated ?? false,
    ...(extra.earliestSeq !== undefined ? { earliestSeq: extra.earliestSeq } : {}),
  });
}

/** Resolves after pending microtasks and I/O callbacks ran. */
export function tick(ms = 0): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until `check` stops throwing (or fails with its last error). */
export async function until(check: () => void, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (err) {
      if (Date.now() > end) throw err;
      await tick(2);
    }
  }
}
