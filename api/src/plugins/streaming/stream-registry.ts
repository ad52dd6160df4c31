/**
 * Every open stream of this instance, with ONE heartbeat timer for all of them (a timer per
 * stream costs memory per connection) and one sweep closing streams at their deadline.
 */
export interface RegisteredStream {
  heartbeat(): void;
  /** Epoch ms at which the stream must close (token expiry); Infinity for none. */
  deadline: number;
  expire(): void;
  close(): void;
}

export class StreamRegistry {
  readonly #streams = new Set<RegisteredStream>();
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly heartbeatMs: number,
    private readonly sweepMs = 250,
  ) {}

  add(stream: RegisteredStream): void {
    this.#streams.add(stream);
    this.#heartbeatTimer ??= setInterval(() => this.#beat(), this.heartbeatMs).unref();
    this.#deadlineTimer ??= setInterval(() => this.#sweep(), this.sweepMs).unref();
  }

  delete(stream: RegisteredStream): void {
    this.#streams.delete(stream);
    if (this.#streams.size === 0) this.#stopTimers();
  }

  get size(): number {
    return this.#streams.size;
  }

  closeAll(): void {
    for (const s of [...this.#streams]) s.close();
    this.#stopTimers();
  }

  #beat(): void {
    for (const s of this.#streams) s.heartbeat();
  }

  #sweep(): void {
    const now = Date.now();
    for (const s of this.#streams) if (s.deadline <= now) s.expire();
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearInterval(this.#deadlineTimer);
    this.#heartbeatTimer = undefined;
    this.#deadlineTimer = undefined;
  }
}

/**
 * When a stream opened with a token expiring at `expSeconds` closes: a jittered point in the last
 * fifth of the lifetime remaining at open, so clients reconnect before the token dies and not
 * all at once.
 */
export function closeDeadline(expSeconds: number, nowMs: number, random = Math.random()): number {
  const remaining = expSeconds * 1000 - nowMs;
  if (remaining <= 0) return nowMs;
  return nowMs + remaining * (0.8 + 0.15 * random);
}
