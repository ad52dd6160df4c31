import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MongoClient } from 'mongodb';
import { COLLECTIONS, type TaskMessageDoc } from '../db/types.js';
import { useTestDatabase, type TestDatabase } from '../test-support/database.js';
import { waitFor } from '../test-support/wait-for.js';
import { Hub, type HubEvent } from './hub.js';
import { TailingDelivery, type TailingOptions } from './tailing-delivery.js';
import { PeerNudges } from './peer-nudges.js';
import { AppendGaps } from '../db/append-gaps.js';

let t: TestDatabase;
beforeAll(async () => {
  t = await useTestDatabase();
});
afterAll(() => t.close());

/** What another instance would store: a message the local hub never published. */
const foreignMessage = (taskId: string, seq: number, createdAt = new Date()): TaskMessageDoc => ({
  taskId,
  seq,
  kind: 'statusUpdate',
  event: {
    statusUpdate: { taskId, contextId: 'c', status: { state: 'TASK_STATE_WORKING' } },
  },
  createdAt,
  expiresAt: new Date(Date.now() + 60_000),
});

/** A hub with one recording subscriber per task, already at `from`. */
function recordingHub(taskIds: string[], from = 0) {
  const hub = new Hub();
  const received = new Map<string, number[]>(taskIds.map((id) => [id, []]));
  for (const id of taskIds) hub.subscribe(id, (e) => received.get(id)!.push(e.seq), from);
  return { hub, received };
}

/** A tail started over a recording hub for these tasks, stopped after `body` whatever happens. */
async function withTail(
  taskIds: string[],
  options: TailingOptions,
  body: (tail: TailingDelivery, received: Map<string, number[]>) => Promise<void>,
): Promise<void> {
  const { hub, received } = recordingHub(taskIds);
  const tail = new TailingDelivery(t.db, options);
  await tail.start(hub);
  try {
    await body(tail, received);
  } finally {
    await tail.stop();
  }
}

const storedMessages = () => t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);

