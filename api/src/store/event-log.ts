import type { AnyBulkWriteOperation, Collection, Db, MongoBulkWriteError } from 'mongodb';
import {
  isTerminalState,
  streamEventKind,
  type TaskEvent,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import { COLLECTIONS, type TaskDoc, type TaskMessageDoc } from '../db/types.js';
import type { AppendGaps } from '../db/append-gaps.js';
import { isDuplicateKeyError } from '../db/connect.js';
import type { Hub, HubEvent } from '../hub/hub.js';
import { applyEvent, artifactChars, type TaskState } from './task-state.js';
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
  /**
   * How long a snapshot write waits for more appends (to this and other tasks) to fold in
   * (default 50 ms), unless a reader waits for it (`flushed`). Snapshot writes compete with the
   * inserts for the database, and a snapshot rewrites the whole document (artifacts included).
   */
  snapshotDelayMs?: number;
  /**
   * How long a snapshot may wait when the appends since the last prompt one only add artifact
   * chunks or messages (default 30 s, at most a quarter of `ttlMs`), unless a reader waits for it
   * or MAX_LAZY_EVENTS piled up. A status change, the task's end, or anything else takes
   * `snapshotDelayMs`. An agent streaming its answer chunk by chunk would otherwise have the
   * whole document, its growing artifact included, rewritten a few times a second; readers fold
   * in the newer messages instead (`caughtUp`), and streams replay them anyway.
   */
  contentSnapshotDelayMs?: number;
  /**
   * Called when a task's snapshot could not be written after retries. The events are stored; the
   * task's next snapshot write (each one carries the whole state), or its next load, catches up.
   */
  onSnapshotError?: (taskId: string, error: unknown) => void;
  /** Where appends say they are in flight, so that snapshot writes wait for a gap between them. */
  appendGaps?: AppendGaps;
}

/** Who may append: the org/agent a task was created under (checked from the cache). */
export interface AppendBinding {
  org: string;
  agent: string;
}

export interface ReadResult {
  events: TaskEvent[];
  /** The oldest retained seq seen, when history before `after` has expired. */
  historyTruncated: boolean;
  earliestSeq: number | undefined;
}

interface PendingAppend {
  events: WireStreamResponse[];
  binding: AppendBinding | undefined;
  resolve: (events: TaskEvent[]) => void;
  reject: (error: unknown) => void;
}

interface CachedTask {
  lastSeq: number;
  /** The lastSeq of the newest snapshot handed over at the prompt pace (or loaded). */
  promptSeq: number;
  contextId: string;
  org: string;
  agent: string;
  state: TaskState;
}

/** What the task document must say once every event up to `lastSeq` is folded in. */
interface Snapshot {
  lastSeq: number;
  state: TaskState;
  updatedAt: Date;
}

const MAX_BATCH_EVENTS = 2000;
const MAX_CACHED_TASKS = 10_000;
const MAX_CONFLICT_RETRIES = 50;
const DEFAULT_SNAPSHOT_DELAY_MS = 50;
const DEFAULT_CONTENT_SNAPSHOT_DELAY_MS = 30_000;
/**
 * Content-only events a task's document may lag by before its snapshot goes at the prompt pace
 * anyway: what a reader on another instance folds in stays a small read.
 */
const MAX_LAZY_EVENTS = 200;
const SNAPSHOT_RETRY_DELAYS_MS = [50, 200, 1000];
/**
 * One `bulkWrite` takes snapshots up to this many, or until they hold this much artifact text
 * (a snapshot may hold MAX_SNAPSHOT_ARTIFACT_CHARS per artifact). Serialising a write is
 * synchronous: a larger one would stall the event loop, and the fan-out with it.
 */
const MAX_SNAPSHOTS_PER_WRITE = 100;
/**
 * Between appends (no one waiting for the write) a write takes this many, then the next waits for
 * the next gap: an append arriving meanwhile waits for one short command, not for a write of
 * every task that moved (9–28 ms on the embedded server under figure 2's load, 0.8 ms for one).
 */
const SNAPSHOTS_PER_WRITE_IN_A_GAP = 2;
const MAX_SNAPSHOT_CHARS_PER_WRITE = 1024 * 1024;

