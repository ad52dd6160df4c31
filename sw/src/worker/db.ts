import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction, type StoreNames } from 'idb';
import {
  isTerminalState,
  type SnapshotTask,
  type TaskEvent,
  type TaskRef,
} from '@orchestrator-ai/transport-types';
import { DB_NAME } from '../shared/config.js';
import type { History } from '../shared/feed.js';

export { DB_NAME };
export const DB_VERSION = 2;

/** A task as the worker knows it: its latest snapshot and how far its events are stored. */
export interface TaskRecord {
  taskId: string;
  snapshot?: SnapshotTask;
  /** Highest stored seq (the resume point). */
  lastSeq: number;
  /** The final event (or a 204) was seen: never connect again. */
  final: boolean;
  /** Epoch ms of the last change. */
  updatedAt: number;
}

/** A task some tabs watch, so that a restarted worker can resume it. */
export interface WatchedRecord {
  taskId: string;
  ref: TaskRef;
  /** Service Worker client ids of the tabs watching. */
  clientIds: string[];
  /** Epoch ms since when the task is watched. */
  since: number;
}

/** The schema, version 2. */
export interface StreamDB extends DBSchema {
  events: { key: [string, number]; value: TaskEvent; indexes: { 'by-expiry': string } };
  tasks: { key: string; value: TaskRecord; indexes: { 'by-updated': number } };
  watched: { key: string; value: WatchedRecord };
}

/** Version 1 (first release): no expiry, snapshots in their own store, nothing about watchers. */
export interface StreamDBv1 extends DBSchema {
  events: { key: [string, number]; value: Omit<TaskEvent, 'expiresAt'> & { expiresAt?: string } };
  snapshots: { key: string; value: { taskId: string; snapshot: SnapshotTask; lastSeq: number } };
}

/** Retention given to v1 events, which carried no expiry, when they are migrated. */
const V1_RETENTION_MS = 60 * 60_000;

/**
 * The upgrade ladder: each step takes the schema from version n-1 to n, so any older database
 * reaches the current one. Never edit a released step; add one.
 */
function upgrade(
  db: IDBPDatabase<StreamDB>,
  oldVersion: number,
  tx: IDBPTransaction<StreamDB, StoreNames<StreamDB>[], 'versionchange'>,
): void {
  if (oldVersion < 1) {
    const v1 = db as unknown as IDBPDatabase<StreamDBv1>;
    v1.createObjectStore('events', { keyPath: ['taskId', 'seq'] });
    v1.createObjectStore('snapshots', { keyPath: 'taskId' });
  }
  if (oldVersion < 2) {
    const events = tx.objectStore('events');
    events.createIndex('by-expiry', 'expiresAt');
    const tasks = db.createObjectStore('tasks', { keyPath: 'taskId' });
    tasks.createIndex('by-updated', 'updatedAt');
    db.createObjectStore('watched', { keyPath: 'taskId' });
    const now = Date.now();
    const v1tx = tx as unknown as {
      objectStore(name: 'snapshots'): { openCursor(): Promise<V1Cursor | null> };
    };
    interface V1Cursor {
      value: { taskId: string; snapshot: SnapshotTask; lastSeq: number };
      continue(): Promise<V1Cursor | null>;
    }
    // Requests on the upgrade transaction keep it alive; the store is dropped once copied.
    void (async () => {
      let snap = await v1tx.objectStore('snapshots').openCursor();
      while (snap) {
        const { taskId, snapshot, lastSeq } = snap.value;
        const final =
          isTerminalState(snapshot.status?.state) && lastSeq >= (snapshot.metadata?.seq ?? Infinity);
        await tasks.put({ taskId, snapshot, lastSeq, final, updatedAt: now });
        snap = await snap.continue();
      }
      (db as unknown as IDBPDatabase<StreamDBv1>).deleteObjectStore('snapshots');
      let ev = await events.openCursor();
      while (ev) {
        if (typeof ev.value.expiresAt !== 'string') {
          const created = Date.parse(ev.value.createdAt);
          const base = Number.isNaN(created) ? now : created;
          await ev.update({ ...ev.value, expiresAt: new Date(base + V1_RETENTION_MS).toISOString() });
        }
        ev = await ev.continue();
      }
    })();
  }
}

/** An `appendEvents` call waiting for its transaction. */
interface PendingAppend {
  taskId: string;
  events: readonly TaskEvent[];
  now: number;
  resolve: () => void;
  reject: (err: unknown) => void;
}

