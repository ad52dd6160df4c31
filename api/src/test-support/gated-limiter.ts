import type { StreamLimiter } from '../plugins/streaming/stream-limiter.js';

/**
 * An in-memory stream limiter (one stream per user unless told otherwise) whose acquires wait
 * while the gate is shut: a test can hold a stream request inside the server's opening of it.
 */
export class GatedLimiter implements StreamLimiter {
  readonly held = new Map<string, number>();
  /** Acquires asked for so far, let through or not. */
  arrived = 0;
  #open: () => void = () => undefined;
  #gate: Promise<void> = Promise.resolve();

  constructor(private readonly max = 1) {}

  shut(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  open(): void {
    this.#open();
    this.#gate = Promise.resolve();
  }

  /** Resolves once `count` acquires in all have arrived (waiting at the gate or not). */
  async waitForArrivals(count: number, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.arrived < count) {
      if (Date.now() > until) throw new Error(`only ${this.arrived} of ${count} stream acquires arrived`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async acquire(userId: string): Promise<boolean> {
    this.arrived++;
    await this.#gate;
    const n = this.held.get(userId) ?? 0;
    if (n >= this.max) return false;
    this.held.set(userId, n + 1);
    return true;
  }

  async release(userId: string): Promise<void> {
    this.held.set(userId, (this.held.get(userId) ?? 0) - 1);
  }
}
