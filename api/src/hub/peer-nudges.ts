import dgram from 'node:dgram';
import dns from 'node:dns';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from '../db/types.js';
import type { AppendGaps } from '../db/append-gaps.js';
import type { HubEvent } from './hub.js';
import { PeerSequences } from './peer-sequences.js';

export interface PeerDoc {
  _id: string;
  host: string;
  port: number;
  expiresAt: Date;
}

export interface PeerNudgeOptions {
  /** Address the UDP socket binds to. */
  bindHost: string;
  /** Address other instances send to (the bind address unless that is a wildcard). */
  advertiseHost: string;
  /** UDP port; 0 for any free one. */
  port: number;
  /** How often this instance renews its entry and re-reads who else is there (default 1000 ms). */
  refreshMs?: number;
  /** An entry not renewed for this long is no longer a peer (default 5 × refreshMs). */
  ttlMs?: number;
  /** Shared by every instance (the stream token secret): datagrams are signed with it. */
  secret: string;
  /** Told of every datagram sent, received and rejected, and of the number of peers. */
  observer?: PeerNudgeObserver;
  /** Renewals wait for a gap between this instance's appends (the first registration does not). */
  appendGaps?: AppendGaps;
}

export interface PeerNudgeObserver {
  /**
   * `beacon`: one sent; `missed`: a datagram from a peer found lost (a number skipped, a beacon
   * ahead, or a peer heard for the first time).
   */
  datagram(result: 'sent' | 'received' | 'rejected' | 'beacon' | 'missed'): void;
  peers(count: number): void;
}

/** What a datagram told: the tasks that moved and, when they fit, their events. */
export interface Nudge {
  /** Empty: too many to name, look at everything stored lately. */
  taskIds: string[];
  /** In seq order per task; events of named tasks may be left out (too large for a datagram). */
  events: HubEvent[];
  /**
   * Something a peer sent was lost, or came before this instance was heard of: every watched
   * task is to be read, however long ago its events were stored.
   */
  missed?: true;
}

type WireEvent = [taskId: string, seq: number, storedAt: number, final: 0 | 1, json: string];

/** The signed body: sender, its datagram number (a beacon's: its count so far), and the nudge. */
interface WireBody {
  i: string;
  n: number;
  b?: 1;
  t?: string[];
  e?: WireEvent[];
}

/** Datagrams start with this and an HMAC-SHA256 of the rest: anything else is dropped. */
const MAGIC = Buffer.from('oa-nudge/3');
const MAC_BYTES = 32;
/**
 * Beyond this a datagram leaves out the events (then the task ids): loopback carries 64 KB, but
 * a larger datagram between hosts is split into IP fragments, and losing one loses it all.
 */
const MAX_PAYLOAD = 8 * 1024;

/**
 * Hints between instances that tail the database (no change streams): after an append is
 * stored, every other live instance gets one UDP datagram with the events (or, when they do not
 * fit, the tasks that moved). A receiver publishes an event at once only when it directly follows
 * what it already has, and otherwise reads the task from the database; the database stays the
 * record, so a lost or late datagram costs a read or waits for the tail's own polls, never an
 * event. Datagrams are signed with the secret every instance shares (the stream token secret):
 * a forged one is dropped. Instances find each other through a collection of entries they renew.
 *
 * Datagrams are numbered, and each refresh sends every peer a beacon with the count so far, so a
 * receiver learns of a lost datagram at the next one or within a refresh (`missed`), and knows
 * when every peer is being heard (`allPeersHeard`): then its own timed polls can be slow.
 */