const range = (taskId: string, afterSeq: number) =>
  IDBKeyRange.bound([taskId, afterSeq], [taskId, Infinity], true, false);

/**
 * The worker's IndexedDB mirror: events by `[taskId, seq]`, task snapshots and resume points by
 * `taskId`, watched tasks. Expired events are never returned, whether pruned yet or not. The
 * connection closes itself when a newer version of the worker needs to upgrade, and reopens on
 * the next call.
 */
export class StreamStore {
  private conn: Promise<IDBPDatabase<StreamDB>> | undefined;
  private readonly appendQueue: PendingAppend[] = [];
  private appending = false;

  constructor(readonly name = DB_NAME) {}

  private db(): Promise<IDBPDatabase<StreamDB>> {
    this.conn ??= openDB<StreamDB>(this.name, DB_VERSION, {
      upgrade: (db, oldVersion, _newVersion, tx) => upgrade(db, oldVersion, tx),
      blocking: () => this.close(),
      terminated: () => {
        this.conn = undefined;
      },
    }).catch((err: unknown) => {
      this.conn = undefined;
      throw err;
    });
    return this.conn;
  }

  close(): void {
    const conn = this.conn;
    this.conn = undefined;
    void conn?.then((db) => db.close()).catch(() => undefined);
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    return (await this.db()).get('tasks', taskId);
  }

  /** Stores a snapshot unless a newer one is stored already. */
  async putSnapshot(taskId: string, snapshot: SnapshotTask, now: number): Promise<void> {
    const db = await this.db();
    const tx = db.transaction('tasks', 'readwrite');
    const rec = (await tx.store.get(taskId)) ?? { taskId, lastSeq: 0, final: false, updatedAt: now };
    const storedSeq = rec.snapshot?.metadata?.seq ?? -1;
    if (snapshot.metadata.seq >= storedSeq) rec.snapshot = snapshot;
    rec.updatedAt = now;
    await tx.store.put(rec);
    await tx.done;
  }

