import type { ConnectionInfo, SnapshotTask, TaskEvent, TaskRef } from '@orchestrator-ai/transport-types';
import type { StreamConfig } from '../shared/config.js';
import type { ListenerGate } from '../shared/gate.js';
import { StreamPool, detectHttpProtocol, isMultiplexed } from '../shared/pool.js';
import { originOf } from '../shared/refs.js';
import { TaskSession, type SessionReport } from '../shared/task-session.js';
import { realTimers, type FetchLike, type Timers } from '../shared/timers.js';
import { accessToken, mintStreamToken, type Minter } from './mint.js';

interface DirectEntry {
  ref: TaskRef;
  gates: Set<ListenerGate>;
  session: TaskSession;
  snapshot?: SnapshotTask;
  /** This page's log of the task, so a second listener in the page gets the history too. */
  events: TaskEvent[];
  lastSeq: number;
  final: boolean;
  info?: ConnectionInfo;
}

export interface DirectHubOptions {
  fetch: FetchLike;
  config: () => StreamConfig;
  timers?: Timers;
  random?: () => number;
  isOnline?: () => boolean;
  /** The page's origin (resume point as header on it, as query parameter elsewhere). */
  pageOrigin?: string;
}

export function infoFromReport(report: SessionReport, via: 'worker' | 'page'): ConnectionInfo {
  const info: ConnectionInfo = {
    state: report.state,
    transport: report.transport === 'polling' ? 'polling' : via === 'worker' ? 'worker' : 'direct',
    via,
  };
  if (report.reason !== undefined) info.reason = report.reason;
  if (report.status !== undefined) info.status = report.status;
  return info;
}

/**
 * Connections made by the page itself, when there is no Service Worker (unsupported, blocked,
 * another origin): the same {@link TaskSession} as the worker's, one per task for this page,
 * shared by the page's listeners, with an in-memory log instead of IndexedDB and the same stream
 * budget and polling fallback.
 */
export class DirectHub {
  private readonly entries = new Map<string, DirectEntry>();
  private readonly pool: StreamPool;
  private readonly timers: Timers;
  private protocol: string | undefined;

  constructor(private readonly o: DirectHubOptions) {
    this.timers = o.timers ?? realTimers;
    this.pool = new StreamPool(() =>
      isMultiplexed(this.protocol) ? this.o.config().maxStreamsHttp2 : this.o.config().maxStreamsHttp1,
    );
  }

  /** Feeds `gate` from a page connection to the task; returns the detach function. */
  watch(ref: TaskRef, gate: ListenerGate, minter: Minter): () => void {
    let entry = this.entries.get(ref.taskId);
    if (entry && entry.session.done && entry.info?.state === 'error') {
      this.drop(ref.taskId);
      entry = undefined;
    }
    if (!entry) {
      entry = this.open(ref, minter);
    } else {
      if (entry.snapshot) gate.snapshot(entry.snapshot);
      gate.events(entry.events);
      if (entry.info) gate.connection(entry.info);
    }
    entry.gates.add(gate);
    const e = entry;
    return () => {
      e.gates.delete(gate);
      if (e.gates.size === 0 && this.entries.get(ref.taskId) === e) this.drop(ref.taskId);
    };
  }

  /** Retry waiting connections now (the network came back, the tab woke up). */
  kick(): void {
    for (const e of this.entries.values()) e.session.kick();
  }

  /** Forgets every log (sign-out); running connections keep going for their listeners. */
  clear(): void {
    for (const e of this.entries.values()) {
      e.events = [];
      delete e.snapshot;
    }
  }

  dispose(): void {
    for (const id of [...this.entries.keys()]) this.drop(id);
  }

  private drop(taskId: string): void {
    const e = this.entries.get(taskId);
    if (!e) return;
    this.entries.delete(taskId);
    this.pool.remove(taskId);
    void e.session.stop();
  }

  private open(ref: TaskRef, minter: Minter): DirectEntry {
    const timers = this.timers;
    const streamOrigin = originOf(ref.streamUrl);
    const data: Omit<DirectEntry, 'session'> = {
      ref,
      gates: new Set(),
      events: [],
      lastSeq: 0,
      final: false,
    };
    const session = new TaskSession({
      ref,
      fetch: this.o.fetch,
      timers,
      config: this.o.config,
      ...(this.o.random ? { random: this.o.random } : {}),
      ...(this.o.isOnline ? { isOnline: this.o.isOnline } : {}),
      lastEventIdInQuery: this.o.pageOrigin !== undefined && streamOrigin !== this.o.pageOrigin,
      onWishChange: () => this.pool.rebalance(),
      tokens: {
        streamToken: async () => {
          if (!ref.tokenUrl) throw new Error('the task has no stream-token URL');
          const res = await mintStreamToken(
            minter.fetch,
            ref.tokenUrl,
            await accessToken(minter.getAccessToken),
          );
          const p = streamOrigin ? detectHttpProtocol(streamOrigin) : undefined;
          if (p && p !== this.protocol) {
            this.protocol = p;
            queueMicrotask(() => this.pool.rebalance());
          }
          return res.token;
        },
        userToken: () => accessToken(minter.getAccessToken),
      },
      sink: {
        cursor: () => Promise.resolve({ seq: data.lastSeq, final: data.final }),
        snapshot: (snapshot) => {
          if (!data.snapshot || snapshot.metadata.seq >= data.snapshot.metadata.seq) data.snapshot = snapshot;
          for (const g of data.gates) g.snapshot(snapshot);
          return Promise.resolve();
        },
        events: (events) => {
          const nowIso = new Date(timers.now()).toISOString();
          let drop = 0;
          while (drop < data.events.length && data.events[drop]!.expiresAt <= nowIso) drop++;
          if (drop > 0) data.events.splice(0, drop);
          data.events.push(...events);
          data.lastSeq = events[events.length - 1]!.seq;
          for (const g of data.gates) g.events(events);
          return Promise.resolve();
        },
        state: (report) => {
          if (report.final) data.final = true;
          data.info = infoFromReport(report, 'page');
          for (const g of data.gates) g.connection(data.info);
        },
      },
    });
    const entry: DirectEntry = Object.assign(data, { session });
    this.entries.set(ref.taskId, entry);
    this.pool.add(ref.taskId, session, timers.now());
    session.start();
    return entry;
  }
}