export class PeerNudges {
  readonly instanceId = randomUUID();
  readonly #peers: Collection<PeerDoc>;
  readonly #options: Required<Omit<PeerNudgeOptions, 'observer' | 'appendGaps'>>;
  readonly #observer: PeerNudgeObserver | undefined;
  readonly #gaps: AppendGaps | undefined;
  #socket: dgram.Socket | undefined;
  #port = 0;
  #targets: Array<{ id: string; host: string; port: number }> = [];
  /** Datagrams sent so far (one count for every peer). */
  #sequence = 0;
  readonly #sequences = new PeerSequences();
  #timer: NodeJS.Timeout | undefined;
  readonly #key: Buffer;
  #pending: HubEvent[] = [];
  #flushQueued = false;
  #sent = 0;
  #received = 0;
  #rejected = 0;
  #beacons = 0;
  #missed = 0;
  #refreshes = 0;

  constructor(db: Db, options: PeerNudgeOptions) {
    this.#peers = db.collection<PeerDoc>(COLLECTIONS.deliveryPeers);
    const refreshMs = options.refreshMs ?? 1000;
    this.#options = { ...options, refreshMs, ttlMs: options.ttlMs ?? refreshMs * 5 };
    this.#observer = options.observer;
    this.#gaps = options.appendGaps;
    this.#key = createHmac('sha256', options.secret).update('peer-nudges').digest();
  }

  /** Where other instances send to. */
  get address(): string {
    return this.#options.advertiseHost;
  }

  /** The UDP port this instance listens on (after `start`). */
  get port(): number {
    return this.#port;
  }

  /** Other live instances this one nudges. */
  get peerCount(): number {
    return this.#targets.length;
  }

  /** How often this instance renews its entry and sends its beacons (ms). */
  get refreshMs(): number {
    return this.#options.refreshMs;
  }

