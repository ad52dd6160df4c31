import { describe, expect, it } from 'vitest';
import { StreamResponse } from '@orchestrator-ai/transport-types';
import { camelCaseKey, camelizeKeys, normaliseResponseJson, toUtcTimestamp, wireEventToSdk } from './wire.js';

describe('camelCase keys', () => {
  it('converts snake_case and leaves everything else', () => {
    expect(camelCaseKey('trace_id')).toBe('traceId');
    expect(camelCaseKey('a__b_c')).toBe('aBC');
    expect(camelCaseKey('alreadyCamel')).toBe('alreadyCamel');
    expect(camelCaseKey('_private')).toBe('_private');
    expect(camelCaseKey('trailing_')).toBe('trailing_');
    expect(camelCaseKey('x-header')).toBe('x-header');
  });

  it('goes deep, through arrays, and lets an explicit camelCase key win a clash', () => {
    expect(camelizeKeys({ outer_key: [{ inner_key: 1 }], keep: 'v_a_l' })).toEqual({
      outerKey: [{ innerKey: 1 }],
      keep: 'v_a_l',
    });
    expect(camelizeKeys({ a_b: 1, aB: 2 })).toEqual({ aB: 2 });
    expect(camelizeKeys(null)).toBeNull();
    expect(camelizeKeys('s_s')).toBe('s_s');
  });
});

describe('UTC timestamps', () => {
  it('turns any parseable timestamp into ISO UTC with milliseconds', () => {
    expect(toUtcTimestamp('2030-01-01T02:00:00+02:00')).toBe('2030-01-01T00:00:00.000Z');
    expect(toUtcTimestamp('2030-01-01T00:00:00Z')).toBe('2030-01-01T00:00:00.000Z');
    expect(toUtcTimestamp('2030-01-01T00:00:00.123Z')).toBe('2030-01-01T00:00:00.123Z');
    expect(toUtcTimestamp('not a date')).toBe('not a date');
  });
});

describe('response normalisation', () => {
  it('camelCases metadata, normalises timestamps, and never touches a data part’s payload', () => {
    const json = {
      statusUpdate: {
        taskId: 't',
        status: {
          state: 'TASK_STATE_WORKING',
          timestamp: '2030-01-01T01:00:00+01:00',
          message: { parts: [{ data: { snake_case: true }, metadata: { part_meta: 1 } }] },
        },
        metadata: { step_name: 'x', nested_obj: { deep_key: [{ deeper_key: 1 }] } },
      },
    };
    expect(normaliseResponseJson(json)).toEqual({
      statusUpdate: {
        taskId: 't',
        status: {
          state: 'TASK_STATE_WORKING',
          timestamp: '2030-01-01T00:00:00.000Z',
          message: { parts: [{ data: { snake_case: true }, metadata: { partMeta: 1 } }] },
        },
        metadata: { stepName: 'x', nestedObj: { deepKey: [{ deeperKey: 1 }] } },
      },
    });
  });

  it('round-trips stored events through the SDK codec without anything outside the schema', () => {
    const stored = {
      artifactUpdate: {
        taskId: 't',
        contextId: 'c',
        artifact: {
          artifactId: 'a',
          parts: [{ raw: Buffer.from('hi').toString('base64'), mediaType: 'application/octet-stream' }],
        },
        append: true,
        lastChunk: false,
        notInTheSchema: 1,
      },
    };
    const json = StreamResponse.toJSON(wireEventToSdk(stored as never));
    expect(json).toEqual({
      artifactUpdate: {
        taskId: 't',
        contextId: 'c',
        artifact: { artifactId: 'a', parts: [{ raw: 'aGk=', mediaType: 'application/octet-stream' }] },
        append: true,
      },
    });
  });
});
