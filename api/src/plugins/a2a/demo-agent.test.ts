import { describe, expect, it } from 'vitest';
import { RequestMalformedError } from '@a2a-js/sdk/errors';
import type { WireStreamResponse } from '@orchestrator-ai/transport-types';
import {
  behaviourScript,
  DEMO_RAW_BYTES,
  directReply,
  parseSimulate,
  selectBehaviour,
} from './demo-agent.js';

const task = { _id: 'task-1', contextId: 'ctx-1' };
const states = (batches: WireStreamResponse[][]) =>
  batches.flat().flatMap((e) => ('statusUpdate' in e ? [e.statusUpdate.status.state] : []));

describe('behaviour selector', () => {
  it('prefers the message’s metadata.behavior, then the request’s, then the first word of the text', () => {
    expect(
      selectBehaviour({ metadata: [{ behavior: 'fail' }, { behavior: 'reject' }], text: 'artifacts' }),
    ).toBe('fail');
    expect(selectBehaviour({ metadata: [undefined, { behavior: 'reject' }], text: 'artifacts' })).toBe(
      'reject',
    );
    expect(selectBehaviour({ metadata: [], text: '  Artifacts please' })).toBe('artifacts');
    expect(selectBehaviour({ metadata: [], text: 'input-required: which format?' })).toBe('input-required');
    expect(selectBehaviour({ metadata: [], text: 'message' })).toBe('message');
  });

  it('falls back when nothing names a behaviour (a word that merely starts like one does not)', () => {
    expect(selectBehaviour({ metadata: [], text: 'completed work' }, 'stream')).toBe('stream');
    expect(selectBehaviour({ metadata: [], text: 'Write me a report' }, 'complete')).toBe('complete');
    expect(selectBehaviour({ metadata: [], text: undefined })).toBeUndefined();
  });

  it('refuses an unknown metadata.behavior as invalid params', () => {
    expect(() => selectBehaviour({ metadata: [{ behavior: 'dance' }], text: 'complete' })).toThrow(
      RequestMalformedError,
    );
    expect(() => selectBehaviour({ metadata: [{ behavior: 3 }], text: undefined })).toThrow(
      RequestMalformedError,
    );
  });
});

describe('behaviour scripts', () => {
  it('complete: one batch, working → reply artifact → completed with the reply', () => {
    const batches = behaviourScript('complete', task, 'hi');
    expect(batches).toHaveLength(1);
    expect(states(batches)).toEqual(['TASK_STATE_WORKING', 'TASK_STATE_COMPLETED']);
    expect(batches[0]![1]).toMatchObject({
      artifactUpdate: { artifact: { artifactId: 'reply' }, lastChunk: true },
    });
  });

  it('input-required, reject and fail end where they say', () => {
    expect(states(behaviourScript('input-required', task, undefined))).toEqual(['TASK_STATE_INPUT_REQUIRED']);
    expect(states(behaviourScript('reject', task, undefined))).toEqual(['TASK_STATE_REJECTED']);
    expect(states(behaviourScript('fail', task, undefined))).toEqual([
      'TASK_STATE_WORKING',
      'TASK_STATE_FAILED',
    ]);
  });

  it('artifacts: one artifact per part kind, each chunk run closed by lastChunk', () => {
    const updates = behaviourScript('artifacts', task, undefined)
      .flat()
      .flatMap((e) => ('artifactUpdate' in e ? [e.artifactUpdate] : []));
    const kinds = new Map<string, string>();
    for (const u of updates)
      kinds.set(
        u.artifact.artifactId,
        Object.keys(u.artifact.parts[0]!).find((k) => ['text', 'url', 'raw', 'data'].includes(k))!,
      );
    expect(Object.fromEntries(kinds)).toEqual({ text: 'text', url: 'url', raw: 'raw', data: 'data' });
    for (const id of kinds.keys()) {
      const run = updates.filter((u) => u.artifact.artifactId === id);
      expect(run.map((u) => Boolean(u.append))).toEqual(run.map((_, i) => i > 0));
      expect(run.map((u) => Boolean(u.lastChunk))).toEqual(run.map((_, i) => i === run.length - 1));
    }
    const raw = updates
      .filter((u) => u.artifact.artifactId === 'raw')
      .map((u) => (u.artifact.parts[0] as { raw: string }).raw);
    expect(Buffer.concat(raw.map((r) => Buffer.from(r, 'base64')))).toEqual(DEMO_RAW_BYTES);
  });

  it('stream: the simulator’s step-by-step script, shaped by metadata.simulate', () => {
    const batches = behaviourScript('stream', task, undefined, { steps: 2, chunkSize: 1000 });
    expect(batches).toHaveLength(4);
    expect(states(batches)).toEqual([
      'TASK_STATE_WORKING',
      'TASK_STATE_WORKING',
      'TASK_STATE_WORKING',
      'TASK_STATE_COMPLETED',
    ]);
  });

  it('message: a direct agent message in the caller’s context (or a new one)', () => {
    expect(directReply({ contextId: 'c' }, 'hi')).toMatchObject({ role: 'ROLE_AGENT', contextId: 'c' });
    expect(directReply({}, undefined).contextId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('metadata.simulate is checked', () => {
    expect(parseSimulate({ steps: 3, intervalMs: 10 })).toEqual({ steps: 3, intervalMs: 10 });
    expect(parseSimulate(undefined)).toBeUndefined();
    expect(() => parseSimulate({ steps: 0 })).toThrow(RequestMalformedError);
    expect(() => parseSimulate({ speed: 'fast' })).toThrow(RequestMalformedError);
  });
});
