import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter } from './backoff.js';
import { DEFAULT_STREAM_CONFIG, mergeConfig, resolveConfig } from './config.js';

const cfg = {
  ...DEFAULT_STREAM_CONFIG,
  backoffBaseMs: 1000,
  backoffMaxMs: 30_000,
  backoffFactor: 2,
  backoffJitter: 0.5,
};

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with jitter bounded to [cap*(1-jitter), cap]', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const cap = Math.min(30_000, 1000 * 2 ** attempt);
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < 500; i++) {
        const d = backoffDelay(attempt, cfg);
        lo = Math.min(lo, d);
        hi = Math.max(hi, d);
      }
      expect(lo).toBeGreaterThanOrEqual(cap / 2);
      expect(hi).toBeLessThanOrEqual(cap);
      // jitter is real: 500 draws are not all the same
      expect(hi - lo).toBeGreaterThan(cap / 10);
    }
  });

  it('uses the random source at both ends of the range', () => {
    expect(backoffDelay(3, cfg, () => 0)).toBe(4000);
    expect(backoffDelay(3, cfg, () => 1)).toBe(8000);
    expect(backoffDelay(3, { ...cfg, backoffJitter: 0 }, () => 0.3)).toBe(8000);
    expect(backoffDelay(40, cfg, () => 1)).toBe(30_000);
  });

  it("raises the delay to the server's retry hint, never above the max", () => {
    expect(backoffDelay(0, cfg, () => 0, 2000)).toBe(2000);
    expect(backoffDelay(0, cfg, () => 0, 90_000)).toBe(30_000);
    expect(backoffDelay(0, { ...cfg, honorServerRetry: false }, () => 0, 2000)).toBe(500);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('5', 0)).toBe(5000);
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe('config', () => {
  it('keeps known keys with sane values and ignores the rest', () => {
    const c = mergeConfig(resolveConfig(), {
      pollIntervalMs: 50,
      backoffBaseMs: -1,
      maxStreamsHttp1: Number.NaN,
      honorServerRetry: false,
      bogus: 1,
      backoffJitter: 3,
    });
    expect(c.pollIntervalMs).toBe(50);
    expect(c.backoffBaseMs).toBe(DEFAULT_STREAM_CONFIG.backoffBaseMs);
    expect(c.maxStreamsHttp1).toBe(4);
    expect(c.honorServerRetry).toBe(false);
    expect(c.backoffJitter).toBe(1);
    expect('bogus' in c).toBe(false);
  });
});
