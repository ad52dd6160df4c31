import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { COLLECTIONS } from '../db/types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { PeerNudges, type PeerDoc } from './peer-nudges.js';

let t: TestDatabase;
const started: PeerNudges[] = [];
beforeEach(async () => {
  t = await useTestDatabase();
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((p) => p.stop()));
  await t.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (condition: () => boolean, timeoutMs = 3000) => {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error('timed out');
    await sleep(5);
  }
};

/** A started instance whose nudges are recorded. */
async function peer(refreshMs = 100) {
  const nudges = new PeerNudges(t.db, {
    bindHost: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    port: 0,
    refreshMs,
  });
  const heard: string[][] = [];
  await nudges.start((ids) => heard.push(ids));
  started.push(nudges);
  return { nudges, heard };
}

describe('PeerNudges', () => {
  it('tells every other live instance which tasks moved, one datagram per tick, never itself', async () => {
    const a = await peer();
    const b = await peer();
    const c = await peer();
    await waitFor(() => a.nudges.peerCount === 2 && b.nudges.peerCount === 2);

    a.nudges.nudge(['t1']);
    a.nudges.nudge(['t2', 't1']);
    await waitFor(() => b.heard.length === 1 && c.heard.length === 1);
    expect(b.heard[0]!.sort()).toEqual(['t1', 't2']);
    expect(c.heard[0]!.sort()).toEqual(['t1', 't2']);
    expect(a.heard).toEqual([]);
    expect(a.nudges.counts.sent).toBe(2);
    await sleep(50);
    expect(b.heard).toHaveLength(1);
  });

  it('stops nudging an instance that stopped, and never one whose entry expired', async () => {
    const a = await peer();
    const b = await peer();
    await waitFor(() => a.nudges.peerCount === 1);
    // An instance that died without stopping: its entry is past its expiry.
    await t.db.collection<PeerDoc>(COLLECTIONS.deliveryPeers).insertOne({
      _id: 'dead',
      host: '127.0.0.1',
      port: 9,
      expiresAt: new Date(Date.now() - 1000),
    });
    await b.nudges.stop();
    await waitFor(() => a.nudges.peerCount === 0);
    await sleep(250);
    expect(a.nudges.peerCount).toBe(0);
    a.nudges.nudge(['t1']);
    await sleep(20);
    expect(a.nudges.counts.sent).toBe(0);
  });

  it('sends a bare nudge ("look at everything") when the task ids would not fit one datagram', async () => {
    const a = await peer();
    const b = await peer();
    await waitFor(() => a.nudges.peerCount === 1);
    a.nudges.nudge(Array.from({ length: 100 }, (_, i) => `task-${i}-${'x'.repeat(20)}`));
    await waitFor(() => b.heard.length === 1);
    expect(b.heard[0]).toEqual([]);
  });

  it('ignores datagrams that are not nudges', async () => {
    const b = await peer();
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.send('hello', b.nudges.port, '127.0.0.1', () => resolve()));
      await sleep(100);
      expect(b.heard).toEqual([]);
      expect(b.nudges.counts.received).toBe(0);
    } finally {
      socket.close();
    }
  });
});
