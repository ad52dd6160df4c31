import type { Collection, Db } from 'mongodb';
import { COLLECTIONS, type TaskMessageDoc } from '../db/types.js';
import { isFinalEvent } from '../store/event-log.js';
import type { DeliverySource, Hub, HubEvent } from './hub.js';
import type { Nudge, PeerNudges } from './peer-nudges.js';
import type { AppendGaps } from '../db/append-gaps.js';

export interface TailingOptions {
  /** Poll interval while other instances are writing. */
  pollMs: number;
  /**
   * Besides the tasks seen moving, each poll asks a slice of the watched tasks, round-robin, for
   * everything after what this instance has, so every watched task is asked once per `sweepMs`
   * (default 5000). This sweep is the safety net for an insert that became visible later than the
   * look-back window (a slow commit, a writer whose clock is behind) and bounds how late such an
   * event can be; spread over the polls, it never holds the database for long at once.
   */
  sweepMs?: number;
  /**
   * How far back (by this instance's clock) a poll looks at `createdAt` before the previous
   * poll's look (default 1000 ms), so consecutive windows overlap by this much however far apart
   * the polls are (up to `sweepMs`). An insert seen later than that, or stamped by a writer whose
   * clock is behind by more, is left to the sweep.
   */
  lookbackMs?: number;
  /**
   * After a quiet spell (`quietPolls` polls in a row with nothing from other instances, default
   * 20) the interval doubles at each empty poll, up to this many times `pollMs` (default 8): a
   * lone instance does not query the database 20 times a second for nothing, and the first event
   * another instance writes after a quiet spell waits at most that. Any delivery resets it.
   */
  maxIdleFactor?: number;
  quietPolls?: number;
  /** Tasks per query (an `$or` of `{taskId, seq > last}` clauses, each on the unique index). */
  batchTasks?: number;
  /**
   * Hints from and to other instances: a peer that appended says so at once and this tail polls
   * then, not at its next tick. Polls that a nudge prompted do not count against the quiet
   * backoff. While every peer is heard (their numbered datagrams and beacons arrive), a lost
   * datagram shows up within a refresh, so the timed polls slow to the refresh interval; one that
   * finds events no nudge announces within ANNOUNCE_GRACE_MS (a writer without nudges) brings
   * the fast pace back.
   */
  nudges?: PeerNudges;
  /** Timed polls wait for a gap between this instance's appends (nudged ones do not). */
  appendGaps?: AppendGaps;
  onDelivered?(count: number): void;
}

/** Events fetched per query; tasks of a query that reaches it are asked again at the next poll. */
const FETCH_LIMIT = 5000;
/** The sweep takes its next slice of watched tasks at most this often. */
const SWEEP_SLICE_MS = 250;
/**
 * While every peer is heard (trusted, see `#pace`) a pass of the sweep takes this many times
 * `sweepMs`: what peers store then comes in their datagrams, or at the next timed poll if a
 * writer died before sending one, and the sweep is left with an insert that was both unannounced
 * and visible later than the look-back window. Its queries are not free everywhere: the embedded
 * database scans the collection for each task of an `$or` (about 1 MB of its garbage per task at
 * 1,200 stored events), and 200 watched tasks swept every 5 s were 40 scans a second, a
 * stop-the-world collection of its heap every second or two, in the middle of the appends.
 */
const TRUSTED_SWEEP_FACTOR = 6;
/**
 * A timed poll may read an event before its writer's datagram arrives (the writer sends it once
 * the insert is acknowledged): it counts as unannounced only if no nudge names it this long after.
 */
const ANNOUNCE_GRACE_MS = 500;
/**
 * After a timed poll found events no nudge announced (a writer with nudges off), the timed polls
 * keep the fast pace, with its quiet backoff, for this long: that writer's events would
 * otherwise wait up to a refresh each.
 */
const DISTRUST_MS = 30_000;

