import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FindCursor } from 'mongodb';
import { COLLECTIONS, type TaskMessageDoc } from '../../db/types.js';
import { useTestDatabase, type TestDatabase } from '../../test-support/database.js';
import { HistoryOpens, openHistory, type OpenedHistory } from './history.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

async function storeTask(taskId: string, count: number, expiredBelow = 0) {
  const messages = t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
  const now = Date.now();
  await messages.insertMany(
    Array.from({ length: count }, (_, i) => messageDoc(taskId, i + 1, now, i + 1 < expiredBelow)),
  );
  return messages;
}

function messageDoc(taskId: string, seq: number, now = Date.now(), expired = false): TaskMessageDoc {
  return {
    taskId,
    seq,
    kind: 'artifactUpdate',
    event: {
      artifactUpdate: {
        taskId,
        contextId: 'c',
        artifact: { artifactId: 'a', parts: [{ text: `${seq}` }] },
      },
    },
    createdAt: new Date(now),
    expiresAt: new Date(expired ? now - 1000 : now + 60_000),
  };
}

describe('openHistory', () => {
  it('reads every retained event once, in seq order, across many database replies', async () => {
    const taskId = `history-${Date.now()}`;
    const messages = await storeTask(taskId, 10);
    const opened = await openHistory(messages, taskId, 0, 10, { batchSize: 3 });
    expect(opened.historyTruncated).toBe(false);
    const batches: number[][] = [];
    for await (const batch of opened.batches) batches.push(batch.map((f) => f.seq));
    expect(batches.flat()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(batches.length).toBeGreaterThanOrEqual(4);
    const frame = JSON.parse((await firstFrame(messages, taskId, 6))!) as {
      artifactUpdate: { artifact: object };
    };
    expect(frame.artifactUpdate.artifact).toMatchObject({ parts: [{ text: '7' }] });
  });

  it('says where the history starts when the first events expired', async () => {
    const taskId = `history-expired-${Date.now()}`;
    const messages = await storeTask(taskId, 6, 4);
    const opened = await openHistory(messages, taskId, 0, 6, { batchSize: 2 });
    expect(opened).toMatchObject({ historyTruncated: true, earliestSeq: 4 });
    const seqs: number[] = [];
    for await (const batch of opened.batches) seqs.push(...batch.map((f) => f.seq));
    expect(seqs).toEqual([4, 5, 6]);
  });

  it('lets go of its cursor when discarded unread (the stream ended while it was opened)', async () => {
    const taskId = `history-discard-${Date.now()}`;
    const messages = await storeTask(taskId, 10);
    const find = vi.spyOn(messages, 'find');
    try {
      const opened = await openHistory(messages, taskId, 0, 10, { batchSize: 2 });
      const cursor = find.mock.results[0]!.value as FindCursor<TaskMessageDoc>;
      expect(cursor.killed).toBe(false);
      await opened.discard();
      expect(cursor.killed).toBe(true);
    } finally {
      find.mockRestore();
    }
  });

  it('lets a reader stop half-way without an error', async () => {
    const taskId = `history-stop-${Date.now()}`;
    const messages = await storeTask(taskId, 10);
    const opened = await openHistory(messages, taskId, 0, 10, { batchSize: 2 });
    const seen: number[] = [];
    for await (const batch of opened.batches) {
      seen.push(...batch.map((f) => f.seq));
      if (seen.length >= 4) break;
    }
    expect(seen).toEqual([1, 2, 3, 4]);
  });
});

describe('HistoryOpens', () => {
  it('gives opens waiting together one read, each from its own position', async () => {
    const taskId = `opens-${Date.now()}`;
    const messages = await storeTask(taskId, 8, 3);
    const find = vi.spyOn(messages, 'find');
    try {
      const opens = new HistoryOpens(messages);
      const afters = [0, 5, 1, 8, 3, 0, 7];
      const opened = await Promise.all(afters.map((after) => opens.open(taskId, after, 8)));
      // The first asks alone; the rest waited for its read and then shared one.
      expect(find).toHaveBeenCalledTimes(2);
      const seqs = await Promise.all(opened.map(seqsIn));
      expect(seqs).toEqual(afters.map((after) => range(Math.max(after, 2) + 1, 8)));
      expect(opened.map((o) => [o.historyTruncated, o.earliestSeq])).toEqual(
        afters.map((after) => (after < 2 ? [true, 3] : [false, undefined])),
      );
    } finally {
      find.mockRestore();
    }
  });

  it('never hands a waiting open a read that began before it asked', async () => {
    const { taskId, messages, opens, early, release } = await oneReadOnItsWay('opens-late', 2);
    // Stored while the first read is on its way; the open asked after it must see it.
    await messages.insertOne(messageDoc(taskId, 3));
    const late = Array.from({ length: 3 }, () => opens.open(taskId, 2, 3));
    release();
    expect(await seqsIn(await early)).toEqual([1, 2]);
    for (const opened of await Promise.all(late)) expect(await seqsIn(opened)).toEqual([3]);
  });

  it('lets each open read its own cursor when the history is longer than one reply', async () => {
    const taskId = `opens-long-${Date.now()}`;
    const messages = await storeTask(taskId, 12);
    const opens = new HistoryOpens(messages, 5);
    const afters = [0, 0, 4, 9, 12];
    const opened = await Promise.all(afters.map((after) => opens.open(taskId, after, 12)));
    expect(await Promise.all(opened.map(seqsIn))).toEqual(afters.map((after) => range(after + 1, 12)));
  });

  it('fails every waiting open when the shared read fails, and reads again for the next', async () => {
    const { taskId, messages, opens, early, release } = await oneReadOnItsWay('opens-fail', 3);
    const failing = vi.spyOn(messages, 'find').mockImplementationOnce(() => {
      throw new Error('database gone');
    });
    const waiting = [opens.open(taskId, 1, 3), opens.open(taskId, 2, 3)];
    release();
    expect(await seqsIn(await early)).toEqual([1, 2, 3]);
    for (const result of await Promise.allSettled(waiting))
      expect(result).toMatchObject({ status: 'rejected', reason: { message: 'database gone' } });
    failing.mockRestore();
    expect(await seqsIn(await opens.open(taskId, 1, 3))).toEqual([2, 3]);
  });
});

/** A task with `count` events, and one open of its whole history whose read is held on its way. */
async function oneReadOnItsWay(prefix: string, count: number) {
  const taskId = `${prefix}-${Date.now()}`;
  const messages = await storeTask(taskId, count);
  const first = gateFirstRead(messages);
  const opens = new HistoryOpens(messages);
  const early = opens.open(taskId, 0, count);
  await first.sent;
  return { taskId, messages, opens, early, release: first.release };
}

/** Holds the reply of this collection's next `find` (already read) until released. */
function gateFirstRead(messages: Awaited<ReturnType<typeof storeTask>>) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let sent!: () => void;
  const sentPromise = new Promise<void>((resolve) => (sent = resolve));
  const find = messages.find.bind(messages);
  const spy = vi.spyOn(messages, 'find').mockImplementationOnce(((...args: Parameters<typeof find>) => {
    const cursor = find(...args);
    const next = cursor.next.bind(cursor);
    cursor.next = async () => {
      const doc = await next();
      sent();
      await gate;
      return doc;
    };
    spy.mockRestore();
    return cursor;
  }) as typeof find);
  return { sent: sentPromise, release };
}

async function seqsIn(opened: OpenedHistory): Promise<number[]> {
  const seqs: number[] = [];
  for await (const batch of opened.batches) seqs.push(...batch.map((f) => f.seq));
  return seqs;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

async function firstFrame(messages: Awaited<ReturnType<typeof storeTask>>, taskId: string, after: number) {
  const opened = await openHistory(messages, taskId, after, 10, { batchSize: 1 });
  for await (const batch of opened.batches) return batch[0]?.json;
  return undefined;
}
