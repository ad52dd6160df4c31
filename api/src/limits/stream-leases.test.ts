import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COLLECTIONS } from '../db/types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { MongoStreamLimiter } from './stream-leases.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

const leases = () => t.db.collection(COLLECTIONS.streamLeases);
const admittedOf = (results: boolean[]) => results.filter(Boolean).length;

describe('MongoStreamLimiter (real database)', () => {
  it('admits exactly the limit out of 50 concurrent acquires on one instance', async () => {
    const limiter = new MongoStreamLimiter(t.db, 5);
    const user = randomUUID();
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.acquire(user)));
    expect(admittedOf(results)).toBe(5);
    expect(await leases().find({ userId: user }).toArray()).toMatchObject([{ count: 5 }]);
    await limiter.stop();
  });

  it('never admits more than the limit across two instances racing', async () => {
    const a = new MongoStreamLimiter(t.db, 5);
    const b = new MongoStreamLimiter(t.db, 5);
    for (let round = 0; round < 5; round++) {
      const user = randomUUID();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).acquire(user)));
      // Racing instances may both refuse at the limit, never both admit past it.
      const admitted = admittedOf(results);
      expect(admitted).toBeLessThanOrEqual(5);
      // What each instance admitted is what the documents say once the refusals are written.
      const docs = await leases().find({ userId: user }).toArray();
      expect(docs.reduce((sum, d) => sum + (d.count as number), 0)).toBe(admitted);
      // Refused acquires leave nothing behind: one at a time, the rest of the limit fits.
      let more = 0;
      while (await (more % 2 ? a : b).acquire(user)) more++;
      expect(admitted + more).toBe(5);
    }
    await Promise.all([a.stop(), b.stop()]);
  });

  it("counts another instance's streams and frees a slot on release", async () => {
    const a = new MongoStreamLimiter(t.db, 3);
    const b = new MongoStreamLimiter(t.db, 3);
    const user = randomUUID();
    expect([await a.acquire(user), await a.acquire(user), await b.acquire(user)]).toEqual([true, true, true]);
    expect(await b.acquire(user)).toBe(false);
    expect(await a.acquire(user)).toBe(false);
    await a.release(user);
    expect(await b.acquire(user)).toBe(true);
    expect(await a.acquire(user)).toBe(false);
    // Other users are not affected.
    expect(await a.acquire(randomUUID())).toBe(true);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("ignores a dead instance's documents once they expire", async () => {
    const dead = new MongoStreamLimiter(t.db, 2, 300);
    const live = new MongoStreamLimiter(t.db, 2);
    const user = randomUUID();
    // Never started (no renewal) and never stopped: as if its process was killed.
    expect([await dead.acquire(user), await dead.acquire(user)]).toEqual([true, true]);
    expect(await live.acquire(user)).toBe(false);
    await new Promise((r) => setTimeout(r, 400));
    expect([await live.acquire(user), await live.acquire(user)]).toEqual([true, true]);
    expect(await live.acquire(user)).toBe(false);
    await live.stop();
  });

  it('keeps one document per instance and user, however many streams it holds', async () => {
    const a = new MongoStreamLimiter(t.db, 1000);
    const b = new MongoStreamLimiter(t.db, 1000);
    const [u1, u2] = [randomUUID(), randomUUID()];
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => (i % 5 === 0 ? b : a).acquire(i % 2 ? u1 : u2)),
    );
    expect(admittedOf(results)).toBe(500);
    const docs = await leases()
      .find({ userId: { $in: [u1, u2] } })
      .toArray();
    expect(docs).toHaveLength(4);
    expect(docs.reduce((sum, d) => sum + (d.count as number), 0)).toBe(500);
    for (const d of docs) expect(d._id).toBe(`${d.instanceId}:${d.userId}`);

    // Releasing everything leaves no document behind; stopping removes the instance's own.
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.release(i % 2 ? u1 : u2)));
    await Promise.all(Array.from({ length: 200 }, (_, i) => a.release(i % 2 ? u1 : u2)));
    expect(await leases().countDocuments({ userId: { $in: [u1, u2] } })).toBe(2);
    await b.stop();
    expect(await leases().countDocuments({ userId: { $in: [u1, u2] } })).toBe(0);
    await a.stop();
  });

  it('renews its documents while it runs', async () => {
    const limiter = new MongoStreamLimiter(t.db, 2, 300);
    limiter.start();
    const user = randomUUID();
    expect(await limiter.acquire(user)).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    const other = new MongoStreamLimiter(t.db, 2);
    expect(await other.acquire(user)).toBe(true);
    expect(await other.acquire(user)).toBe(false);
    await Promise.all([limiter.stop(), other.stop()]);
  });
});
