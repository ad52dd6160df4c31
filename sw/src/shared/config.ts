import type { StreamConfigInput } from '@orchestrator-ai/transport-types';

/** Name of the worker's IndexedDB database. */
export const DB_NAME = 'a2a-task-stream';

/** Timings and limits of the stream machinery, with every default filled in. */
export type StreamConfig = Required<StreamConfigInput>;

export const DEFAULT_STREAM_CONFIG: Readonly<StreamConfig> = Object.freeze({
  /** Reconnect delay cap of the first retry; doubles (`backoffFactor`) up to `backoffMaxMs`. */
  backoffBaseMs: 1000,
  backoffMaxMs: 30_000,
  backoffFactor: 2,
  /** Share of the delay that is random: 0.5 gives a delay in [cap/2, cap]. */
  backoffJitter: 0.5,
  /** The server's SSE `retry:` is a floor of the delay after a failure (EventSource semantics). */
  honorServerRetry: true,
  /** No SSE frame (event, comment or `retry:`) this long after the request: a buffering proxy. */
  firstFrameTimeoutMs: 10_000,
  /** No frame for this long on an open stream (the server beats every 15 s): reconnect. */
  idleTimeoutMs: 45_000,
  /** A stream that lived this long (or delivered a new event) was healthy: reconnect at once. */
  healthyStreamMs: 5_000,
  /** After a healthy close, stay `open` this long while reconnecting before reporting it. */
  quietReconnectMs: 2_000,
  /** Stream failures in a row, with the network up, before falling back to polling. */
  streamFailuresBeforePolling: 3,
  /** How long to poll after a fallback before trying a stream again. */
  streamRetryAfterMs: 60_000,
  pollIntervalMs: 3_000,
  pollPageLimit: 500,
  /** Streams the worker holds at once over HTTP/1.1 (6 sockets per origin, shared with the page). */
  maxStreamsHttp1: 4,
  maxStreamsHttp2: 16,
  /** How long a stored event lives (the server's `TASK_MESSAGE_TTL_MINUTES`, default 60). */
  retentionMs: 60 * 60_000,
  /** How long a task's stored snapshot outlives its last update when no tab watches the task. */
  snapshotRetentionMs: 24 * 60 * 60_000,
  /** How long the worker waits for one tab's `token-response`. */
  tokenTimeoutMs: 10_000,
  /** How long the worker may reuse a user token for polls (memory only, never stored). */
  userTokenReuseMs: 15_000,
  /** Period of the sweep that drops subscriptions of closed tabs. */
  sweepIntervalMs: 30_000,
  /** Period of the IndexedDB housekeeping (expired events, stale snapshots). */
  pruneIntervalMs: 5 * 60_000,
});

const BOOLEAN_KEYS = new Set<keyof StreamConfig>(['honorServerRetry']);

/**
 * Merges `input` over `base`, keeping only known keys with sane values (finite, non-negative
 * numbers; booleans). Anything else is ignored, so a bad message cannot break the worker.
 */
export function mergeConfig(base: StreamConfig, input: unknown): StreamConfig {
  const out: StreamConfig = { ...base };
  if (typeof input !== 'object' || input === null) return out;
  for (const [key, value] of Object.entries(input as Record<string, unknown>)) {
    if (!(key in DEFAULT_STREAM_CONFIG)) continue;
    const k = key as keyof StreamConfig;
    if (BOOLEAN_KEYS.has(k)) {
      if (typeof value === 'boolean') (out as Record<string, unknown>)[k] = value;
    } else if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
      (out as Record<string, unknown>)[k] = value;
    }
  }
  if (out.backoffJitter > 1) out.backoffJitter = 1;
  if (out.backoffFactor < 1) out.backoffFactor = 1;
  if (out.pollPageLimit < 1) out.pollPageLimit = 1;
  return out;
}

export function resolveConfig(input?: StreamConfigInput): StreamConfig {
  return mergeConfig(DEFAULT_STREAM_CONFIG, input);
}
