import type { Collection, Db, MongoBulkWriteError } from 'mongodb';
import {
  isTerminalState,
  streamEventKind,
  type TaskEvent,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import { COLLECTIONS, type TaskDoc, type TaskMessageDoc } from '../db/types.js';
import { isDuplicateKeyError } from '../db/connect.js';
import type { Hub, HubEvent } from '../hub/hub.js';
import { applyEvent, type TaskState } from './task-state.js';
import { invalidEvent, taskFinal, taskNotFound } from './errors.js';

export interface EventLogOptions {
  /** Lifetime of a stored message. */
  ttlMs: number;
  hub: Hub;
  now?: () => Date;
  /** Called after every committed batch (metrics). */
  onCommitted?: (count: number) => void;
  /** Called when a seq race with another writer forced a retry (metrics). */
  onConflict?: () => void;
  /** Called with what was just published to the hub (cross-instance tail bookkeeping). */
  onPublished?: (events: readonly HubEvent[]) => void;
}

export interface ReadResult {
  events: TaskEvent[];
  /** The oldest retained seq seen, when history before `after` has expired. */
  historyTruncated: boolean;
  earliestSeq: number | undefined;
}

interface PendingAppend {
  events: WireStreamResponse[];
  resolve: (events: TaskEvent[]) => void;
  reject: (error: unknown) => void;
}

interface CachedTask {
  lastSeq: number;
  contextId: string;
  state: TaskState;
}

const MAX_BATCH_EVENTS = 2000;
const MAX_CACHED_TASKS = 10_000;
const MAX_CONFLICT_RETRIES = 50;

/**
 * The task event log (`task_messages`). Appends to one task go through one in-process queue and
 * out as `insertMany` of consecutive seqs; the unique `{taskId, seq}` index is the arbiter against
 * other writers (another instance): a duplicate key reloads the last seq and retries the rest.
 * Nothing is acknowledged or published before its insert succeeded, so a seq exists only once
 * stored and there are no holes.
 */
export class EventLog {
  readonly messages: Collection<TaskMessageDoc>;
  readonly tasks: Collection<TaskDoc>;
  readonly #options: EventLogOptions;
  readonly #queues = new Map<string, PendingAppend[]>();
  readonly #cache = new Map<string, CachedTask>();
  readonly #now: () => Date;

  constructor(db: Db, options: EventLogOptions) {
    this.messages = db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    this.tasks = db.collection<TaskDoc>(COLLECTIONS.tasks);
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Appends events to a task; resolves with them as stored, seqs allocated in order. */
  append(taskId: string, events: WireStreamResponse[]): Promise<TaskEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(taskId);
      const pending = { events, resolve, reject };
      if (queue) {
        queue.push(pending);
        return;
      }
      this.#queues.set(taskId, [pending]);
      void this.#drain(taskId);
    });
  }

  /** Retained events after `after` in seq order (never an expired one, deleted or not). */
  async readAfter(taskId: string, after: number, limit: number, lastSeq?: number): Promise<ReadResult> {
    const docs = await this.messages
      .find(
        { taskId, seq: { $gt: after }, expiresAt: { $gt: this.#now() } },
        { projection: { _id: 0 }, sort: { seq: 1 }, limit, batchSize: Math.min(limit, 10_000) },
      )
      .toArray();
    const events = docs.map(toTaskEvent);
    const first = events[0]?.seq;
    const known = lastSeq ?? (await this.lastSeq(taskId));
    const historyTruncated = first !== undefined ? first > after + 1 : known > after;
    return {
      events,
      historyTruncated,
      earliestSeq: historyTruncated ? (first ?? known + 1) : undefined,
    };
  }

  /** The highest stored seq of a task (the task document may lag a crashed writer). */
  async lastSeq(taskId: string): Promise<number> {
    const [task, top] = await Promise.all([
      this.tasks.findOne({ _id: taskId }, { projection: { lastSeq: 1 } }),
      this.messages.findOne({ taskId }, { projection: { seq: 1 }, sort: { seq: -1 } }),
    ]);
    return Math.max(task?.lastSeq ?? 0, top?.seq ?? 0);
  }

  /** Forget cached task state (another writer changed it). */
  invalidate(taskId: string): void {
    this.#cache.delete(taskId);
  }

  async #drain(taskId: string): Promise<void> {
    const queue = this.#queues.get(taskId)!;
    while (queue.length > 0) {
      const batch: PendingAppend[] = [];
      let count = 0;
      while (
        queue.length > 0 &&
        (batch.length === 0 || count + queue[0]!.events.length <= MAX_BATCH_EVENTS)
      ) {
        const next = queue.shift()!;
        batch.push(next);
        count += next.events.length;
      }
      try {
        await this.#commit(taskId, batch);
      } catch (error) {
        this.#cache.delete(taskId);
        if (batch.length === 1) {
          batch[0]!.reject(error);
          continue;
        }
        // One request's bad event must not fail the others batched with it: retry them one by one.
        for (const p of batch) {
          try {
            await this.#commit(taskId, [p]);
          } catch (single) {
            this.#cache.delete(taskId);
            p.reject(single);
          }
        }
      }
    }
    this.#queues.delete(taskId);
  }

  async #commit(taskId: string, batch: PendingAppend[]): Promise<void> {
    let cached = this.#cache.get(taskId) ?? (await this.#load(taskId));
    const now = this.#now();
    const expiresAt = new Date(now.getTime() + this.#options.ttlMs);
    const accepted: Array<{ pending: PendingAppend; events: WireStreamResponse[] }> = [];
    let state = cached.state;
    for (const pending of batch) {
      if (state.final) {
        pending.reject(taskFinal());
        continue;
      }
      let events: WireStreamResponse[];
      try {
        events = pending.events.map((e) => normalise(e, taskId, cached.contextId, now));
        const finalAt = events.findIndex((e) => isFinalEvent(e));
        if (finalAt !== -1 && finalAt < events.length - 1)
          throw invalidEvent('No event may follow the one that ends the task');
      } catch (error) {
        pending.reject(error);
        continue;
      }
      for (const e of events) state = applyEvent(state, e);
      accepted.push({ pending, events });
    }
    if (accepted.length === 0) return;

    const flat = accepted.flatMap((a) => a.events);
    const docs: TaskMessageDoc[] = flat.map((event) => ({
      taskId,
      seq: 0,
      kind: streamEventKind(event),
      event,
      createdAt: now,
      expiresAt,
    }));
    let nextSeq = cached.lastSeq + 1;
    let done = 0;
    for (let attempt = 0; done < docs.length; attempt++) {
      for (let i = done; i < docs.length; i++) docs[i]!.seq = nextSeq + (i - done);
      try {
        await this.messages.insertMany(docs.slice(done), { ordered: true });
        done = docs.length;
      } catch (error) {
        if (!isDuplicateKeyError(error) || attempt >= MAX_CONFLICT_RETRIES) throw error;
        this.#options.onConflict?.();
        done += insertedBeforeError(error);
        // Another writer took these seqs: continue after the highest stored one.
        const reloaded = await this.#load(taskId);
        cached = reloaded;
        nextSeq = reloaded.lastSeq + 1;
        state = reloaded.state;
        for (let i = done; i < docs.length; i++) state = applyEvent(state, docs[i]!.event);
      }
    }
    // The highest seq we hold; `docs` may interleave with another writer's after a conflict.
    const lastSeq = Math.max(cached.lastSeq, docs[docs.length - 1]!.seq);
    await this.tasks.updateOne(
      { _id: taskId, lastSeq: { $lt: lastSeq } },
      {
        $set: {
          lastSeq,
          status: state.status,
          artifacts: state.artifacts,
          history: state.history,
          final: state.final,
          updatedAt: now,
        },
      },
    );
    this.#remember(taskId, { lastSeq, contextId: cached.contextId, state });

    const storedAt = Date.now();
    const hubEvents: HubEvent[] = docs.map((d) => ({
      taskId,
      seq: d.seq,
      json: JSON.stringify(d.event),
      final: isFinalEvent(d.event),
      storedAt,
    }));
    this.#options.hub.publish(hubEvents);
    this.#options.onPublished?.(hubEvents);
    this.#options.onCommitted?.(docs.length);

    let offset = 0;
    for (const { pending, events } of accepted) {
      pending.resolve(docs.slice(offset, offset + events.length).map(toTaskEvent));
      offset += events.length;
    }
  }

  async #load(taskId: string): Promise<CachedTask> {
    const task = await this.tasks.findOne({ _id: taskId });
    if (!task) throw taskNotFound();
    const top = await this.messages.findOne({ taskId }, { projection: { seq: 1 }, sort: { seq: -1 } });
    return {
      lastSeq: Math.max(task.lastSeq, top?.seq ?? 0),
      contextId: task.contextId,
      state: { status: task.status, artifacts: task.artifacts, history: task.history, final: task.final },
    };
  }

  #remember(taskId: string, entry: CachedTask): void {
    this.#cache.delete(taskId);
    if (entry.state.final) return;
    this.#cache.set(taskId, entry);
    if (this.#cache.size > MAX_CACHED_TASKS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }
}

