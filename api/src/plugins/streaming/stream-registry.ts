/**
 * Every open stream of this instance, with ONE heartbeat timer for all of them (a timer per
 * stream costs memory per connection) and one timer closing streams at their deadline. The
 * deadline timer is armed for the earliest deadline rather than polling: a sweep walks every
 * stream, and each wake-up of an idle process costs CPU of its own (4 sweeps a second over 2,000
 * streams were a visible share of an idle instance).
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
  /** When the deadline timer fires (epoch ms); Infinity when it is not armed. */
  #nextSweep = Infinity;

  /** `sweepMs`: the shortest time between two sweeps, so deadlines close together share one. */
  constructor(
    private readonly heartbeatMs: number,
    private readonly sweepMs = 250,
  ) {}

  add(stream: RegisteredStream): void {
    this.#streams.add(stream);
    this.#heartbeatTimer ??= setInterval(() => this.#beat(), this.heartbeatMs).unref();
    this.#armSweep(stream.deadline);
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

  /** Makes sure a sweep runs by `at` (epoch ms). One that finds nothing due just arms the next. */
  #armSweep(at: number): void {
    if (!Number.isFinite(at) || at >= this.#nextSweep) return;
    clearTimeout(this.#deadlineTimer);
    this.#nextSweep = at;
    this.#deadlineTimer = setTimeout(() => this.#sweep(), Math.max(0, at - Date.now())).unref();
  }

  #sweep(): void {
    this.#deadlineTimer = undefined;
    this.#nextSweep = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const s of this.#streams) {
      if (s.deadline <= now) s.expire();
      else if (s.deadline < next) next = s.deadline;
    }
    if (this.#streams.size > 0) this.#armSweep(Math.max(next, now + this.sweepMs));
  }

  #stopTimers(): void {
    clearInterval(this.#heartbeatTimer);
    clearTimeout(this.#deadlineTimer);
    this.#heartbeatTimer = undefined;
    this.#deadlineTimer = undefined;
    this.#nextSweep = Infinity;
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
