import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AGENT,
  ORG,
  readSse,
  seqsOf,
  startTestApp,
  status,
  textChunk,
  type TestApp,
} from '../../test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const STREAMS = 20;

describe('many streams of one task opening together', () => {
  it('share one read of the task when they ask at once', async () => {
    const task = await t.createTask();
    expect((await t.append(task.id, textChunk('before'))).status).toBe(200);
    const findOne = vi.spyOn(t.app.tasks.collection, 'findOne');
    try {
      const ask = () => t.app.tasks.getOwnedForStream(ORG, AGENT, task.id, 'alice');
      const together = await Promise.all(Array.from({ length: STREAMS }, ask));
      expect(together.every((doc) => doc?._id === task.id && doc.lastSeq === 1)).toBe(true);
      expect(findOne).toHaveBeenCalledTimes(1);
      // A read that has ended is not reused: the next stream reads what is stored now.
      expect((await t.append(task.id, textChunk('after'))).status).toBe(200);
      expect((await ask())?.lastSeq).toBe(2);
      expect(findOne).toHaveBeenCalledTimes(2);
    } finally {
      findOne.mockRestore();
    }
  });

  it('each still get every event after their snapshot while appends race the opens', async () => {
    const task = await t.createTask();
    for (let i = 1; i <= 3; i++) expect((await t.append(task.id, textChunk(`before ${i}`))).status).toBe(200);
    const token = await t.streamToken(task.id);
    const streams = Array.from({ length: STREAMS }, () =>
      readSse(t.streamUrl(task.id, { token }), { timeoutMs: 15_000 }),
    );
    // Appends race the opens: an event stored while a shared read is on its way must still arrive.
    for (let i = 4; i <= 10; i++) {
      expect((await t.append(task.id, textChunk(`during ${i}`))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 300));
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'done'))).status).toBe(200);

    const results = await Promise.all(streams);
    for (const result of results) {
      expect(result.closedByServer).toBe(true);
      const snapshotSeq = Number(result.frames[0]!.id);
      const expected = Array.from({ length: 11 - snapshotSeq }, (_, i) => snapshotSeq + 1 + i);
      expect(seqsOf(result.frames)).toEqual(expected);
    }
  });

  it('still answers another user of the shared read as if the task did not exist', async () => {
    const task = await t.createTask();
    const mine = await t.streamToken(task.id);
    const [own, other] = await Promise.all([
      readSse(t.streamUrl(task.id, { token: mine }), { until: (frames) => frames.length >= 1 }),
      fetch(t.streamUrl(task.id), { headers: { authorization: `Bearer ${t.userToken('mallory')}` } }),
    ]);
    expect(own.status).toBe(200);
    expect(other.status).toBe(404);
  });
});
