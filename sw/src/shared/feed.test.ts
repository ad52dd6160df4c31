import { describe, expect, it, vi } from 'vitest';
import type { TaskEvent } from '@orchestrator-ai/transport-types';
import { storedEvent, task } from '../test-support/fake-net.js';
import { SubscriberFeed, type FeedMessage, type History } from './feed.js';
import { ListenerGate } from './gate.js';

const ev = (seq: number): TaskEvent => storedEvent('t', seq);
const history = (seqs: number[], extra: Partial<History> = {}): History => ({
  events: seqs.map(ev),
  lastSeq: seqs.at(-1) ?? 0,
  final: false,
  truncated: false,
  ...extra,
});

/** What a subscriber would have, in order, after the messages it was sent. */
function delivered(messages: FeedMessage[]): number[] {
  const out: number[] = [];
  for (const m of messages) {
    if (m.type === 'history') out.push(...m.history.events.map((e) => e.seq));
    if (m.type === 'event') out.push(m.event.seq);
    if (m.type === 'events') out.push(...m.events.map((e) => e.seq));
  }
  return out;
}

describe('SubscriberFeed (the history/live seam)', () => {
  it('holds live events while history loads, then sends only those above it', () => {
    const sent: FeedMessage[] = [];
    const feed = new SubscriberFeed((m) => sent.push(m));
    feed.beginHistory();
    // events 4 and 5 were written while the history read ran: 4 made it into the read, 5 did not
    feed.live(ev(4));
    feed.live(ev(5));
    expect(sent).toEqual([]);
    feed.endHistory(history([1, 2, 3, 4]));
    feed.live(ev(6));
    expect(delivered(sent)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(sent[0]!.type).toBe('history');
  });

  it('with overlapping history reads, flushes only after the last one', () => {
    const sent: FeedMessage[] = [];
    const feed = new SubscriberFeed((m) => sent.push(m));
    feed.beginHistory();
    feed.beginHistory();
    feed.live(ev(3));
    feed.endHistory(history([1, 2]));
    feed.live(ev(4));
    expect(sent.filter((m) => m.type === 'event')).toEqual([]);
    feed.endHistory(history([1, 2, 3]));
    expect(delivered(sent)).toEqual([1, 2, 1, 2, 3, 4]);
    // the page's gate turns that into each seq once
    const got: number[] = [];
    const gate = new ListenerGate({ onEvent: (e) => got.push(e.seq) });
    for (const m of sent) {
      if (m.type === 'history') gate.events(m.history.events);
      if (m.type === 'event') gate.events([m.event]);
    }
    expect(got).toEqual([1, 2, 3, 4]);
  });

  it('a paused (restored) subscriber gets nothing live until it asks for history', () => {
    const sent: FeedMessage[] = [];
    const feed = new SubscriberFeed((m) => sent.push(m));
    feed.pause();
    feed.live(ev(11));
    feed.liveSnapshot(task('t', 11));
    expect(sent).toEqual([]);
    feed.beginHistory();
    expect(feed.isPaused).toBe(false);
    feed.live(ev(12));
    feed.endHistory(history([10, 11]));
    expect(delivered(sent)).toEqual([10, 11, 12]);
  });

  it('never sends a live seq twice', () => {
    const sent: FeedMessage[] = [];
    const feed = new SubscriberFeed((m) => sent.push(m));
    for (const s of [1, 2, 2, 1, 3]) feed.live(ev(s));
    expect(delivered(sent)).toEqual([1, 2, 3]);
  });

  it('sends the events stored together in one message, without the ones it already sent', () => {
    const sent: FeedMessage[] = [];
    const feed = new SubscriberFeed((m) => sent.push(m));
    const e = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(ev);
    feed.liveEvents([e[1]!, e[2]!, e[3]!]);
    feed.liveEvents([e[3]!, e[4]!, e[5]!]);
    feed.liveEvents([e[5]!, e[6]!]);
    feed.liveEvents([e[6]!]);
    expect(sent).toEqual([
      { type: 'events', events: [e[1], e[2], e[3]] },
      { type: 'events', events: [e[4], e[5]] },
      { type: 'event', event: e[6] },
    ]);
    // While history loads, a batch is held like single events, and what history covers is dropped.
    feed.beginHistory();
    feed.liveEvents([e[7]!, e[8]!, e[9]!]);
    expect(sent).toHaveLength(3);
    feed.endHistory(history([1, 2, 3, 4, 5, 6, 7]));
    expect(delivered(sent.slice(3))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('ListenerGate', () => {
  it('delivers each seq once and in order, whatever the replays', () => {
    const got: number[] = [];
    const gate = new ListenerGate({ onEvent: (e) => got.push(e.seq) });
    gate.events([ev(2), ev(1), ev(3)]);
    gate.events([ev(1), ev(2)]);
    gate.events([ev(4)]);
    gate.events([ev(3), ev(4), ev(5)]);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(gate.lastSeq).toBe(5);
  });

  it('never hands out an older snapshot, but does pass on a truncation flag', () => {
    const seen: Array<[number, boolean]> = [];
    const gate = new ListenerGate({
      onEvent: () => undefined,
      onSnapshot: (s) => seen.push([s.metadata.seq, s.metadata.historyTruncated === true]),
    });
    gate.snapshot(task('t', 5));
    gate.snapshot(task('t', 3));
    gate.snapshot(task('t', 5));
    gate.snapshot(task('t', 5, 'TASK_STATE_WORKING', { historyTruncated: true }));
    gate.snapshot(task('t', 7));
    expect(seen).toEqual([
      [5, false],
      [5, true],
      [7, false],
    ]);
  });

  it('folds repeated connection reports, survives a throwing listener, and goes quiet when closed', () => {
    const states: string[] = [];
    const err = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const gate = new ListenerGate({
      onEvent: (e) => {
        if (e.seq === 2) throw new Error('listener bug');
      },
      onConnection: (i) => states.push(i.state),
    });
    gate.connection({ state: 'open', transport: 'worker' });
    gate.connection({ state: 'open', transport: 'worker' });
    gate.connection({ state: 'reconnecting', transport: 'worker' });
    gate.events([ev(1), ev(2), ev(3)]);
    expect(gate.lastSeq).toBe(3);
    expect(err).toHaveBeenCalledTimes(1);
    gate.closed = true;
    gate.connection({ state: 'closed', transport: 'worker' });
    gate.events([ev(4)]);
    expect(states).toEqual(['open', 'reconnecting']);
    expect(gate.lastSeq).toBe(3);
    err.mockRestore();
  });
});
