import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from '../db/types.js';
import type { StreamLimiter } from '../plugins/streaming/stream-limiter.js';

/** How many streams of one user one instance holds (or is deciding on). */
interface LeaseDoc {
  _id: string;
  userId: string;
  instanceId: string;
  count: number;
  expiresAt: Date;
}

/**
 * Runs an operation at most once at a time. A caller gets the result of a run that starts after
 * its call: callers arriving while one runs share the next run.
 */
class SerialRuns<T> {
  #running: Promise<void> | undefined;
  #next: { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } | undefined;

  constructor(private readonly operation: () => Promise<T>) {}

  get idle(): boolean {
    return !this.#running && !this.#next;
  }

  /** Resolves when no run is in flight or queued. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  run(): Promise<T> {
    if (!this.#next) {
      let resolve!: (value: T) => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#next = { promise, resolve, reject };
    }
    const { promise } = this.#next;
    this.#running ??= this.#loop();
    return promise;
  }

  async #loop(): Promise<void> {
    while (this.#next) {
      const current = this.#next;
      this.#next = undefined;
      try {
        current.resolve(await this.operation());
      } catch (error) {
        current.reject(error);
      }
    }
    this.#running = undefined;
  }
}

interface UserLeases {
  /** Streams let through here and not yet released. */
  admitted: number;
  /** Acquires counted in this instance's document but not yet decided. */
  deciding: number;
  /** Writes `admitted + deciding` to this instance's document. */
  write: SerialRuns<void>;
  /** Sums the other instances' documents of the user. */
  others: SerialRuns<number>;
}

/**
 * Concurrent streams per user, counted across every instance. Each instance keeps one document
 * per user holding its count, written from memory (serialised and coalesced per user), and
 * renews their expiry while it lives, so a crashed instance's counts lapse.
 *
 * An acquire is counted in this instance's document before it reads the other instances', and
 * each instance decides its own acquires one after another in the order of those reads. Of two
 * acquires racing on two instances, the later reader therefore sees the other: they may both be
 * refused at the limit, but never is one too many admitted. Within an instance the decision uses
 * its exact in-memory count, so concurrent acquires there are never refused below the limit.
 */
export class MongoStreamLimiter implements StreamLimiter {
  readonly #leases: Collection<LeaseDoc>;
  readonly #instanceId = randomUUID();
  readonly #users = new Map<string, UserLeases>();
  #timer: NodeJS.Timeout | undefined;

  constructor(
    db: Db,
    private readonly max: number,
    private readonly leaseMs = 60_000,
  ) {
    this.#leases = db.collection<LeaseDoc>(COLLECTIONS.streamLeases);
  }

  start(): void {
    this.#timer = setInterval(() => void this.#renew(), this.leaseMs / 3).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    // A write still in flight would recreate a document deleted before it lands.
    await Promise.all([...this.#users.values()].map((u) => u.write.settled()));
    await this.#leases.deleteMany({ instanceId: this.#instanceId }).catch(() => undefined);
    this.#users.clear();
  }

  async acquire(userId: string): Promise<boolean> {
    const user = this.#user(userId);
    if (user.admitted >= this.max) return false;
    user.deciding++;
    let others: number;
    try {
      await user.write.run();
      others = await user.others.run();
    } catch (error) {
      user.deciding--;
      void this.#settle(userId, user);
      throw error;
    }
    user.deciding--;
    if (others + user.admitted + 1 > this.max) {
      await this.#settle(userId, user);
      return false;
    }
    user.admitted++;
    return true;
  }

  async release(userId: string): Promise<void> {
    const user = this.#users.get(userId);
    if (!user || user.admitted === 0) return;
    user.admitted--;
    await this.#settle(userId, user);
  }

  /** Writes the lowered count (errors are left to the renewal and expiry), then forgets an idle user. */
  async #settle(userId: string, user: UserLeases): Promise<void> {
    await user.write.run().catch(() => undefined);
    if (user.admitted + user.deciding === 0 && user.write.idle && user.others.idle)
      this.#users.delete(userId);
  }

  #user(userId: string): UserLeases {
    let user = this.#users.get(userId);
    if (user) return user;
    const _id = `${this.#instanceId}:${userId}`;
    const created: UserLeases = {
      admitted: 0,
      deciding: 0,
      write: new SerialRuns(async () => {
        const count = created.admitted + created.deciding;
        if (count === 0) {
          await this.#leases.deleteOne({ _id });
          return;
        }
        await this.#leases.updateOne(
          { _id },
          {
            $set: {
              userId,
              instanceId: this.#instanceId,
              count,
              expiresAt: new Date(Date.now() + this.leaseMs),
            },
          },
          { upsert: true },
        );
      }),
      others: new SerialRuns(async () => {
        const docs = await this.#leases
          .find(
            { userId, expiresAt: { $gt: new Date() }, _id: { $ne: _id } },
            { projection: { _id: 0, count: 1 } },
          )
          .toArray();
        return docs.reduce((sum, d) => sum + d.count, 0);
      }),
    };
    user = created;
    this.#users.set(userId, user);
    return user;
  }

  async #renew(): Promise<void> {
    await this.#leases
      .updateMany(
        { instanceId: this.#instanceId },
        { $set: { expiresAt: new Date(Date.now() + this.leaseMs) } },
      )
      .catch(() => undefined);
  }
}
