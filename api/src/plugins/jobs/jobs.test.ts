import Hapi from '@hapi/hapi';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COLLECTIONS } from '../../db/types.js';
import { useTestDatabase, type TestDatabase } from '../../test-support/database.js';
import { jobsPlugin, pruneExpiredBookkeeping, pruneExpiredMessages, type JobsOptions } from './index.js';

let t: TestDatabase;
beforeEach(async () => {
  t = await useTestDatabase();
});
afterEach(async () => {
  await t.close();
});

function message(taskId: string, seq: number, expiresAt: Date) {
  return { taskId, seq, kind: 'status', event: {}, createdAt: new Date(), expiresAt };
}

async function seqsLeft(): Promise<string[]> {
  const docs = await t.db
    .collection(COLLECTIONS.taskMessages)
    .find({}, { sort: { taskId: 1, seq: 1 } })
    .toArray();
  return docs.map((d) => `${d.taskId}:${d.seq}`);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('pruneExpiredMessages', () => {
  it('deletes only messages whose expiresAt has passed', async () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const before = new Date(now.getTime() - 1);
    const after = new Date(now.getTime() + 1);
    await t.db.collection(COLLECTIONS.taskMessages).insertMany([
      message('a', 1, before),
      message('a', 2, now), // expiresAt == now counts as expired
      message('a', 3, after),
      message('b', 1, before),
      message('b', 2, new Date('2027-01-01T00:00:00Z')),
    ]);
    expect(await pruneExpiredMessages(t.db, now)).toBe(3);
    expect(await seqsLeft()).toEqual(['a:3', 'b:2']);
    expect(await pruneExpiredMessages(t.db, now)).toBe(0); // idempotent
  });

  it('works through many expired messages in bounded batches, and is safe concurrently', async () => {
    const past = new Date(Date.now() - 60_000);
    const docs = Array.from({ length: 250 }, (_, i) => message('big', i + 1, past));
    docs.push(message('big', 1000, new Date(Date.now() + 60_000)));
    await t.db.collection(COLLECTIONS.taskMessages).insertMany(docs);

    // one bounded run: 3 batches of 20
    expect(await pruneExpiredMessages(t.db, new Date(), { batchSize: 20, maxBatches: 3 })).toBe(60);
    // two "instances" at once: together they delete the rest exactly once
    const [a, b] = await Promise.all([
      pruneExpiredMessages(t.db, new Date(), { batchSize: 30 }),
      pruneExpiredMessages(t.db, new Date(), { batchSize: 30 }),
    ]);
    expect(a + b).toBe(190);
    expect(await seqsLeft()).toEqual(['big:1000']);
  });
});

describe('pruneExpiredBookkeeping', () => {
  it('deletes expired rate-limit windows, stream leases and peer entries, and nothing live', async () => {
    const now = new Date('2026-01-01T12:00:00Z');
    const past = new Date(now.getTime() - 1);
    const future = new Date(now.getTime() + 60_000);
    await t.db.collection<{ _id: string; [k: string]: unknown }>(COLLECTIONS.rateLimits).insertMany([
      { _id: 'token:u1', item: 1, expiresAt: past },
      { _id: 'token:u2', item: 1, expiresAt: future },
    ]);
    await t.db.collection<{ _id: string; [k: string]: unknown }>(COLLECTIONS.streamLeases).insertMany([
      { _id: 'dead:u1', userId: 'u1', instanceId: 'dead', count: 3, expiresAt: past },
      { _id: 'live:u1', userId: 'u1', instanceId: 'live', count: 1, expiresAt: future },
    ]);
    await t.db.collection<{ _id: string; [k: string]: unknown }>(COLLECTIONS.deliveryPeers).insertMany([
      { _id: 'gone', host: '127.0.0.1', port: 1, expiresAt: now },
      { _id: 'here', host: '127.0.0.1', port: 2, expiresAt: future },
    ]);
    expect(await pruneExpiredBookkeeping(t.db, now)).toEqual({
      [COLLECTIONS.rateLimits]: 1,
      [COLLECTIONS.streamLeases]: 1,
      [COLLECTIONS.deliveryPeers]: 1,
    });
    const ids = async (name: string) => (await t.db.collection(name).find({}).toArray()).map((d) => d._id);
    expect(await ids(COLLECTIONS.rateLimits)).toEqual(['token:u2']);
    expect(await ids(COLLECTIONS.streamLeases)).toEqual(['live:u1']);
    expect(await ids(COLLECTIONS.deliveryPeers)).toEqual(['here']);
    expect(Object.values(await pruneExpiredBookkeeping(t.db, now))).toEqual([0, 0, 0]);
  });
});

