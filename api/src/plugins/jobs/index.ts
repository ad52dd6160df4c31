/**
 * Background jobs (Agenda 6 on MongoDB). One job so far: `prune-expired-task-messages`, which
 * also removes finished tasks' orchestration data and expired bookkeeping documents.
 *
 * The TTL index on `task_messages.expiresAt` is not enough on its own: jongodb's TTL monitor
 * never deletes, and MongoDB's runs only once a minute. Reads filter expired messages anyway;
 * this job keeps the collection small. It is idempotent and safe on several instances at once
 * (on jongodb Agenda's lock sometimes lets two instances run it: STACK.md §7).
 *
 * Agenda starts in `onPostStart` (so `server.initialize()` alone, as in inject-only tests,
 * starts no background work) and stops in `onPreStop`.
 */
import type { Plugin, Server } from '@hapi/hapi';
import Joi from 'joi';
import type { Db } from 'mongodb';
import { Agenda } from 'agenda';
import { MongoBackend } from '@agendajs/mongo-backend';
import { COLLECTIONS } from '../../db/types.js';
import { pruneFinishedOrchestrations } from '../../store/orchestration-store.js';

export const PRUNE_JOB = 'prune-expired-task-messages';

export interface JobsOptions {
  db: Db;
  /** How often the prune job runs, in ms (default 60 000). */
  pruneEvery?: number;
  /** How often Agenda polls for due jobs, in ms (default min(pruneEvery, 5000)). */
  processEvery?: number;
  /** Messages deleted per batch (default 1000). */
  batchSize?: number;
  /** Batches per run at most (default 100); the rest waits for the next run. */
  maxBatches?: number;
  /** Orchestration data of tasks finished longer ago than this is removed (default 30 days). */
  taskRetentionMs?: number;
  /** Told what each scheduled run removed (metrics). */
  onPruned?: (messages: number, orchestration: number) => void;
}

export interface JobsApi {
  /** Runs the prune now, outside Agenda; resolves to the number of messages deleted. */
  runPruneNow(): Promise<number>;
  /** Removes orchestration data of tasks finished before the retention window; resolves to the count. */
  runRetentionNow(now?: Date): Promise<number>;
  /** Whether Agenda is processing jobs (between onPostStart and onPreStop). */
  isRunning(): boolean;
}

declare module '@hapi/hapi' {
  interface PluginProperties {
    jobs: JobsApi;
  }
}

export interface PruneOptions {
  batchSize?: number;
  maxBatches?: number;
  /** Stops between batches once aborted. */
  signal?: AbortSignal;
}

/**
 * Deletes `task_messages` whose `expiresAt <= now`, in batches of `batchSize` ids, and returns
 * how many this call deleted. Deletes re-check `expiresAt`, so concurrent runs (or a concurrent
 * TTL monitor) never delete anything else and never double count.
 */
export async function pruneExpiredMessages(
  db: Db,
  now: Date = new Date(),
  opts: PruneOptions = {},
): Promise<number> {
  const batchSize = opts.batchSize ?? 1000;
  const maxBatches = opts.maxBatches ?? 100;
  const messages = db.collection(COLLECTIONS.taskMessages);
  const expired = { expiresAt: { $lte: now } };
  let deleted = 0;
  for (let batch = 0; batch < maxBatches && !opts.signal?.aborted; batch++) {
    const ids = (
      await messages
        .find(expired, { projection: { _id: 1 } })
        .limit(batchSize)
        .toArray()
    ).map((d) => d._id);
    if (ids.length === 0) break;
    const result = await messages.deleteMany({ _id: { $in: ids }, ...expired });
    deleted += result.deletedCount;
    if (ids.length < batchSize) break;
  }
  return deleted;
}

/**
 * Bookkeeping documents that stop counting once their `expiresAt` passes, and that a database
 * without a TTL monitor (jongodb) would keep forever: rate-limit windows, the stream leases of
 * instances that died without releasing them, and the delivery-peer entries of instances gone.
 */
const BOOKKEEPING = [COLLECTIONS.rateLimits, COLLECTIONS.streamLeases, COLLECTIONS.deliveryPeers] as const;

/**
 * Deletes expired bookkeeping documents; resolves to how many, per collection. Every reader
 * already treats an expired one as absent (the rate limiter, the lease count, the peer list),
 * so deleting it changes no answer.
 */
export async function pruneExpiredBookkeeping(
  db: Db,
  now: Date = new Date(),
): Promise<Record<string, number>> {
  const deleted = (name: string) => db.collection(name).deleteMany({ expiresAt: { $lte: now } });
  const results = await Promise.all(BOOKKEEPING.map(deleted));
  return Object.fromEntries(BOOKKEEPING.map((name, i) => [name, results[i]!.deletedCount]));
}

