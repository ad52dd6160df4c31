import { randomUUID } from 'node:crypto';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from '../db/types.js';
import type { StreamLimiter } from '../plugins/streaming/stream-limiter.js';

interface LeaseDoc {
  _id: string;
  userId: string;
  instanceId: string;
  expiresAt: Date;
}

/**
 * Concurrent streams per user, counted across every instance: each open stream holds a lease
 * document; an instance renews its leases while it lives, so a crashed instance's leases lapse.
 * Insert-then-count can refuse two racing streams at the limit, but never admits one too many.
 */
export class MongoStreamLimiter implements StreamLimiter {
  readonly #leases: Collection<LeaseDoc>;
  readonly #instanceId = randomUUID();
  readonly #held = new Map<string, string[]>();
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
    await this.#leases.deleteMany({ instanceId: this.#instanceId }).catch(() => undefined);
    this.#held.clear();
  }

  async acquire(userId: string): Promise<boolean> {
    const _id = randomUUID();
    const now = Date.now();
    await this.#leases.insertOne({
      _id,
      userId,
      instanceId: this.#instanceId,
      expiresAt: new Date(now + this.leaseMs),
    });
    const open = await this.#leases.countDocuments({ userId, expiresAt: { $gt: new Date(now) } });
    if (open > this.max) {
      await this.#leases.deleteOne({ _id });
      return false;
    }
    const held = this.#held.get(userId);
    if (held) held.push(_id);
    else this.#held.set(userId, [_id]);
    return true;
  }

  async release(userId: string): Promise<void> {
    const held = this.#held.get(userId);
    const _id = held?.pop();
    if (held && held.length === 0) this.#held.delete(userId);
    if (_id) await this.#leases.deleteOne({ _id }).catch(() => undefined);
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