  /**
   * Every other instance was heard from within the last three refreshes, so a datagram of theirs
   * lost since shows up as `missed` within a refresh. True when there is none: an instance that
   * starts is a peer within a refresh, and its first datagram or beacon makes this one read
   * every watched task.
   */
  get allPeersHeard(): boolean {
    const since = Date.now() - 3 * this.#options.refreshMs;
    return this.#sequences.allHeardSince(
      this.#targets.map((t) => t.id),
      since,
    );
  }

  /** Nudges sent and received, datagrams rejected, beacons sent, and losses (or first contacts) found. */
  get counts(): { sent: number; received: number; rejected: number; beacons: number; missed: number } {
    return {
      sent: this.#sent,
      received: this.#received,
      rejected: this.#rejected,
      beacons: this.#beacons,
      missed: this.#missed,
    };
  }

  /** Listens, announces itself and learns its peers. */
  async start(onNudge: (nudge: Nudge) => void): Promise<void> {
    const type = isIP(this.#options.bindHost) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, lookup: literalFirstLookup });
    socket.on('message', (message) => {
      const body = this.#open(message);
      if (!body) {
        this.#rejected++;
        return this.#observer?.datagram('rejected');
      }
      const beacon = body.b === 1;
      if (this.#sequences.heard(body.i, body.n, beacon)) {
        this.#missed++;
        this.#observer?.datagram('missed');
        onNudge({ taskIds: [], events: [], missed: true });
      }
      if (beacon) return;
      this.#received++;
      this.#observer?.datagram('received');
      onNudge(nudgeOf(body));
    });
    // A send to a peer that went away answers ICMP unreachable: nothing to do, the entry expires.
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.#options.port, this.#options.bindHost, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.unref();
    this.#socket = socket;
    this.#port = socket.address().port;
    await this.#refresh();
    this.#timer = setInterval(
      () => void this.#refresh(this.#gaps).catch(() => undefined),
      this.#options.refreshMs,
    );
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#targets = [];
    this.#socket?.close();
    this.#socket = undefined;
    await this.#peers.deleteOne({ _id: this.instanceId }).catch(() => undefined);
  }

  /** Tells every peer these events are stored; calls within one tick go out as one datagram. */
  nudge(events: readonly HubEvent[]): void {
    if (!this.#socket || this.#targets.length === 0) return;
    this.#pending.push(...events);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const socket = this.#socket;
    const events = this.#pending;
    this.#pending = [];
    if (!socket) return;
    const taskIds = [...new Set(events.map((e) => e.taskId))];
    const wire = events.map((e): WireEvent => [e.taskId, e.seq, e.storedAt, e.final ? 1 : 0, e.json]);
    const head = { i: this.instanceId, n: ++this.#sequence };
    let payload = JSON.stringify({ ...head, t: taskIds, e: wire });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) payload = JSON.stringify({ ...head, t: taskIds, e: [] });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD) payload = JSON.stringify({ ...head, t: [], e: [] });
    this.#send(socket, payload, 'sent');
  }

  /** Tells every peer how many datagrams this instance has sent, so each can tell what it lost. */
  #beacon(): void {
    const body: WireBody = { i: this.instanceId, n: this.#sequence, b: 1 };
    if (this.#socket) this.#send(this.#socket, JSON.stringify(body), 'beacon');
  }

  #send(socket: dgram.Socket, payload: string, kind: 'sent' | 'beacon'): void {
    const body = Buffer.from(payload);
    const datagram = Buffer.concat([MAGIC, this.#mac(body), body]);
    for (const { host, port } of this.#targets) {
      if (kind === 'sent') this.#sent++;
      else this.#beacons++;
      this.#observer?.datagram(kind);
      socket.send(datagram, port, host);
    }
  }

  #mac(body: Buffer): Buffer {
    return createHmac('sha256', this.#key).update(body).digest();
  }

  /** The body of a datagram, or undefined when it is not one of ours (or not signed by one). */
  #open(message: Buffer): WireBody | undefined {
    if (message.length < MAGIC.length + MAC_BYTES || !message.subarray(0, MAGIC.length).equals(MAGIC)) return;
    const mac = message.subarray(MAGIC.length, MAGIC.length + MAC_BYTES);
    const body = message.subarray(MAGIC.length + MAC_BYTES);
    if (!timingSafeEqual(mac, this.#mac(body))) return;
    try {
      return JSON.parse(body.toString('utf8')) as WireBody;
    } catch {
      return undefined;
    }
  }

  async #refresh(gaps?: AppendGaps): Promise<void> {
    // Before the database round trips, so that beacons keep their pace when the database is slow.
    this.#beacon();
    await gaps?.gap();
    const now = Date.now();
    await this.#peers.updateOne(
      { _id: this.instanceId },
      {
        $set: {
          host: this.#options.advertiseHost,
          port: this.#port,
          expiresAt: new Date(now + this.#options.ttlMs),
        },
      },
      { upsert: true },
    );
    const live = await this.#peers
      .find({ _id: { $ne: this.instanceId }, expiresAt: { $gt: new Date(now) } })
      .toArray();
    this.#targets = live.map(({ _id, host, port }) => ({ id: _id, host, port }));
    this.#observer?.peers(this.#targets.length);
    this.#sequences.forget(now - this.#options.ttlMs);
    // Entries of instances that died without stopping (the database may have no TTL monitor).
    if (this.#refreshes++ % 30 === 0)
      await this.#peers.deleteMany({ expiresAt: { $lt: new Date(now - this.#options.ttlMs) } });
  }
}

/**
 * dgram looks up every destination, and Node's lookup answers even an IP literal at the next
 * tick, which comes after the promise chain running the append: hapi's whole reply. A peer's
 * address is an IP as a rule, and its datagram then leaves at once.
 */
const literalFirstLookup = ((
  hostname: string,
  family: number,
  callback: (error: NodeJS.ErrnoException | null, address: string, family: number) => void,
) => {
  const literal = isIP(hostname);
  if (literal !== 0) return callback(null, hostname, literal);
  dns.lookup(hostname, family, callback);
}) as typeof dns.lookup;

function nudgeOf({ t = [], e = [] }: WireBody): Nudge {
  return {
    taskIds: t,
    events: e.map(([taskId, seq, storedAt, final, json]) => ({
      taskId,
      seq,
      storedAt,
      final: final === 1,
      json,
    })),
  };
}