const optionsSchema = Joi.object({
  db: Joi.any()
    .required()
    .custom((value: unknown) => {
      const db = value as Partial<Db> | null;
      if (
        typeof db !== 'object' ||
        db === null ||
        typeof db.collection !== 'function' ||
        typeof db.databaseName !== 'string'
      ) {
        throw new Error('must be a mongodb Db');
      }
      return value;
    }),
  pruneEvery: Joi.number().integer().min(10).default(60_000),
  processEvery: Joi.number().integer().min(10),
  batchSize: Joi.number().integer().min(1).max(100_000).default(1000),
  maxBatches: Joi.number().integer().min(1).default(100),
  taskRetentionMs: Joi.number()
    .min(0)
    .default(30 * 24 * 3600 * 1000),
  onPruned: Joi.function(),
});

interface ValidatedOptions {
  db: Db;
  pruneEvery: number;
  processEvery?: number;
  batchSize: number;
  maxBatches: number;
  taskRetentionMs: number;
}

/** How long onPreStop waits for a prune that is already running. */
const STOP_GRACE_MS = 5_000;

export const jobsPlugin: Plugin<JobsOptions> = {
  name: 'jobs',
  version: '1.0.0',
  register(server: Server, rawOptions: JobsOptions) {
    const { error, value } = optionsSchema.validate(rawOptions ?? {}, { convert: false });
    if (error) throw new Error(`jobs plugin: invalid options: ${error.message}`);
    const options = value as ValidatedOptions;
    // Joi's custom() returns the same object, but keep the caller's reference for certain.
    const db = rawOptions.db;
    const processEvery = options.processEvery ?? Math.min(options.pruneEvery, 5_000);

    let agenda: Agenda | undefined;
    let stopController = new AbortController();
    const inFlight = new Set<Promise<unknown>>();

    const prune = (signal?: AbortSignal): Promise<number> => {
      const run = pruneExpiredMessages(db, new Date(), {
        batchSize: options.batchSize,
        maxBatches: options.maxBatches,
        ...(signal ? { signal } : {}),
      });
      inFlight.add(run);
      void run.finally(() => inFlight.delete(run)).catch(() => {});
      return run;
    };

    server.expose('runPruneNow', () => prune());
    server.expose('runRetentionNow', (now = new Date()) =>
      pruneFinishedOrchestrations(db, now, options.taskRetentionMs),
    );
    server.expose('isRunning', () => agenda !== undefined);

    server.ext('onPostStart', async () => {
      stopController = new AbortController();
      const jobs = db.collection(COLLECTIONS.agendaJobs);
      // The backend would create this index itself during Agenda's constructor, where a failure
      // becomes an unhandled rejection; creating it here first makes failures ordinary errors.
      await jobs.createIndex(
        { name: 1, priority: -1, lockedAt: 1, nextRunAt: 1, disabled: 1 },
        { name: 'findAndLockNextJobIndex' },
      );
      const instance = new Agenda({
        backend: new MongoBackend({
          mongo: db,
          collection: COLLECTIONS.agendaJobs,
          ensureIndex: false,
        }),
        processEvery,
        defaultLockLifetime: Math.max(60_000, options.pruneEvery * 2),
      });
      agenda = instance; // from here on, onPreStop stops it even if the rest fails
      instance.on('error', (err: Error) => server.log(['jobs', 'error'], err));
      instance.define(
        PRUNE_JOB,
        async () => {
          const deleted = await prune(stopController.signal);
          const orchestration = await pruneFinishedOrchestrations(db, new Date(), options.taskRetentionMs);
          const bookkeeping = await pruneExpiredBookkeeping(db);
          rawOptions.onPruned?.(deleted, orchestration);
          const expired = Object.values(bookkeeping).reduce((a, b) => a + b, 0);
          if (deleted > 0 || orchestration > 0 || expired > 0)
            server.log(['jobs', 'prune'], {
              job: PRUNE_JOB,
              deleted,
              orchestrationRemoved: orchestration,
              expiredBookkeeping: bookkeeping,
            });
        },
        { concurrency: 1 },
      );
      await instance.ready;
      await instance.start();
      await instance.every(options.pruneEvery, PRUNE_JOB);
      server.log(['jobs', 'start'], { jobs: [PRUNE_JOB], pruneEvery: options.pruneEvery, processEvery });
    });

    server.ext('onPreStop', async () => {
      const instance = agenda;
      agenda = undefined;
      if (!instance) return;
      stopController.abort();
      await instance.stop(false);
      // A prune that already runs finishes its current batch (it checks the signal between
      // batches); don't let a slow database hold the shutdown for more than a few seconds.
      if (inFlight.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled([...inFlight]),
          new Promise((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS))),
        ]);
        clearTimeout(timer);
      }
    });
  },
};