describe('TailingDelivery', () => {
  it('slows its polling while nothing arrives from elsewhere, and speeds up when something does', async () => {
    const messages = t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    const taskId = `tail-${Date.now()}`;
    const hub = new Hub();
    const received: HubEvent[] = [];
    hub.subscribe(taskId, (e) => received.push(e));
    const tail = new TailingDelivery(t.db, { pollMs: 20, maxIdleFactor: 4, quietPolls: 3 });
    await tail.start(hub);
    try {
      await waitFor(() => tail.intervalMs === 80);

      await messages.insertOne(foreignMessage(taskId, 1));
      await waitFor(() => received.length === 1);
      expect(received[0]).toMatchObject({ taskId, seq: 1, final: false });
      expect(tail.intervalMs).toBe(20);
      // A short lull (fewer empty polls than a quiet spell) keeps the fast interval.
      await new Promise((r) => setTimeout(r, 40));
      expect(tail.intervalMs).toBe(20);

      // Quiet again: back to the slowest interval, never beyond it.
      await waitFor(() => tail.intervalMs === 80);
      await new Promise((r) => setTimeout(r, 200));
      expect(tail.intervalMs).toBe(80);

      // A quiet spell delays the next foreign event by at most the slowest interval (plus a query).
      const stored = Date.now();
      await messages.insertOne(foreignMessage(taskId, 2));
      await waitFor(() => received.length === 2);
      expect(Date.now() - stored).toBeLessThan(80 + 500);
      expect(received.map((e) => e.seq)).toEqual([1, 2]);
    } finally {
      await tail.stop();
    }
  });

  it("starts a newly watched task from its subscriber's position, not from what is stored by then", async () => {
    const messages = t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    const taskId = `tail-start-${Date.now()}`;
    const hub = new Hub();
    const tail = new TailingDelivery(t.db, { pollMs: 300 });
    await tail.start(hub);
    try {
      const received: number[] = [];
      // The subscriber has read the history up to seq 0; seq 1 is stored before the tail looks.
      hub.subscribe(taskId, (e) => received.push(e.seq), 0);
      await messages.insertOne(foreignMessage(taskId, 1));
      await waitFor(() => received.length === 1, 3000);
      expect(received).toEqual([1]);
    } finally {
      await tail.stop();
    }
  });

  it('picks up what another instance stored within a few polls, without waiting for a sweep', async () => {
    const tasks = Array.from({ length: 50 }, (_, i) => `tail-fast-${Date.now()}-${i}`);
    // Sweeps far apart (after the first pass, one task every 12 s): only the look at what was
    // stored lately can deliver within seconds. The bounds are loose because the test database
    // server is shared with other test files, which can hold it for a while.
    await withTail(tasks, { pollMs: 20, sweepMs: 600_000 }, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100)); // past the first sweep
      for (const seq of [1, 2, 3]) {
        const stored = Date.now();
        await storedMessages().insertOne(foreignMessage(tasks[17]!, seq));
        await waitFor(() => received.get(tasks[17]!)!.length === seq, 20_000);
        expect(Date.now() - stored).toBeLessThan(20_000);
      }
      expect(received.get(tasks[17]!)).toEqual([1, 2, 3]);
      expect([...received.values()].flat()).toHaveLength(3);
    });
  });

  it("waits for a gap between this instance's appends before a timed poll", async () => {
    const task = `tail-gap-${Date.now()}`;
    const gaps = new AppendGaps(10_000);
    const options = { pollMs: 20, sweepMs: 600_000, appendGaps: gaps };
    await withTail([task], options, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100)); // past the first sweep
      gaps.begin(); // a local append on its way to the database
      await new Promise((r) => setTimeout(r, 50)); // a poll that had started is over
      await storedMessages().insertOne(foreignMessage(task, 1));
      await new Promise((r) => setTimeout(r, 200));
      expect(received.get(task)).toEqual([]); // polls every 20 ms would have had it
      let ended = 0;
      setTimeout(() => {
        ended = Date.now();
        gaps.end();
      }, 10);
      await waitFor(() => received.get(task)!.length === 1, 5000);
      expect(ended).toBeGreaterThan(0);
    });
  });

  it('does not hold a timed poll back for longer than its bound under appends that never pause', async () => {
    const task = `tail-gap-bound-${Date.now()}`;
    const gaps = new AppendGaps(100);
    const options = { pollMs: 20, sweepMs: 600_000, appendGaps: gaps };
    await withTail([task], options, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100));
      gaps.begin();
      await storedMessages().insertOne(foreignMessage(task, 1));
      await waitFor(() => received.get(task)!.length === 1, 5000);
      gaps.end();
    });
  });

  it('fills a gap in order when a later event shows up before an earlier one was seen', async () => {
    const taskId = `tail-gap-${Date.now()}`;
    await withTail([taskId], { pollMs: 20, sweepMs: 600_000 }, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100));
      // Seq 1 became visible late, stamped long before the window; seq 2 is recent.
      await storedMessages().insertOne(foreignMessage(taskId, 1, new Date(Date.now() - 600_000)));
      await storedMessages().insertOne(foreignMessage(taskId, 2));
      await waitFor(() => received.get(taskId)!.length === 2, 20_000);
      expect(received.get(taskId)).toEqual([1, 2]);
    });
  });

  it('still delivers an event stamped outside the window (a slow commit, a clock behind) at the next sweep', async () => {
    const taskId = `tail-late-${Date.now()}`;
    await withTail([taskId], { pollMs: 20, sweepMs: 400 }, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100));
      // The task's final event, with nothing after it to reveal it to the windowed look.
      await storedMessages().insertOne(foreignMessage(taskId, 1, new Date(Date.now() - 600_000)));
      await waitFor(() => received.get(taskId)!.length === 1, 20_000);
      expect(received.get(taskId)).toEqual([1]);
    });
  });

  it('sweeps six times slower while every peer is heard (here: there is none)', async () => {
    const taskId = `tail-trusted-sweep-${Date.now()}`;
    const nudges = new PeerNudges(t.db, {
      bindHost: '127.0.0.1',
      advertiseHost: '127.0.0.1',
      port: 0,
      refreshMs: 100,
      secret: `trusted-${Date.now()}`,
    });
    await withTail([taskId], { pollMs: 20, sweepMs: 400, nudges }, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 300)); // past the first sweep, and trusted
      const stored = Date.now();
      await storedMessages().insertOne(foreignMessage(taskId, 1, new Date(Date.now() - 600_000)));
      await new Promise((r) => setTimeout(r, 1200));
      expect(received.get(taskId)).toEqual([]); // a sweep every 400 ms would have found it
      await waitFor(() => received.get(taskId)!.length === 1, 10_000);
      expect(Date.now() - stored).toBeLessThan(6000);
    });
  });

  it('looks back from its previous look, so nothing stored between two slow polls waits for the sweep', async () => {
    const taskId = `tail-between-${Date.now()}`;
    // Polls 400 ms apart with a 50 ms look-back (as a 1 s refresh pace is to the default 1 s).
    const options = { pollMs: 400, lookbackMs: 50, sweepMs: 600_000, quietPolls: 1000 };
    await withTail([taskId], options, async (tail, received) => {
      const polls = tail.pollCount;
      await waitFor(() => tail.pollCount > polls);
      await new Promise((r) => setTimeout(r, 150)); // that poll is done; the next is ~250 ms away
      const stored = Date.now();
      await storedMessages().insertOne(foreignMessage(taskId, 1));
      await waitFor(() => received.get(taskId)!.length === 1, 2000);
      expect(Date.now() - stored).toBeLessThan(2000);
    });
  });

  it("is not blinded by a writer whose clock is ahead: the others' events still come at once", async () => {
    const [ahead, onTime] = [`tail-ahead-${Date.now()}`, `tail-ontime-${Date.now()}`];
    await withTail([ahead, onTime], { pollMs: 20, sweepMs: 600_000 }, async (_tail, received) => {
      await new Promise((r) => setTimeout(r, 100));
      await storedMessages().insertOne(foreignMessage(ahead, 1, new Date(Date.now() + 600_000)));
      await waitFor(() => received.get(ahead)!.length === 1, 20_000);
      const stored = Date.now();
      await storedMessages().insertOne(foreignMessage(onTime, 1));
      await waitFor(() => received.get(onTime)!.length === 1, 20_000);
      expect(Date.now() - stored).toBeLessThan(20_000);
    });
  });
});

