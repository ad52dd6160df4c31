import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { COLLECTIONS } from '../db/types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import type { HubEvent } from './hub.js';
import { PeerNudges, type Nudge, type PeerDoc } from './peer-nudges.js';

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

const event = (taskId: string, seq: number, json = `{"n":${seq}}`): HubEvent => ({
  taskId,
  seq,
  json,
  final: false,
  storedAt: 1_700_000_000_000 + seq,
});

/** A started instance whose nudges are recorded. */
async function peer(secret = 'shared-secret') {
  const nudges = new PeerNudges(t.db, {
    bindHost: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    port: 0,
    refreshMs: 100,
    secret,
  });
  const heard: Nudge[] = [];
  await nudges.start((nudge) => heard.push(nudge));
  started.push(nudges);
  return { nudges, heard };
}

describe('PeerNudges', () => {
  it('tells every other live instance what it stored, one datagram per tick, never itself', async () => {
    const a = await peer();
    const b = await peer();
    const c = await peer();
    await waitFor(() => a.nudges.peerCount === 2 && b.nudges.peerCount === 2);

    a.nudges.nudge([event('t1', 1)]);
    a.nudges.nudge([event('t2', 1), event('t1', 2)]);
    await waitFor(() => b.heard.length === 1 && c.heard.length === 1);
    const expected = { taskIds: ['t1', 't2'], events: [event('t1', 1), event('t2', 1), event('t1', 2)] };
    expect(b.heard[0]).toEqual(expected);
    expect(c.heard[0]).toEqual(expected);
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
    a.nudges.nudge([event('t1', 1)]);
    await sleep(20);
    expect(a.nudges.counts.sent).toBe(0);
  });

  it('names only the tasks when their events would not fit a datagram, and none when the names would not', async () => {
    const a = await peer();
    const b = await peer();
    await waitFor(() => a.nudges.peerCount === 1);
    const big = JSON.stringify({ text: 'x'.repeat(5000) });
    a.nudges.nudge([event('t1', 1, big), event('t2', 1, big)]);
    await waitFor(() => b.heard.length === 1);
    expect(b.heard[0]).toEqual({ taskIds: ['t1', 't2'], events: [] });
    a.nudges.nudge(Array.from({ length: 400 }, (_, i) => event(`task-${i}-${'x'.repeat(20)}`, 1)));
    await waitFor(() => b.heard.length === 2);
    expect(b.heard[1]).toEqual({ taskIds: [], events: [] });
  });

  it('drops datagrams that are not nudges, and nudges not signed with the shared secret', async () => {
    const b = await peer();
    const socket = dgram.createSocket('udp4');
    try {
      await new Promise<void>((resolve) => socket.send('hello', b.nudges.port, '127.0.0.1', () => resolve()));
      // Anyone without the secret (here an instance configured with another) cannot put events
      // into b's streams.
      const forger = await peer('another-secret');
      await waitFor(() => forger.nudges.peerCount === 1);
      forger.nudges.nudge([event('t1', 1, '{"forged":true}')]);
      await waitFor(() => b.nudges.counts.rejected === 2);
      expect(b.heard).toEqual([]);
      expect(b.nudges.counts.received).toBe(0);
    } finally {
      socket.close();
    }
  });
});
