import { describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { storedEvent, task } from '../test-support/fake-net.js';
import type { TaskEvent } from '@orchestrator-ai/transport-types';
import { DB_VERSION, StreamStore, type StreamDBv1 } from './db.js';

let n = 0;
const fresh = () => new StreamStore(`db-test-${++n}-${Math.random()}`);
const NOW = Date.parse('2025-06-01T12:00:00.000Z');
const HOUR = 3_600_000;

describe('StreamStore', () => {
  it('appends events and advances the resume point in one go; reads ranges in seq order', async () => {
    const store = fresh();
    await store.appendEvents(
      'a',
      [3, 1, 2].map((s) => storedEvent('a', s, NOW)),
      NOW,
    );
    await store.appendEvents(
      'b',
      [1].map((s) => storedEvent('b', s, NOW)),
      NOW,
    );
    expect((await store.getTask('a'))?.lastSeq).toBe(3);
    expect((await store.getEvents('a', 0, NOW)).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect((await store.getEvents('a', 1, NOW)).map((e) => e.seq)).toEqual([2, 3]);
    expect((await store.getEvents('a', 0, NOW, 2)).map((e) => e.seq)).toEqual([1, 2]);
    expect((await store.getEvents('b', 0, NOW)).map((e) => e.taskId)).toEqual(['b']);
    // putting the same seq twice keeps one copy
    await store.appendEvents('a', [storedEvent('a', 3, NOW)], NOW);
    expect(await store.getEvents('a', 0, NOW)).toHaveLength(3);
    store.close();
  });

  it('writes the appends that wait behind a transaction together in the next one', async () => {
    const store = fresh();
    const transactions = countReadwriteTransactions();
    try {
      // The first append starts its transaction at once; the next four (one task twice) wait
      // behind it and share the second.
      await Promise.all([
        store.appendEvents(
          'a',
          [1, 2].map((s) => storedEvent('a', s, NOW)),
          NOW,
        ),
        store.appendEvents(
          'b',
          [1].map((s) => storedEvent('b', s, NOW)),
          NOW,
        ),
        store.appendEvents(
          'c',
          [1, 2, 3].map((s) => storedEvent('c', s, NOW)),
          NOW,
        ),
        store.appendEvents(
          'b',
          [2, 3].map((s) => storedEvent('b', s, NOW)),
          NOW + 1,
        ),
        store.appendEvents(
          'd',
          [7].map((s) => storedEvent('d', s, NOW)),
          NOW,
        ),
      ]);
      expect(transactions.count).toBe(2);
    } finally {
      transactions.restore();
    }
    for (const [taskId, seqs] of Object.entries({ a: [1, 2], b: [1, 2, 3], c: [1, 2, 3], d: [7] })) {
      expect((await store.getEvents(taskId, 0, NOW)).map((e) => e.seq)).toEqual(seqs);
      expect((await store.getTask(taskId))?.lastSeq).toBe(seqs.at(-1));
    }
    expect((await store.getTask('b'))?.updatedAt).toBe(NOW + 1);
    store.close();
  });

  it("keeps the other tasks' events when one task's write in a shared transaction fails", async () => {
    const store = fresh();
    const unkeyable = { ...storedEvent('bad', 1, NOW), seq: { not: 'a key' } } as unknown as TaskEvent;
    const results = await Promise.allSettled([
      store.appendEvents('a', [storedEvent('a', 1, NOW)], NOW),
      store.appendEvents('b', [storedEvent('b', 1, NOW)], NOW),
      store.appendEvents('bad', [storedEvent('bad', 2, NOW), unkeyable], NOW),
      store.appendEvents('c', [storedEvent('c', 4, NOW)], NOW),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect((await store.getTask('b'))?.lastSeq).toBe(1);
    expect((await store.getTask('c'))?.lastSeq).toBe(4);
    expect((await store.getEvents('c', 0, NOW)).map((e) => e.seq)).toEqual([4]);
    // the failed task's batch landed not at all, not in part
    expect(await store.getTask('bad')).toBeUndefined();
    expect(await store.getEvents('bad', 0, NOW)).toEqual([]);
    // and the store goes on writing
    await store.appendEvents('bad', [storedEvent('bad', 2, NOW)], NOW);
    expect((await store.getTask('bad'))?.lastSeq).toBe(2);
    store.close();
  });

  it('keeps the newest snapshot and the final flag', async () => {
    const store = fresh();
    await store.putSnapshot('a', task('a', 5), NOW);
    await store.putSnapshot('a', task('a', 3), NOW);
    expect((await store.getTask('a'))?.snapshot?.metadata.seq).toBe(5);
    await store.appendEvents('a', [storedEvent('a', 1, NOW)], NOW);
    expect((await store.getTask('a'))?.snapshot?.metadata.seq).toBe(5);
    await store.markFinal('a', NOW);
    expect(await store.getTask('a')).toMatchObject({ final: true, lastSeq: 1 });
    store.close();
  });

  it('never returns expired events, and reports the history as truncated', async () => {
    const store = fresh();
    const old = NOW - 2 * HOUR;
    await store.appendEvents(
      'a',
      [1, 2, 3].map((s) => storedEvent('a', s, old, HOUR)),
      NOW,
    );
    await store.appendEvents(
      'a',
      [4, 5].map((s) => storedEvent('a', s, NOW, HOUR)),
      NOW,
    );
    await store.putSnapshot('a', task('a', 5), NOW);
    expect((await store.getEvents('a', 0, NOW)).map((e) => e.seq)).toEqual([4, 5]);
    const h = await store.readHistory('a', 0, NOW);
    expect(h.events.map((e) => e.seq)).toEqual([4, 5]);
    expect(h).toMatchObject({ lastSeq: 5, truncated: true, earliestSeq: 4, final: false });
    expect(h.snapshot?.metadata.seq).toBe(5);
    const tail = await store.readHistory('a', 3, NOW);
    expect(tail).toMatchObject({ truncated: false });
    expect(tail.events.map((e) => e.seq)).toEqual([4, 5]);
    const none = await store.readHistory('zzz', 0, NOW);
    expect(none).toEqual({ events: [], lastSeq: 0, final: false, truncated: false });
    store.close();
  });

  it('prunes expired events, and stale tasks nobody watches', async () => {
    const store = fresh();
    const old = NOW - 2 * HOUR;
    await store.appendEvents(
      'a',
      [1, 2].map((s) => storedEvent('a', s, old, HOUR)),
      old,
    );
    await store.appendEvents(
      'a',
      [3].map((s) => storedEvent('a', s, NOW, HOUR)),
      NOW,
    );
    await store.appendEvents(
      'stale',
      [1].map((s) => storedEvent('stale', s, old, 10 * HOUR)),
      old,
    );
    await store.appendEvents(
      'watched',
      [1].map((s) => storedEvent('watched', s, old, 10 * HOUR)),
      old,
    );
    await store.putWatched({ taskId: 'watched', ref: ref('watched'), clientIds: ['c1'], since: old });
    const res = await store.prune(NOW, HOUR);
    expect(res).toEqual({ events: 2, tasks: 1 });
    expect((await store.getEvents('a', 0, NOW + 2 * HOUR)).length).toBe(0);
    expect((await store.getEvents('a', 0, NOW)).map((e) => e.seq)).toEqual([3]);
    expect(await store.getTask('stale')).toBeUndefined();
    expect(await store.getEvents('stale', 0, NOW)).toEqual([]);
    expect(await store.getTask('watched')).toBeDefined();
    expect((await store.getEvents('watched', 0, NOW)).length).toBe(1);
    store.close();
  });

  it('stores watched tasks for a restarted worker', async () => {
    const store = fresh();
    await store.putWatched({ taskId: 'a', ref: ref('a'), clientIds: ['c1', 'c2'], since: NOW });
    await store.putWatched({ taskId: 'a', ref: ref('a'), clientIds: ['c2'], since: NOW });
    await store.putWatched({ taskId: 'b', ref: ref('b'), clientIds: ['c1'], since: NOW });
    expect((await store.listWatched()).map((w) => [w.taskId, w.clientIds])).toEqual([
      ['a', ['c2']],
      ['b', ['c1']],
    ]);
    await store.deleteWatched('a');
    expect((await store.listWatched()).map((w) => w.taskId)).toEqual(['b']);
    store.close();
  });

  it('clear() removes everything', async () => {
    const store = fresh();
    await store.appendEvents('a', [storedEvent('a', 1, NOW)], NOW);
    await store.putSnapshot('a', task('a', 1), NOW);
    await store.putWatched({ taskId: 'a', ref: ref('a'), clientIds: ['c'], since: NOW });
    await store.clear();
    expect(await store.getTask('a')).toBeUndefined();
    expect(await store.getEvents('a', 0, NOW)).toEqual([]);
    expect(await store.listWatched()).toEqual([]);
    store.close();
  });

  it('upgrades a version 1 database, keeping its data', async () => {
    const name = `db-upgrade-${Math.random()}`;
    const v1 = await openDB<StreamDBv1>(name, 1, {
      upgrade(db) {
        db.createObjectStore('events', { keyPath: ['taskId', 'seq'] });
        db.createObjectStore('snapshots', { keyPath: 'taskId' });
      },
    });
    const created = new Date(NOW - 10 * 60_000).toISOString();
    await v1.put('events', { taskId: 'a', seq: 1, event: storedEvent('a', 1).event, createdAt: created });
    await v1.put('events', { taskId: 'a', seq: 2, event: storedEvent('a', 2).event, createdAt: created });
    await v1.put('snapshots', { taskId: 'a', snapshot: task('a', 2, 'TASK_STATE_COMPLETED'), lastSeq: 2 });
    await v1.put('snapshots', { taskId: 'b', snapshot: task('b', 9), lastSeq: 4 });
    v1.close();

    const store = new StreamStore(name);
    expect(await store.getTask('a')).toMatchObject({ lastSeq: 2, final: true });
    expect(await store.getTask('b')).toMatchObject({ lastSeq: 4, final: false });
    const events = await store.getEvents('a', 0, NOW);
    expect(events.map((e) => e.seq)).toEqual([1, 2]);
    // migrated events got an expiry (created + 60 min), so they prune like any other
    expect(events[0]!.expiresAt).toBe(new Date(Date.parse(created) + HOUR).toISOString());
    expect((await store.prune(NOW + 2 * HOUR, 100 * HOUR)).events).toBe(2);
    expect(await store.listWatched()).toEqual([]);
    store.close();

    const raw = await openDB(name);
    expect(raw.version).toBe(DB_VERSION);
    expect([...raw.objectStoreNames].sort()).toEqual(['events', 'tasks', 'watched']);
    expect([...raw.transaction('events').store.indexNames]).toEqual(['by-expiry']);
    raw.close();
  });

  it('closes its connection when a newer version needs to upgrade, and reopens on the next call', async () => {
    const store = fresh();
    await store.appendEvents('a', [storedEvent('a', 1, NOW)], NOW);
    const newer = await openDB(store.name, DB_VERSION + 1, { upgrade() {} });
    newer.close();
    // the store's own version is now older than the database: the reopen fails cleanly
    await expect(store.getTask('a')).rejects.toThrow();
  });
});

/** Counts the read-write transactions opened on any IndexedDB database until restored. */
function countReadwriteTransactions() {
  const proto = IDBDatabase.prototype;
  const original = proto.transaction;
  const counter = {
    count: 0,
    restore: () => {
      proto.transaction = original;
    },
  };
  proto.transaction = function (this: IDBDatabase, ...args: Parameters<IDBDatabase['transaction']>) {
    if (args[1] === 'readwrite') counter.count++;
    return original.apply(this, args);
  } as IDBDatabase['transaction'];
  return counter;
}

function ref(taskId: string) {
  return {
    taskId,
    streamUrl: `https://api.test/${taskId}/stream`,
    messagesUrl: `https://api.test/${taskId}/messages`,
  };
}
