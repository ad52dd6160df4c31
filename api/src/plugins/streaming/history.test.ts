import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS, type TaskMessageDoc } from '../../db/types.js';
import { useTestDatabase, type TestDatabase } from '../../test-support/database.js';
import { openHistory } from './history.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

async function storeTask(taskId: string, count: number, expiredBelow = 0) {
  const messages = t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
  const now = Date.now();
  await messages.insertMany(
    Array.from({ length: count }, (_, i) => ({
      taskId,
      seq: i + 1,
      kind: 'artifactUpdate',
      event: {
        artifactUpdate: {
          taskId,
          contextId: 'c',
          artifact: { artifactId: 'a', parts: [{ text: `${i + 1}` }] },
        },
      },
      createdAt: new Date(now),
      expiresAt: new Date(i + 1 < expiredBelow ? now - 1000 : now + 60_000),
    })),
  );
  return messages;
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

async function firstFrame(messages: Awaited<ReturnType<typeof storeTask>>, taskId: string, after: number) {
  const opened = await openHistory(messages, taskId, after, 10, { batchSize: 1 });
  for await (const batch of opened.batches) return batch[0]?.json;
  return undefined;
}
