import { MongoClient, type Collection } from 'mongodb';

/**
 * The database write the baselines do when asked to (`--db <uri>`): the same document the API
 * stores per event (`task_messages` shape, unique `{taskId, seq}` and TTL indexes), one
 * `insertOne` per event with the official driver, in seq order per task.
 */
export interface MessageDoc {
  taskId: string;
  seq: number;
  kind: string;
  event: unknown;
  createdAt: Date;
  expiresAt: Date;
}

export class BaselineStore {
  #client: MongoClient | undefined;
  #collection: Collection<MessageDoc> | undefined;

  async open(uri: string | undefined, dbName: string, collection: string): Promise<void> {
    if (!uri) return;
    this.#client = new MongoClient(uri, { serverSelectionTimeoutMS: 5000, appName: 'bench-baseline' });
    await this.#client.connect();
    const db = this.#client.db(dbName);
    this.#collection = db.collection<MessageDoc>(collection);
    await this.#collection.createIndex({ taskId: 1, seq: 1 }, { unique: true });
    await this.#collection.createIndex({ expiresAt: 1 }, { expireAfterSeconds: 0 });
  }

  get enabled(): boolean {
    return this.#collection !== undefined;
  }

  async insert(taskId: string, first: number, events: unknown[]): Promise<void> {
    if (!this.#collection) return;
    const now = new Date();
    const expiresAt = new Date(now.getTime() + 3_600_000);
    const docs = events.map((event, i) => ({
      taskId,
      seq: first + i,
      kind: 'artifactUpdate',
      event,
      createdAt: now,
      expiresAt,
    }));
    if (docs.length === 1) await this.#collection.insertOne(docs[0]!);
    else await this.#collection.insertMany(docs, { ordered: true });
  }

  async close(): Promise<void> {
    await this.#client?.close();
  }
}

/** Per-task serial queues: appends to one task are stored and published in seq order. */
export class TaskQueues {
  readonly #tails = new Map<string, Promise<void>>();
  run(taskId: string, job: () => Promise<void>): Promise<void> {
    const previous = this.#tails.get(taskId) ?? Promise.resolve();
    const next = previous.then(job, job);
    const tail = next.catch(() => undefined);
    this.#tails.set(taskId, tail);
    void tail.then(() => {
      if (this.#tails.get(taskId) === tail) this.#tails.delete(taskId);
    });
    return next;
  }
}

/** Reads a request body (bounded) and parses it as JSON. */
export function readJson(req: import('node:http').IncomingMessage, limit = 16 * 1024 * 1024): Promise<any> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
    req.on('error', reject);
  });
}

/** `{ events: [...] }` or one event → the list. */
export function eventsOf(body: any): unknown[] {
  return body && Array.isArray(body.events) ? body.events : [body];
}

/** heap/RSS after a forced GC: the one extra endpoint only the baseline servers have. */
export function memoryAfterGc() {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  gc();
  gc();
  return { ...process.memoryUsage(), handles: process.getActiveResourcesInfo().length };
}
