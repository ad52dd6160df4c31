import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WireStreamResponse } from '@orchestrator-ai/transport-types';
import type { Db } from 'mongodb';
import { connectDatabase } from '../db/connect.js';
import { COLLECTIONS, type Database, type TaskDoc, type TaskMessageDoc } from '../db/types.js';
import { Hub, type HubEvent } from '../hub/hub.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { chunk } from '../test-support/events.js';
import { EventLog } from './event-log.js';
import { TaskStore } from './task-store.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

describe('EventLog (real database)', () => {
  it('gives 50 concurrent appends to one task distinct, gap-free seqs, published in order', async () => {
    const hub = new Hub();
    const log = new EventLog(t.db, { ttlMs: 60_000, hub });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const published: HubEvent[] = [];
    hub.subscribe(task._id, (e) => published.push(e));

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => log.append(task._id, [chunk(`c${i}`)])),
    );
    const seqs = results
      .flat()
      .map((e) => e.seq)
      .sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(published.map((e) => e.seq)).toEqual(seqs);
    const stored = await t.db
      .collection('task_messages')
      .find({ taskId: task._id })
      .sort({ seq: 1 })
      .toArray();
    expect(stored.map((d) => d.seq)).toEqual(seqs);
    await log.flushed(task._id);
    expect((await t.db.collection('tasks').findOne({ _id: task._id as never }))?.lastSeq).toBe(50);
  });

  it('stores concurrent appends to one task in one insert, not one insert each', async () => {
    const batches: number[] = [];
    const log = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub(), onCommitted: (n) => batches.push(n) });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(task._id, [chunk('first')]);
    batches.length = 0;

    // The first of these goes alone; the rest arrive while its insert is in flight and share one.
    await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(task._id, [chunk(`c${i}`)])));
    expect(batches.reduce((a, b) => a + b, 0)).toBe(20);
    expect(batches.length).toBeLessThanOrEqual(2);
  });

  it('stores expiresAt = now + TTL', async () => {
    const log = new EventLog(t.db, { ttlMs: 90_000, hub: new Hub() });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const before = Date.now();
    const [event] = await log.append(task._id, [chunk('x')]);
    const expires = Date.parse(event!.expiresAt);
    expect(expires - before).toBeGreaterThanOrEqual(89_000);
    expect(expires - before).toBeLessThanOrEqual(91_000);
  });

  it('two writers on one task (two API instances) never share a seq and leave no hole', async () => {
    let conflicts = 0;
    // Rounds until the writers have actually raced (timing decides whether they collide).
    for (let round = 0; round < 10 && conflicts === 0; round++) {
      const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
      const a = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub(), onConflict: () => conflicts++ });
      const b = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub(), onConflict: () => conflicts++ });
      const writes = Array.from({ length: 60 }, (_, i) =>
        (i % 2 ? a : b).append(task._id, [chunk(`${i}`), chunk(`${i}'`)]),
      );
      const results = await Promise.all(writes);
      const seqs = results
        .flat()
        .map((e) => e.seq)
        .sort((x, y) => x - y);
      expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    }
    expect(conflicts).toBeGreaterThan(0);
  });

  it('two writers of one event at a time (insertOne) also retry a taken seq and leave no hole', async () => {
    let conflicts = 0;
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const writers = [0, 1].map(
      () => new EventLog(t.db, { ttlMs: 60_000, hub: new Hub(), onConflict: () => conflicts++ }),
    );
    const seqs: number[] = [];
    // Each writer waits for its own append before the next, so every insert holds one event.
    await Promise.all(
      writers.map(async (log, w) => {
        for (let i = 0; i < 20; i++)
          seqs.push(...(await log.append(task._id, [chunk(`${w}.${i}`)])).map((e) => e.seq));
      }),
    );
    expect(seqs.sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(conflicts).toBeGreaterThan(0);
  });

  it('refuses events for an unknown task and after the final one', async () => {
    const log = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    await expect(log.append('nope', [chunk('x')])).rejects.toMatchObject({ output: { statusCode: 404 } });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const done = {
      statusUpdate: { taskId: '', contextId: '', status: { state: 'TASK_STATE_COMPLETED' as const } },
    };
    await log.append(task._id, [done]);
    await expect(log.append(task._id, [chunk('late')])).rejects.toMatchObject({
      output: { statusCode: 409 },
    });
  });
});

const completed: WireStreamResponse = {
  statusUpdate: { taskId: '', contextId: '', status: { state: 'TASK_STATE_COMPLETED' } },
};