/**
 * Cross-instance delivery where change streams are not available: for every task someone on
 * this instance watches, a tailing query by seq picks up what other instances stored. Events
 * this instance appended itself arrive here too; streams drop seqs they already wrote.
 *
 * A poll is two cheap queries rather than one clause per watched task: which (task, seq) pairs
 * were stored lately (a range on the `{createdAt, taskId, seq}` index, answered from the index),
 * then the events of the watched tasks that moved plus this poll's slice of the sweep. An `$or`
 * over every watched task costs the database in proportion to the tasks watched (≈ 15 ms for 200
 * on the embedded server, which serves nothing else meanwhile).
 */
export class TailingDelivery implements DeliverySource {
  readonly kind = 'tailing-query';
  readonly #messages: Collection<TaskMessageDoc>;
  readonly #last = new Map<string, number>();
  #hub: Hub | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unwatch: (() => void) | undefined;
  #polling = false;
  /** Watched tasks named by nudges not yet acted on. */
  readonly #nudgedTasks = new Set<string>();
  /** A nudge named no task (too many for one datagram): the next poll looks at everything. */
  #nudgedAll = false;
  /** A peer's datagram was lost: the next poll reads every watched task. */
  #nudgedMissed = false;
  /** Events timed polls found, by task (highest seq, when found), until a nudge announces them. */
  readonly #unannounced = new Map<string, { seq: number; at: number }>();
  #stopped = false;
  #intervalMs: number;
  #emptyPolls = 0;
  #polls = 0;
  /** The sweep's current pass over the watched tasks, and how far it got. */
  #pass: string[] = [];
  #passAt = 0;
  /** Tasks owed to the sweep so far (fractional: a slow sweep of few tasks skips slices). */
  #sweepOwed = 0;
  #slicedAt = 0;
  /** Tasks whose last fetch was cut at FETCH_LIMIT. */
  #again = new Set<string>();
  /** When the previous look at what moved was taken. */
  #lookedAt = Infinity;
  /** Until when timed polls keep the fast pace although every peer is heard. */
  #distrustedUntil = 0;
  /** Every peer heard and nothing unannounced lately, as of the last timed poll. */
  #trusted = false;

  constructor(
    db: Db,
    private readonly options: TailingOptions,
  ) {
    this.#messages = db.collection<TaskMessageDoc>(COLLECTIONS.taskMessages);
    this.#intervalMs = options.pollMs;
  }

  /** What this tail runs with, for the start-up log line. */
  get settings(): Record<string, string | number> {
    const nudges = this.options.nudges;
    return {
      pollMs: this.options.pollMs,
      sweepMs: this.options.sweepMs ?? 5000,
      sweepMsWhilePeersHeard: (this.options.sweepMs ?? 5000) * TRUSTED_SWEEP_FACTOR,
      nudges: nudges ? `udp ${nudges.address}:${nudges.port}` : 'off',
    };
  }

  /** Polls run so far (timed and nudged). */
  get pollCount(): number {
    return this.#polls;
  }

  /** The current poll interval (ms). */
  get intervalMs(): number {
    return this.#intervalMs;
  }