/**
 * The task event log (`task_messages`). Appends to one task go through one in-process queue and
 * out as `insertMany` of consecutive seqs; the unique `{taskId, seq}` index is the arbiter against
 * other writers (another instance): a duplicate key reloads the last seq and retries the rest.
 * Nothing is acknowledged or published before its insert succeeded, so a seq exists only once
 * stored and there are no holes.
 *
 * An append to a cached task costs its insert alone: the task's org/agent come from the cache,
 * and the task document (the snapshot) is written behind the acknowledgement, except for the
 * event that ends the task. The stored messages are the truth; the snapshot may lag them (by what
 * is pending here or on another instance, or by what a crash lost), which is why loading a task
 * and reading one (`caughtUp`) fold in the messages after the snapshot's `lastSeq`, and why
 * listings on this instance wait for `flushed()`.
 */
export class EventLog {
  readonly messages: Collection<TaskMessageDoc>;
  readonly tasks: Collection<TaskDoc>;
  readonly #options: EventLogOptions;
  readonly #queues = new Map<string, PendingAppend[]>();
  readonly #drains = new Set<Promise<void>>();
  readonly #cache = new Map<string, CachedTask>();
  readonly #snapshots: SnapshotWriter;
  readonly #now: () => Date;
  readonly #promptDelayMs: number;
  readonly #lazyDelayMs: number;