describe('TailingDelivery with peer nudges', () => {
  /** Two tails on the database, each with its nudges, as on two instances. */
  async function pair(readerOptions: Partial<TailingOptions>, taskIds: string[]) {
    const nudges = () =>
      new PeerNudges(t.db, {
        bindHost: '127.0.0.1',
        advertiseHost: '127.0.0.1',
        port: 0,
        refreshMs: 100,
        secret: 'shared',
      });
    const writerNudges = nudges();
    const readerNudges = nudges();
    const writer = new TailingDelivery(t.db, { pollMs: 10_000, nudges: writerNudges });
    const hub = new Hub();
    const received = new Map<string, number[]>(taskIds.map((id) => [id, []]));
    const reader = new TailingDelivery(t.db, {
      pollMs: 20,
      sweepMs: 600_000,
      ...readerOptions,
      nudges: readerNudges,
    });
    await writer.start(new Hub());
    await reader.start(hub);
    // Subscribed after the start, as streams are: from the position they read up to.
    for (const id of taskIds) hub.subscribe(id, (e) => received.get(id)!.push(e.seq), 0);
    await waitFor(() => writerNudges.peerCount === 1 && readerNudges.peerCount === 1);
    await waitFor(() => readerNudges.allPeersHeard);
    const messages = t.db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    /** What the writer's event log does: store, then note the local publish (which nudges). */
    const append = async (taskId: string, seq: number) => {
      await messages.insertOne(foreignMessage(taskId, seq));
      writer.noteLocal([{ taskId, seq, json: '{}', final: false, storedAt: Date.now() }]);
    };
    const stop = () => Promise.all([writer.stop(), reader.stop()]);
    return { reader, writer, received, append, messages, stop };
  }

  it('delivers at once what another instance says it stored, long before its next timed poll', async () => {
    const [nudged, unannounced] = [`nudge-${Date.now()}`, `nudge-quiet-${Date.now()}`];
    const { reader, received, append, messages, stop } = await pair({ pollMs: 10_000 }, [
      nudged,
      unannounced,
    ]);
    try {
      await new Promise((r) => setTimeout(r, 100));
      const stored = Date.now();
      await append(nudged, 1);
      await waitFor(() => received.get(nudged)!.length === 1, 5000);
      expect(Date.now() - stored).toBeLessThan(5000);
      // An insert nobody announced waits for a timed poll (10 s away).
      await messages.insertOne(foreignMessage(unannounced, 1));
      await new Promise((r) => setTimeout(r, 500));
      expect(received.get(unannounced)).toEqual([]);
      await append(nudged, 2);
      await waitFor(() => received.get(nudged)!.length === 2, 5000);
      expect(received.get(nudged)).toEqual([1, 2]);
      expect(received.get(unannounced)).toEqual([]);
      // A bare nudge (too many tasks for one datagram) looks at everything stored lately.
      reader.nudge({ taskIds: [], events: [] });
      await waitFor(() => received.get(unannounced)!.length === 1, 5000);
    } finally {
      await stop();
    }
  });

  it('reads the database when an announced event does not follow what it has (an earlier datagram lost)', async () => {
    const taskId = `nudge-gap-${Date.now()}`;
    const { received, append, messages, stop } = await pair({ pollMs: 10_000 }, [taskId]);
    try {
      await new Promise((r) => setTimeout(r, 100));
      await messages.insertOne(foreignMessage(taskId, 1)); // its datagram never came
      await append(taskId, 2);
      await waitFor(() => received.get(taskId)!.length === 2, 5000);
      expect(received.get(taskId)).toEqual([1, 2]);
    } finally {
      await stop();
    }
  });

  it('polls once for a nudge it cannot act on: nothing watched, or the database unreachable', async () => {
    const idle = new TailingDelivery(t.db, { pollMs: 10_000 });
    await idle.start(new Hub());
    const client = new MongoClient(t.uri, { serverSelectionTimeoutMS: 200 });
    await client.connect();
    const unreachable = new TailingDelivery(client.db(t.dbName), { pollMs: 10_000 });
    const hub = new Hub();
    await unreachable.start(hub);
    hub.subscribe(`nudge-down-${Date.now()}`, () => undefined, 0);
    await client.close();
    try {
      idle.nudge({ taskIds: [], events: [] });
      unreachable.nudge({ taskIds: [], events: [] });
      await new Promise((r) => setTimeout(r, 300));
      expect(idle.pollCount).toBe(1);
      expect(unreachable.pollCount).toBe(1);
    } finally {
      await Promise.all([idle.stop(), unreachable.stop()]);
    }
  });

  it("polls at the peers' refresh pace while every peer is heard, fast again for a while after events no nudge announces", async () => {
    const taskId = `nudge-pace-${Date.now()}`;
    // Untrusted, the quiet pace would stop at 2 × 20 ms; every peer heard, it is the refresh's 100.
    const { reader, writer, received, append, messages, stop } = await pair(
      { maxIdleFactor: 2, quietPolls: 3 },
      [taskId],
    );
    const paces = new Set<number>();
    const sampler = setInterval(() => paces.add(reader.intervalMs), 5);
    try {
      await waitFor(() => reader.intervalMs === 100);
      paces.clear();
      for (let seq = 1; seq <= 5; seq++) {
        await append(taskId, seq);
        await waitFor(() => received.get(taskId)!.length === seq, 5000);
      }
      // A timed poll that reads an event before its datagram comes (the writer sends it once the
      // insert is acknowledged) has not found a lost one.
      await messages.insertOne(foreignMessage(taskId, 6));
      await waitFor(() => received.get(taskId)!.length === 6, 5000);
      writer.noteLocal([{ taskId, seq: 6, json: '{}', final: false, storedAt: Date.now() }]);
      await new Promise((r) => setTimeout(r, 800));
      expect([...paces]).toEqual([100]);
      // A writer that sends no nudges: the timed poll finds its event, no nudge follows, and the
      // pace goes back to fast, and stays off the refresh pace for a while (its next event would
      // otherwise wait up to a refresh).
      await messages.insertOne(foreignMessage(taskId, 7));
      await waitFor(() => received.get(taskId)!.length === 7, 5000);
      await waitFor(() => reader.intervalMs === 20, 2000);
      paces.clear();
      await new Promise((r) => setTimeout(r, 800));
      expect(Math.max(...paces)).toBeLessThanOrEqual(40);
      expect(received.get(taskId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    } finally {
      clearInterval(sampler);
      await stop();
    }
  });

  it('alone, polls at the refresh pace: an instance that starts is heard within a refresh', async () => {
    const nudges = new PeerNudges(t.db, {
      bindHost: '127.0.0.1',
      advertiseHost: '127.0.0.1',
      port: 0,
      refreshMs: 150,
      secret: `alone-${Date.now()}`, // no peer shares it: none is heard
    });
    const options = { pollMs: 20, maxIdleFactor: 2, quietPolls: 3, nudges };
    await withTail([`alone-${Date.now()}`], options, async (lone) => {
      await waitFor(() => lone.intervalMs === 150, 3000);
    });
  });

  it('reads every watched task, however old its events, when a peer says a datagram was lost', async () => {
    const [recent, old] = [`missed-recent-${Date.now()}`, `missed-old-${Date.now()}`];
    const { reader, received, messages, stop } = await pair({ pollMs: 10_000 }, [recent, old]);
    try {
      // Stored out of sight: one now, one stamped before the look-back window.
      await messages.insertOne(foreignMessage(recent, 1));
      await messages.insertOne(foreignMessage(old, 1, new Date(Date.now() - 60_000)));
      reader.nudge({ taskIds: [], events: [] });
      await waitFor(() => received.get(recent)!.length === 1);
      expect(received.get(old)).toEqual([]);
      reader.nudge({ taskIds: [], events: [], missed: true });
      await waitFor(() => received.get(old)!.length === 1, 2000);
      expect(received.get(recent)).toEqual([1]);
    } finally {
      await stop();
    }
  });
});