  async start(hub: Hub): Promise<void> {
    this.#hub = hub;
    this.#stopped = false;
    // Listen to local publishes to know how far each task is, so the tail starts there.
    this.#unwatch = hub.watch({
      // From the subscriber's own position: an event stored between its read of the history and
      // this tail's first look at the task would otherwise be taken as already seen.
      added: (taskId, from) => {
        const last = this.#last.get(taskId);
        if (from !== undefined)
          this.#last.set(taskId, last === undefined || last < 0 ? from : Math.min(last, from));
        else if (last === undefined) this.#last.set(taskId, -1);
      },
      removed: (taskId) => {
        this.#last.delete(taskId);
        this.#unannounced.delete(taskId);
      },
    });
    await this.options.nudges?.start((nudge) => this.nudge(nudge));
    this.#schedule();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#unwatch?.();
    this.#last.clear();
    await this.options.nudges?.stop();
  }

  /** Local appends move the tail forward without a query, and other instances hear of them. */
  noteLocal(events: readonly HubEvent[]): void {
    for (const e of events) {
      const last = this.#last.get(e.taskId);
      if (last !== undefined && e.seq > last) this.#last.set(e.taskId, e.seq);
    }
    this.options.nudges?.nudge(events);
  }

  /**
   * Another instance stored events of these tasks (none named: of any). An event that directly
   * follows what this instance has is published as it came; for any other watched task named,
   * the database is read now.
   */
  nudge({ taskIds, events, missed }: Nudge): void {
    if (this.#stopped || !this.#hub) return;
    this.#announced(taskIds, events, missed);
    if (missed) this.#nudgedMissed = true;
    else if (taskIds.length === 0) this.#nudgedAll = true;
    const direct: HubEvent[] = [];
    const carried = new Set<string>();
    for (const e of events) {
      const last = this.#last.get(e.taskId);
      if (last === undefined) continue;
      carried.add(e.taskId);
      if (last >= 0 && e.seq === last + 1) {
        this.#last.set(e.taskId, e.seq);
        direct.push(e);
      } else if (last < 0 || e.seq > last) this.#nudgedTasks.add(e.taskId);
    }
    if (direct.length > 0) {
      this.#hub.publish(direct);
      this.options.onDelivered?.(direct.length);
    }
    for (const id of taskIds) if (!carried.has(id) && this.#last.has(id)) this.#nudgedTasks.add(id);
    if (this.#polling || !this.#nudged()) return; // a poll under way looks again when it ends
    clearTimeout(this.#timer);
    void this.#poll(true);
  }

  #nudged(): boolean {
    return this.#nudgedMissed || this.#nudgedAll || this.#nudgedTasks.size > 0;
  }

  /** What a nudge accounts for among the events timed polls found first. */
  #announced(taskIds: readonly string[], events: readonly HubEvent[], missed: boolean | undefined): void {
    if (this.#unannounced.size === 0) return;
    if (missed || taskIds.length === 0) return this.#unannounced.clear();
    const carried = new Set<string>();
    for (const e of events) {
      carried.add(e.taskId);
      if (e.seq >= (this.#unannounced.get(e.taskId)?.seq ?? Infinity)) this.#unannounced.delete(e.taskId);
    }
    // Named without its events (too large for the datagram): announced all the same.
    for (const id of taskIds) if (!carried.has(id)) this.#unannounced.delete(id);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll(), this.#intervalMs);
    this.#timer.unref();
  }

  async #poll(nudged = false): Promise<void> {
    if (this.#polling) return; // the poll under way schedules the next one
    if (this.#stopped || !this.#hub) return this.#schedule();
    this.#polling = true;
    this.#polls++;
    let delivered = 0;
    // Taken before anything else: a nudge that arrives meanwhile is for the next poll, and one
    // this poll cannot act on (nothing watched, the database down) does not make it run again.
    // A nudge that named its tasks needs no look at what moved: it says what did.
    const everything = nudged && this.#nudgedMissed;
    const named = nudged && !everything && !this.#nudgedAll ? [...this.#nudgedTasks] : undefined;
    this.#nudgedTasks.clear();
    this.#nudgedAll = false;
    this.#nudgedMissed = false;
    try {
      if (this.#last.size > 0) {
        if (!nudged) await this.options.appendGaps?.gap();
        await this.#initialiseNewTasks();
        const positions = new Map(
          everything
            ? this.#positionsOf(this.#last.keys())
            : named
              ? this.#positionsOf(named)
              : await this.#recentlyMoved(),
        );
        for (const taskId of [...this.#again, ...this.#sweepSlice()]) {
          const last = this.#last.get(taskId);
          if (last !== undefined && last >= 0) positions.set(taskId, last);
        }
        this.#again.clear();
        delivered = await this.#fetchAfter([...positions], !nudged && this.options.nudges !== undefined);
      }
    } catch {
      // The database is briefly unreachable: try again next tick; streams catch up by seq.
    } finally {
      this.#polling = false;
      if (!nudged) this.#pace(delivered);
      if (this.#nudged() && !this.#stopped) void this.#poll(true);
      else this.#schedule();
    }
  }

  /**
   * Fast while timed polls find events, slower and slower through a quiet spell; at the peers'
   * refresh interval while every peer is heard and nothing unannounced turned up lately.
   */
  #pace(delivered: number): void {
    const { pollMs, maxIdleFactor = 8, quietPolls = 20 } = this.options;
    const nudges = this.options.nudges;
    const now = Date.now();
    const unannounced = this.#unannouncedSince(now - ANNOUNCE_GRACE_MS);
    if (unannounced > 0) this.#distrustedUntil = now + DISTRUST_MS;
    const trusted = nudges?.allPeersHeard === true && now >= this.#distrustedUntil;
    this.#trusted = trusted;
    // Trusted, what timed polls find is on its way in a datagram too (or trust would be off).
    const found = trusted ? 0 : delivered + unannounced;
    this.#emptyPolls = found > 0 ? 0 : this.#emptyPolls + 1;
    if (this.#emptyPolls <= quietPolls) this.#intervalMs = pollMs;
    else if (trusted) this.#intervalMs = Math.max(pollMs * maxIdleFactor, nudges!.refreshMs);
    else this.#intervalMs = Math.min(this.#intervalMs * 2, pollMs * maxIdleFactor);
  }

  /** How many tasks' events, found by timed polls before `before`, no nudge has announced. */
  #unannouncedSince(before: number): number {
    let count = 0;
    for (const [taskId, { at }] of this.#unannounced)
      if (at < before) {
        count++;
        this.#unannounced.delete(taskId);
      }
    return count;
  }

  async #initialiseNewTasks(): Promise<void> {
    const fresh = [...this.#last.entries()].filter(([, last]) => last < 0).map(([taskId]) => taskId);
    await Promise.all(
      fresh.map(async (taskId) => {
        const top = await this.#messages.findOne({ taskId }, { projection: { seq: 1 }, sort: { seq: -1 } });
        if (this.#last.get(taskId) === -1) this.#last.set(taskId, top?.seq ?? 0);
      }),
    );
  }

  /**
   * The next watched tasks of the sweep: as many as keep a full pass within `sweepMs`, taken at
   * most every SWEEP_SLICE_MS (each query costs about a millisecond of this process's CPU
   * whatever it returns, so a slice is not worth a query of its own at every poll).
   */
  #sweepSlice(): string[] {
    const now = Date.now();
    if (now - this.#slicedAt < SWEEP_SLICE_MS) return [];
    const sweepMs = (this.options.sweepMs ?? 5000) * (this.#trusted ? TRUSTED_SWEEP_FACTOR : 1);
    const elapsed = Math.min(now - this.#slicedAt, sweepMs);
    this.#slicedAt = now;
    if (this.#passAt >= this.#pass.length) {
      this.#pass = [...this.#last.keys()];
      this.#passAt = 0;
    }
    this.#sweepOwed += (this.#pass.length * elapsed) / sweepMs;
    const count = Math.floor(this.#sweepOwed);
    this.#sweepOwed -= count;
    const slice = this.#pass.slice(this.#passAt, this.#passAt + count);
    this.#passAt += slice.length;
    return slice;
  }

  #positionsOf(taskIds: Iterable<string>): Array<[string, number]> {
    const positions: Array<[string, number]> = [];
    for (const id of taskIds) {
      const last = this.#last.get(id);
      if (last !== undefined && last >= 0) positions.push([id, last]);
    }
    return positions;
  }

  /** Watched tasks with a seq stored lately beyond this instance's position, and that position. */
  async #recentlyMoved(): Promise<Array<[string, number]>> {
    // By this instance's clock, not the newest `createdAt` seen: one writer whose clock is ahead
    // would otherwise move the window past everyone else's events. From before the previous look:
    // polls a refresh apart would otherwise leave what was stored between them to the sweep (a
    // writer that died before its datagram went out).
    const now = Date.now();
    const lookback = this.options.lookbackMs ?? 1000;
    const since = Math.max(Math.min(now, this.#lookedAt), now - (this.options.sweepMs ?? 5000));
    this.#lookedAt = now;
    const from = new Date(since - lookback);
    const heads = await this.#messages
      .find({ createdAt: { $gte: from } }, { projection: { _id: 0, createdAt: 1, taskId: 1, seq: 1 } })
      .toArray();
    const moved = new Map<string, number>();
    for (const head of heads) {
      const last = this.#last.get(head.taskId);
      if (last !== undefined && last >= 0 && head.seq > last) moved.set(head.taskId, last);
    }
    return [...moved];
  }

  /**
   * Reads and publishes every stored event after the given positions; returns how many. With
   * `awaitNudge` (a timed poll among peers) what it finds waits for a nudge to announce it.
   */
  async #fetchAfter(positions: Array<[string, number]>, awaitNudge: boolean): Promise<number> {
    let delivered = 0;
    const size = this.options.batchTasks ?? 200;
    for (let i = 0; i < positions.length; i += size) {
      const chunk = positions.slice(i, i + size);
      const docs = await this.#messages
        .find(
          { $or: chunk.map(([taskId, seq]) => ({ taskId, seq: { $gt: seq } })) },
          { projection: { _id: 0 }, sort: { taskId: 1, seq: 1 }, limit: FETCH_LIMIT },
        )
        .toArray();
      // What did not fit may have left the look-back window by the next poll: ask again then.
      if (docs.length >= FETCH_LIMIT) for (const [taskId] of chunk) this.#again.add(taskId);
      delivered += this.#publish(docs, awaitNudge);
    }
    return delivered;
  }

  /** Publishes what this instance has not seen yet; returns how many events that was. */
  #publish(docs: TaskMessageDoc[], awaitNudge: boolean): number {
    if (docs.length === 0) return 0;
    const now = Date.now();
    const events: HubEvent[] = [];
    for (const d of docs) {
      const last = this.#last.get(d.taskId);
      if (last === undefined || d.seq <= last) continue;
      this.#last.set(d.taskId, d.seq);
      if (awaitNudge)
        this.#unannounced.set(d.taskId, { seq: d.seq, at: this.#unannounced.get(d.taskId)?.at ?? now });
      events.push({
        taskId: d.taskId,
        seq: d.seq,
        json: JSON.stringify(d.event),
        final: isFinalEvent(d.event),
        storedAt: d.createdAt.getTime(),
      });
    }
    this.#hub!.publish(events);
    this.options.onDelivered?.(events.length);
    return events.length;
  }
}

/**
 * Cross-instance delivery on deployments with change streams (replica sets, Atlas): inserts into
 * `task_messages` for tasks watched here are published as they commit.
 */
export class ChangeStreamDelivery implements DeliverySource {
  readonly kind = 'change-stream';
  #close: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Db,
    private readonly options: { onDelivered?(count: number): void } = {},
  ) {}

  async start(hub: Hub): Promise<void> {
    const stream = this.db
      .collection<TaskMessageDoc>(COLLECTIONS.taskMessages)
      .watch<TaskMessageDoc>([{ $match: { operationType: 'insert' } }]);
    stream.on('change', (change) => {
      if (change.operationType !== 'insert') return;
      const d = change.fullDocument;
      if (!hub.hasSubscribers(d.taskId)) return;
      hub.publish([
        {
          taskId: d.taskId,
          seq: d.seq,
          json: JSON.stringify(d.event),
          final: isFinalEvent(d.event),
          storedAt: d.createdAt.getTime(),
        },
      ]);
      this.options.onDelivered?.(1);
    });
    stream.on('error', () => undefined);
    this.#close = () => stream.close();
  }

  async stop(): Promise<void> {
    await this.#close?.();
  }
}

/** True when the deployment offers change streams (a replica set or sharded cluster). */
export async function supportsChangeStreams(db: Db): Promise<boolean> {
  try {
    const hello = await db.admin().command({ hello: 1 });
    if (!hello.setName && hello.msg !== 'isdbgrid') return false;
    const stream = db.collection(COLLECTIONS.taskMessages).watch([], { maxAwaitTimeMS: 1 });
    await stream.tryNext();
    await stream.close();
    return true;
  } catch {
    return false;
  }
}
