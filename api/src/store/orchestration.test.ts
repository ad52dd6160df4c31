import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readSse,
  seqsOf,
  startTestApp,
  DEMO_AGENT,
  DEMO_ORG,
  type TestApp,
  json,
} from '../test-support/app.js';
import { routes } from '@orchestrator-ai/transport-types';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('orchestration state outlives the messages', () => {
  let t: TestApp;
  beforeAll(async () => {
    // Messages live 0.02 min = 1.2 s; the simulated run takes about 2.5 s.
    t = await startTestApp({ TASK_MESSAGE_TTL_MINUTES: '0.02', TASK_RETENTION_DAYS: '1' });
  });
  afterAll(() => t.close());

  it('a client reconnecting after its messages expired gets historyTruncated and where the plan stands', async () => {
    const task = await t.createTask('alice', DEMO_ORG, DEMO_AGENT, {
      metadata: { simulate: { steps: 6, intervalMs: 350 } },
    });
    const token = await t.streamToken(task.id, 'alice', DEMO_ORG, DEMO_AGENT);
    const live = await readSse(t.streamUrl(task.id, { token }, DEMO_ORG, DEMO_AGENT), { timeoutMs: 15_000 });
    expect(live.closedByServer).toBe(true);
    const lastSeq = Number(live.frames.at(-1)!.id);
    await sleep(1300);

    const again = await readSse(t.streamUrl(task.id, { token, lastEventId: '0' }, DEMO_ORG, DEMO_AGENT));
    const snapshot = JSON.parse(again.frames[0]!.data).task;
    expect(snapshot.status.state).toBe('TASK_STATE_COMPLETED');
    expect(snapshot.metadata.historyTruncated).toBe(true);
    expect(snapshot.metadata.seq).toBe(lastSeq);
    expect(seqsOf(again.frames).every((s) => s > 1)).toBe(true);
    expect(snapshot.metadata.orchestration).toMatchObject({
      stepCount: 7,
      checkpoint: { data: { completedSteps: 6, of: 6 } },
    });
    expect(snapshot.metadata.orchestration.recentSteps.at(-1)).toMatchObject({ status: 'completed' });

    const res = await fetch(t.baseUrl + routes.task(DEMO_ORG, DEMO_AGENT, task.id), {
      headers: { authorization: `Bearer ${t.userToken()}` },
    });
    expect((await json(res)).metadata.orchestration.stepCount).toBe(7);
  });

  it('agents record steps and checkpoints; retention removes them once the task is long finished', async () => {
    const task = await t.createTask();
    const post = (body: object) =>
      fetch(`${t.baseUrl}${routes.task('acme', 'writer', task.id)}/orchestration`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t.agentToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = await post({
      steps: [
        { name: 'plan', status: 'completed' },
        { name: 'search', status: 'started' },
      ],
    });
    expect(first.status).toBe(200);
    expect((await json(first)).stepIndexes).toEqual([1, 2]);
    const second = await post({
      steps: [{ name: 'search', status: 'completed' }],
      checkpoint: { cursor: 'page-3' },
    });
    expect((await json(second)).orchestration).toMatchObject({
      stepCount: 3,
      checkpoint: { data: { cursor: 'page-3' } },
    });
    expect((await post({})).status).toBe(400);

    await t.append(task.id, { statusUpdate: { status: { state: 'TASK_STATE_COMPLETED' } } });
    const jobs = (
      t.app.server.plugins as unknown as { jobs: { runRetentionNow(now?: Date): Promise<number> } }
    ).jobs;
    // Not yet: the task finished less than TASK_RETENTION_DAYS ago.
    expect(await jobs.runRetentionNow()).toBe(0);
    const later = new Date(Date.now() + 2 * 24 * 3600 * 1000);
    const db = t.database.db;
    const before =
      (await db.collection('orchestration_steps').countDocuments({})) +
      (await db.collection('orchestration_checkpoints').countDocuments({}));
    expect(before).toBeGreaterThanOrEqual(5);
    // Two instances running the job at once remove the same records as one run would.
    const [a, b] = await Promise.all([jobs.runRetentionNow(later), jobs.runRetentionNow(later)]);
    expect(a + b).toBe(before);
    expect(await jobs.runRetentionNow(later)).toBe(0);
    expect(await t.database.db.collection('orchestration_steps').countDocuments({ taskId: task.id })).toBe(0);
  });
});
