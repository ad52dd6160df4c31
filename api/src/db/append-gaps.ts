/**
 * Appends in flight, so that background database work (task snapshot writes, the cross-instance
 * tail's timed polls, the peers' renewals) can start in the gaps between them. An insert that reaches the database
 * behind a snapshot write or a poll waits for it: the embedded server serves one command at a time,
 * and a real one shares its cores. Measured on figure 2 (one insert per append, 20/s): inserts
 * that overlapped such work took p50 2.5–6 ms and up to 23 ms, against 0.95 ms alone, and they were
 * the slowest appends. An agent appending at a steady pace had the snapshot timer fire on the next
 * append, every time.
 */
export class AppendGaps {
  #inFlight = 0;
  readonly #waiting = new Set<() => void>();

  /**
   * @param maxWaitMs how long background work waits for a gap at most: under a steady stream of
   * overlapping appends it must still happen (snapshots fall behind, peers' entries lapse).
   */
  constructor(readonly maxWaitMs = 250) {}

  /** An append started (its insert is on the way). */
  begin(): void {
    this.#inFlight++;
  }

  /** An append's insert ended, whether it succeeded or not. */
  end(): void {
    if (this.#inFlight > 0) this.#inFlight--;
    if (this.#inFlight > 0 || this.#waiting.size === 0) return;
    // After the append's own continuation (its publish and reply), not before it.
    setImmediate(() => {
      if (this.#inFlight > 0) return; // another append began meanwhile: wait for its end
      for (const resolve of [...this.#waiting]) resolve();
    });
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Resolves when no append is in flight, at once if none is, and after `maxWaitMs` at the latest.
   * `cutShort` receives a function that ends the wait early (someone needs the work done now).
   */
  gap(cutShort?: (now: () => void) => void): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, this.maxWaitMs);
      this.#waiting.add(done);
      cutShort?.(done);
    });
  }
}
