import { describe, expect, it } from 'vitest';
import { parseActiveStreams } from './api.js';
import { parseRoute } from './demo-app.js';
import { currentUser } from './session.js';

describe('demo app helpers', () => {
  it('reads the task page route', () => {
    expect(parseRoute('/')).toEqual({ page: 'home' });
    expect(parseRoute('/tasks/demo/simulator/abc-123')).toEqual({
      page: 'task',
      org: 'demo',
      agent: 'simulator',
      taskId: 'abc-123',
    });
    expect(parseRoute('/tasks/demo/simulator/a%2Fb/')).toMatchObject({ taskId: 'a/b' });
    expect(parseRoute('/tasks/demo/simulator')).toEqual({ page: 'home' });
  });

  it('sums a2a_sse_active_streams from Prometheus text', () => {
    const text = [
      '# HELP a2a_sse_active_streams Open SSE streams on this instance',
      '# TYPE a2a_sse_active_streams gauge',
      'a2a_sse_active_streams_total_bogus 99',
      'a2a_sse_active_streams{route="stream"} 2',
      'a2a_sse_active_streams{route="jsonrpc"} 1',
      'a2a_sse_events_sent_total 1234',
    ].join('\n');
    expect(parseActiveStreams(text)).toBe(3);
    expect(parseActiveStreams('a2a_sse_active_streams 0\n')).toBe(0);
    expect(parseActiveStreams('nothing here')).toBeUndefined();
  });

  it('signs in as ?user= or demo-user', () => {
    expect(currentUser('?user=alice')).toBe('alice');
    expect(currentUser('')).toBe('demo-user');
    expect(currentUser('?user=')).toBe('demo-user');
  });
});
