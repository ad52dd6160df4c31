import { describe, expect, it } from 'vitest';
import type { HubEvent } from '../../hub/hub.js';
import type { ReadResult } from '../../store/event-log.js';
import { pagedHistory } from './history.js';
import { TaskStream } from './task-stream.js';

const ev = (seq: number, final = false): HubEvent => ({
  taskId: 't',
  seq,
  json: `{"n":${seq}}`,
  final,
  storedAt: Date.now(),
});

function harness(stored: number[], options: { gapWaitMs?: number; maxPending?: number } = {}) {
  const written: number[] = [];
  const closed: string[] = [];
  const skipped: number[] = [];
  const store = [...stored];
  const readAfter = async (after: number, limit: number): Promise<ReadResult> => ({
    events: store
      .filter((s) => s > after)
      .slice(0, limit)
      .map((seq) => ({
        taskId: 't',
        seq,
        event: { message: { messageId: String(seq), role: 'ROLE_AGENT', parts: [] } },
        createdAt: '',
        expiresAt: '',
      })),
    historyTruncated: false,
    earliestSeq: undefined,
  });
  const stream = new TaskStream(
    {
      writeLive: (event) => (written.push(event.seq), true),
      writeStored: (seq) => (written.push(seq), true),
      close: (reason) => closed.push(reason),
    },
    {
      history: (after) => pagedHistory(readAfter, after, 2),
      maxPending: options.maxPending ?? 100,
      gapWaitMs: options.gapWaitMs ?? 200,
      onGapSkipped: (n) => skipped.push(n),
    },
    0,
  );
  return { stream, written, closed, skipped, store };
}

describe('TaskStream sequencing', () => {
  it('holds live events until the replay is done, then writes each seq once in order', async () => {
    const h = harness([1, 2, 3, 4, 5]);
    h.stream.onLive(ev(5));
    h.stream.onLive(ev(6));
    expect(h.written).toEqual([]);
    await h.stream.catchUp();
    h.stream.onLive(ev(6));
    h.stream.onLive(ev(7));
    expect(h.written).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('fills a hole in the live sequence from the store', async () => {
    const h = harness([1]);
    await h.stream.catchUp();
    h.store.push(2, 3);
    h.stream.onLive(ev(3));
    await new Promise((r) => setTimeout(r, 20));
    expect(h.written).toEqual([1, 2, 3]);
    expect(h.skipped).toEqual([]);
  });

  it('skips a seq that never appears after the bounded wait, and says so', async () => {
    const h = harness([1], { gapWaitMs: 100 });
    await h.stream.catchUp();
    h.stream.onLive(ev(3));
    await new Promise((r) => setTimeout(r, 60));
    expect(h.written).toEqual([1]);
    await new Promise((r) => setTimeout(r, 150));
    expect(h.written).toEqual([1, 3]);
    expect(h.skipped).toEqual([1]);
  });

  it('closes after the final event and drops a reader whose queue overflows', async () => {
    const h = harness([]);
    await h.stream.catchUp();
    h.stream.onLive(ev(1));
    h.stream.onLive(ev(2, true));
    h.stream.onLive(ev(3));
    expect(h.written).toEqual([1, 2]);
    expect(h.closed).toEqual(['final']);

    const slow = harness([], { maxPending: 3 });
    for (let i = 1; i <= 4; i++) slow.stream.onLive(ev(i));
    expect(slow.closed).toEqual(['slow']);
  });
});
