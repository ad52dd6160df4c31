/**
 * A real database for tests (never a mock).
 *
 * One server per test process, started on first use by the same launcher as `npm start`
 * (`MONGODB_URI` honoured, else mongod if present, else jongodb). Every `useTestDatabase()`
 * call gets its own freshly named database with the migrations applied; `close()` drops it.
 *
 *   let t: TestDatabase;
 *   beforeAll(async () => { t = await useTestDatabase(); });
 *   afterAll(() => t.close());
 */
import { randomBytes } from 'node:crypto';
import type { Db } from 'mongodb';
import { connectDatabase } from '../db/connect.js';
import { startDatabaseServer, type LaunchedDatabaseServer } from '../db/launcher.js';
import { runMigrations } from '../db/migrations.js';
import { COLLECTIONS, type Database } from '../db/types.js';

export interface TestDatabase {
  db: Db;
  database: Database;
  /** The server's URI (without a database name for embedded servers). */
  uri: string;
  dbName: string;
  /** Drops this database and closes its client. */
  close(): Promise<void>;
}

let serverPromise: Promise<LaunchedDatabaseServer> | undefined;
let counter = 0;

/** The process-wide test database server (started on first call). */
export function testDatabaseServer(): Promise<LaunchedDatabaseServer> {
  if (!serverPromise) {
    serverPromise = startDatabaseServer();
    serverPromise.then(
      (server) => {
        // jongodb is also killed synchronously by the launcher's 'exit' hook; this covers
        // mongodb-memory-server when the event loop drains normally.
        process.once('beforeExit', () => void server.stop());
      },
      () => {
        serverPromise = undefined; // let the next call retry and report its own error
      },
    );
  }
  return serverPromise;
}

export async function useTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const server = await testDatabaseServer();
  // ≤ 38 chars: fine for every MongoDB version and for Atlas.
  const dbName = `t_${process.pid}_${Date.now().toString(36)}_${++counter}_${randomBytes(3).toString('hex')}`;
  const database = await connectDatabase(server.uri, server.kind, {
    dbName,
    appName: 'orchestrator-tests',
  });
  if (opts.migrate ?? true) await runMigrations(database.db);
  let closing: Promise<void> | undefined;
  return {
    db: database.db,
    database,
    uri: server.uri,
    dbName,
    close: () =>
      (closing ??= (async () => {
        try {
          await dropTestDatabase(database.db);
        } finally {
          await database.close();
        }
      })()),
  };
}

/**
 * jongodb has neither `dropDatabase` nor `drop` nor `listCollections` (CommandNotFound, code 59):
 * there, empty our known collections instead. The whole server goes away with the test process.
 */
async function dropTestDatabase(db: Db): Promise<void> {
  try {
    await db.dropDatabase();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 59) throw err;
    await Promise.all(Object.values(COLLECTIONS).map((name) => db.collection(name).deleteMany({})));
  }
}
