/**
 * Versioned, idempotent migrations, run at start-up and recorded in `migrations`
 * (`{ _id: version, name, appliedAt }`).
 *
 * - Every step is idempotent (createIndex with the same spec is a no-op), so a migration that
 *   was interrupted before its record was written simply runs again.
 * - Two instances starting at once both succeed: the loser of the race on the record gets a
 *   duplicate key, which means "already applied".
 * - jongodb has no `create` command: collections come into being with their first index, so
 *   migrations never call createCollection.
 */
import type { Db, IndexSpecification, CreateIndexesOptions } from 'mongodb';
import { isDuplicateKeyError } from './connect.js';
import { COLLECTIONS } from './types.js';

export interface Migration {
  /** Sortable version, e.g. `202502090001`. */
  version: string;
  name: string;
  up(db: Db): Promise<void>;
}

export interface MigrationRecord {
  _id: string;
  name: string;
  appliedAt: Date;
}

export interface MigrationLogger {
  info(obj: object, msg: string): void;
}

async function createIndexes(
  db: Db,
  collection: string,
  indexes: Array<{ key: IndexSpecification; options?: CreateIndexesOptions }>,
): Promise<void> {
  for (const { key, options } of indexes) {
    await db.collection(collection).createIndex(key, options ?? {});
  }
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: '202502090001',
    name: 'tasks_and_messages',
    async up(db) {
      await createIndexes(db, COLLECTIONS.tasks, [
        { key: { ownerId: 1, org: 1, agent: 1, updatedAt: -1 } },
        { key: { contextId: 1 } },
      ]);
      await createIndexes(db, COLLECTIONS.taskMessages, [
        { key: { taskId: 1, seq: 1 }, options: { unique: true } },
        { key: { expiresAt: 1 }, options: { expireAfterSeconds: 0 } },
      ]);
    },
  },
  {
    version: '202502090002',
    name: 'orchestration_persistence',
    async up(db) {
      await createIndexes(db, COLLECTIONS.orchestrationSteps, [
        { key: { taskId: 1, stepIndex: 1 }, options: { unique: true } },
      ]);
      await createIndexes(db, COLLECTIONS.orchestrationCheckpoints, [{ key: { taskId: 1, createdAt: -1 } }]);
    },
  },
  {
    version: '202611260003',
    name: 'limits',
    async up(db) {
      await createIndexes(db, COLLECTIONS.rateLimits, [
        { key: { expiresAt: 1 }, options: { expireAfterSeconds: 0 } },
      ]);
      await createIndexes(db, COLLECTIONS.streamLeases, [
        { key: { userId: 1 } },
        { key: { expiresAt: 1 }, options: { expireAfterSeconds: 0 } },
      ]);
    },
  },
  {
    version: '202611260004',
    name: 'message_arrival_order',
    async up(db) {
      // Cross-instance tailing without change streams asks "what was stored lately" in one range
      // query; with taskId and seq in the key the answer comes from the index alone.
      await createIndexes(db, COLLECTIONS.taskMessages, [{ key: { createdAt: 1, taskId: 1, seq: 1 } }]);
    },
  },
  {
    version: '202611260005',
    name: 'delivery_peers',
    async up(db) {
      // Instances that tail the database announce where to nudge them; a dead one's entry expires.
      await createIndexes(db, COLLECTIONS.deliveryPeers, [
        { key: { expiresAt: 1 }, options: { expireAfterSeconds: 0 } },
      ]);
    },
  },
];

/**
 * Applies the migrations not yet recorded, in version order. Returns the versions this call
 * recorded (empty when everything was already applied, here or by a concurrent instance).
 */
export async function runMigrations(
  db: Db,
  logger?: MigrationLogger,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<string[]> {
  const records = db.collection<MigrationRecord>(COLLECTIONS.migrations);
  const done = new Set((await records.find({}, { projection: { _id: 1 } }).toArray()).map((r) => r._id));
  const pending = [...migrations]
    .sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0))
    .filter((m) => !done.has(m.version));

  const applied: string[] = [];
  for (const migration of pending) {
    const started = Date.now();
    try {
      await migration.up(db);
    } catch (err) {
      throw new Error(
        `migration ${migration.version}_${migration.name} failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    try {
      await records.insertOne({ _id: migration.version, name: migration.name, appliedAt: new Date() });
    } catch (err) {
      if (isDuplicateKeyError(err)) continue; // a concurrent instance recorded it first
      throw err;
    }
    applied.push(migration.version);
    logger?.info(
      { migration: `${migration.version}_${migration.name}`, ms: Date.now() - started },
      'migration applied',
    );
  }
  return applied;
}
