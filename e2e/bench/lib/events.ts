/**
 * The event every load generator appends: an A2A artifact chunk (`append: true`) whose artifact
 * metadata carries the send time, so subscribers measure append → receive end to end. The text
 * has no part metadata, so the API's snapshot merges the chunks into one part (as an agent's
 * streamed output would be).
 */
export const CHUNK_TEXT = 'The agent streams another chunk of its answer to the watchers. ';

export interface BenchEvent {
  artifactUpdate: {
    artifact: { artifactId: string; parts: Array<{ text: string }>; metadata: { t: number; n: number } };
    append: boolean;
  };
}

export function benchEvent(t: number, n: number): BenchEvent {
  return {
    artifactUpdate: {
      artifact: { artifactId: 'out', parts: [{ text: CHUNK_TEXT }], metadata: { t, n } },
      append: true,
    },
  };
}

export function appendBody(t: number, n: number, batch: number): string {
  if (batch <= 1) return JSON.stringify(benchEvent(t, n));
  const events: BenchEvent[] = [];
  for (let i = 0; i < batch; i++) events.push(benchEvent(t, n + i));
  return JSON.stringify({ events });
}

/** The send time of an event as a subscriber sees it (A2A `StreamResponse` JSON). */
export function sendTimeOf(event: unknown): number | undefined {
  const t = (event as BenchEvent | undefined)?.artifactUpdate?.artifact?.metadata?.t;
  return typeof t === 'number' ? t : undefined;
}

/** Loopback source addresses to spread many client sockets over (one address has ~28k ports). */
export function sourceAddresses(count: number): string[] {
  const perAddress = 8000;
  const n = Math.max(1, Math.min(8, Math.ceil(count / perAddress)));
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 1}`);
}
