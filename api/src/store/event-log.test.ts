import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Hub, type HubEvent } from '../hub/hub.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { EventLog } from './event-log.js';
import { TaskStore } from './task-store.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

const chunk = (text: string) => ({
  artifactUpdate: {
    taskId: '',
    contextId: '',
    artifact: { artifactId: 'a', parts: [{ text }] },
    append: true,
  },
});

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
    expect((await t.db.collection('tasks').findOne({ _id: task._id as never }))?.lastSeq).toBe(50);
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
