import { describe, expect, it } from 'vitest';
import { VerifiedTokens } from './verified-tokens.js';

function clock(start = 1_000_000) {
  const c = { now: start, read: () => c.now };
  return c;
}

describe('VerifiedTokens', () => {
  it('answers a header it was given until the token expires, then forgets it', () => {
    const c = clock();
    const cache = new VerifiedTokens<{ sub: string }>(10, 60_000, c.read);
    cache.set('Bearer a', { sub: 'alice' }, c.now + 5_000);
    expect(cache.get('Bearer a')).toEqual({ sub: 'alice' });
    expect(cache.get('Bearer b')).toBeUndefined();
    c.now += 4_999;
    expect(cache.get('Bearer a')).toEqual({ sub: 'alice' });
    c.now += 1;
    expect(cache.get('Bearer a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('keeps a long-lived token for at most its maximum age, so a withdrawn key stops working', () => {
    const c = clock();
    const cache = new VerifiedTokens<string>(10, 60_000, c.read);
    cache.set('Bearer long', 'agent', c.now + 24 * 3_600_000);
    c.now += 59_999;
    expect(cache.get('Bearer long')).toBe('agent');
    c.now += 1;
    expect(cache.get('Bearer long')).toBeUndefined();
  });

  it('does not keep a token that has already expired', () => {
    const c = clock();
    const cache = new VerifiedTokens<string>(10, 60_000, c.read);
    cache.set('Bearer old', 'x', c.now - 1);
    cache.set('Bearer now', 'x', c.now);
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, dropping the one set longest ago', () => {
    const c = clock();
    const cache = new VerifiedTokens<number>(3, 60_000, c.read);
    for (let i = 0; i < 5; i++) cache.set(`Bearer ${i}`, i, c.now + 10_000);
    expect(cache.size).toBe(3);
    expect(cache.get('Bearer 0')).toBeUndefined();
    expect(cache.get('Bearer 1')).toBeUndefined();
    expect([2, 3, 4].map((i) => cache.get(`Bearer ${i}`))).toEqual([2, 3, 4]);
    // Setting a known header again renews its place.
    cache.set('Bearer 2', 2, c.now + 10_000);
    cache.set('Bearer 5', 5, c.now + 10_000);
    expect(cache.get('Bearer 3')).toBeUndefined();
    expect(cache.get('Bearer 2')).toBe(2);
  });
});
