/**
 * What a receiver knows of each peer's numbered datagrams: the highest number heard and when.
 * Every instance numbers the datagrams it sends (one count for all its peers) and, once per
 * refresh, sends a beacon carrying the count so far; a receiver that sees a number skipped, or a
 * beacon ahead of what it heard, knows it lost something from that peer.
 */
export class PeerSequences {
  readonly #heard = new Map<string, { n: number; at: number }>();

  /**
   * Notes datagram `n` from `sender` (for a beacon, the sender's count so far) and tells whether
   * something from it may have been missed: a number skipped, a beacon ahead of what came, or a
   * first contact (what the sender stored before it knew of this instance was never announced).
   * A datagram overtaken by a later one is not a loss; its events are still welcome.
   */
  heard(sender: string, n: number, beacon: boolean, now = Date.now()): boolean {
    const before = this.#heard.get(sender);
    this.#heard.set(sender, { n: Math.max(n, before?.n ?? n), at: now });
    if (!before) return true;
    return beacon ? n > before.n : n > before.n + 1;
  }

  /** True when every one of these peers was heard from at or after `since`. */
  allHeardSince(senders: readonly string[], since: number): boolean {
    return senders.every((id) => (this.#heard.get(id)?.at ?? -Infinity) >= since);
  }

  /** Forgets peers not heard since `before` (stopped or died: a new instance has a new id). */
  forget(before: number): void {
    for (const [id, { at }] of this.#heard) if (at < before) this.#heard.delete(id);
  }
}
