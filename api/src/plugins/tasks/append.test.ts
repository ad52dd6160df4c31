import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS, routes } from '@orchestrator-ai/transport-types';
import { COLLECTIONS, type TaskDoc } from '../../db/types.js';
import { randomUUID } from 'node:crypto';
import {
  AGENT,
  ORG,
  a2aPost,
  startTestApp,
  status,
  textChunk,
  type TestApp,
} from '../../test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t?.close());

const appendAs = (app: TestApp, taskId: string, org: string, agent: string, body: object) =>
  fetch(app.baseUrl + routes.events(org, agent, taskId), {
    method: 'POST',
    headers: { authorization: `Bearer ${app.agentToken(org, agent)}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const getTask = async (app: TestApp, taskId: string) =>
  (await (
    await fetch(app.baseUrl + routes.task(ORG, AGENT, taskId), {
      headers: { authorization: `Bearer ${app.userToken()}` },
    })
  ).json()) as { status: { state: string }; metadata: { seq: number }; artifacts?: unknown[] };

describe('POST …/tasks/{taskId}/events', () => {
  it("answers 404 task_not_found for another agent's task, before and after the task is cached", async () => {
    const task = await t.createTask();
    const foreign = { org: 'other-org', agent: AGENT };
    const before = await appendAs(t, task.id, foreign.org, foreign.agent, textChunk('x'));
    expect(before.status).toBe(404);
    expect(await before.json()).toMatchObject({ code: 'task_not_found' });

    expect((await t.append(task.id, textChunk('mine'))).status).toBe(200);
    for (const [org, agent] of [
      [foreign.org, foreign.agent],
      [ORG, 'other-agent'],
    ] as const) {
      const res = await appendAs(t, task.id, org, agent, textChunk('y'));
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ code: 'task_not_found' });
    }
    expect((await getTask(t, task.id)).metadata.seq).toBe(1);
  });

  it('shows an acknowledged append in the task snapshot at once', async () => {
    const task = await t.createTask();
    for (let i = 1; i <= 5; i++) {
      const res = await t.append(task.id, textChunk(`c${i}`));
      expect(await res.json()).toEqual({ seqs: [i] });
      expect((await getTask(t, task.id)).metadata.seq).toBe(i);
    }
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'done'))).status).toBe(200);
    const done = await getTask(t, task.id);
    expect(done.status.state).toBe('TASK_STATE_COMPLETED');
    expect(done.metadata.seq).toBe(6);
  });

  it('counts appended events and the inserts that stored them in its metrics', async () => {
    const app = await startTestApp();
    try {
      const task = await app.createTask();
      const counter = async (name: string) => {
        const text = await (await fetch(`${app.baseUrl}/metrics`)).text();
        return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
      };
      const batch = { events: [textChunk('a'), textChunk('b'), textChunk('c')] };
      expect((await app.append(task.id, batch)).status).toBe(200);
      expect(await counter(METRICS.eventsAppended)).toBe(3);
      expect(await counter(METRICS.appendBatches)).toBe(1);
      expect((await app.append(task.id, textChunk('d'))).status).toBe(200);
      expect(await counter(METRICS.eventsAppended)).toBe(4);
      expect(await counter(METRICS.appendBatches)).toBe(2);

      // The demo agent over A2A stores its events without the REST route: counted alike.
      const res = await a2aPost(app, {
        jsonrpc: '2.0',
        id: 1,
        method: 'SendMessage',
        params: { message: { messageId: randomUUID(), role: 'ROLE_USER', parts: [{ text: 'complete' }] } },
      });
      const { result } = (await res.json()) as { result: { task: { metadata: { seq: number } } } };
      const agentEvents = result.task.metadata.seq;
      expect(agentEvents).toBeGreaterThan(0);
      expect(await counter(METRICS.eventsAppended)).toBe(4 + agentEvents);
      const batches = await counter(METRICS.appendBatches);
      expect(batches).toBeGreaterThan(2);
      expect(batches).toBeLessThanOrEqual(2 + agentEvents);
    } finally {
      await app.close();
    }
  });

  it('writes the pending snapshots when the server stops', async () => {
    const app = await startTestApp();
    try {
      const tasks = await Promise.all([app.createTask(), app.createTask()]);
      for (const task of tasks) {
        const res = await app.append(task.id, { events: [textChunk('a'), textChunk('b')] });
        expect(res.status).toBe(200);
      }
      await app.app.server.stop({ timeout: 2000 });
      const docs = await app.database.db
        .collection<TaskDoc>(COLLECTIONS.tasks)
        .find({ _id: { $in: tasks.map((task) => task.id) } })
        .toArray();
      expect(docs.map((d) => d.lastSeq)).toEqual([2, 2]);
    } finally {
      await app.close();
    }
  });
});