export function isFinalEvent(event: WireStreamResponse): boolean {
  return 'statusUpdate' in event && isTerminalState(event.statusUpdate.status.state);
}

/** Binds an event to its task and stamps a status without a timestamp. */
function normalise(
  event: WireStreamResponse,
  taskId: string,
  contextId: string,
  now: Date,
): WireStreamResponse {
  if ('statusUpdate' in event) {
    const u = event.statusUpdate;
    checkBinding(u.taskId, u.contextId, taskId, contextId);
    const status = u.status.timestamp ? u.status : { ...u.status, timestamp: now.toISOString() };
    return { statusUpdate: { ...u, taskId, contextId, status } };
  }
  if ('artifactUpdate' in event) {
    const u = event.artifactUpdate;
    checkBinding(u.taskId, u.contextId, taskId, contextId);
    return { artifactUpdate: { ...u, taskId, contextId } };
  }
  if ('message' in event) return { message: { ...event.message, taskId, contextId } };
  throw invalidEvent('Agents append statusUpdate, artifactUpdate or message events');
}

function checkBinding(
  givenTask: string | undefined,
  givenContext: string | undefined,
  taskId: string,
  contextId: string,
) {
  if (givenTask && givenTask !== taskId) throw invalidEvent('The event names another task');
  if (givenContext && givenContext !== contextId) throw invalidEvent('The event names another context');
}

function insertedBeforeError(error: unknown): number {
  const bulk = error as Partial<MongoBulkWriteError> & {
    writeErrors?: Array<{ index: number }> | { index: number };
  };
  const writeErrors = bulk.writeErrors;
  const first = Array.isArray(writeErrors) ? writeErrors[0] : writeErrors;
  if (first && typeof first.index === 'number') return first.index;
  return bulk.insertedCount ?? 0;
}

function toTaskEvent(doc: TaskMessageDoc): TaskEvent {
  return {
    taskId: doc.taskId,
    seq: doc.seq,
    event: doc.event,
    createdAt: doc.createdAt.toISOString(),
    expiresAt: doc.expiresAt.toISOString(),
  };
}
