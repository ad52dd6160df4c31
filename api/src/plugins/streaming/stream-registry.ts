/** What the registry needs of a stream. */
export interface RegisteredStream {
  heartbeat(): void;
  /** Epoch ms at which the stream must close (token expiry); Infinity for none. */
  deadline: number;
  expire(): void;
  close(): void;
}

/** The shortest time between two deadline sweeps: a stream may close this much after its deadline. */
const DEFAULT_SWEEP_MS = 250;
/** A timer may fire this much late on a busy event loop. */
const TIMER_SLACK_MS = 250;

/** A tick at most this often (idle wake-ups cost CPU), and never more slices than this. */
const MIN_TICK_MS = 500;
const MAX_SLICES = 30;

/**
 * Every open stream of this instance, with ONE heartbeat timer for all of them (a timer per
 * stream costs memory per connection) and one timer closing streams at their deadline. The
 * deadline timer is armed for the earliest deadline rather than polling: a sweep walks every
 * stream, and each wake-up of an idle process costs CPU of its own (4 sweeps a second over 2,000
 * streams were a visible share of an idle instance).
 *
 * Heartbeats are spread over the interval: the streams are dealt round-robin into slices, and
 * each tick of the one timer beats one slice, so every stream still gets one heartbeat per
 * interval. Beating all of them in one tick was one write per stream in a single turn of the
 * event loop (50 ms for 2,000 streams on the bench machine, so about 250 ms for 10,000), and
 * every live event due meanwhile waited for it: the longest stalls of the bench's fan-out.
 */
export class StreamRegistry {
  readonly #slices: Array<Set<RegisteredStream>>;
  readonly #tickMs: number;
  #size = 0;
  /** The slice the next stream joins, and the slice the next tick beats. */
  #nextSlice = 0;
  #beatSlice = 0;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #deadlineTimer: NodeJS.Timeout | undefined;
  /** When the deadline timer fires (epoch ms); Infinity when it is not armed. */
  #nextSweep = Infinity;

  /** `sweepMs`: the shortest time between two sweeps, so deadlines close together share one. */
  constructor(
    heartbeatMs: number,
    private readonly sweepMs = DEFAULT_SWEEP_MS,
  ) {
    const slices = Math.max(1, Math.min(MAX_SLICES, Math.floor(heartbeatMs / MIN_TICK_MS)));
    this.#tickMs = heartbeatMs / slices;
    this.#slices = Array.from({ length: slices }, () => new Set<RegisteredStream>());
  }

  add(stream: RegisteredStream): void {
    if (this.#slices.some((slice) => slice.has(stream))) return;
    this.#slices[this.#nextSlice]!.add(stream);
    this.#nextSlice = (this.#nextSlice + 1) % this.#slices.length;
    this.#size++;
    this.#heartbeatTimer ??= setInterval(() => this.#beat(), this.#tickMs).unref();
    this.#armSweep(stream.deadline);
  }

  delete(stream: RegisteredStream): void {
    if (!this.#slices.some((slice) => slice.delete(stream))) return;
    this.#size--;
    if (this.#size === 0) this.#stopTimers();
  }

  get size(): number {
    return this.#size;
  }

  /** How often the heartbeat timer ticks (ms), each tick beating one slice of the streams. */
  get tickMs(): number {
    return this.#tickMs;
  }

  closeAll(): void {
    for (const s of [...this.#streams()]) s.close();
    this.#stopTimers();
  }

  *#streams(): IterableIterator<RegisteredStream> {
    for (const slice of this.#slices) yield* slice;
  }

  #beat(): void {
    const slice = this.#slices[this.#beatSlice]!;
    this.#beatSlice = (this.#beatSlice + 1) % this.#slices.length;
    for (const s of slice) s.heartbeat();
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
    for (const s of this.#streams()) {
      if (s.deadline <= now) s.expire();
      else if (s.deadline < next) next = s.deadline;
    }
    if (this.#size > 0) this.#armSweep(Math.max(next, now + this.sweepMs));
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
 * all at once. Never later than the sweep's and a timer's lateness before the expiry: with a
 * short-lived token, 95 % of its life was less than that before it, and a stream outlived its
 * token.
 */
export function closeDeadline(expSeconds: number, nowMs: number, random = Math.random()): number {
  const expiresAt = expSeconds * 1000;
  const remaining = expiresAt - nowMs;
  if (remaining <= 0) return nowMs;
  const jittered = nowMs + remaining * (0.8 + 0.15 * random);
  return Math.max(nowMs, Math.min(jittered, expiresAt - DEFAULT_SWEEP_MS - TIMER_SLACK_MS));
}
