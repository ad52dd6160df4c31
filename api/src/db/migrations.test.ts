import { afterEach, describe, expect, it } from 'vitest';
import type { Db, Document } from 'mongodb';
import { connectDatabase } from './connect.js';
import { MIGRATIONS, runMigrations, type MigrationRecord } from './migrations.js';
import { COLLECTIONS } from './types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';

const ALL_VERSIONS = ['202502090001', '202502090002', '202611260003', '202611260004', '202611260005'];

const opened: TestDatabase[] = [];
async function freshDatabase(): Promise<TestDatabase> {
  const t = await useTestDatabase({ migrate: false });
  opened.push(t);
  return t;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function indexOn(db: Db, collection: string, key: Document): Promise<Document | undefined> {
  const indexes = await db.collection(collection).listIndexes().toArray();
  return indexes.find((i) => JSON.stringify(i.key) === JSON.stringify(key));
}

describe('runMigrations', () => {
  it('creates the indexes, records itself, and applies nothing the second time', async () => {
    const { db } = await freshDatabase();
    const logged: Array<{ obj: object; msg: string }> = [];
    const applied = await runMigrations(db, { info: (obj, msg) => logged.push({ obj, msg }) });
    expect(applied).toEqual(ALL_VERSIONS);
    expect(logged.map((l) => l.obj)).toEqual([
      expect.objectContaining({ migration: '202502090001_tasks_and_messages' }),
      expect.objectContaining({ migration: '202502090002_orchestration_persistence' }),
      expect.objectContaining({ migration: '202611260003_limits' }),
      expect.objectContaining({ migration: '202611260004_message_arrival_order' }),
      expect.objectContaining({ migration: '202611260005_delivery_peers' }),
    ]);

    // tasks
    expect(
      await indexOn(db, COLLECTIONS.tasks, { ownerId: 1, org: 1, agent: 1, updatedAt: -1 }),
    ).toBeDefined();
    expect(await indexOn(db, COLLECTIONS.tasks, { contextId: 1 })).toBeDefined();
    // task_messages: unique {taskId, seq}; TTL on expiresAt
    expect(await indexOn(db, COLLECTIONS.taskMessages, { taskId: 1, seq: 1 })).toMatchObject({
      unique: true,
    });
    const ttl = await indexOn(db, COLLECTIONS.taskMessages, { expiresAt: 1 });
    expect(ttl).toMatchObject({ expireAfterSeconds: 0 });
    expect(ttl?.unique).toBeFalsy();
    expect(await indexOn(db, COLLECTIONS.taskMessages, { createdAt: 1, taskId: 1, seq: 1 })).toBeDefined();
    // orchestration
    expect(await indexOn(db, COLLECTIONS.orchestrationSteps, { taskId: 1, stepIndex: 1 })).toMatchObject({
      unique: true,
    });
    expect(
      await indexOn(db, COLLECTIONS.orchestrationCheckpoints, { taskId: 1, createdAt: -1 }),
    ).toBeDefined();
    // limits
    expect(await indexOn(db, COLLECTIONS.rateLimits, { expiresAt: 1 })).toMatchObject({
      expireAfterSeconds: 0,
    });
    expect(await indexOn(db, COLLECTIONS.streamLeases, { userId: 1 })).toBeDefined();
    expect(await indexOn(db, COLLECTIONS.streamLeases, { expiresAt: 1 })).toMatchObject({
      expireAfterSeconds: 0,
    });
    expect(await indexOn(db, COLLECTIONS.deliveryPeers, { expiresAt: 1 })).toMatchObject({
      expireAfterSeconds: 0,
    });

    // the unique index really holds
    const messages = db.collection(COLLECTIONS.taskMessages);
    await messages.insertOne({ taskId: 'a', seq: 1, expiresAt: new Date() });
    await expect(messages.insertOne({ taskId: 'a', seq: 1, expiresAt: new Date() })).rejects.toMatchObject({
      code: 11000,
    });

    const records = await db
      .collection<MigrationRecord>(COLLECTIONS.migrations)
      .find({})
      .sort({ _id: 1 })
      .toArray();
    expect(records.map((r) => [r._id, r.name])).toEqual([
      ['202502090001', 'tasks_and_messages'],
      ['202502090002', 'orchestration_persistence'],
      ['202611260003', 'limits'],
      ['202611260004', 'message_arrival_order'],
      ['202611260005', 'delivery_peers'],
    ]);
    for (const r of records) expect(r.appliedAt).toBeInstanceOf(Date);

    expect(await runMigrations(db)).toEqual([]);
    expect(await db.collection(COLLECTIONS.migrations).countDocuments()).toBe(5);
  });

  it('lets two instances migrate the same database at once', async () => {
    const t = await freshDatabase();
    // A second client: another API instance with its own connections.
    const other = await connectDatabase(t.uri, t.database.kind, { dbName: t.dbName });
    try {
      const [a, b] = await Promise.all([runMigrations(t.db), runMigrations(other.db)]);
      // Each version was recorded by exactly one of them.
      expect([...a, ...b].sort()).toEqual(ALL_VERSIONS);
      expect(await t.db.collection(COLLECTIONS.migrations).countDocuments()).toBe(5);
      expect(await indexOn(t.db, COLLECTIONS.taskMessages, { taskId: 1, seq: 1 })).toMatchObject({
        unique: true,
      });
      expect(await runMigrations(other.db)).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('re-runs a migration whose record is missing (idempotent steps)', async () => {
    const { db } = await freshDatabase();
    await runMigrations(db);
    await db.collection(COLLECTIONS.migrations).deleteMany({ _id: '202611260003' as never });
    expect(await runMigrations(db)).toEqual(['202611260003']);
  });

  it('reports which migration failed', async () => {
    const { db } = await freshDatabase();
    const broken = [
      ...MIGRATIONS,
      {
        version: '209901010001',
        name: 'broken',
        up: () => Promise.reject(new Error('boom')),
      },
    ];
    await expect(runMigrations(db, undefined, broken)).rejects.toThrow(
      'migration 209901010001_broken failed: boom',
    );
    // what went before is recorded; the broken one is not
    expect(await db.collection(COLLECTIONS.migrations).countDocuments()).toBe(5);
  });
});
