/** The pending tick of each simulated task, so a cancel or a shutdown can stop it. */
export class TaskTimers {
  readonly #timers = new Map<string, NodeJS.Timeout>();

  set(taskId: string, timer: NodeJS.Timeout): void {
    this.#timers.set(taskId, timer);
  }

  has(taskId: string): boolean {
    return this.#timers.has(taskId);
  }

  delete(taskId: string): boolean {
    return this.#timers.delete(taskId);
  }

  stop(taskId: string): void {
    clearTimeout(this.#timers.get(taskId));
    this.#timers.delete(taskId);
  }

  stopAll(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  get size(): number {
    return this.#timers.size;
  }
}
