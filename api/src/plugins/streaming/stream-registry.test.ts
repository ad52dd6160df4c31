import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamRegistry, type RegisteredStream } from './stream-registry.js';

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
