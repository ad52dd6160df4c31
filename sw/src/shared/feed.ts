import type { SnapshotTask, TaskEvent } from '@orchestrator-ai/transport-types';

export interface History {
  snapshot?: SnapshotTask;
  events: TaskEvent[];
  lastSeq: number;
  final: boolean;
  truncated: boolean;
  earliestSeq?: number;
}

export type FeedMessage =
  | { type: 'history'; history: History }
  | { type: 'event'; event: TaskEvent }
  | { type: 'events'; events: TaskEvent[] }
  | { type: 'snapshot'; snapshot: SnapshotTask };

/**
 * The worker's outgoing feed to one subscriber of one task: the seam between stored history and
 * live events (as mercure's `AddSubscriber`). `beginHistory()` goes first, so live events that
 * arrive while the history is read from IndexedDB are held; `endHistory()` sends the history,
 * then the held events above it. Nothing is sent twice, nothing falls in the gap.
 */
export class SubscriberFeed {
  private sent = 0;
  private loading = 0;
  private held: Array<{ event?: TaskEvent; snapshot?: SnapshotTask }> = [];
  private paused = false;

  constructor(private readonly send: (message: FeedMessage) => void) {}

  /** Highest seq sent to this subscriber. */
  get lastSeq(): number {
    return this.sent;
  }

  /**
   * Hold live events without sending (a restored subscriber whose tab has not said where it is:
   * the history it asks for covers them).
   */
  pause(): void {
    this.paused = true;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Live events are held from now until the matching {@link endHistory}. */
  beginHistory(): void {
    this.loading++;
    this.paused = false;
  }

  endHistory(history: History): void {
    this.loading = Math.max(0, this.loading - 1);
    this.send({ type: 'history', history });
    for (const e of history.events) if (e.seq > this.sent) this.sent = e.seq;
    if (this.loading === 0) this.flush();
  }

  live(event: TaskEvent): void {
    this.liveEvents([event]);
  }

  /**
   * Live events stored together (ascending seqs), sent in one message: a tab that fell behind
   * gets its backlog in fewer, larger messages, so catching up costs less per event.
   */
  liveEvents(events: readonly TaskEvent[]): void {
    if (this.paused) return;
    if (this.loading > 0) {
      for (const event of events) this.held.push({ event });
      return;
    }
    const fresh = events.filter((e) => e.seq > this.sent);
    if (fresh.length === 0) return;
    this.sent = fresh[fresh.length - 1]!.seq;
    this.send(fresh.length === 1 ? { type: 'event', event: fresh[0]! } : { type: 'events', events: fresh });
  }

  liveSnapshot(snapshot: SnapshotTask): void {
    if (this.paused) return;
    if (this.loading > 0) {
      this.held.push({ snapshot });
      return;
    }
    this.send({ type: 'snapshot', snapshot });
  }

  private flush(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) {
      if (h.snapshot) this.send({ type: 'snapshot', snapshot: h.snapshot });
      else if (h.event && h.event.seq > this.sent) {
        this.sent = h.event.seq;
        this.send({ type: 'event', event: h.event });
      }
    }
  }
}
