/** What the pool needs to know about a session. */
export interface PoolSession {
  readonly wantsStream: boolean;
  readonly holdsStream: boolean;
  setStreamAllowed(allowed: boolean): void;
}

export interface PoolCandidate {
  id: string;
  wantsStream: boolean;
  /** Holds a stream now: keeps it ahead of newcomers, so streams do not flap. */
  holdsStream: boolean;
  /** Watched by a visible tab: served first. */
  visible: boolean;
  /** When the task started being watched: older first. */
  since: number;
}

/**
 * Which tasks get one of `budget` streams: those that want one, holders first (stable), then
 * tasks watched by a visible tab, then the longest watched. The others poll.
 */
export function allocateStreams(candidates: readonly PoolCandidate[], budget: number): Set<string> {
  const wanting = candidates.filter((c) => c.wantsStream);
  wanting.sort(
    (a, b) =>
      Number(b.holdsStream) - Number(a.holdsStream) ||
      Number(b.visible) - Number(a.visible) ||
      a.since - b.since ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  return new Set(wanting.slice(0, Math.max(0, Math.floor(budget))).map((c) => c.id));
}

/** Keeps the number of streams within a budget; the rest of the sessions poll. */
export class StreamPool {
  private readonly members = new Map<string, { session: PoolSession; visible: boolean; since: number }>();
  private rebalancing = false;
  private again = false;

  constructor(private readonly budget: () => number) {}

  add(id: string, session: PoolSession, since: number, visible = true): void {
    this.members.set(id, { session, visible, since });
    this.rebalance();
  }

  remove(id: string): void {
    if (this.members.delete(id)) this.rebalance();
  }

  setVisible(id: string, visible: boolean): void {
    const m = this.members.get(id);
    if (!m || m.visible === visible) return;
    m.visible = visible;
    this.rebalance();
  }

  /** Ids of the sessions allowed a stream right now. */
  allowed(): Set<string> {
    return allocateStreams(this.candidates(), this.budget());
  }

  rebalance(): void {
    // setStreamAllowed may call back into rebalance (a session's wish changes): run again after.
    if (this.rebalancing) {
      this.again = true;
      return;
    }
    this.rebalancing = true;
    try {
      do {
        this.again = false;
        const allowed = this.allowed();
        // Demote first, so a promotion never briefly exceeds the budget.
        for (const [id, m] of this.members) if (!allowed.has(id)) m.session.setStreamAllowed(false);
        for (const [id, m] of this.members) if (allowed.has(id)) m.session.setStreamAllowed(true);
      } while (this.again);
    } finally {
      this.rebalancing = false;
    }
  }

  private candidates(): PoolCandidate[] {
    return [...this.members].map(([id, m]) => ({
      id,
      wantsStream: m.session.wantsStream,
      holdsStream: m.session.holdsStream,
      visible: m.visible,
      since: m.since,
    }));
  }
}

/** `nextHopProtocol` values that multiplex many streams over one connection. */
export function isMultiplexed(protocol: string | undefined): boolean {
  return (
    protocol === 'h2' || protocol === 'h3' || protocol === 'h2c' || (protocol?.startsWith('h3-') ?? false)
  );
}

/**
 * The HTTP protocol the browser used for the latest completed request to `origin`, from resource
 * timing (`nextHopProtocol`); undefined when unknown (cross-origin without Timing-Allow-Origin).
 */
export function detectHttpProtocol(
  origin: string,
  perf: Performance | undefined = globalThis.performance,
): string | undefined {
  if (!perf || typeof perf.getEntriesByType !== 'function') return undefined;
  const entries = perf.getEntriesByType('resource') as PerformanceResourceTiming[];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i]!;
    if (e.nextHopProtocol && e.name.startsWith(origin)) return e.nextHopProtocol;
  }
  return undefined;
}
