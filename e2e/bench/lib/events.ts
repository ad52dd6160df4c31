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

/** Client sockets per loopback source address (one address has ~28k ephemeral ports). */
const PER_ADDRESS = 2500;
/** 127.0.0.2 … 127.0.0.241: a window that moves on at every call. */
const FIRST = 2;
const SPAN = 240;
let nextAddress = 0;

/**
 * Loopback source addresses to spread many client sockets over. Each call takes addresses the
 * previous calls did not: the sockets a run closed sit in TIME_WAIT for a minute on the client
 * side, and with thousands of them on an address every new connect's port search got slow
 * (figure 1 opened 10,000 raw streams in 2–4 s on fresh addresses, 15–22 s after another
 * system's 10,000 had closed on the same two). A quarter of an address's ports keeps that search short.
 */
export function sourceAddresses(count: number): string[] {
  const n = Math.max(1, Math.min(16, Math.ceil(count / PER_ADDRESS)));
  const out = Array.from({ length: n }, (_, i) => `127.0.0.${FIRST + ((nextAddress + i) % SPAN)}`);
  nextAddress = (nextAddress + n) % SPAN;
  return out;
}
