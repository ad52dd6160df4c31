import { describe, expect, it } from 'vitest';
import { StreamPool, allocateStreams, detectHttpProtocol, isMultiplexed, type PoolSession } from './pool.js';

class FakeSession implements PoolSession {
  allowed = true;
  constructor(public wantsStream = true) {}
  get holdsStream() {
    return this.wantsStream && this.allowed;
  }
  setStreamAllowed(a: boolean) {
    this.allowed = a;
  }
}

describe('allocateStreams', () => {
  it('gives the budget to holders, then visible tasks, then the longest watched', () => {
    const c = (id: string, since: number, holds = false, visible = false, wants = true) => ({
      id,
      since,
      holdsStream: holds,
      visible,
      wantsStream: wants,
    });
    const got = allocateStreams(
      [
        c('new-visible', 9, false, true),
        c('old', 1),
        c('holder', 8, true),
        c('older', 0),
        c('done', 0, false, true, false),
      ],
      3,
    );
    expect([...got].sort()).toEqual(['holder', 'new-visible', 'older']);
    expect(allocateStreams([c('a', 1)], 0).size).toBe(0);
  });
});

describe('StreamPool', () => {
  it('keeps at most the budget streaming and promotes a poller when a stream frees', () => {
    const pool = new StreamPool(() => 4);
    const sessions = Array.from({ length: 8 }, () => new FakeSession());
    sessions.forEach((s, i) => pool.add(`t${i}`, s, i));
    const streaming = () => sessions.filter((s) => s.allowed).length;
    expect(streaming()).toBe(4);
    expect(sessions.slice(0, 4).every((s) => s.allowed)).toBe(true);
    // t1 finishes: t4 (the next longest watched) is promoted
    sessions[1]!.wantsStream = false;
    pool.rebalance();
    expect(sessions.filter((s) => s.holdsStream).length).toBe(4);
    expect(sessions[4]!.allowed).toBe(true);
    // the last tab leaves t0: its session is stopped and leaves the pool; t5 is promoted
    sessions[0]!.wantsStream = false;
    pool.remove('t0');
    expect(sessions[5]!.allowed).toBe(true);
    expect(sessions.filter((s) => s.holdsStream).length).toBe(4);
  });

  it('never exceeds the budget, even for a moment, when promoting', () => {
    let budget = 2;
    const pool = new StreamPool(() => budget);
    const log: number[] = [];
    const sessions: FakeSession[] = [];
    for (let i = 0; i < 4; i++) {
      const s = new FakeSession();
      const set = s.setStreamAllowed.bind(s);
      s.setStreamAllowed = (a) => {
        set(a);
        log.push(sessions.filter((x) => x.allowed).length);
      };
      sessions.push(s);
      pool.add(`t${i}`, s, i);
    }
    budget = 1;
    pool.rebalance();
    expect(Math.max(...log.slice(-4))).toBeLessThanOrEqual(2);
    expect(sessions.filter((s) => s.allowed)).toHaveLength(1);
    budget = 16; // HTTP/2 detected
    pool.rebalance();
    expect(sessions.filter((s) => s.allowed)).toHaveLength(4);
  });

  it('prefers tasks watched by a visible tab for newly freed slots', () => {
    const pool = new StreamPool(() => 1);
    const a = new FakeSession();
    const b = new FakeSession(false);
    pool.add('a', a, 0, false);
    pool.add('b', b, 5, true);
    a.wantsStream = false;
    b.wantsStream = true;
    pool.rebalance();
    expect(b.allowed).toBe(true);
  });
});

describe('protocol detection', () => {
  it('reads nextHopProtocol of the latest request to the origin', () => {
    const perf = {
      getEntriesByType: () => [
        { name: 'https://api.test/a', nextHopProtocol: 'http/1.1' },
        { name: 'https://other.test/x', nextHopProtocol: 'h3' },
        { name: 'https://api.test/b', nextHopProtocol: 'h2' },
        { name: 'https://api.test/c', nextHopProtocol: '' },
      ],
    } as unknown as Performance;
    expect(detectHttpProtocol('https://api.test', perf)).toBe('h2');
    expect(detectHttpProtocol('https://none.test', perf)).toBeUndefined();
    expect(isMultiplexed('h2')).toBe(true);
    expect(isMultiplexed('h3')).toBe(true);
    expect(isMultiplexed('http/1.1')).toBe(false);
    expect(isMultiplexed(undefined)).toBe(false);
  });
});
