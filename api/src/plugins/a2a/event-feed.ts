/**
 * One task's events as an async iterator, for the A2A streams: the streaming plugin's gap-free
 * `TaskStream` (replay from the store, then live from the hub, each seq once and in order) with a
 * bounded queue in front of the consumer. Listening starts in the constructor, so whatever is
 * stored after that arrives even if the agent starts before the consumer pulls.
 */
import { isFinalEvent, type EventLog, type ReadResult } from '../../store/event-log.js';
import type { Hub } from '../../hub/hub.js';
import type { WireStreamResponse } from '@orchestrator-ai/transport-types';
import { TaskStream } from '../streaming/task-stream.js';
import { pagedHistory } from '../streaming/history.js';

export interface FeedEvent {
  seq: number;
  event: WireStreamResponse;
}

export interface FeedOptions {
  hub: Hub;
  log: EventLog;
  /** Events read from the store per page. */
  pageSize: number;
  /** Events waiting for the consumer (and live events held during replay) before the feed gives up. */
  maxQueued: number;
  /** Ends the feed early (client gone, server stopping). */
  signal: AbortSignal;
  onLiveEvent?(storedAt: number): void;
  /** A seq that never appeared was skipped (metrics). */
  onGapSkipped?(missing: number): void;
  onError?(error: unknown): void;
}

/** The feed ended because its reader was too slow or the store failed: the stream must not look complete. */
export class FeedBrokenError extends Error {
  constructor(readonly reason: 'slow' | 'error') {
    super(reason === 'slow' ? 'The stream fell too far behind and was closed' : 'The stream failed');
  }
}

export class TaskEventFeed {
  readonly #queue: Array<{ seq: number; json: string }> = [];
  readonly #stream: TaskStream;
  readonly #unsubscribe: () => void;
  readonly #options: FeedOptions;
  #ended: 'final' | 'slow' | 'error' | 'aborted' | undefined;
  #wake: (() => void) | undefined;
  #first: ReadResult | undefined;

  constructor(
    private readonly taskId: string,
    from: number,
    options: FeedOptions,
  ) {
    this.#options = options;
    this.#stream = new TaskStream(
      {
        writeLive: (event) => this.#enqueue(event.seq, event.json),
        writeStored: (seq, json) => this.#enqueue(seq, json),
        close: (reason) => this.#end(reason),
      },
      {
        history: (after) =>
          pagedHistory((from, limit) => options.log.readAfter(taskId, from, limit), after, options.pageSize),
        maxPending: options.maxQueued,
        ...(options.onLiveEvent ? { onLiveEvent: (e) => options.onLiveEvent?.(e.storedAt) } : {}),
        ...(options.onGapSkipped ? { onGapSkipped: options.onGapSkipped } : {}),
        ...(options.onError ? { onError: options.onError } : {}),
      },
      from,
    );
    // Listen before reading the store: whatever is stored after the read arrives live.
    this.#unsubscribe = options.hub.subscribe(taskId, this.#stream.onLive, from);
    if (options.signal.aborted) this.#end('aborted');
    else options.signal.addEventListener('abort', () => this.#end('aborted'), { once: true });
  }

  /**
   * Reads the first page of retained events after `from` (call before the snapshot goes out: it
   * tells whether history was truncated). `lastSeq` spares a lookup when the caller knows it.
   */
  async begin(lastSeq?: number): Promise<ReadResult> {
    this.#first = await this.#options.log.readAfter(
      this.taskId,
      this.#stream.lastSent,
      this.#options.pageSize,
      lastSeq,
    );
    return this.#first;
  }

  /** The events after `from` in seq order; ends after the event that makes the task final. */
  async *events(): AsyncGenerator<FeedEvent, void, undefined> {
    try {
      const first = this.#first;
      this.#first = undefined;
      void this.#stream.catchUp(
        first
          ? pagedHistory(
              (from, limit) => this.#options.log.readAfter(this.taskId, from, limit),
              this.#stream.lastSent,
              this.#options.pageSize,
              first,
            )
          : undefined,
      );
      for (;;) {
        if (this.#ended === 'aborted') return;
        const next = this.#queue.shift();
        if (next) {
          const event = JSON.parse(next.json) as WireStreamResponse;
          yield { seq: next.seq, event };
          if (isFinalEvent(event)) return;
          continue;
        }
        if (this.#ended === 'final') return;
        if (this.#ended) throw new FeedBrokenError(this.#ended);
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      this.close();
    }
  }

  close(): void {
    this.#stream.stop();
    this.#unsubscribe();
    if (!this.#ended) this.#ended = 'aborted';
    this.#notify();
  }

  #enqueue(seq: number, json: string): boolean {
    this.#queue.push({ seq, json });
    this.#notify();
    return this.#queue.length <= this.#options.maxQueued;
  }

  #end(reason: 'final' | 'slow' | 'error' | 'aborted'): void {
    this.#ended ??= reason;
    if (reason === 'aborted') this.#stream.stop();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
