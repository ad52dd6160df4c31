import type { StreamConfig } from './config.js';

export type BackoffConfig = Pick<
  StreamConfig,
  'backoffBaseMs' | 'backoffMaxMs' | 'backoffFactor' | 'backoffJitter' | 'honorServerRetry'
>;

/**
 * Delay before retry number `attempt` (0-based) after a failure: exponential growth with a cap,
 * and jitter so that many tabs or workers do not reconnect in lockstep. The result lies in
 * `[cap * (1 - jitter), cap]` where `cap = min(max, base * factor^attempt)`; the server's SSE
 * `retry:` (when honoured) raises it to at least that value, still never above `backoffMaxMs`.
 */
export function backoffDelay(
  attempt: number,
  config: BackoffConfig,
  random: () => number = Math.random,
  serverRetryMs?: number,
): number {
  const n = Math.max(0, Math.floor(attempt));
  const cap = Math.min(config.backoffMaxMs, config.backoffBaseMs * Math.pow(config.backoffFactor, n));
  const jitter = Math.min(1, Math.max(0, config.backoffJitter));
  const r = Math.min(1, Math.max(0, random()));
  let delay = cap * (1 - jitter) + r * cap * jitter;
  if (config.honorServerRetry && serverRetryMs !== undefined && serverRetryMs > delay) {
    delay = Math.min(serverRetryMs, config.backoffMaxMs);
  }
  return Math.round(delay);
}

/** `Retry-After` as milliseconds from `now`: delta-seconds or an HTTP date; undefined if absent or bad. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
