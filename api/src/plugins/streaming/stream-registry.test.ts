import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeDeadline, StreamRegistry, type RegisteredStream } from './stream-registry.js';

function fakeStream(registry: StreamRegistry, deadline: number, expired: string[], name: string) {
  const stream: RegisteredStream = {
    deadline,
    heartbeat: () => undefined,
    expire: () => {
      expired.push(name);
      registry.delete(stream);
    },
    close: () => registry.delete(stream),
  };
  return stream;
}

/** A registry holding streams that close `ms` from now (by name), and the names expired so far. */
function registryWith(deadlines: Record<string, number>) {
  const registry = new StreamRegistry(15_000, 250);
  const expired: string[] = [];
  const now = Date.now();
  for (const [name, ms] of Object.entries(deadlines))
    registry.add(fakeStream(registry, now + ms, expired, name));
  return { registry, expired };
}

describe('StreamRegistry deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes each stream at its deadline, with no timer running before the earliest one', () => {
    const { registry, expired } = registryWith({ late: 60_000, early: 10_000, never: Infinity });

    // The heartbeat interval, and one timeout for the earliest deadline: no periodic sweep.
    expect(vi.getTimerCount()).toBe(2);
    vi.advanceTimersByTime(9_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['early']);
    vi.advanceTimersByTime(49_999);
    expect(expired).toEqual(['early']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['early', 'late']);
    expect(registry.size).toBe(1);
    // Only the heartbeat is left: the remaining stream never expires.
    expect(vi.getTimerCount()).toBe(1);
  });

  it('moves the sweep earlier for a stream added with an earlier deadline', () => {
    const { expired } = registryWith({ late: 60_000, soon: 1_000 });
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual(['soon']);
  });

  it('lets deadlines close together share one sweep, at most sweepMs late', () => {
    const { expired } = registryWith(
      Object.fromEntries([0, 1, 2, 3, 4].map((i) => [`s${i}`, 1_000 + i * 10])),
    );
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual(['s0']);
    vi.advanceTimersByTime(249);
    expect(expired).toEqual(['s0']);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['s0', 's1', 's2', 's3', 's4']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stops its timers when the last stream goes', () => {
    const registry = new StreamRegistry(15_000, 250);
    const stream = fakeStream(registry, Date.now() + 5_000, [], 'only');
    registry.add(stream);
    expect(vi.getTimerCount()).toBe(2);
    registry.delete(stream);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('StreamRegistry heartbeats', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** `count` streams that count their heartbeats; `slowAt` closes itself on its first one. */
  function beating(registry: StreamRegistry, count: number, slowAt = -1) {
    const beats = new Array<number>(count).fill(0);
    for (let i = 0; i < count; i++) {
      const stream: RegisteredStream = {
        deadline: Infinity,
        heartbeat: () => {
          beats[i]!++;
          if (i === slowAt) registry.delete(stream);
        },
        expire: () => undefined,
        close: () => registry.delete(stream),
      };
      registry.add(stream);
    }
    return beats;
  }
  const total = (beats: number[]) => beats.reduce((a, b) => a + b, 0);

  it('beats every stream once per interval, a slice per tick rather than all at once', () => {
    const registry = new StreamRegistry(15_000);
    const beats = beating(registry, 3_000);
    expect(registry.tickMs).toBe(500);

    let before = 0;
    let largestTick = 0;
    for (let t = 0; t < 15_000; t += registry.tickMs) {
      vi.advanceTimersByTime(registry.tickMs);
      largestTick = Math.max(largestTick, total(beats) - before);
      before = total(beats);
    }
    // 30 slices of 100: no turn of the event loop writes to more than a thirtieth of the streams.
    expect(largestTick).toBe(100);
    expect(beats.every((n) => n === 1)).toBe(true);
    vi.advanceTimersByTime(15_000);
    expect(beats.every((n) => n === 2)).toBe(true);
  });

  it('keeps a short interval as one tick for every stream', () => {
    const registry = new StreamRegistry(200);
    const beats = beating(registry, 5);
    expect(registry.tickMs).toBe(200);
    vi.advanceTimersByTime(199);
    expect(total(beats)).toBe(0);
    vi.advanceTimersByTime(1);
    expect(beats).toEqual([1, 1, 1, 1, 1]);
  });

  it('goes on beating the others when a stream closes during its heartbeat', () => {
    const registry = new StreamRegistry(1_000);
    const beats = beating(registry, 10, 4);
    vi.advanceTimersByTime(1_000);
    expect(beats).toEqual(new Array(10).fill(1));
    expect(registry.size).toBe(9);
    vi.advanceTimersByTime(1_000);
    expect(beats.filter((n) => n === 2)).toHaveLength(9);
    expect(beats[4]).toBe(1);
  });

  it('counts a stream added twice once', () => {
    const registry = new StreamRegistry(15_000);
    const stream: RegisteredStream = {
      deadline: Infinity,
      heartbeat: () => undefined,
      expire: () => undefined,
      close: () => registry.delete(stream),
    };
    registry.add(stream);
    registry.add(stream);
    expect(registry.size).toBe(1);
    registry.delete(stream);
    expect(registry.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('closeDeadline', () => {
  const now = 1_000_000;

  it('closes in the last fifth of the life left, jittered', () => {
    const exp = (now + 600_000) / 1000;
    expect(closeDeadline(exp, now, 0)).toBe(now + 480_000);
    expect(closeDeadline(exp, now, 1)).toBe(now + 570_000);
    expect(closeDeadline(exp, now, 0.5)).toBe(now + 525_000);
  });

  it('leaves a short-lived token time for a late sweep to close its stream before it expires', () => {
    const exp = (now + 5_000) / 1000;
    for (const random of [0, 0.5, 1]) {
      const deadline = closeDeadline(exp, now, random);
      // Deadlines close together share one sweep, up to 250 ms after the first of them.
      expect(deadline + 250).toBeLessThanOrEqual(exp * 1000 - 250);
      expect(deadline).toBeGreaterThanOrEqual(now + 4_000);
    }
    // A token with less life left than that closes at once, never in the past.
    expect(closeDeadline((now + 300) / 1000, now, 1)).toBe(now);
    expect(closeDeadline((now - 1_000) / 1000, now, 1)).toBe(now);
  });
});
