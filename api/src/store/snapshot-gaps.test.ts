import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppendGaps } from '../db/append-gaps.js';
import { connectDatabase } from '../db/connect.js';
import type { Database, TaskDoc } from '../db/types.js';
import { Hub } from '../hub/hub.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { chunk } from '../test-support/events.js';
import { EventLog } from './event-log.js';
import { TaskStore } from './task-store.js';

/**
 * Snapshot writes are background work: they go out in the gaps between appends, in short
 * commands, so that an agent's insert does not queue behind them (`db/append-gaps.ts`).
 */
let t: TestDatabase;
/** A client on the same database that notes when each update command starts and how big it is. */
let monitored: Database;
const updates: Array<{ at: number; size: number; ids: string[] }> = [];
beforeAll(async () => {
  t = await useTestDatabase();
  monitored = await connectDatabase(t.uri, t.database.kind, {
    dbName: t.dbName,
    clientOptions: { monitorCommands: true },
  });
  monitored.client.on('commandStarted', ({ commandName, command }) => {
    if (commandName === 'update' && command.update === 'tasks')
      updates.push({
        at: Date.now(),
        size: command.updates.length,
        ids: command.updates.map((u: { q: { _id: string } }) => u.q._id),
      });
  });
});
afterAll(async () => {
  await monitored.close();
  await t.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  updates.length = 0;
});

async function setUp(taskCount: number, maxGapWaitMs = 10_000, snapshotDelayMs = 20) {
  const log = new EventLog(monitored.db, {
    ttlMs: 60_000,
    hub: new Hub(),
    snapshotDelayMs,
    // The chunks appended here would otherwise wait the lazy pace (event-log.test.ts tests it).
    contentSnapshotDelayMs: snapshotDelayMs,
    appendGaps: new AppendGaps(maxGapWaitMs),
  });
  const store = new TaskStore(monitored.db, log);
  const tasks = [];
  for (let i = 0; i < taskCount; i++) tasks.push(await store.create({ org: 'o', agent: 'a', ownerId: 'u' }));
  for (const task of tasks) await log.append(task._id, [chunk('warm ')]);
  await log.flushed();
  updates.length = 0;
  return { log, tasks };
}

/** Every insert of the log's messages takes `ms` longer (a database busy with something else). */
function slowInserts(log: EventLog, ms: number) {
  const insertOne = log.messages.insertOne.bind(log.messages);
  vi.spyOn(log.messages, 'insertOne').mockImplementation(async (...args) => {
    await new Promise((r) => setTimeout(r, ms));
    return insertOne(...args);
  });
}

const storedSeq = async (id: string) =>
  (await monitored.db.collection<TaskDoc>('tasks').findOne({ _id: id }, { projection: { lastSeq: 1 } }))
    ?.lastSeq;

describe('snapshot writes go out in the gaps between appends', () => {
  it('do not start while another append is on its way to the database', async () => {
    const { log, tasks } = await setUp(2);
    const [quiet, busy] = tasks as [TaskDoc, TaskDoc];
    await log.append(quiet._id, [chunk('one')]);
    slowInserts(log, 150);
    const started = Date.now();
    let busyStoredAt = 0;
    const busyAppend = log.append(busy._id, [chunk('slow')]).then(() => (busyStoredAt = Date.now()));
    // The quiet task's snapshot was due 20 ms after its append; it waits for the busy insert.
    await vi.waitFor(async () => expect(await storedSeq(quiet._id)).toBe(2), { timeout: 2000, interval: 10 });
    await busyAppend;
    expect(updates.length).toBeGreaterThan(0);
    expect(updates[0]!.at - started).toBeGreaterThanOrEqual(140);
    expect(updates[0]!.at).toBeGreaterThanOrEqual(busyStoredAt);
  });

  it('still go out, after their bound and all in one command, when appends never pause', async () => {
    const { log, tasks } = await setUp(4, 100, 300); // the writes are due once the busy append is on

    const [busy, ...quiet] = tasks as [TaskDoc, ...TaskDoc[]];
    for (const task of quiet) await log.append(task._id, [chunk('one')]);
    slowInserts(log, 3000);
    let busyDone = false;
    const busyAppend = log.append(busy._id, [chunk('slow')]).then(() => (busyDone = true));
    await vi.waitFor(
      async () => {
        for (const task of quiet) expect(await storedSeq(task._id)).toBe(2);
      },
      { timeout: 2500, interval: 10 },
    );
    expect(busyDone).toBe(false);
    // Two tasks per command is for gaps: waiting for every next gap in vain would starve them.
    const ids = new Set(quiet.map((task) => task._id));
    expect(updates.filter((u) => u.ids.some((id) => ids.has(id))).map((u) => u.size)).toEqual([3]);
    await busyAppend;
  });

  it('do not keep a reader waiting for a gap', async () => {
    const { log, tasks } = await setUp(2);
    const [quiet, busy] = tasks as [TaskDoc, TaskDoc];
    await log.append(quiet._id, [chunk('one')]);
    slowInserts(log, 3000);
    let busyDone = false;
    const busyAppend = log.append(busy._id, [chunk('slow')]).then(() => (busyDone = true));
    await new Promise((r) => setTimeout(r, 60)); // the quiet task's write now waits for a gap
    expect(await storedSeq(quiet._id)).toBe(1);
    await log.flushed(quiet._id);
    expect(busyDone).toBe(false);
    expect(await storedSeq(quiet._id)).toBe(2);
    await busyAppend;
  });

  it('between appends, write a few tasks per command; for a reader, all at once', async () => {
    const { log, tasks } = await setUp(5);
    for (const task of tasks) await log.append(task._id, [chunk('two')]);
    await vi.waitFor(
      async () => {
        for (const task of tasks) expect(await storedSeq(task._id)).toBe(2);
      },
      { timeout: 2000, interval: 10 },
    );
    const ours = new Set(tasks.map((task) => task._id));
    const written = updates.filter((u) => u.ids.some((id) => ours.has(id)));
    expect(written.every((u) => u.size <= 2)).toBe(true);
    expect(written.flatMap((u) => u.ids).sort()).toEqual([...ours].sort());

    updates.length = 0;
    for (const task of tasks) await log.append(task._id, [chunk('three')]);
    await log.flushed();
    expect(updates.filter((u) => u.ids.some((id) => ours.has(id))).map((u) => u.size)).toEqual([5]);
  });
});