const textOf = (doc: TaskDoc | null) =>
  doc?.artifacts[0]?.parts.map((p) => ('text' in p ? p.text : '')).join('');

/** A message as an appender would have stored it, written straight into the collection. */
const storedMessage = (taskId: string, seq: number, event: WireStreamResponse): TaskMessageDoc => ({
  taskId,
  seq,
  kind: 'statusUpdate' in event ? 'statusUpdate' : 'artifactUpdate',
  event,
  createdAt: new Date(),
  expiresAt: new Date(Date.now() + 60_000),
});

describe('EventLog: the snapshot is written behind the acknowledgement', () => {
  /** A second client on the same database that records every command, in the order seen. */
  let monitored: Database;
  const commands: Array<{ requestId: number; name: string; on?: string; done: boolean }> = [];
  beforeAll(async () => {
    monitored = await connectDatabase(t.uri, t.database.kind, {
      dbName: t.dbName,
      clientOptions: { monitorCommands: true },
    });
    monitored.client.on('commandStarted', ({ requestId, commandName, command }) =>
      commands.push({ requestId, name: commandName, on: String(command[commandName]), done: false }),
    );
    monitored.client.on('commandSucceeded', ({ requestId, commandName }) =>
      commands.push({ requestId, name: commandName, done: true }),
    );
  });
  afterAll(() => monitored.close());

  it('acknowledges an append to a known task after its insert alone', async () => {
    const log = new EventLog(monitored.db, { ttlMs: 60_000, hub: new Hub() });
    const tasks = new TaskStore(monitored.db, log);
    const task = await tasks.create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(task._id, [chunk('warm ')], { org: 'o', agent: 'a' });
    await log.flushed(task._id);

    commands.length = 0;
    await log.append(task._id, [chunk('one')], { org: 'o', agent: 'a' });
    expect(commands.filter((c) => c.done).map((c) => c.name)).toEqual(['insert']);

    // A read through the store waits for the snapshot: read-your-writes on this instance.
    const doc = await tasks.get(task._id);
    expect(doc?.lastSeq).toBe(2);
    expect(textOf(doc)).toBe('warm one');
  });

  it('reads nothing back at the first append to a task created on this instance', async () => {
    const log = new EventLog(monitored.db, { ttlMs: 60_000, hub: new Hub() });
    const tasks = new TaskStore(monitored.db, log);
    const task = await tasks.create({ org: 'o', agent: 'a', ownerId: 'u' });
    commands.length = 0;
    const [event] = await log.append(task._id, [chunk('first')], { org: 'o', agent: 'a' });
    expect(event?.seq).toBe(1);
    expect(commands.filter((c) => c.done).map((c) => c.name)).toEqual(['insert']);
    // The binding is checked against the created document just the same.
    await expect(log.append(task._id, [chunk('x')], { org: 'o', agent: 'b' })).rejects.toMatchObject({
      output: { statusCode: 404 },
    });
    const doc = await tasks.get(task._id);
    expect(doc?.lastSeq).toBe(1);
    expect(textOf(doc)).toBe('first');
  });

  it('recovers when another instance appended first to a task created here', async () => {
    const here = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const elsewhere = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const task = await new TaskStore(t.db, here).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await elsewhere.append(task._id, [chunk('a')]);
    await elsewhere.flushed(task._id);
    const [event] = await here.append(task._id, [chunk('b')]);
    expect(event?.seq).toBe(2);
    await here.flushed(task._id);
    const doc = await new TaskStore(t.db).get(task._id);
    expect(doc?.lastSeq).toBe(2);
    expect(textOf(doc)).toBe('ab');
  });

  it('keeps one snapshot write in flight per task, carrying the newest state', async () => {
    const log = new EventLog(monitored.db, { ttlMs: 60_000, hub: new Hub() });
    const task = await new TaskStore(monitored.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    commands.length = 0;
    for (let wave = 0; wave < 5; wave++)
      await Promise.all(Array.from({ length: 10 }, (_, i) => log.append(task._id, [chunk(`${wave}.${i} `)])));
    await log.flushed(task._id);

    const writes = new Set(
      commands.filter((c) => c.name === 'update' && c.on === COLLECTIONS.tasks).map((c) => c.requestId),
    );
    let inFlight = 0;
    let most = 0;
    for (const c of commands.filter((c) => writes.has(c.requestId))) {
      inFlight += c.done ? -1 : 1;
      most = Math.max(most, inFlight);
    }
    expect(inFlight).toBe(0);
    expect(most).toBe(1);
    expect(writes.size).toBeGreaterThan(0);
    expect(writes.size).toBeLessThan(50);
    const doc = await monitored.db.collection<TaskDoc>(COLLECTIONS.tasks).findOne({ _id: task._id });
    expect(doc?.lastSeq).toBe(50);
    expect(textOf(doc)?.split(' ').filter(Boolean)).toHaveLength(50);
  });

  it('acknowledges the final event only once the snapshot says the task is final', async () => {
    const log = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(task._id, [chunk('a')]);
    await log.append(task._id, [chunk('b'), completed]);
    // Read straight from the collection, as retention and other instances do.
    const doc = await t.db.collection<TaskDoc>(COLLECTIONS.tasks).findOne({ _id: task._id });
    expect(doc).toMatchObject({ lastSeq: 3, final: true, status: { state: 'TASK_STATE_COMPLETED' } });
  });

  it('writes the snapshots of tasks appended to within one wait in a single update command', async () => {
    const log = new EventLog(monitored.db, { ttlMs: 60_000, hub: new Hub(), snapshotDelayMs: 5_000 });
    const store = new TaskStore(monitored.db, log);
    const tasks = await Promise.all(
      [1, 2, 3].map(() => store.create({ org: 'o', agent: 'a', ownerId: 'u' })),
    );
    for (const task of tasks) await log.append(task._id, [chunk('warm ')]);
    await log.flushed();

    const seen: Array<{ on: unknown; updates: number }> = [];
    const record = ({ commandName, command }: { commandName: string; command: Record<string, any> }) => {
      if (commandName === 'update') seen.push({ on: command.update, updates: command.updates.length });
    };
    monitored.client.on('commandStarted', record);
    try {
      for (const task of tasks) await log.append(task._id, [chunk(task._id)]);
      await log.flushed();
    } finally {
      monitored.client.off('commandStarted', record);
    }
    expect(seen).toEqual([{ on: COLLECTIONS.tasks, updates: 3 }]);
    for (const task of tasks) {
      const doc = await store.get(task._id);
      expect(doc?.lastSeq).toBe(2);
      expect(textOf(doc)).toBe(`warm ${task._id}`);
    }
  });

  it('splits snapshots holding a lot of text over several update commands', async () => {
    const log = new EventLog(monitored.db, { ttlMs: 60_000, hub: new Hub(), snapshotDelayMs: 5_000 });
    const store = new TaskStore(monitored.db, log);
    const tasks = await Promise.all(
      [1, 2, 3, 4].map(() => store.create({ org: 'o', agent: 'a', ownerId: 'u' })),
    );
    const big = 'x'.repeat(400_000);
    const seen: number[] = [];
    const record = ({ commandName, command }: { commandName: string; command: Record<string, any> }) => {
      if (commandName === 'update' && command.update === COLLECTIONS.tasks) seen.push(command.updates.length);
    };
    monitored.client.on('commandStarted', record);
    try {
      for (const task of tasks) await log.append(task._id, [chunk(big)]);
      await log.flushed();
    } finally {
      monitored.client.off('commandStarted', record);
    }
    // 1 MiB of artifact text per write: three of these snapshots, then the fourth.
    expect(seen).toEqual([3, 1]);
    for (const task of tasks) expect((await store.get(task._id))?.lastSeq).toBe(1);
  });

  it('writes pending snapshots on flushAll', async () => {
    const log = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const store = new TaskStore(t.db);
    const ids = await Promise.all([1, 2, 3].map(() => store.create({ org: 'o', agent: 'a', ownerId: 'u' })));
    const appends = ids.map((task) => log.append(task._id, [chunk('x'), chunk('y')]));
    await log.flushAll();
    await Promise.all(appends);
    for (const task of ids) expect((await store.get(task._id))?.lastSeq).toBe(2);
  });
});

/** The database, with the `tasks` collection's `bulkWrite` failing its first `failures` calls. */
function failingSnapshots(db: Db, failures: number): { db: Db; calls: () => number } {
  let calls = 0;
  const tasks = db.collection(COLLECTIONS.tasks);
  const failing = new Proxy(tasks, {
    get(target, property) {
      if (property === 'bulkWrite')
        return (...args: Parameters<typeof tasks.bulkWrite>) => {
          calls++;
          if (calls <= failures) return Promise.reject(new Error('database unavailable'));
          return target.bulkWrite(...args);
        };
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  const wrapped = new Proxy(db, {
    get(target, property) {
      if (property === 'collection')
        return (name: string) => (name === COLLECTIONS.tasks ? failing : target.collection(name));
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: wrapped, calls: () => calls };
}

describe('EventLog: snapshot writes that fail', () => {
  it('retries a failed snapshot write, and a reader waiting for it gets it', async () => {
    const store = new TaskStore(t.db);
    const task = await store.create({ org: 'o', agent: 'a', ownerId: 'u' });
    const { db, calls } = failingSnapshots(t.db, 2);
    const errors: string[] = [];
    const log = new EventLog(db, {
      ttlMs: 60_000,
      hub: new Hub(),
      onSnapshotError: (taskId) => errors.push(taskId),
    });
    await log.append(task._id, [chunk('a'), chunk('b')]);
    await log.flushed(task._id);
    expect(calls()).toBe(3);
    expect(errors).toEqual([]);
    expect((await store.get(task._id))?.lastSeq).toBe(2);
  });

  it('gives up after its retries, reports it, and still lets readers go on', async () => {
    const store = new TaskStore(t.db);
    const task = await store.create({ org: 'o', agent: 'a', ownerId: 'u' });
    const { db, calls } = failingSnapshots(t.db, Infinity);
    const errors: string[] = [];
    const log = new EventLog(db, {
      ttlMs: 60_000,
      hub: new Hub(),
      onSnapshotError: (taskId) => errors.push(taskId),
    });
    const [event] = await log.append(task._id, [chunk('a')]);
    expect(event?.seq).toBe(1);
    await log.flushed(task._id);
    expect(calls()).toBe(4);
    expect(errors).toEqual([task._id]);
    expect((await store.get(task._id))?.lastSeq).toBe(0);
  });
});

describe('EventLog: binding and recovery', () => {
  it('answers a task of another org or agent like an unknown one, without failing the rest', async () => {
    const log = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const task = await new TaskStore(t.db).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const [other, own, cross] = await Promise.allSettled([
      log.append(task._id, [chunk('x')], { org: 'o', agent: 'b' }),
      log.append(task._id, [chunk('y')], { org: 'o', agent: 'a' }),
      log.append(task._id, [chunk('z')], { org: 'p', agent: 'a' }),
    ]);
    expect(other).toMatchObject({ status: 'rejected', reason: { output: { statusCode: 404 } } });
    expect(cross).toMatchObject({ status: 'rejected', reason: { output: { statusCode: 404 } } });
    expect(own).toMatchObject({ status: 'fulfilled', value: [{ seq: 1 }] });
    await expect(log.append('nope', [chunk('x')], { org: 'o', agent: 'a' })).rejects.toMatchObject({
      output: { statusCode: 404 },
    });
  });

  it('folds in messages stored after the snapshot (a crash between insert and snapshot)', async () => {
    const store = new TaskStore(t.db);
    const task = await store.create({ org: 'o', agent: 'a', ownerId: 'u' });
    const before = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    await before.append(task._id, [chunk('a'), chunk('b')]);
    await before.flushed(task._id);
    await t.db
      .collection<TaskMessageDoc>(COLLECTIONS.taskMessages)
      .insertMany([storedMessage(task._id, 3, chunk('c')), storedMessage(task._id, 4, chunk('d'))]);

    // A fresh instance: nothing cached, the snapshot says lastSeq 2.
    const after = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    const [event] = await after.append(task._id, [chunk('e')], { org: 'o', agent: 'a' });
    expect(event?.seq).toBe(5);
    await after.flushed(task._id);
    const doc = await store.get(task._id);
    expect(doc?.lastSeq).toBe(5);
    expect(textOf(doc)).toBe('abcde');
  });

  it('refuses appends after a final event that the snapshot never got, and repairs it', async () => {
    const store = new TaskStore(t.db);
    const task = await store.create({ org: 'o', agent: 'a', ownerId: 'u' });
    const before = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    await before.append(task._id, [chunk('a')]);
    await before.flushed(task._id);
    await t.db
      .collection<TaskMessageDoc>(COLLECTIONS.taskMessages)
      .insertOne(storedMessage(task._id, 2, completed));

    const after = new EventLog(t.db, { ttlMs: 60_000, hub: new Hub() });
    await expect(after.append(task._id, [chunk('late')], { org: 'o', agent: 'a' })).rejects.toMatchObject({
      output: { statusCode: 409 },
    });
    await after.flushed(task._id);
    const doc = await store.get(task._id);
    expect(doc).toMatchObject({ lastSeq: 2, final: true, status: { state: 'TASK_STATE_COMPLETED' } });
    expect(await t.db.collection(COLLECTIONS.taskMessages).countDocuments({ taskId: task._id })).toBe(2);
  });
});

describe('EventLog: artifact chunks and messages reach the snapshot lazily', () => {
  const working: WireStreamResponse = {
    statusUpdate: { taskId: '', contextId: '', status: { state: 'TASK_STATE_WORKING' } },
  };
  const stored = (id: string) => t.db.collection<TaskDoc>(COLLECTIONS.tasks).findOne({ _id: id });
  const lazyLog = (contentSnapshotDelayMs = 60_000) =>
    new EventLog(t.db, { ttlMs: 3_600_000, hub: new Hub(), snapshotDelayMs: 20, contentSnapshotDelayMs });

  it('leaves the document behind while only chunks come; any instance reads them at once', async () => {
    const here = lazyLog();
    const task = await new TaskStore(t.db, here).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await here.append(task._id, [chunk('one ')]);
    await here.append(task._id, [chunk('two')]);
    await new Promise((r) => setTimeout(r, 300));
    // Fifteen times the status pace: no write yet.
    expect(await stored(task._id)).toMatchObject({ lastSeq: 0, artifacts: [] });

    // Another instance's store folds the newer messages into what it reads.
    const elsewhere = new TaskStore(t.db, lazyLog());
    const read = await elsewhere.get(task._id);
    expect(read).toMatchObject({ lastSeq: 2, status: { state: 'TASK_STATE_SUBMITTED' } });
    expect(textOf(read)).toBe('one two');
    expect(read!.updatedAt.getTime()).toBeGreaterThan(task.updatedAt.getTime() - 1);
    // So does this instance's, without writing anything for it.
    expect(textOf(await new TaskStore(t.db, here).get(task._id))).toBe('one two');
    expect((await stored(task._id))?.lastSeq).toBe(0);
  });

  it('writes a status change at the status pace, with the chunks before it', async () => {
    const log = lazyLog();
    const task = await new TaskStore(t.db, log).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(task._id, [chunk('draft')]);
    await log.append(task._id, [working]);
    await vi.waitFor(
      async () =>
        expect(await stored(task._id)).toMatchObject({ lastSeq: 2, status: { state: 'TASK_STATE_WORKING' } }),
      { timeout: 2000, interval: 10 },
    );
    expect(textOf(await stored(task._id))).toBe('draft');
  });

  it('writes the chunks once their own wait is over, with no reader asking', async () => {
    const log = lazyLog(400);
    const task = await new TaskStore(t.db, log).create({ org: 'o', agent: 'a', ownerId: 'u' });
    const appendedAt = Date.now();
    await log.append(task._id, [chunk('late')]);
    await vi.waitFor(async () => expect((await stored(task._id))?.lastSeq).toBe(1), {
      timeout: 3000,
      interval: 20,
    });
    expect(Date.now() - appendedAt).toBeGreaterThanOrEqual(390);
    expect(textOf(await stored(task._id))).toBe('late');
  });

  it('writes at the status pace once 200 chunks are behind, so readers fold in little', async () => {
    const log = lazyLog();
    const task = await new TaskStore(t.db, log).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(
      task._id,
      Array.from({ length: 199 }, () => chunk('.')),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect((await stored(task._id))?.lastSeq).toBe(0);
    await log.append(task._id, [chunk('!')]);
    await vi.waitFor(async () => expect((await stored(task._id))?.lastSeq).toBe(200), {
      timeout: 2000,
      interval: 10,
    });
    expect(textOf(await stored(task._id))).toBe(`${'.'.repeat(199)}!`);
  });

  it('never waits longer than a quarter of the messages’ lifetime', async () => {
    const log = new EventLog(t.db, {
      ttlMs: 1200,
      hub: new Hub(),
      snapshotDelayMs: 20,
      contentSnapshotDelayMs: 60_000,
    });
    const task = await new TaskStore(t.db, log).create({ org: 'o', agent: 'a', ownerId: 'u' });
    await log.append(task._id, [chunk('brief')]);
    await vi.waitFor(async () => expect((await stored(task._id))?.lastSeq).toBe(1), {
      timeout: 1000,
      interval: 20,
    });
  });

  it('writes what is pending for listings and on flushAll', async () => {
    const log = lazyLog();
    const store = new TaskStore(t.db, log);
    const task = await store.create({ org: 'o', agent: 'a', ownerId: 'lister' });
    await log.append(task._id, [chunk('listed')]);
    const { tasks } = await store.list({ ownerId: 'lister', org: 'o', agent: 'a', limit: 10 });
    expect(tasks.map((d) => d.lastSeq)).toEqual([1]);

    const other = await store.create({ org: 'o', agent: 'a', ownerId: 'lister' });
    await log.append(other._id, [chunk('stopping')]);
    await log.flushAll();
    expect((await stored(other._id))?.lastSeq).toBe(1);
  });
});
