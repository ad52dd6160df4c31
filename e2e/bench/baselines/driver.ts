/**
 * Baseline "driver": the official MongoDB driver alone, on the same database server, writing and
 * reading the documents the API stores per event (`task_messages` shape and indexes). run.js pins
 * it to the API's core. The ceiling of the storage path.
 *
 *   insertOne   closed loop, `concurrency` writers, each its own task and seq counter
 *   insertMany  the same with `batch` documents per call
 *   find        the retained events of a task after a seq, in seq order (what a replay reads)
 */
import { randomUUID } from 'node:crypto';
import { MongoClient, type Collection, type Db } from 'mongodb';
import { notifyReady, serveIpc } from '../lib/ipc.js';
import { benchEvent } from '../lib/events.js';
import { epochMs, Samples } from '../lib/stats.js';
import type { MessageDoc } from './store.js';

let client: MongoClient | undefined;
let db: Db | undefined;
let collection: Collection<MessageDoc> | undefined;

async function setup(args: { uri: string; dbName: string; collection?: string; indexes?: boolean }) {
  client ??= new MongoClient(args.uri, { serverSelectionTimeoutMS: 5000, appName: 'bench-driver' });
  await client.connect();
  db = client.db(args.dbName);
  collection = db.collection<MessageDoc>(args.collection ?? 'driver_messages');
  if (args.indexes !== false) {
    await collection.createIndex({ taskId: 1, seq: 1 }, { unique: true });
    await collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
  }
  return { ok: true };
}

function doc(taskId: string, contextId: string, seq: number): MessageDoc {
  const now = new Date();
  const e = benchEvent(epochMs(), seq);
  return {
    taskId,
    seq,
    kind: 'artifactUpdate',
    event: { artifactUpdate: { ...e.artifactUpdate, taskId, contextId } },
    createdAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
  };
}

async function insertLoop(args: {
  concurrency: number;
  batch?: number;
  warmupMs: number;
  durationMs: number;
}) {
  const c = collection!;
  const batch = Math.max(1, args.batch ?? 1);
  const latency = new Samples();
  let docsInWindow = 0;
  let calls = 0;
  const t0 = performance.now();
  const windowStart = t0 + args.warmupMs;
  const end = windowStart + args.durationMs;
  const worker = async () => {
    const taskId = randomUUID();
    const contextId = randomUUID();
    let seq = 0;
    while (performance.now() < end) {
      const started = performance.now();
      if (batch === 1) await c.insertOne(doc(taskId, contextId, ++seq));
      else {
        const docs: MessageDoc[] = [];
        for (let i = 0; i < batch; i++) docs.push(doc(taskId, contextId, ++seq));
        await c.insertMany(docs, { ordered: true });
      }
      calls++;
      const finished = performance.now();
      if (started >= windowStart && finished <= end) {
        latency.add(finished - started);
        docsInWindow += batch;
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  return {
    concurrency: args.concurrency,
    batch,
    calls,
    docsPerSec: (docsInWindow * 1000) / args.durationMs,
    latency: latency.summary(),
  };
}

async function find(args: {
  dbName?: string;
  collection: string;
  taskId: string;
  after: number;
  expect: number;
}) {
  const c = (args.dbName ? client!.db(args.dbName) : db!).collection<MessageDoc>(args.collection);
  const t0 = performance.now();
  const docs = await c
    .find(
      { taskId: args.taskId, seq: { $gt: args.after }, expiresAt: { $gt: new Date() } },
      { projection: { _id: 0 }, sort: { seq: 1 } },
    )
    .toArray();
  const ms = performance.now() - t0;
  let ordered = true;
  for (let i = 0; i < docs.length; i++) if (docs[i]!.seq !== args.after + i + 1) ordered = false;
  return { ms, count: docs.length, ok: ordered && docs.length === args.expect };
}

async function drop() {
  await collection?.drop().catch(() => undefined);
  return { ok: true };
}

serveIpc({
  setup,
  insertOne: (a: { concurrency: number; warmupMs: number; durationMs: number }) =>
    insertLoop({ ...a, batch: 1 }),
  insertMany: insertLoop,
  find,
  drop,
});
notifyReady({ pid: process.pid });
