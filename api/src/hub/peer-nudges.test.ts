import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { COLLECTIONS } from '../db/types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { waitFor } from '../test-support/wait-for.js';
import type { HubEvent } from './hub.js';
import { PeerNudges, type Nudge, type PeerDoc } from './peer-nudges.js';
import { AppendGaps } from '../db/append-gaps.js';

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

const event = (taskId: string, seq: number, json = `{"n":${seq}}`): HubEvent => ({
  taskId,
  seq,
  json,
  final: false,
  storedAt: 1_700_000_000_000 + seq,
});

/** A started instance whose nudges are recorded, and the losses it found apart. */
async function peer(secret = 'shared-secret', refreshMs = 100) {
  const nudges = new PeerNudges(t.db, {
    bindHost: '127.0.0.1',
    advertiseHost: '127.0.0.1',
    port: 0,
    refreshMs,
    secret,
  });
  const heard: Nudge[] = [];
  /** Where in `heard` each loss was found. */
  const missed: number[] = [];
  await nudges.start((nudge) => (nudge.missed ? missed.push(heard.length) : heard.push(nudge)));
  started.push(nudges);
  return { nudges, heard, missed };
}

/**
 * Puts a relay between `from` and `to`: `from` is told `to` listens at the relay, which passes
 * on what it gets unless told to drop the next datagrams. `to` must refresh slowly, or it would
 * put its own address back.
 */
async function relay(to: { nudges: PeerNudges }) {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const relayed = { passed: 0, dropped: 0, drop: 0 };
  socket.on('message', (message) => {
    if (relayed.drop > 0) {
      relayed.drop--;
      relayed.dropped++;
      return;
    }
    relayed.passed++;
    socket.send(message, to.nudges.port, '127.0.0.1');
  });
  await t.db
    .collection<PeerDoc>(COLLECTIONS.deliveryPeers)
    .updateOne({ _id: to.nudges.instanceId }, { $set: { port: socket.address().port } });
  return { relayed, close: () => socket.close() };
}

