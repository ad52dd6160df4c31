import type { Writable } from 'node:stream';
import type { Hub, HubEvent } from '../../hub/hub.js';
import type { Metrics } from '../../observability/metrics.js';
import type { TaskMessageDoc } from '../../db/types.js';
import type { Collection } from 'mongodb';
import { historyAfter, type History } from './history.js';
import { commentFrame, eventFrame, HEARTBEAT_FRAME, hubEventFrame, preambleFrame } from './sse-frames.js';
import type { RegisteredStream, StreamRegistry } from './stream-registry.js';
import type { StreamLimiter } from './stream-limiter.js';
import { TaskStream, type StreamSink, type TaskStreamOptions } from './task-stream.js';

export type Listener = (...args: unknown[]) => void;

/** What a stream uses of Node's response, HTTP/1 `ServerResponse` or HTTP/2 compatibility one. */
export interface RawResponse {
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: string | Buffer): boolean;
  end(): unknown;
  on(event: 'close', listener: Listener): unknown;
  /** HTTP/1: true once the connection closed ('close' has then been emitted and will not be again). */
  readonly closed?: boolean;
  off(event: 'close' | 'finish', listener: Listener): unknown;
  listeners(event: 'close' | 'finish'): Listener[];
  socket?: { setNoDelay?(noDelay?: boolean): unknown; writableCorked?: number; uncork?(): void } | null;
  /** HTTP/2 only: the stream that buffers the output. */
  stream?: Writable;
  /** HTTP/1: closes the connection, dropping what is still buffered. */
  destroy?(): unknown;
}

type CloseReason = 'final' | 'slow' | 'error' | 'shutdown' | 'token-expiry' | 'client-gone';

function connectionClosed(res: RawResponse): boolean {
  return res.closed === true || res.stream?.destroyed === true;
}

/** What the heartbeats saw of a replay's reader: drains so far, bytes buffered, when it moved. */
interface ReplayProgress {
  drains: number;
  drainsSeen: number;
  bufferedSeen: number;
  movedAt: number;
}

/** What every stream of this instance shares: one object, not a copy per connection. */
export interface StreamServices {
  hub: Hub;
  registry: StreamRegistry;
  metrics: Metrics;
  limiter: StreamLimiter;
  messages: Collection<TaskMessageDoc>;
  retryMs: number;
  /** Output a live reader may leave unread before it is dropped as too slow. */
  maxBufferBytes: number;
  /**
   * A replay may hold a batch over `maxBufferBytes` while its reader drains it, but not for a
   * reader that takes nothing at all: one that took nothing for this long is dropped as slow.
   */
  replayStallMs: number;
  maxPendingLive: number;
  log(tags: string[], data: object): void;
}

export interface StreamIdentity {
  taskId: string;
  userId: string;
  /** hapi's request id, so a stream's close can be matched to its request log line. */
  requestId: string;
  /** Epoch ms at which the stream closes (before its token expires). */
  deadline: number;
}

/**
 * One open task stream: the response, its sequencer, and nothing of the request it came from.
 * A stream lives for minutes; keeping hapi's request (its lifecycle, query with the token, auth
 * artifacts, logger) for that long cost ≈ 3× the memory of a bare Node stream per connection.
 * Live frames are the hub's shared bytes; the heartbeat is one shared buffer.
 */
export class SseTaskStream implements StreamSink, TaskStreamOptions, RegisteredStream {
  readonly sequencer: TaskStream;
  readonly deadline: number;
  readonly #res: RawResponse;
  readonly #services: StreamServices;
  readonly #taskId: string;
  readonly #userId: string;
  readonly #requestId: string;
  #opened = false;
  #ended = false;
  /** Only while a replay waits on its reader (one field on every other stream). */
  #replay: ReplayProgress | undefined;

