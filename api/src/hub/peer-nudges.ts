import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { Collection, Db } from 'mongodb';
import { COLLECTIONS } from '../db/types.js';

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
}

/** Datagrams start with this: anything else on the port is not ours and is dropped. */
const MAGIC = 'oa-nudge/1';
/** Task ids beyond this many bytes are left out: a bare nudge means "look at everything". */
const MAX_PAYLOAD = 1200;

/**
 * Hints between instances that tail the database (no change streams): after an append, every
 * other live instance gets one UDP datagram naming the tasks that moved, and polls at once
 * instead of at its next tick. The database stays the only source of events: a datagram carries
 * no event, so a lost, late or forged one costs at most a poll, and the tail's own polling still
 * finds everything. Instances find each other through a collection of entries they renew.
 */
export class PeerNudges {
  readonly instanceId = randomUUID();
  readonly #peers: Collection<PeerDoc>;
  readonly #options: Required<PeerNudgeOptions>;
  #socket: dgram.Socket | undefined;
  #port = 0;
  #targets: Array<{ host: string; port: number }> = [];
  #timer: NodeJS.Timeout | undefined;
  #pending = new Set<string>();
  #flushQueued = false;
  #sent = 0;
  #received = 0;
  #refreshes = 0;

  constructor(db: Db, options: PeerNudgeOptions) {
    this.#peers = db.collection<PeerDoc>(COLLECTIONS.deliveryPeers);
    const refreshMs = options.refreshMs ?? 1000;
    this.#options = { ...options, refreshMs, ttlMs: options.ttlMs ?? refreshMs * 5 };
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

  get counts(): { sent: number; received: number } {
    return { sent: this.#sent, received: this.#received };
  }

  /** Listens, announces itself and learns its peers; `onNudge` gets the task ids (empty: any). */
  async start(onNudge: (taskIds: string[]) => void): Promise<void> {
    const type = isIP(this.#options.bindHost) === 6 ? 'udp6' : 'udp4';
    const socket = dgram.createSocket(type);
    socket.on('message', (message) => {
      const text = message.toString('utf8');
      if (!text.startsWith(MAGIC)) return;
      this.#received++;
      onNudge(text.slice(MAGIC.length).split('\n').filter(Boolean));
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
    this.#timer = setInterval(() => void this.#refresh().catch(() => undefined), this.#options.refreshMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#targets = [];
    this.#socket?.close();
    this.#socket = undefined;
    await this.#peers.deleteOne({ _id: this.instanceId }).catch(() => undefined);
  }

  /** Tells every peer these tasks moved; calls within one tick go out as one datagram. */
  nudge(taskIds: Iterable<string>): void {
    if (!this.#socket || this.#targets.length === 0) return;
    for (const id of taskIds) this.#pending.add(id);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const socket = this.#socket;
    if (!socket) return;
    let payload = MAGIC;
    for (const id of this.#pending) {
      if (payload.length + id.length + 1 > MAX_PAYLOAD) {
        payload = MAGIC;
        break;
      }
      payload += '\n' + id;
    }
    this.#pending.clear();
    const bytes = Buffer.from(payload);
    for (const { host, port } of this.#targets) {
      this.#sent++;
      socket.send(bytes, port, host);
    }
  }

  async #refresh(): Promise<void> {
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
    this.#targets = live.map(({ host, port }) => ({ host, port }));
    // Entries of instances that died without stopping (the database may have no TTL monitor).
    if (this.#refreshes++ % 30 === 0)
      await this.#peers.deleteMany({ expiresAt: { $lt: new Date(now - this.#options.ttlMs) } });
  }
}
