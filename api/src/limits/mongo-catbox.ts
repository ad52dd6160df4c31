import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from '../db/types.js';

interface CacheDoc {
  _id: string;
  item: unknown;
  stored: number;
  ttl: number;
  expiresAt: Date;
}

/**
 * A catbox engine on our own MongoDB client, so hapi-rate-limit's counters are shared by every
 * API instance on the database. Counting stays get-then-set (the plugin's design), so limits are
 * approximate under races across instances, never per-instance multiples.
 */
export class MongoCatbox {
  readonly #collection: Collection<CacheDoc>;
  #ready = false;

  constructor(options: { db: Db }) {
    this.#collection = options.db.collection<CacheDoc>(COLLECTIONS.rateLimits);
  }

  async start(): Promise<void> {
    this.#ready = true;
  }

  stop(): void {
    this.#ready = false;
  }

  isReady(): boolean {
    return this.#ready;
  }

  validateSegmentName(segment: string): Error | null {
    return segment ? null : new Error('Empty segment name');
  }

  async get(key: { segment: string; id: string }) {
    const doc = await this.#collection.findOne({ _id: keyOf(key) });
    if (!doc || doc.expiresAt.getTime() <= Date.now()) return null;
    return { item: doc.item, stored: doc.stored, ttl: doc.stored + doc.ttl - Date.now() };
  }

  async set(key: { segment: string; id: string }, value: unknown, ttl: number): Promise<void> {
    const stored = Date.now();
    await this.#collection.updateOne(
      { _id: keyOf(key) },
      { $set: { item: value, stored, ttl, expiresAt: new Date(stored + ttl) } },
      { upsert: true },
    );
  }

  async drop(key: { segment: string; id: string }): Promise<void> {
    await this.#collection.deleteOne({ _id: keyOf(key) });
  }
}

function keyOf(key: { segment: string; id: string }): string {
  return `${key.segment}:${key.id}`;
}
