import type { HubEvent } from '../../hub/hub.js';
import { isFinalEvent, type ReadResult } from '../../store/event-log.js';

/** Where a TaskStream writes: an SSE session. `write` returns false once the stream is gone. */
export interface StreamSink {
  writeEvent(seq: number, json: string): boolean;
  close(reason: 'final' | 'slow' | 'error'): void;
}

export interface TaskStreamOptions {
  /** Reads retained events after a seq, in order. */
  readAfter(after: number, limit: number): Promise<ReadResult>;
  pageSize: number;
  /** Live events held while catching up; more means the reader is too slow. */
  maxPending: number;
  onLiveEvent?(event: HubEvent): void;
}

/**
 * The per-connection sequencer (Mercure's subscribe-without-a-gap): live events that arrive
 * while the stream catches up from the store wait in a bounded queue; each seq is written once,
 * in order; a hole in the live sequence is filled from the store before going on.
 */
export class TaskStream {
  #lastSent: number;
  #pending: HubEvent[] = [];
  #catchingUp = false;
  #closed = false;

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

  get closed(): boolean {
    return this.#closed;
  }

  /** Hub listener: called with live events in seq order. */
  readonly onLive = (event: HubEvent): void => {
    if (this.#closed || event.seq <= this.#lastSent) return;
    if (this.#catchingUp || event.seq !== this.#lastSent + 1) {
      if (this.#pending.length >= this.options.maxPending) {
        this.#close('slow');
        return;
      }
      this.#pending.push(event);
      if (!this.#catchingUp) void this.catchUp();
      return;
    }
    this.#writeLive(event);
  };

  /**
   * Writes retained events after the last sent seq, then drains the live queue. Resolves with
   * the first page's read result (the caller needs its truncation flag before anything else).
   */
  async catchUp(first?: ReadResult): Promise<void> {
    if (this.#catchingUp || this.#closed) return;
    this.#catchingUp = true;
    try {
      let page = first ?? (await this.options.readAfter(this.#lastSent, this.options.pageSize));
      for (;;) {
        for (const e of page.events) {
          if (e.seq <= this.#lastSent) continue;
          if (!this.#write(e.seq, JSON.stringify(e.event), isFinalEvent(e.event))) return;
        }
        if (page.events.length < this.options.pageSize) break;
        page = await this.options.readAfter(this.#lastSent, this.options.pageSize);
      }
      this.#catchingUp = false;
      this.#drainPending();
    } catch {
      this.#close('error');
    } finally {
      this.#catchingUp = false;
    }
  }

  #drainPending(): void {
    const pending = this.#pending.sort((a, b) => a.seq - b.seq);
    this.#pending = [];
    for (let i = 0; i < pending.length; i++) {
      const event = pending[i]!;
      if (event.seq <= this.#lastSent) continue;
      if (event.seq !== this.#lastSent + 1) {
        // A hole the store must fill first (another writer's event not yet seen live).
        this.#pending = pending.slice(i);
        void this.catchUp();
        return;
      }
      if (!this.#writeLive(event)) return;
    }
  }

  #writeLive(event: HubEvent): boolean {
    const ok = this.#write(event.seq, event.json, event.final);
    if (ok) this.options.onLiveEvent?.(event);
    return ok;
  }

  #write(seq: number, json: string, final: boolean): boolean {
    if (this.#closed) return false;
    if (!this.sink.writeEvent(seq, json)) {
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
    this.sink.close(reason);
  }

  /** Stops without touching the sink (the connection is already gone). */
  stop(): void {
    this.#closed = true;
    this.#pending = [];
  }
}
