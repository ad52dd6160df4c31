import type { HubEvent } from '../../hub/hub.js';
import type { History } from './history.js';

/** Where a TaskStream writes. A write returns false once the sink is gone or overflowing. */
export interface StreamSink {
  /** A live event: the hub's object, so its frame can be shared by every stream. */
  writeLive(event: HubEvent): boolean;
  /** A replayed event. */
  writeStored(seq: number, json: string): boolean;
  /**
   * Replay is pulled, so it waits for the reader instead of dropping it: resolves once the
   * output buffer has room again (undefined = room now).
   */
  drained?(): Promise<void> | undefined;
  /** Writes of one replay batch may be coalesced between these. */
  cork?(): void;
  uncork?(): void;
  close(reason: 'final' | 'slow' | 'error'): void;
}

export interface TaskStreamOptions {
  /** Retained events after a seq, in order, in batches. */
  history(after: number): History;
  /** Live events held while catching up; more means the reader is too slow. */
  maxPending: number;
  onLiveEvent?(event: HubEvent): void;
  /** How long a hole in the live sequence may wait for the store before it is skipped. */
  gapWaitMs?: number;
  /** Called when a seq never appeared in time and was skipped (metrics). */
  onGapSkipped?(missing: number): void;
  onError?(error: unknown): void;
}

const GAP_RETRY_MS = 25;

/**
 * The per-connection sequencer (Mercure's subscribe-without-a-gap): live events that arrive
 * while the stream catches up from the store wait in a bounded queue; each seq is written once,
 * in order; a hole in the live sequence is filled from the store before going on.
 */
export class TaskStream {
  #lastSent: number;
  #pending: HubEvent[] = [];
  /** Live events wait until the first catch-up (the snapshot goes out before anything else). */
  #started = false;
  #catchingUp = false;
  #closed = false;
  /** When the current hole was first seen (ms), while waiting for the store to fill it. */
  #gapSince: number | undefined;
  #gapTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: StreamSink,
    private readonly options: TaskStreamOptions,
    from: number,
  ) {
    this.#lastSent = from;
  }

  get lastSent(): number {
    return this.#lastSent;
  }

  /** Replaying stored events (which waits for the reader rather than dropping it). */
  get catchingUp(): boolean {
    return this.#catchingUp;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Hub listener: called with live events in seq order. */
  readonly onLive = (event: HubEvent): void => {
    if (this.#closed || event.seq <= this.#lastSent) return;
    if (!this.#started || this.#catchingUp || event.seq !== this.#lastSent + 1) {
      if (this.#pending.length >= this.options.maxPending) {
        this.#close('slow');
        return;
      }
      this.#pending.push(event);
      if (this.#started && !this.#catchingUp) void this.catchUp();
      return;
    }
    this.#writeLive(event);
  };

  /**
   * Writes retained events after the last sent seq (from `source` when the caller already opened
   * the history, e.g. to learn about truncation first), then drains the live queue.
   */
  async catchUp(source?: History): Promise<void> {
    if (this.#catchingUp || this.#closed) return;
    this.#started = true;
    this.#catchingUp = true;
    try {
      for await (const batch of source ?? this.options.history(this.#lastSent)) {
        if (!this.#writeBatch(batch)) return;
        const drained = this.sink.drained?.();
        if (drained) await drained;
        if (this.#closed) return;
      }
      this.#catchingUp = false;
      this.#drainPending();
    } catch (error) {
      this.options.onError?.(error);
      this.#close('error');
    } finally {
      this.#catchingUp = false;
    }
  }

  #writeBatch(batch: readonly { seq: number; json: string; final: boolean }[]): boolean {
    this.sink.cork?.();
    try {
      for (const e of batch) {
        if (e.seq <= this.#lastSent) continue;
        if (!this.#advance(e.seq, e.final, this.sink.writeStored(e.seq, e.json))) return false;
      }
      return true;
    } finally {
      this.sink.uncork?.();
    }
  }

  #drainPending(): void {
    const pending = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    for (let i = 0; i < pending.length; i++) {
      const event = pending[i]!;
      if (event.seq <= this.#lastSent) continue;
      if (event.seq !== this.#lastSent + 1 && !this.#gapExpired()) {
        // A hole the store has not filled yet (another writer's event still on its way).
        this.#pending = pending.slice(i);
        this.#retryGap();
        return;
      }
      if (event.seq !== this.#lastSent + 1) this.options.onGapSkipped?.(event.seq - this.#lastSent - 1);
      this.#gapSince = undefined;
      if (!this.#writeLive(event)) return;
    }
    this.#gapSince = undefined;
  }

  #gapExpired(): boolean {
    const now = Date.now();
    this.#gapSince ??= now;
    return now - this.#gapSince >= (this.options.gapWaitMs ?? 2000);
  }

  #retryGap(): void {
    if (this.#gapTimer || this.#closed) return;
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = undefined;
      void this.catchUp();
    }, GAP_RETRY_MS);
  }

  #writeLive(event: HubEvent): boolean {
    if (this.#closed) return false;
    const ok = this.#advance(event.seq, event.final, this.sink.writeLive(event));
    if (ok || this.#lastSent === event.seq) this.options.onLiveEvent?.(event);
    return ok;
  }

  /** Bookkeeping after a write: false when the stream must not go on. */
  #advance(seq: number, final: boolean, written: boolean): boolean {
    if (this.#closed) return false;
    if (!written) {
      this.#close('slow');
      return false;
    }
    this.#lastSent = seq;
    if (final) {
      this.#close('final');
      return false;
    }
    return true;
  }

  #close(reason: 'final' | 'slow' | 'error'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pending = [];
    clearTimeout(this.#gapTimer);
    this.sink.close(reason);
  }

  /** Stops without touching the sink (the connection is already gone). */
  stop(): void {
    this.#closed = true;
    this.#pending = [];
    clearTimeout(this.#gapTimer);
  }
}