describe('PeerNudges', () => {
  it('tells every other live instance what it stored, one datagram per tick, never itself', async () => {
    const a = await peer();
    const b = await peer();
    const c = await peer();
    await waitFor(() => a.nudges.peerCount === 2 && b.nudges.peerCount === 2);
    // Each first heard the others' beacons: what they stored before is unknown, read everything.
    await waitFor(() => b.missed.length === 2 && c.missed.length === 2);

    a.nudges.nudge([event('t1', 1)]);
    a.nudges.nudge([event('t2', 1), event('t1', 2)]);
    await waitFor(() => b.heard.length === 1 && c.heard.length === 1);
    const expected = { taskIds: ['t1', 't2'], events: [event('t1', 1), event('t2', 1), event('t1', 2)] };
    expect(b.heard[0]).toEqual(expected);
    expect(c.heard[0]).toEqual(expected);
    expect(a.heard).toEqual([]);
    expect(a.nudges.counts.sent).toBe(2);
    await sleep(250);
    expect(b.heard).toHaveLength(1);
    // Beacons between refreshes say nothing was lost.
    expect(b.missed).toHaveLength(2);
    expect(a.nudges.counts.beacons).toBeGreaterThan(0);
  });

  it('numbers its datagrams: a receiver learns of a lost one from the next datagram, or else from the next beacon', async () => {
    const a = await peer();
    const b = await peer('shared-secret', 60_000);
    const path = await relay(b);
    try {
      await waitFor(() => path.relayed.passed > 0 && b.missed.length === 1); // first contact
      a.nudges.nudge([event('t1', 1)]);
      await waitFor(() => b.heard.length === 1);
      path.relayed.drop = 1;
      a.nudges.nudge([event('t1', 2)]);
      await waitFor(() => path.relayed.dropped === 1);
      a.nudges.nudge([event('t1', 3)]);
      await waitFor(() => b.heard.length === 2);
      // Told of the loss before the datagram after it: the tail reads the database for both.
      expect(b.missed).toEqual([0, 1]);
      expect(b.heard[1]!.events).toEqual([event('t1', 3)]);

      // The last datagram lost, nothing sent after it: the next beacon tells.
      path.relayed.drop = 1;
      const lostAt = Date.now();
      a.nudges.nudge([event('t1', 4)]);
      await waitFor(() => b.missed.length === 3, 1000);
      expect(Date.now() - lostAt).toBeLessThan(500);
      expect(b.heard).toHaveLength(2);
      expect(b.nudges.counts.missed).toBe(3);
      await sleep(250);
      expect(b.missed).toHaveLength(3); // and only once
    } finally {
      path.close();
    }
  });

  it('hears all its peers only while each one is heard: a peer whose datagrams never come is not', async () => {
    const a = await peer();
    expect(a.nudges.allPeersHeard).toBe(true); // alone: anyone who starts is heard within a refresh
    const b = await peer();
    await waitFor(() => a.nudges.allPeersHeard && b.nudges.allPeersHeard);
    // An instance whose datagrams do not get here (a firewall, an older version).
    await t.db.collection<PeerDoc>(COLLECTIONS.deliveryPeers).insertOne({
      _id: 'unheard',
      host: '127.0.0.1',
      port: 9,
      expiresAt: new Date(Date.now() + 60_000),
    });
    await waitFor(() => a.nudges.peerCount === 2);
    expect(a.nudges.allPeersHeard).toBe(false);
    await sleep(400);
    expect(a.nudges.allPeersHeard).toBe(false);
    await t.db.collection<PeerDoc>(COLLECTIONS.deliveryPeers).deleteOne({ _id: 'unheard' });
    await waitFor(() => a.nudges.allPeersHeard);
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

  it("renews its entry in a gap between this instance's appends, its beacons keeping their pace", async () => {
    await peer(); // another instance, so that there is someone to send beacons to
    const gaps = new AppendGaps(10_000);
    let beacons = 0;
    const nudges = new PeerNudges(t.db, {
      bindHost: '127.0.0.1',
      advertiseHost: '127.0.0.1',
      port: 0,
      refreshMs: 50,
      secret: 'shared-secret',
      appendGaps: gaps,
      observer: { datagram: (result) => void (result === 'beacon' && beacons++), peers: () => undefined },
    });
    await nudges.start(() => undefined);
    started.push(nudges);
    expect(nudges.peerCount).toBe(1);
    const expiry = async () =>
      (await t.db
        .collection<PeerDoc>(COLLECTIONS.deliveryPeers)
        .findOne({ _id: nudges.instanceId }))!.expiresAt.getTime();
    const registered = await expiry();
    await sleep(200);
    expect(await expiry()).toBeGreaterThan(registered);

    gaps.begin(); // an append on its way to the database
    await sleep(100); // a renewal under way is over
    const held = await expiry();
    const beaconsBefore = beacons;
    await sleep(300);
    expect(await expiry()).toBe(held);
    expect(beacons - beaconsBefore).toBeGreaterThanOrEqual(2);
    gaps.end();
    await sleep(200);
    expect(await expiry()).toBeGreaterThan(held);
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

  it('sends a nudge in the turn that stores the events, not after the work queued behind them', async () => {
    // The receiver runs in a worker, so it notes the datagram's arrival while this thread is busy.
    const receiver = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const socket = require('node:dgram').createSocket('udp4');
       socket.on('message', () => parentPort.postMessage({ arrivedAt: Date.now() }));
       socket.bind(0, '127.0.0.1', () => parentPort.postMessage({ port: socket.address().port }));`,
      { eval: true },
    );
    try {
      const { port } = await once(receiver, 'message').then(([m]) => m as { port: number });
      const arrived = once(receiver, 'message').then(([m]) => (m as { arrivedAt: number }).arrivedAt);
      await t.db
        .collection<PeerDoc>(COLLECTIONS.deliveryPeers)
        .insertOne({ _id: 'worker', host: '127.0.0.1', port, expiresAt: new Date(Date.now() + 60_000) });
      const a = await peer();
      await waitFor(() => a.nudges.peerCount === 1);
      const nudgedAt = Date.now();
      a.nudges.nudge([event('t1', 1)]);
      // What follows an append in the same promise chain (hapi's reply): 400 ms of it here. Node's
      // own lookup of the peer's address would hold the datagram until the chain ends.
      while (Date.now() - nudgedAt < 400) await Promise.resolve();
      expect((await arrived) - nudgedAt).toBeLessThan(200);
    } finally {
      await receiver.terminate();
    }
  });
});
