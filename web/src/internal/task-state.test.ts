import { describe, expect, it } from 'vitest';
import {
  applyEvent,
  applySnapshot,
  base64Bytes,
  emptyTaskState,
  insertLog,
  missingHistory,
} from './task-state.js';
import { artifact, snapshot, status } from '../test-support/fake-client.js';

describe('task state folding', () => {
  it('is the same whether the snapshot comes before or after the replay', () => {
    const events = [
      status(1, 'TASK_STATE_WORKING', { progress: 0.5 }),
      artifact(2, [{ text: 'ab' }], { append: false, lastChunk: false }),
      artifact(3, [{ text: 'cd' }], { append: true, lastChunk: true }),
      status(4, 'TASK_STATE_COMPLETED'),
    ];
    const snap = snapshot(3, 'TASK_STATE_WORKING', {
      artifacts: [{ artifactId: 'a1', parts: [{ text: 'abcd' }] }],
    });
    const a = emptyTaskState('t1');
    applySnapshot(a, snap);
    events.forEach((e) => applyEvent(a, e));
    const b = emptyTaskState('t1');
    events.forEach((e) => applyEvent(b, e));
    applySnapshot(b, snap);
    for (const s of [a, b]) {
      expect(s.state).toBe('TASK_STATE_COMPLETED');
      expect(s.seq).toBe(4);
      expect(s.final).toBe(true);
      expect(s.progress).toBe(1);
      expect(s.log.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      expect(s.artifacts[0]!.parts).toEqual([{ text: 'abcd' }]);
    }
  });

  it('appends non-text parts after text parts', () => {
    const s = emptyTaskState('t1');
    applyEvent(s, artifact(1, [{ text: 'x' }], { lastChunk: false, append: false }));
    applyEvent(s, artifact(2, [{ data: { n: 1 } }], { append: true, lastChunk: true }));
    expect(s.artifacts[0]!.parts).toEqual([{ text: 'x' }, { data: { n: 1 } }]);
    expect(s.artifacts[0]!.complete).toBe(true);
  });

  it('reports missing history only for events neither retained nor held', () => {
    const s = emptyTaskState('t1');
    applySnapshot(s, snapshot(10, 'TASK_STATE_WORKING', { historyTruncated: true, earliestSeq: 4 }));
    expect(missingHistory(s)).toBe(3);
    for (const n of [1, 2]) applyEvent(s, status(n, 'TASK_STATE_WORKING'));
    expect(missingHistory(s)).toBe(1);
    applyEvent(s, status(3, 'TASK_STATE_WORKING'));
    expect(missingHistory(s)).toBe(0);
  });

  it('keeps reporting missing history when a later snapshot (after a reconnect) does not say it', () => {
    const s = emptyTaskState('t1');
    applySnapshot(s, snapshot(4, 'TASK_STATE_WORKING', { historyTruncated: true, earliestSeq: 5 }));
    for (const n of [5, 6]) applyEvent(s, status(n, 'TASK_STATE_WORKING'));
    applySnapshot(s, snapshot(6, 'TASK_STATE_WORKING'));
    expect(s.historyTruncated).toBe(true);
    expect(missingHistory(s)).toBe(4);
  });

  it('insertLog keeps order and rejects duplicates', () => {
    const log: Parameters<typeof insertLog>[0] = [];
    const mk = (seq: number) => ({
      seq,
      kind: 'statusUpdate' as const,
      summary: '',
      time: '',
      event: status(seq, 'TASK_STATE_WORKING').event,
    });
    for (const n of [5, 1, 3, 5, 2, 4, 1]) insertLog(log, mk(n));
    expect(log.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
  });

  it('computes decoded base64 sizes', () => {
    expect(base64Bytes('AAECAw==')).toBe(4);
    expect(base64Bytes('AAECAwQ=')).toBe(5);
    expect(base64Bytes('AAECAwQF')).toBe(6);
  });
});
