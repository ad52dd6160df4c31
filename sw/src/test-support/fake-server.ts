import {
  parseEventId,
  type SnapshotTask,
  type TaskEvent,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import type { SessionReport, SessionSink } from '../shared/task-session.js';
import {
  FakeNet,
  SseChannel,
  eventFrame,
  json,
  snapshotFrame,
  statusUpdate,
  task,
  type SeenRequest,
} from './fake-net.js';

/**
 * A task on a fake API with the stream and messages routes of the HTTP contract: snapshot first
 * (id = the resume point), then retained events after it, then live ones; 204 at the final
 * event; `after`/`limit` paging for polls. Tests override any route by registering theirs first.
 */
export class FakeTaskServer {
  readonly events: WireStreamResponse[] = [];
  final = false;
  readonly open = new Set<SseChannel>();
  /** Seqs at or below this have expired. */
  expiredThrough = 0;

  constructor(
    readonly net: FakeNet,
    readonly taskId = 't1',
  ) {}

  get lastSeq(): number {
    return this.events.length;
  }

  /** Stream tokens minted so far. */
  minted = 0;
  /** The user token the token route accepts. */
  userToken = 'user-secret';

  /** Registers the default routes (after any the test registered). */
  routes(): this {
    this.net.on(
      (r) => r.method === 'POST' && r.url.pathname.endsWith(`/${this.taskId}/stream-token`),
      (req) => {
        if (req.headers.get('authorization') !== `Bearer ${this.userToken}`)
          return json(401, { code: 'unauthorized' });
        this.minted++;
        return json(200, {
          token: `stream-${this.taskId}-${this.minted}`,
          expiresAt: new Date(Date.now() + 300_000).toISOString(),
          streamUrl: req.url.pathname.replace(/stream-token$/, 'stream'),
        });
      },
    );
    this.net.onPath(`/${this.taskId}/stream`, (req) => this.stream(req));
    this.net.onPath(`/${this.taskId}/messages`, (req) => this.messages(req));
    this.net.onPath(`/tasks/${this.taskId}`, () => json(200, this.snapshot()));
    return this;
  }

  snapshot(): SnapshotTask {
    const state = this.final ? 'TASK_STATE_COMPLETED' : 'TASK_STATE_WORKING';
    return task(this.taskId, this.lastSeq, state);
  }

  append(n = 1): void {
    for (let i = 0; i < n; i++) {
      const ev = statusUpdate(this.taskId, 'TASK_STATE_WORKING', `step ${this.events.length + 1}`);
      this.events.push(ev);
      for (const ch of this.open) ch.write(eventFrame(this.events.length, ev));
    }
  }

  complete(): void {
    const ev = statusUpdate(this.taskId, 'TASK_STATE_COMPLETED', 'done');
    this.events.push(ev);
    this.final = true;
    for (const ch of this.open) {
      ch.write(eventFrame(this.events.length, ev));
      ch.close();
    }
    this.open.clear();
  }

  /** Closes every open stream cleanly (token expiry, server restart). */
  closeAll(): void {
    for (const ch of this.open) ch.close();
    this.open.clear();
  }

  stream(req: SeenRequest): Response {
    const header = parseEventId(req.headers.get('last-event-id'));
    const query = parseEventId(req.url.searchParams.get('lastEventId'));
    const L = header ?? query ?? this.lastSeq;
    if (this.final && L >= this.lastSeq) return new Response(null, { status: 204 });
    const ch = new SseChannel(req.signal);
    const snap = this.snapshot();
    if (L < this.expiredThrough) {
      snap.metadata.historyTruncated = true;
      snap.metadata.earliestSeq = this.expiredThrough + 1;
    }
    ch.write('retry: 1000\n: ok\n\n' + snapshotFrame(L, snap));
    for (let seq = Math.max(L, this.expiredThrough) + 1; seq <= this.lastSeq; seq++) {
      ch.write(eventFrame(seq, this.events[seq - 1]!));
    }
    if (this.final) ch.close();
    else {
      this.open.add(ch);
      req.signal?.addEventListener('abort', () => this.open.delete(ch));
    }
    return ch.response;
  }

  messages(req: SeenRequest): Response {
    if (!req.headers.get('authorization')?.startsWith('Bearer ')) return json(401, { code: 'unauthorized' });
    const after = Number(req.url.searchParams.get('after') ?? '0');
    const limit = Number(req.url.searchParams.get('limit') ?? '1000');
    const from = Math.max(after, this.expiredThrough) + 1;
    const events = [];
    for (let seq = from; seq <= this.lastSeq && events.length < limit; seq++) {
      events.push({ seq, event: this.events[seq - 1]!, createdAt: new Date().toISOString() });
    }
    return json(200, {
      taskId: this.taskId,
      events,
      lastSeq: this.lastSeq,
      final: this.final,
      historyTruncated: after < this.expiredThrough,
      ...(after < this.expiredThrough ? { earliestSeq: this.expiredThrough + 1 } : {}),
    });
  }
}

/** A sink that records everything and checks the no-gap, no-duplicate contract as it goes. */
export class RecordingSink implements SessionSink {
  readonly seqs: number[] = [];
  readonly snapshots: SnapshotTask[] = [];
  readonly states: SessionReport[] = [];
  readonly violations: string[] = [];
  final = false;

  constructor(public stored = 0) {}

  cursor(): Promise<{ seq: number; final: boolean }> {
    return Promise.resolve({ seq: this.stored, final: this.final });
  }

  snapshot(snapshot: SnapshotTask): Promise<void> {
    this.snapshots.push(snapshot);
    return Promise.resolve();
  }

  events(events: TaskEvent[]): Promise<void> {
    for (const e of events) {
      const last = this.seqs.at(-1) ?? this.stored;
      if (e.seq !== last + 1) this.violations.push(`got ${e.seq} after ${last}`);
      this.seqs.push(e.seq);
    }
    return Promise.resolve();
  }

  state(report: SessionReport): void {
    this.states.push(report);
  }

  get last(): SessionReport | undefined {
    return this.states.at(-1);
  }

  stateNames(): string[] {
    return this.states.map((s) => `${s.state}/${s.transport}`);
  }
}
