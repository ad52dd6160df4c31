/**
 * In-process fan-out of stored events to the streams of this instance. A delivery source
 * (this instance's appends, or another instance's events read from MongoDB) calls `publish`
 * with events already stored, in seq order; subscribers get the same pre-serialised bytes.
 */
export interface HubEvent {
  taskId: string;
  seq: number;
  /** The event's JSON, serialised once for every stream. */
  json: string;
  /** True when this event moves the task to a terminal state. */
  final: boolean;
  /** Epoch ms (`Date.now()`) when the event was stored, for delivery latency. */
  storedAt: number;
  /** The SSE frame, built by the first stream that writes it and reused by the others. */
  frame?: Buffer;
}

export type HubListener = (event: HubEvent) => void;

export interface DeliverySource {
  /** Starts feeding `hub.publish`; resolves when running. */
  start(hub: Hub): Promise<void>;
  stop(): Promise<void>;
}

/** Told when a task gains its first local subscriber and loses its last one. */
export interface TaskWatcher {
  /** `from`: the seq the subscriber has already (it needs every event after it). */
  added(taskId: string, from?: number): void;
  removed(taskId: string): void;
}

export class Hub {
  readonly #listeners = new Map<string, Set<HubListener>>();
  readonly #watchers = new Set<TaskWatcher>();
  #subscriptions = 0;

  /** Lets a delivery source follow only the tasks someone on this instance watches. */
  watch(watcher: TaskWatcher): () => void {
    this.#watchers.add(watcher);
    for (const taskId of this.#listeners.keys()) watcher.added(taskId);
    return () => this.#watchers.delete(watcher);
  }

  watchedTasks(): IterableIterator<string> {
    return this.#listeners.keys();
  }

  /** `from`: the seq the listener has already, so a delivery source knows where to start. */
  subscribe(taskId: string, listener: HubListener, from?: number): () => void {
    let set = this.#listeners.get(taskId);
    if (!set) {
      set = new Set();
      this.#listeners.set(taskId, set);
      for (const w of this.#watchers) w.added(taskId, from);
    }
    set.add(listener);
    this.#subscriptions++;
    return () => this.unsubscribe(taskId, listener);
  }

  unsubscribe(taskId: string, listener: HubListener): void {
    const current = this.#listeners.get(taskId);
    if (!current?.delete(listener)) return;
    this.#subscriptions--;
    if (current.size === 0) {
      this.#listeners.delete(taskId);
      for (const w of this.#watchers) w.removed(taskId);
    }
  }

  publish(events: readonly HubEvent[]): void {
    for (const event of events) {
      const set = this.#listeners.get(event.taskId);
      if (!set) continue;
      for (const listener of set) listener(event);
    }
  }

  hasSubscribers(taskId: string): boolean {
    return this.#listeners.has(taskId);
  }

  /** Listener count, for leak checks and metrics. */
  get subscriptionCount(): number {
    return this.#subscriptions;
  }

  get taskCount(): number {
    return this.#listeners.size;
  }
}
