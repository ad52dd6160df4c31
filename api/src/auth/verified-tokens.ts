/**
 * Credentials of bearer tokens this instance has already verified, so an agent appending many
 * events with one token pays for the JWT check (decode, HMAC or RSA, claims) once, not on every
 * request: that check was a fifth to a quarter of the API's own time before an append's handler ran.
 *
 * Only successes are kept, keyed by the exact header value, so a token is never accepted here that
 * the verifying strategy did not accept for the same bytes. An entry lapses at the token's `exp`
 * (after which the strategy, with its clock skew, decides again) or after `maxAgeMs`, which bounds
 * how long a token signed with a key just withdrawn from the JWKS stays accepted.
 */
export class VerifiedTokens<C> {
  readonly #entries = new Map<string, { credentials: C; until: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxAgeMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  get(header: string): C | undefined {
    const entry = this.#entries.get(header);
    if (!entry) return undefined;
    if (this.now() < entry.until) return entry.credentials;
    this.#entries.delete(header);
    return undefined;
  }

  /** `expiresAtMs`: the token's `exp` in epoch ms. */
  set(header: string, credentials: C, expiresAtMs: number): void {
    const now = this.now();
    const until = Math.min(expiresAtMs, now + this.maxAgeMs);
    if (!(until > now)) return;
    this.#entries.delete(header);
    // Map order is insertion order: the first key is the entry set longest ago.
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(header, { credentials, until });
  }

  get size(): number {
    return this.#entries.size;
  }
}
