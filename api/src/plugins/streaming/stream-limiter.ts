/** Caps concurrent streams per user. */
export interface StreamLimiter {
  acquire(userId: string): Promise<boolean>;
  release(userId: string): Promise<void>;
}

/** This instance's count only; a database-backed limiter shares it across instances. */
export class InProcessStreamLimiter implements StreamLimiter {
  readonly #open = new Map<string, number>();

  constructor(private readonly max: number) {}

  async acquire(userId: string): Promise<boolean> {
    const current = this.#open.get(userId) ?? 0;
    if (current >= this.max) return false;
    this.#open.set(userId, current + 1);
    return true;
  }

  async release(userId: string): Promise<void> {
    const current = this.#open.get(userId) ?? 0;
    if (current <= 1) this.#open.delete(userId);
    else this.#open.set(userId, current - 1);
  }

  get users(): number {
    return this.#open.size;
  }
}