  constructor(res: RawResponse, services: StreamServices, identity: StreamIdentity, from: number) {
    this.#res = res;
    this.#services = services;
    this.#taskId = identity.taskId;
    this.#userId = identity.userId;
    this.#requestId = identity.requestId;
    this.deadline = identity.deadline;
    this.sequencer = new TaskStream(this, this, from);
    services.hub.subscribe(identity.taskId, this.sequencer.onLive, from);
    res.on('close', this.#onClientGone);
    services.metrics.activeStreams.inc();
    services.metrics.streamsOpened.inc();
    // The client may have left while the task was read and the lease taken: its 'close' is past.
    if (connectionClosed(res)) this.end('client-gone');
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Sends the headers, the preamble and the snapshot; from now on the stream is on the wire. */
  open(headers: Record<string, string>, snapshotJson: string, snapshotId: number): void {
    if (this.#ended) return;
    const res = this.#res;
    res.writeHead(200, headers);
    res.socket?.setNoDelay?.(true);
    res.write(preambleFrame(this.#services.retryMs) + eventFrame(snapshotId, snapshotJson));
    this.#opened = true;
    // Registered only now: a heartbeat written before the headers would corrupt the response.
    this.#services.registry.add(this);
  }

  catchUp(history: History, closeWhenDone: boolean): void {
    void this.sequencer.catchUp(history).then(() => {
      if (closeWhenDone && !this.sequencer.closed) this.end('final');
    });
  }

  writeLive(event: HubEvent): boolean {
    const frame = hubEventFrame(event);
    if (this.#ended || this.#buffered() + frame.length > this.#services.maxBufferBytes) return false;
    // HTTP/1: Node corks the socket on a write and sends at the next tick, which comes only after
    // the promise chain now running: the append's whole reply through hapi. An event goes out at
    // once, ahead of that reply, unless a catch-up corked the stream to send a batch. (HTTP/2
    // frames go through the session, not this socket.)
    const socket = this.#res.stream ? undefined : this.#res.socket;
    const sendNow = socket?.writableCorked === 0;
    this.#res.write(frame);
    if (sendNow) socket!.uncork!();
    this.#services.metrics.eventsSent.inc();
    return true;
  }

  writeStored(seq: number, json: string): boolean {
    if (this.#ended) return false;
    this.#res.write(eventFrame(seq, json));
    this.#services.metrics.eventsSent.inc();
    return true;
  }

  drained(): Promise<void> | undefined {
    if (this.#ended || this.#buffered() <= this.#services.maxBufferBytes / 2) return undefined;
    const target = this.#writable();
    return new Promise((resolve) => {
      const done = () => {
        if (this.#replay) this.#replay.drains++;
        target.off('drain', done);
        this.#res.off('close', done);
        resolve();
      };
      target.on('drain', done);
      this.#res.on('close', done);
    });
  }

  cork(): void {
    this.#writable().cork();
  }

  uncork(): void {
    this.#writable().uncork();
  }

  heartbeat(): void {
    // A replay fills the buffer by design and waits for the reader to drain it (`drained`): not
    // slow for that as long as the reader takes something, and its frames keep the connection alive.
    if (this.sequencer.catchingUp) return this.#checkReplayMoves();
    this.#replay = undefined;
    if (this.#buffered() > this.#services.maxBufferBytes) return this.close('slow');
    this.#res.write(HEARTBEAT_FRAME);
  }

  expire(): void {
    this.#services.metrics.tokenExpiryCloses.inc();
    this.#res.write(commentFrame('token expiring'));
    this.end('token-expiry');
  }

  close(reason: 'final' | 'slow' | 'error' | 'shutdown' = 'shutdown'): void {
    if (reason === 'slow' && !this.#ended) this.#services.metrics.slowReadersDropped.inc();
    this.end(reason);
  }

  end(reason: CloseReason): void {
    if (this.#ended) return;
    this.#ended = true;
    const { hub, registry, metrics, limiter, log } = this.#services;
    const taskId = this.#taskId;
    log(['stream', 'closed'], {
      taskId,
      requestId: this.#requestId,
      reason,
      lastSeq: this.sequencer.lastSent,
    });
    this.sequencer.stop();
    hub.unsubscribe(taskId, this.sequencer.onLive);
    registry.delete(this);
    this.#res.off('close', this.#onClientGone);
    metrics.activeStreams.dec();
    void limiter.release(this.#userId);
    // Before the headers went out hapi still owns the response (it answers the error).
    if (!this.#opened) return;
    this.#res.end();
    // What a slow reader left unread would stay in memory until it read it or went away: drop it
    // with the connection (HTTP/2: the stream only). The client resumes after its last seq.
    if (reason === 'slow') (this.#res.stream ?? this.#res).destroy?.();
  }

  readonly #onClientGone = (): void => this.end('client-gone');

  // TaskStreamOptions, as methods: one shared prototype rather than closures per connection.
  get maxPending(): number {
    return this.#services.maxPendingLive;
  }

  history(after: number): History {
    return historyAfter(this.#services.messages, this.#taskId, after);
  }

  onLiveEvent(event: HubEvent): void {
    this.#services.metrics.deliverySeconds.observe(Math.max(0, Date.now() - event.storedAt) / 1000);
  }

  onGapSkipped(missing: number): void {
    this.#services.metrics.gapsSkipped.inc(missing);
  }

  onError(error: unknown): void {
    this.#services.log(['stream', 'error'], { taskId: this.#taskId, requestId: this.#requestId, err: error });
  }

  /** Drops a replay whose reader took nothing (no drain, nothing less buffered) for too long. */
  #checkReplayMoves(): void {
    const now = Date.now();
    const buffered = this.#buffered();
    const r = this.#replay;
    if (!r) {
      this.#replay = { drains: 0, drainsSeen: 0, bufferedSeen: buffered, movedAt: now };
      return;
    }
    if (r.drains !== r.drainsSeen || buffered < r.bufferedSeen) r.movedAt = now;
    r.drainsSeen = r.drains;
    r.bufferedSeen = buffered;
    if (now - r.movedAt > this.#services.replayStallMs) this.close('slow');
  }

  /** HTTP/1 responses write to themselves; HTTP/2 compatibility responses to their stream. */
  #writable(): Writable {
    return this.#res.stream ?? (this.#res as unknown as Writable);
  }

  #buffered(): number {
    return this.#writable().writableLength ?? 0;
  }
}
