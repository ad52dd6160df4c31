import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type TaskMessageDoc } from '../db/types.js';
import { isFinalEvent } from '../store/event-log.js';
import type { DeliverySource, Hub, HubEvent } from './hub.js';

export interface TailingOptions {
  /** Poll interval while other instances are writing. */
  pollMs: number;
  /**
   * After a quiet spell (`quietPolls` polls in a row with nothing from other instances, default
   * 20) the interval doubles at each empty poll, up to this many times `pollMs` (default 8): a
   * lone instance does not query the database 20 times a second for nothing, and the first event
   * another instance writes after a quiet spell waits at most that. Any delivery resets it.
   */
  maxIdleFactor?: number;
  quietPolls?: number;
  /** Tasks per query (an `$or` of `{taskId, seq > last}` clauses, each on the unique index). */
  batchTasks?: number;
  onDelivered?(count: number): void;
}

/**
 * Cross-instance delivery where change streams are not available: for every task someone on
 * this instance watches, a tailing query by seq picks up what other instances stored. Events
 * this instance appended itself arrive here too; streams drop seqs they already wrote.
 */
export class TailingDelivery implements DeliverySource {
  readonly kind = 'tailing-query';
  readonly #messages: Collection<TaskMessageDoc>;
  readonly #last = new Map<string, number>();
  #hub: Hub | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #polling = false;
  #stopped = false;
  #intervalMs: number;
  #emptyPolls = 0;

  constructor(
    db: Db,
    private readonly options: TailingOptions,
  ) {
    this.#messages = db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    this.#intervalMs = options.pollMs;
  }

  /** The current poll interval (ms). */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  async start(hub: Hub): Promise<void> {
    this.#hub = hub;
    this.#stopped = false;
    // Listen to local publishes to know how far each task is, so the tail starts there.
    this.#unwatch = hub.watch({
      // From the subscriber's own position: an event stored between its read of the history and
      // this tail's first look at the task would otherwise be taken as already seen.
      added: (taskId, from) => {
        const last = this.#last.get(taskId);
        if (from !== undefined)
          this.#last.set(taskId, last === undefined || last < 0 ? from : Math.min(last, from));
        else if (last === undefined) this.#last.set(taskId, -1);
      },
      removed: (taskId) => this.#last.delete(taskId),
    });
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unwatch?.();
    this.#last.clear();
  }

  /** Local appends move the tail forward without a query. */
  noteLocal(events: readonly HubEvent[]): void {
    for (const e of events) {
      const last = this.#last.get(e.taskId);
      if (last !== undefined && e.seq > last) this.#last.set(e.taskId, e.seq);
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll(), this.#intervalMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#stopped || !this.#hub) return this.#schedule();
    this.#polling = true;
    let delivered = 0;
    try {
      await this.#initialiseNewTasks();
      const entries = [...this.#last.entries()].filter(([, last]) => last >= 0);
      const size = this.options.batchTasks ?? 200;
      for (let i = 0; i < entries.length; i += size) {
        const chunk = entries.slice(i, i + size);
        const docs = await this.#messages
          .find(
            { $or: chunk.map(([taskId, seq]) => ({ taskId, seq: { $gt: seq } })) },
            { projection: { _id: 0 }, sort: { taskId: 1, seq: 1 }, limit: 5000 },
          )
          .toArray();
        delivered += this.#publish(docs);
      }
    } catch {
      // The database is briefly unreachable: try again next tick; streams catch up by seq.
    } finally {
      this.#polling = false;
      const { pollMs, maxIdleFactor = 8, quietPolls = 20 } = this.options;
      this.#emptyPolls = delivered > 0 ? 0 : this.#emptyPolls + 1;
      this.#intervalMs =
        this.#emptyPolls <= quietPolls ? pollMs : Math.min(this.#intervalMs * 2, pollMs * maxIdleFactor);
      this.#schedule();
    }
  }

  async #initialiseNewTasks(): Promise<void> {
    const fresh = [...this.#last.entries()].filter(([, last]) => last < 0).map(([taskId]) => taskId);
    await Promise.all(
      fresh.map(async (taskId) => {
        const top = await this.#messages.findOne({ taskId }, { projection: { seq: 1 }, sort: { seq: -1 } });
        if (this.#last.get(taskId) === -1) this.#last.set(taskId, top?.seq ?? 0);
      }),
    );
  }

  /** Publishes what this instance has not seen yet; returns how many events that was. */
  #publish(docs: TaskMessageDoc[]): number {
    if (docs.length === 0) return 0;
    const events: HubEvent[] = [];
    for (const d of docs) {
      const last = this.#last.get(d.taskId);
      if (last === undefined || d.seq <= last) continue;
      this.#last.set(d.taskId, d.seq);
      events.push({
        taskId: d.taskId,
        seq: d.seq,
        json: JSON.stringify(d.event),
        final: isFinalEvent(d.event),
        storedAt: d.createdAt.getTime(),
      });
    }
    this.#hub!.publish(events);
    this.options.onDelivered?.(events.length);
    return events.length;
  }
}

/**
 * Cross-instance delivery on deployments with change streams (replica sets, Atlas): inserts into
 * `task_messages` for tasks watched here are published as they commit.
 */
export class ChangeStreamDelivery implements DeliverySource {
  readonly kind = 'change-stream';
  #close: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: { onDelivered?(count: number): void } = {},
  ) {}

  async start(hub: Hub): Promise<void> {
    const stream = this.db
      .collection<TaskMessageDoc>(COLLECTIONS.taskMessages)
      .watch<TaskMessageDoc>([{ $match: { operationType: 'insert' } }]);
    stream.on('change', (change) => {
      if (change.operationType !== 'insert') return;
      const d = change.fullDocument;
      if (!hub.hasSubscribers(d.taskId)) return;
      hub.publish([
        {
          taskId: d.taskId,
          seq: d.seq,
          json: JSON.stringify(d.event),
          final: isFinalEvent(d.event),
          storedAt: d.createdAt.getTime(),
        },
      ]);
      this.options.onDelivered?.(1);
    });
    stream.on('error', () => undefined);
    this.#close = () => stream.close();
  }

  async stop(): Promise<void> {
    await this.#close?.();
  }
}

/** True when the deployment offers change streams (a replica set or sharded cluster). */
export async function supportsChangeStreams(db: Db): Promise<boolean> {
  try {
    const hello = await db.admin().command({ hello: 1 });
    if (!hello.setName && hello.msg !== 'isdbgrid') return false;
    const stream = db.collection(COLLECTIONS.taskMessages).watch([], { maxAwaitTimeMS: 1 });
    await stream.tryNext();
    await stream.close();
    return true;
  } catch {
    return false;
  }
}