  constructor(db: Db, options: EventLogOptions) {
    this.messages = db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    this.tasks = db.collection<TaskDoc>(COLLECTIONS.tasks);
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
    this.#promptDelayMs = options.snapshotDelayMs ?? DEFAULT_SNAPSHOT_DELAY_MS;
    // The messages a lazy snapshot leaves to readers must outlive the wait, whatever the TTL.
    this.#lazyDelayMs = Math.max(
      this.#promptDelayMs,
      Math.min(options.contentSnapshotDelayMs ?? DEFAULT_CONTENT_SNAPSHOT_DELAY_MS, options.ttlMs / 4),
    );
    this.#snapshots = new SnapshotWriter(
      this.tasks,
      (taskId, error) => options.onSnapshotError?.(taskId, error),
      options.appendGaps,
    );
  }

  /**
   * Appends events to a task; resolves with them as stored, seqs allocated in order. With a
   * binding, a task created under another org/agent is answered as unknown (checked against the
   * cached task, so a hot task costs no read).
   */
  append(taskId: string, events: WireStreamResponse[], binding?: AppendBinding): Promise<TaskEvent[]> {
    if (events.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      const queue = this.#queues.get(taskId);
      const pending = { events, binding, resolve, reject };
      if (queue) {
        queue.push(pending);
        return;
      }
      this.#queues.set(taskId, [pending]);
      const gaps = this.#options.appendGaps;
      gaps?.begin();
      const drain = this.#drain(taskId).finally(() => {
        this.#drains.delete(drain);
        gaps?.end();
      });
      this.#drains.add(drain);
    });
  }

  /**
   * Resolves once the task document (every task's, without an id) holds all events acknowledged
   * before the call. Never rejects: after failed writes the document stays behind.
   */
  flushed(taskId?: string): Promise<void> {
    return this.#snapshots.flushed(taskId);
  }

  /** Waits for every accepted append to be stored and for every snapshot to be written (stop). */
  async flushAll(): Promise<void> {
    while (this.#drains.size > 0) await Promise.all(this.#drains);
    await this.#snapshots.flushed();
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

  /** The highest stored seq of a task (the task document may lag the messages). */
  async lastSeq(taskId: string): Promise<number> {
    const [task, top] = await Promise.all([
      this.tasks.findOne({ _id: taskId }, { projection: { lastSeq: 1 } }),
      this.#topSeq(taskId),
    ]);
    return Math.max(task?.lastSeq ?? 0, top);
  }

  /**
   * The task document with every message stored after its `lastSeq` folded in: the task as it is
   * now, whichever instance appended (snapshots are written behind the appends, content-only ones
   * lazily). Costs one indexed read, which finds nothing once the snapshot has caught up.
   */
  async caughtUp(doc: TaskDoc): Promise<TaskDoc> {
    const newer = await this.#foldNewer(doc._id, stateOf(doc), doc.lastSeq);
    if (newer.lastSeq === doc.lastSeq) return doc;
    return { ...doc, ...newer.state, lastSeq: newer.lastSeq, updatedAt: newer.updatedAt ?? doc.updatedAt };
  }

  /**
   * Caches a task created on this instance, as its first append would otherwise load it. Another
   * instance appending first is caught like any stale cache entry: its seq is taken, the insert
   * fails on the unique index, and the task is reloaded.
   */
  created(task: TaskDoc): void {
    if (this.#cache.has(task._id)) return;
    this.#remember(task._id, {
      lastSeq: task.lastSeq,
      promptSeq: task.lastSeq,
      contextId: task.contextId,
      org: task.org,
      agent: task.agent,
      // Copies, so that the caller, who keeps the document, cannot change the cached state.
      state: { ...stateOf(task), artifacts: [...task.artifacts], history: [...task.history] },
    });
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
      const { binding } = pending;
      // Another agent's task answers exactly like an unknown one.
      if (binding && (binding.org !== cached.org || binding.agent !== cached.agent)) {
        pending.reject(taskNotFound());
        continue;
      }
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
        // The usual append is one event: insertOne skips the driver's bulk-write machinery
        // (same command on the wire, about a quarter less client CPU per call).
        if (docs.length - done === 1) await this.messages.insertOne(docs[done]!);
        else await this.messages.insertMany(docs.slice(done), { ordered: true });
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
    const prompt = !flat.every(isContentEvent) || lastSeq - cached.promptSeq >= MAX_LAZY_EVENTS;
    this.#remember(taskId, { ...cached, lastSeq, state, promptSeq: prompt ? lastSeq : cached.promptSeq });
    // Scheduled before anyone hears of the append, so a `flushed()` after it waits for this write.
    this.#snapshots.schedule(
      taskId,
      { lastSeq, state, updatedAt: now },
      prompt ? this.#promptDelayMs : this.#lazyDelayMs,
    );
    // A task's end is written before it is acknowledged: once per task, and whoever reads the
    // documents directly (retention, listings, other instances) sees the task final from then on.
    if (state.final) await this.#snapshots.flushed(taskId);

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

  /**
   * The task as stored: its snapshot with every message after the snapshot's `lastSeq` folded
   * in. Those exist when a writer stored messages and then crashed, or has not yet written the
   * snapshot (this instance's or another's write behind); the state is then written back.
   */
  async #load(taskId: string): Promise<CachedTask> {
    const [task, top] = await Promise.all([this.tasks.findOne({ _id: taskId }), this.#topSeq(taskId)]);
    if (!task) throw taskNotFound();
    let state = stateOf(task);
    let lastSeq = task.lastSeq;
    if (top > lastSeq) {
      ({ state, lastSeq } = await this.#foldNewer(taskId, state, lastSeq));
      if (lastSeq > task.lastSeq)
        this.#snapshots.schedule(taskId, { lastSeq, state, updatedAt: this.#now() }, this.#promptDelayMs);
    }
    return {
      lastSeq,
      promptSeq: lastSeq,
      contextId: task.contextId,
      org: task.org,
      agent: task.agent,
      state,
    };
  }

  /** A task state with the stored messages after `after` folded in, in seq order. */
  async #foldNewer(
    taskId: string,
    from: TaskState,
    after: number,
  ): Promise<{ state: TaskState; lastSeq: number; updatedAt: Date | undefined }> {
    let state = from;
    let lastSeq = after;
    let updatedAt: Date | undefined;
    // Expired messages still count here: the state needs them, whoever may read them.
    const behind = this.messages.find(
      { taskId, seq: { $gt: after } },
      { projection: { _id: 0, seq: 1, event: 1, createdAt: 1 }, sort: { seq: 1 }, batchSize: 1000 },
    );
    for await (const doc of behind) {
      state = applyEvent(state, doc.event);
      lastSeq = doc.seq;
      updatedAt = doc.createdAt;
    }
    return { state, lastSeq, updatedAt };
  }

  async #topSeq(taskId: string): Promise<number> {
    const top = await this.messages.findOne({ taskId }, { projection: { seq: 1 }, sort: { seq: -1 } });
    return top?.seq ?? 0;
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

interface PendingSnapshot {
  /** The newest snapshot not yet sent; replaced, never queued, while a write waits or runs. */
  next: Snapshot | undefined;
  /** When `next` is due (epoch ms): the earliest of the delays its appends asked for. */
  dueAt: number;
  /** The highest `lastSeq` handed to this writer. */
  target: number;
  waiters: Array<{ seq: number; resolve: () => void }>;
  /** Failed writes of this task's snapshot in a row. */
  failures: number;
}

/**
 * Writes task snapshots behind the appends. Every due snapshot goes out in one `bulkWrite` (or at
 * once when someone waits for it), one `bulkWrite` in flight at a time, each task carrying only
 * its newest state. So a busy task costs a few writes a second at most whatever its append rate,
 * and many quiet tasks share them: at 20 appends a second over 200 tasks a write per task meant
 * one more database round trip, and a timer and a reply waking the process, per append. Each
 * update is conditional on a lower stored `lastSeq`, so a late write never overwrites a newer one
 * (from here or another instance).
 */
class SnapshotWriter {
  readonly #tasks: Collection<TaskDoc>;
  readonly #onGiveUp: (taskId: string, error: unknown) => void;
  readonly #pending = new Map<string, PendingSnapshot>();
  #timer: NodeJS.Timeout | undefined;
  /** When the timer fires (epoch ms). */
  #timerAt = Infinity;
  /** The timer waits out a failure: readers do not cut it short (they would hammer a sick database). */
  #backingOff = false;
  #writing = false;
  readonly #gaps: AppendGaps | undefined;
  /** Ends the current wait for a gap between appends (someone waits for the write). */
  #stopWaitingForGap: (() => void) | undefined;

  constructor(
    tasks: Collection<TaskDoc>,
    onGiveUp: (taskId: string, error: unknown) => void,
    gaps?: AppendGaps,
  ) {
    this.#tasks = tasks;
    this.#onGiveUp = onGiveUp;
    this.#gaps = gaps;
  }

  schedule(taskId: string, snapshot: Snapshot, delayMs: number): void {
    const dueAt = Date.now() + delayMs;
    const entry = this.#pending.get(taskId);
    if (!entry) {
      this.#pending.set(taskId, {
        next: snapshot,
        dueAt,
        target: snapshot.lastSeq,
        waiters: [],
        failures: 0,
      });
    } else if (snapshot.lastSeq > entry.target) {
      entry.next = snapshot;
      entry.target = snapshot.lastSeq;
      entry.dueAt = Math.min(entry.dueAt, dueAt);
    }
    this.#arm(this.#pending.get(taskId)!.dueAt);
  }

  flushed(taskId?: string): Promise<void> {
    const waits: Array<Promise<void>> = [];
    // Every waiter first, then one write: it takes them all (up to a command's size).
    for (const id of taskId === undefined ? this.#pending.keys() : [taskId]) {
      const entry = this.#pending.get(id);
      if (!entry) continue;
      const seq = entry.target;
      waits.push(new Promise<void>((resolve) => entry.waiters.push({ seq, resolve })));
    }
    if (waits.length === 0) return Promise.resolve();
    this.#hurry();
    return Promise.all(waits).then(() => undefined);
  }

  /** Has the timer fire by `at` (a running write arms the next one when it ends). */
  #arm(at: number, backOff = false): void {
    // Nothing due (a snapshot in flight): Node would run a timer of Infinity ms after 1 ms.
    if (at === Infinity) return;
    if (this.#writing || (this.#timer && (this.#backingOff || this.#timerAt <= at))) return;
    clearTimeout(this.#timer);
    this.#backingOff = backOff;
    this.#timerAt = at;
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Infinity;
        void this.#write();
      },
      Math.max(0, at - Date.now()),
    );
  }

  /** A running write is followed at once by the next when someone waits (see the end of `#write`). */
  #hurry(): void {
    if (this.#stopWaitingForGap) return this.#stopWaitingForGap();
    if (this.#writing || this.#backingOff) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    void this.#write();
  }

  async #write(): Promise<void> {
    this.#writing = true;
    let perWrite = MAX_SNAPSHOTS_PER_WRITE;
    if (this.#gaps && !this.#someoneWaits()) {
      await this.#gaps.gap((now) => (this.#stopWaitingForGap = now));
      this.#stopWaitingForGap = undefined;
      // In a gap, a short command; after waiting in vain (appends never pause), every task.
      if (this.#gaps.inFlight === 0 && !this.#someoneWaits()) perWrite = SNAPSHOTS_PER_WRITE_IN_A_GAP;
    }
    const now = Date.now();
    const batch: Array<{ taskId: string; entry: PendingSnapshot; snapshot: Snapshot }> = [];
    let more = false;
    let chars = 0;
    for (const [taskId, entry] of this.#pending) {
      if (!entry.next || (entry.dueAt > now && entry.waiters.length === 0)) continue;
      if (batch.length === perWrite || chars > MAX_SNAPSHOT_CHARS_PER_WRITE) {
        more = true;
        break;
      }
      chars += artifactChars(entry.next.state);
      batch.push({ taskId, entry, snapshot: entry.next });
      entry.next = undefined;
      entry.dueAt = Infinity;
    }
    let failed: ReadonlyMap<number, unknown> = new Map();
    if (batch.length > 0)
      try {
        await this.#tasks.bulkWrite(
          batch.map(({ taskId, snapshot }) => snapshotUpdate(taskId, snapshot)),
          { ordered: false },
        );
      } catch (error) {
        failed = failedWrites(error, batch.length);
      }
    this.#writing = false;

    let retryInMs: number | undefined;
    for (const [index, { taskId, entry, snapshot }] of batch.entries()) {
      if (failed.has(index)) {
        const delay = SNAPSHOT_RETRY_DELAYS_MS[entry.failures++];
        if (delay !== undefined) {
          entry.next ??= snapshot;
          entry.dueAt = Math.min(entry.dueAt, Date.now() + delay);
          retryInMs = Math.min(retryInMs ?? delay, delay);
          continue;
        }
        this.#onGiveUp(taskId, failed.get(index));
      }
      entry.failures = 0;
      const covered = entry.waiters.filter((w) => w.seq <= snapshot.lastSeq);
      entry.waiters = entry.waiters.filter((w) => w.seq > snapshot.lastSeq);
      for (const w of covered) w.resolve();
      if (entry.next) continue;
      this.#pending.delete(taskId);
      for (const w of entry.waiters) w.resolve();
    }

    if (retryInMs !== undefined) return this.#arm(Date.now() + retryInMs, true);
    // Those left out of a full batch have waited long enough already.
    if (more || this.#someoneWaits()) return this.#arm(0);
    let earliest = Infinity;
    for (const entry of this.#pending.values()) if (entry.next) earliest = Math.min(earliest, entry.dueAt);
    if (earliest !== Infinity) this.#arm(earliest);
  }

  #someoneWaits(): boolean {
    for (const entry of this.#pending.values()) if (entry.waiters.length > 0) return true;
    return false;
  }
}

function snapshotUpdate(
  taskId: string,
  { lastSeq, state, updatedAt }: Snapshot,
): AnyBulkWriteOperation<TaskDoc> {
  return {
    updateOne: {
      filter: { _id: taskId, lastSeq: { $lt: lastSeq } },
      update: {
        $set: {
          lastSeq,
          status: state.status,
          artifacts: state.artifacts,
          history: state.history,
          final: state.final,
          updatedAt,
        },
      },
    },
  };
}

/** Which updates of an unordered bulk write failed: those it names, or all when none is named. */
function failedWrites(error: unknown, count: number): Map<number, unknown> {
  const { writeErrors } = error as { writeErrors?: Array<{ index: number }> | { index: number } };
  const named = Array.isArray(writeErrors) ? writeErrors : writeErrors ? [writeErrors] : [];
  const failed = new Map<number, unknown>();
  if (named.length > 0) for (const w of named) failed.set(w.index, error);
  else for (let i = 0; i < count; i++) failed.set(i, error);
  return failed;
}

function stateOf(task: TaskDoc): TaskState {
  return { status: task.status, artifacts: task.artifacts, history: task.history, final: task.final };
}

/** Events that only add to what a task says (artifact chunks, messages): their snapshot may wait. */
function isContentEvent(event: WireStreamResponse): boolean {
  return 'artifactUpdate' in event || 'message' in event;
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
