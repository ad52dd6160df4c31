import type {
  ConnectionInfo,
  SnapshotTask,
  TaskEvent,
  TaskStreamListener,
} from '@orchestrator-ai/transport-types';

/**
 * Stands between a transport and one listener: each seq is delivered once and in order (anything
 * at or below the last delivered seq is dropped), snapshots never go backwards, and repeated
 * connection reports are folded. Replays (history after a wake-up, a second tab's history, a
 * transport switch) are therefore harmless.
 */
export class ListenerGate {
  private delivered = 0;
  private snapshotSeq = -1;
  private snapshotTruncated = false;
  private lastInfo: string | undefined;
  closed = false;

  constructor(private readonly listener: TaskStreamListener) {}

  /** The highest seq delivered so far (0: none). */
  get lastSeq(): number {
    return this.delivered;
  }

  snapshot(snapshot: SnapshotTask): void {
    if (this.closed) return;
    const seq = typeof snapshot.metadata?.seq === 'number' ? snapshot.metadata.seq : 0;
    const truncated = snapshot.metadata?.historyTruncated === true;
    if (seq < this.snapshotSeq) return;
    if (seq === this.snapshotSeq && (!truncated || this.snapshotTruncated)) return;
    this.snapshotSeq = seq;
    this.snapshotTruncated = truncated;
    call(() => this.listener.onSnapshot?.(snapshot));
  }

  events(events: readonly TaskEvent[]): void {
    if (this.closed) return;
    const ordered = events.length > 1 ? [...events].sort((a, b) => a.seq - b.seq) : events;
    for (const e of ordered) {
      if (this.closed) return;
      if (e.seq <= this.delivered) continue;
      this.delivered = e.seq;
      call(() => this.listener.onEvent(e));
    }
  }

  connection(info: ConnectionInfo): void {
    if (this.closed) return;
    const key = JSON.stringify(info);
    if (key === this.lastInfo) return;
    this.lastInfo = key;
    call(() => this.listener.onConnection?.(info));
  }
}

function call(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    // A listener's bug must not break delivery to the others.
    console.error('task stream listener failed', err);
  }
}