  /**
   * Stores events and advances the resume point, in one transaction. Appends that arrive while
   * one is being written go together in the next transaction (group commit): with several tasks
   * streaming into a busy browser, each transaction's fixed cost (its commit, and the read and
   * write of each task's record) is paid once per batch instead of once per task.
   */
  appendEvents(taskId: string, events: readonly TaskEvent[], now: number): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.appendQueue.push({ taskId, events, now, resolve, reject });
      if (!this.appending) void this.drainAppends();
    });
  }

  private async drainAppends(): Promise<void> {
    this.appending = true;
    try {
      while (this.appendQueue.length) {
        const batch = this.appendQueue.splice(0);
        try {
          await this.writeAppends(batch);
          for (const a of batch) a.resolve();
        } catch (err) {
          if (batch.length === 1) {
            batch[0]!.reject(err);
            continue;
          }
          // One task's bad write must not cost the other tasks theirs: each is tried alone.
          for (const a of batch) {
            try {
              await this.writeAppends([a]);
              a.resolve();
            } catch (own) {
              a.reject(own);
            }
          }
        }
      }
    } finally {
      this.appending = false;
    }
  }

  private async writeAppends(batch: readonly PendingAppend[]): Promise<void> {
    const db = await this.db();
    const tx = db.transaction(['events', 'tasks'], 'readwrite');
    const writes: Promise<unknown>[] = [];
    try {
      const evStore = tx.objectStore('events');
      const taskStore = tx.objectStore('tasks');
      const latest = new Map<string, { lastSeq: number; now: number }>();
      for (const { taskId, events, now } of batch) {
        for (const e of events) writes.push(evStore.put(e));
        const seen = latest.get(taskId) ?? { lastSeq: 0, now };
        for (const e of events) if (e.seq > seen.lastSeq) seen.lastSeq = e.seq;
        seen.now = Math.max(seen.now, now);
        latest.set(taskId, seen);
      }
      const records = await Promise.all(
        [...latest].map(async ([taskId, { lastSeq, now }]) => {
          const rec = (await taskStore.get(taskId)) ?? { taskId, lastSeq: 0, final: false, updatedAt: now };
          if (lastSeq > rec.lastSeq) rec.lastSeq = lastSeq;
          rec.updatedAt = now;
          return rec;
        }),
      );
      for (const rec of records) writes.push(taskStore.put(rec));
      await Promise.all([...writes, tx.done]);
    } catch (err) {
      // A put that throws (an event without a valid key) leaves the transaction open: undo what
      // it already wrote, so that a batch either lands whole or not at all.
      for (const pending of [...writes, tx.done]) pending.catch(() => undefined);
      try {
        tx.abort();
      } catch {
        // already finished or aborted
      }
      throw err;
    }
  }

  async markFinal(taskId: string, now: number): Promise<void> {
    const db = await this.db();
    const tx = db.transaction('tasks', 'readwrite');
    const rec = (await tx.store.get(taskId)) ?? { taskId, lastSeq: 0, final: false, updatedAt: now };
    rec.final = true;
    rec.updatedAt = now;
    await tx.store.put(rec);
    await tx.done;
  }

  /** Unexpired events with seq above `afterSeq`, ascending. */
  async getEvents(taskId: string, afterSeq: number, now: number, limit?: number): Promise<TaskEvent[]> {
    const db = await this.db();
    const nowIso = new Date(now).toISOString();
    const all = await db.getAll('events', range(taskId, afterSeq));
    const live = all.filter((e) => e.expiresAt > nowIso);
    return limit === undefined ? live : live.slice(0, limit);
  }

  /**
   * What a tab that has seen up to `afterSeq` should get: the stored snapshot and the unexpired
   * events after it; `truncated` when some of those events are gone (expired here).
   */
  async readHistory(taskId: string, afterSeq: number, now: number): Promise<History> {
    const db = await this.db();
    const tx = db.transaction(['events', 'tasks'], 'readonly');
    const rec = await tx.objectStore('tasks').get(taskId);
    const all = await tx.objectStore('events').getAll(range(taskId, afterSeq));
    await tx.done;
    const nowIso = new Date(now).toISOString();
    const events = all.filter((e) => e.expiresAt > nowIso);
    const lastSeq = Math.max(rec?.lastSeq ?? 0, events.at(-1)?.seq ?? 0);
    const history: History = { events, lastSeq, final: rec?.final ?? false, truncated: false };
    if (rec?.snapshot) history.snapshot = rec.snapshot;
    if (lastSeq > afterSeq && events.length < lastSeq - afterSeq) {
      history.truncated = true;
      history.earliestSeq = events[0]?.seq ?? lastSeq + 1;
    }
    return history;
  }

  /**
   * Housekeeping: deletes expired events, and tasks (snapshot and events) not watched and not
   * updated for `snapshotRetentionMs`. Returns how many of each went.
   */
  async prune(now: number, snapshotRetentionMs: number): Promise<{ events: number; tasks: number }> {
    const db = await this.db();
    const tx = db.transaction(['events', 'tasks', 'watched'], 'readwrite');
    let events = 0;
    let tasks = 0;
    const nowIso = new Date(now).toISOString();
    let cursor = await tx
      .objectStore('events')
      .index('by-expiry')
      .openCursor(IDBKeyRange.upperBound(nowIso, false));
    while (cursor) {
      await cursor.delete();
      events++;
      cursor = await cursor.continue();
    }
    const watched = new Set(await tx.objectStore('watched').getAllKeys());
    let taskCursor = await tx
      .objectStore('tasks')
      .index('by-updated')
      .openCursor(IDBKeyRange.upperBound(now - snapshotRetentionMs, true));
    const stale: string[] = [];
    while (taskCursor) {
      if (!watched.has(taskCursor.value.taskId)) stale.push(taskCursor.value.taskId);
      taskCursor = await taskCursor.continue();
    }
    for (const taskId of stale) {
      await tx.objectStore('tasks').delete(taskId);
      await tx.objectStore('events').delete(range(taskId, -Infinity));
      tasks++;
    }
    await tx.done;
    return { events, tasks };
  }

  async listWatched(): Promise<WatchedRecord[]> {
    return (await this.db()).getAll('watched');
  }

  async putWatched(record: WatchedRecord): Promise<void> {
    await (await this.db()).put('watched', record);
  }

  async deleteWatched(taskId: string): Promise<void> {
    await (await this.db()).delete('watched', taskId);
  }

  /** Sign-out: removes everything stored. */
  async clear(): Promise<void> {
    const db = await this.db();
    const tx = db.transaction(['events', 'tasks', 'watched'], 'readwrite');
    await Promise.all([
      tx.objectStore('events').clear(),
      tx.objectStore('tasks').clear(),
      tx.objectStore('watched').clear(),
      tx.done,
    ]);
  }
}