describe('jobs plugin', () => {
  async function serverWithJobs(options: Omit<JobsOptions, 'db'> = {}) {
    const server = Hapi.server({ host: '127.0.0.1', port: 0 });
    await server.register({ plugin: jobsPlugin, options: { db: t.db, ...options } });
    return server;
  }

  it('validates its options at register time', async () => {
    await expect(
      Hapi.server().register({
        plugin: jobsPlugin,
        options: { db: t.db, pruneEvery: '1 minute' as never },
      }),
    ).rejects.toThrow(/jobs plugin: invalid options: "pruneEvery" must be a number/);
    await expect(
      Hapi.server().register({ plugin: jobsPlugin, options: { db: {} as never } }),
    ).rejects.toThrow(/"db" .*must be a mongodb Db/);
    await expect(
      Hapi.server().register({ plugin: jobsPlugin, options: { db: t.db, processEvery: 0 } }),
    ).rejects.toThrow(/"processEvery" must be greater than or equal to 10/);
  });

  it('starts nothing on initialize(), but runPruneNow works', async () => {
    const server = await serverWithJobs({ pruneEvery: 200 });
    await server.initialize();
    expect(server.plugins.jobs.isRunning()).toBe(false);
    await t.db.collection(COLLECTIONS.taskMessages).insertOne(message('x', 1, new Date(Date.now() - 1000)));
    await sleep(400);
    expect(await seqsLeft()).toEqual(['x:1']); // no background pruning
    expect(await server.plugins.jobs.runPruneNow()).toBe(1);
    expect(await t.db.collection(COLLECTIONS.agendaJobs).countDocuments()).toBe(0);
    await server.stop();
  });

  it('prunes expired messages in the background once started, and stops promptly', async () => {
    const server = await serverWithJobs({ pruneEvery: 200, processEvery: 100 });
    await server.initialize();
    await server.start();
    try {
      expect(server.plugins.jobs.isRunning()).toBe(true);
      const messages = t.db.collection(COLLECTIONS.taskMessages);
      await messages.insertMany([
        message('task', 1, new Date(Date.now() - 1000)),
        message('task', 2, new Date(Date.now() + 60 * 60_000)),
      ]);
      await waitFor(async () => (await seqsLeft()).length === 1, 5_000);
      expect(await seqsLeft()).toEqual(['task:2']);

      // again, for a message that expires while the job is running
      await messages.insertOne(message('task', 3, new Date(Date.now() + 300)));
      await waitFor(async () => !(await seqsLeft()).includes('task:3'), 5_000);

      // the same run clears a lease its instance left behind (dead without releasing it)
      const leases = t.db.collection<{ _id: string; [k: string]: unknown }>(COLLECTIONS.streamLeases);
      await leases.insertOne({
        _id: 'dead:u',
        userId: 'u',
        instanceId: 'dead',
        count: 2,
        expiresAt: new Date(0),
      });
      await waitFor(async () => (await leases.countDocuments({ _id: 'dead:u' })) === 0, 5_000);

      // one recurring job document, however often it ran
      const jobs = await t.db.collection(COLLECTIONS.agendaJobs).find({}).toArray();
      expect(jobs).toHaveLength(1);
      expect(jobs[0]).toMatchObject({
        name: 'prune-expired-task-messages',
        type: 'single',
        repeatInterval: 200,
      });
    } finally {
      const stopping = Date.now();
      await server.stop();
      expect(Date.now() - stopping).toBeLessThan(2_000);
    }
    expect(server.plugins.jobs.isRunning()).toBe(false);

    // nothing runs after stop
    await t.db
      .collection(COLLECTIONS.taskMessages)
      .insertOne(message('after', 1, new Date(Date.now() - 1000)));
    await sleep(700);
    expect(await seqsLeft()).toEqual(['after:1', 'task:2']);
    // and the job is not left locked for the next instance
    const job = await t.db.collection(COLLECTIONS.agendaJobs).findOne({});
    expect(job?.lockedAt ?? null).toBeNull();
  });

  it('two instances on one database both run without errors and prune everything once', async () => {
    const logs: unknown[] = [];
    const servers = await Promise.all(
      [1, 2].map(() => serverWithJobs({ pruneEvery: 200, processEvery: 100 })),
    );
    for (const s of servers) s.events.on({ name: 'log', channels: 'app' }, (e) => logs.push(e));
    await Promise.all(servers.map((s) => s.start()));
    try {
      await t.db
        .collection(COLLECTIONS.taskMessages)
        .insertMany(Array.from({ length: 50 }, (_, i) => message('shared', i + 1, new Date(Date.now() - 1))));
      await waitFor(async () => (await seqsLeft()).length === 0, 5_000);
      expect(await t.db.collection(COLLECTIONS.agendaJobs).countDocuments()).toBe(1);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
    expect(logs.filter((e) => (e as { tags: string[] }).tags.includes('error'))).toEqual([]);
  });
});
