/**
 * The A2A binding driven by the official @a2a-js/sdk client (card → ClientFactory →
 * JsonRpcTransport), against a real server and database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Client } from '@a2a-js/sdk/client';
import {
  RequestMalformedError,
  TaskNotCancelableError,
  TaskNotFoundError,
  UnsupportedOperationError,
} from '@a2a-js/sdk/errors';
import {
  Role,
  TaskState,
  type Message,
  type Part,
  type StreamResponse,
  type Task,
} from '@orchestrator-ai/transport-types';
import {
  a2aClient,
  AGENT,
  ORG,
  startTestApp,
  status,
  textChunk,
  type TestApp,
} from '../../test-support/app.js';
import { DEMO_RAW_BYTES, DEMO_URL_TEXT } from './demo-agent.js';

let t: TestApp;
let client: Client;

beforeAll(async () => {
  t = await startTestApp();
  client = await a2aClient(t);
});
afterAll(() => t.close());

function userMessage(text: string, extra: Partial<Message> = {}): Message {
  return {
    messageId: randomUUID(),
    contextId: '',
    taskId: '',
    role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: '' }],
    metadata: undefined,
    extensions: [],
    referenceTaskIds: [],
    ...extra,
  };
}

function send(
  text: string,
  options: {
    metadata?: Record<string, unknown>;
    returnImmediately?: boolean;
    historyLength?: number;
    message?: Partial<Message>;
  } = {},
) {
  return {
    tenant: '',
    message: userMessage(text, options.message),
    configuration: {
      acceptedOutputModes: [],
      taskPushNotificationConfig: undefined,
      returnImmediately: options.returnImmediately ?? false,
      ...(options.historyLength === undefined ? {} : { historyLength: options.historyLength }),
    },
    metadata: options.metadata,
  };
}

const FAST = { simulate: { steps: 3, intervalMs: 30, chunkSize: 8 } };

async function collect(stream: AsyncGenerator<StreamResponse>, limit = Infinity): Promise<StreamResponse[]> {
  const events: StreamResponse[] = [];
  for await (const event of stream) {
    events.push(event);
    if (events.length >= limit) break;
  }
  return events;
}

const kinds = (events: StreamResponse[]) => events.map((e) => e.payload?.$case);
const asTask = (result: Message | Task): Task => {
  expect('status' in result).toBe(true);
  return result as Task;
};
const terminal = new Set([
  TaskState.TASK_STATE_COMPLETED,
  TaskState.TASK_STATE_FAILED,
  TaskState.TASK_STATE_CANCELED,
  TaskState.TASK_STATE_REJECTED,
]);

/** Fails with the A2A error class the client raised. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

async function waitForSeq(taskId: string, seq: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const task = await t.app.tasks.get(taskId);
    if (task && task.lastSeq >= seq) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`task ${taskId} never reached seq ${seq}`);
}

describe('the official client against our binding', () => {
  it('builds from the card URL with the JSON-RPC 1.0 interface', async () => {
    expect(client.transport.protocolName).toBe('JSONRPC');
    expect(client.protocolVersion).toBe('1.0');
    const card = await client.getAgentCard();
    expect(card.capabilities?.streaming).toBe(true);
  });

  it('SendMessage "complete": the blocking call returns the completed task with its reply', async () => {
    const task = asTask(await client.sendMessage(send('complete this please')));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(task.status?.timestamp).toMatch(/Z$/);
    expect(task.artifacts[0]?.parts[0]?.content).toEqual({
      $case: 'text',
      value: 'Done. You said "complete this please".',
    });
    expect(task.history.map((m) => m.role)).toEqual([Role.ROLE_USER, Role.ROLE_AGENT, Role.ROLE_AGENT]);
  });

  it('SendMessage "message": a direct Message, no task', async () => {
    const result = await client.sendMessage(send('hello', { metadata: { behavior: 'message' } }));
    expect('messageId' in result && !('status' in result)).toBe(true);
    const message = result as Message;
    expect(message.role).toBe(Role.ROLE_AGENT);
    expect(message.contextId).not.toBe('');
    expect(message.parts[0]?.content?.$case).toBe('text');
  });

  it('SendMessage "reject" and "fail" end in REJECTED and FAILED', async () => {
    expect(asTask(await client.sendMessage(send('reject'))).status?.state).toBe(
      TaskState.TASK_STATE_REJECTED,
    );
    expect(
      asTask(await client.sendMessage(send('please', { metadata: { behavior: 'fail' } }))).status?.state,
    ).toBe(TaskState.TASK_STATE_FAILED);
  });

  it('"input-required" stays open until the next message, which completes it; then the task takes no more', async () => {
    const asked = asTask(await client.sendMessage(send('input-required')));
    expect(asked.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    // Still open a moment later: nothing moves it on by itself.
    await new Promise((r) => setTimeout(r, 100));
    expect((await client.getTask({ tenant: '', id: asked.id })).status?.state).toBe(
      TaskState.TASK_STATE_INPUT_REQUIRED,
    );

    const done = asTask(
      await client.sendMessage(
        send('here is more', { message: { taskId: asked.id, contextId: asked.contextId } }),
      ),
    );
    expect(done.id).toBe(asked.id);
    expect(done.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    const texts = done.history.map((m) =>
      m.parts[0]?.content?.$case === 'text' ? m.parts[0].content.value : '',
    );
    expect(texts).toContain('here is more');

    const refused = await rejection(client.sendMessage(send('again', { message: { taskId: asked.id } })));
    expect(refused).toBeInstanceOf(UnsupportedOperationError);
  });

  it('SendStreamingMessage to the simulator starts a task and streams it to completion', async () => {
    const events = await collect(client.sendMessageStream(send('Write me a report', { metadata: FAST })));
    expect(events[0]?.payload?.$case).toBe('task');
    const task = events[0]!.payload!.value as Task;
    expect(task.status?.state).toBe(TaskState.TASK_STATE_SUBMITTED);
    const rest = events.slice(1);
    expect(
      rest.every((e) => e.payload?.$case === 'statusUpdate' || e.payload?.$case === 'artifactUpdate'),
    ).toBe(true);
    const last = rest[rest.length - 1]!;
    expect(last.payload?.$case).toBe('statusUpdate');
    expect((last.payload!.value as { status: { state: TaskState } }).status.state).toBe(
      TaskState.TASK_STATE_COMPLETED,
    );
    // Only the last event is terminal: the stream closed right after it.
    const states = rest.flatMap((e) =>
      e.payload?.$case === 'statusUpdate' ? [e.payload.value.status!.state] : [],
    );
    expect(states.filter((s) => terminal.has(s))).toHaveLength(1);
    expect(states.filter((s) => s === TaskState.TASK_STATE_WORKING).length).toBeGreaterThanOrEqual(4);
    const chunks = rest.filter((e) => e.payload?.$case === 'artifactUpdate');
    expect(chunks.length).toBeGreaterThan(3);
    for (const e of rest) expect((e.payload!.value as { taskId: string }).taskId).toBe(task.id);
  });

  it('"artifacts": one artifact of each part kind, chunked with append/lastChunk', async () => {
    const events = await collect(client.sendMessageStream(send('artifacts')));
    const updates = events.flatMap((e) => (e.payload?.$case === 'artifactUpdate' ? [e.payload.value] : []));
    const byId = (id: string) => updates.filter((u) => u.artifact?.artifactId === id);
    const content = (p: Part | undefined) => p?.content;

    const text = byId('text');
    expect(text.map((u) => [u.append, u.lastChunk])).toEqual([
      [false, false],
      [true, false],
      [true, true],
    ]);
    expect(text.map((u) => content(u.artifact!.parts[0])?.value as string).join('')).toBe(
      'The quick brown fox jumps over the lazy dog.',
    );

    const [url] = byId('url');
    expect(url?.lastChunk).toBe(true);
    const href = content(url!.artifact!.parts[0]);
    expect(href?.$case).toBe('url');
    expect(Buffer.from(String(href!.value).split(',')[1]!, 'base64').toString()).toBe(DEMO_URL_TEXT);

    const raw = byId('raw');
    expect(raw.map((u) => [u.append, u.lastChunk])).toEqual([
      [false, false],
      [true, true],
    ]);
    expect(raw.every((u) => content(u.artifact!.parts[0])?.$case === 'raw')).toBe(true);
    expect(Buffer.concat(raw.map((u) => content(u.artifact!.parts[0])!.value as Buffer))).toEqual(
      DEMO_RAW_BYTES,
    );

    const [data] = byId('data');
    expect(content(data!.artifact!.parts[0])).toEqual({
      $case: 'data',
      value: { kind: 'summary', parts: ['text', 'url', 'raw', 'data'], ok: true },
    });
    const last = events[events.length - 1]!;
    expect(last.payload?.$case === 'statusUpdate' && last.payload.value.status?.state).toBe(
      TaskState.TASK_STATE_COMPLETED,
    );
  });

  it('streaming "input-required": the stream stays open through the interruption and closes at completion', async () => {
    const stream = client.sendMessageStream(send('input-required'));
    const task = (await stream.next()).value!.payload!.value as Task;
    const asked = (await stream.next()).value!;
    expect(asked.payload?.$case === 'statusUpdate' && asked.payload.value.status?.state).toBe(
      TaskState.TASK_STATE_INPUT_REQUIRED,
    );
    // The follow-up goes as its own streaming call: the task snapshot first, then its updates.
    const followUp = await collect(
      client.sendMessageStream(
        send('more detail', { message: { taskId: task.id, contextId: task.contextId } }),
      ),
    );
    expect(followUp[0]?.payload?.$case).toBe('task');
    const snapshot = followUp[0]!.payload!.value as Task;
    expect(snapshot.history[snapshot.history.length - 1]?.parts[0]?.content).toEqual({
      $case: 'text',
      value: 'more detail',
    });
    expect(kinds(followUp.slice(1))).toEqual(['statusUpdate', 'artifactUpdate', 'statusUpdate']);
    // The first stream saw the same updates (never the user's message), then closed.
    const rest = await collect(stream);
    expect(JSON.stringify(rest)).toBe(JSON.stringify(followUp.slice(1)));
  });

  it('SendStreamingMessage "message" is a single Message, then the stream ends', async () => {
    const events = await collect(client.sendMessageStream(send('message')));
    expect(kinds(events)).toEqual(['message']);
  });

  it('GetTask honours historyLength', async () => {
    const task = asTask(await client.sendMessage(send('complete')));
    expect((await client.getTask({ tenant: '', id: task.id })).history).toHaveLength(3);
    expect((await client.getTask({ tenant: '', id: task.id, historyLength: 0 })).history).toHaveLength(0);
    const one = await client.getTask({ tenant: '', id: task.id, historyLength: 1 });
    expect(one.history).toHaveLength(1);
    expect(one.history[0]?.role).toBe(Role.ROLE_AGENT);
    expect(one.artifacts).toHaveLength(1);
  });

  it('ListTasks filters by context, pages with pageSize/pageToken, and shows artifacts only when asked', async () => {
    const contextId = randomUUID();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(asTask(await client.sendMessage(send('complete', { message: { contextId } }))).id);
    const request = (extra: object) => ({
      tenant: '',
      contextId,
      status: TaskState.TASK_STATE_UNSPECIFIED,
      pageToken: '',
      statusTimestampAfter: undefined,
      ...extra,
    });

    const page1 = await client.listTasks(request({ pageSize: 2 }));
    expect(page1.totalSize).toBe(3);
    expect(page1.pageSize).toBe(2);
    expect(page1.tasks).toHaveLength(2);
    expect(page1.nextPageToken).not.toBe('');
    expect(page1.tasks.every((task) => task.artifacts.length === 0)).toBe(true);
    const page2 = await client.listTasks(request({ pageSize: 2, pageToken: page1.nextPageToken }));
    expect(page2.tasks).toHaveLength(1);
    expect(page2.nextPageToken).toBe('');
    // Newest first, each task once.
    expect([...page1.tasks, ...page2.tasks].map((task) => task.id)).toEqual([...ids].reverse());

    const withArtifacts = await client.listTasks(request({ includeArtifacts: true }));
    expect(withArtifacts.tasks).toHaveLength(3);
    expect(withArtifacts.tasks.every((task) => task.artifacts.length === 1)).toBe(true);

    const completed = await client.listTasks(
      request({ status: TaskState.TASK_STATE_COMPLETED, historyLength: 0 }),
    );
    expect(completed.tasks).toHaveLength(3);
    expect(completed.tasks.every((task) => task.history.length === 0)).toBe(true);
    expect((await client.listTasks(request({ status: TaskState.TASK_STATE_WORKING }))).tasks).toHaveLength(0);

    // Another user sees none of them.
    const other = await a2aClient(t, undefined, undefined, 'mallory');
    expect((await other.listTasks(request({}))).totalSize).toBe(0);
  });

  it('SubscribeToTask mid-task: concurrent subscribers see the same events in the same order; closing one leaves the others', async () => {
    const started = asTask(
      await client.sendMessage(
        send('stream', {
          returnImmediately: true,
          metadata: { simulate: { steps: 6, intervalMs: 60, chunkSize: 10 } },
        }),
      ),
    );
    await waitForSeq(started.id, 2);
    const subscribe = () => collect(client.resubscribeTask({ tenant: '', id: started.id }));
    const [a, b, early] = await Promise.all([
      subscribe(),
      subscribe(),
      collect(client.resubscribeTask({ tenant: '', id: started.id }), 3),
    ]);

    expect(early).toHaveLength(3);
    for (const events of [a, b]) {
      expect(events[0]?.payload?.$case).toBe('task');
      const last = events[events.length - 1]!;
      expect(last.payload?.$case === 'statusUpdate' && last.payload.value.status?.state).toBe(
        TaskState.TASK_STATE_COMPLETED,
      );
    }
    // Each stream carries the updates after its own snapshot: the later one's are a suffix of the
    // earlier one's, the one closed early a run inside them. Same events, same order.
    const updates = (events: StreamResponse[]) => events.slice(1).map((e) => JSON.stringify(e));
    const [longer, shorter] = a.length >= b.length ? [updates(a), updates(b)] : [updates(b), updates(a)];
    expect(longer.slice(longer.length - shorter.length)).toEqual(shorter);
    const run = updates(early);
    const at = longer.indexOf(run[0]!);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(longer.slice(at, at + run.length)).toEqual(run);
    // Every stream let go of its hub subscription.
    await expect.poll(() => t.app.hub.subscriptionCount).toBe(0);
  });

  it('CancelTask cancels a running task; again is the same answer; a finished task is not cancelable', async () => {
    const started = asTask(
      await client.sendMessage(
        send('stream', { returnImmediately: true, metadata: { simulate: { steps: 50, intervalMs: 50 } } }),
      ),
    );
    const canceled = await client.cancelTask({ tenant: '', id: started.id, metadata: undefined });
    expect(canceled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect((await client.cancelTask({ tenant: '', id: started.id, metadata: undefined })).status?.state).toBe(
      TaskState.TASK_STATE_CANCELED,
    );
    await new Promise((r) => setTimeout(r, 120));
    expect((await client.getTask({ tenant: '', id: started.id })).status?.state).toBe(
      TaskState.TASK_STATE_CANCELED,
    );

    const done = asTask(await client.sendMessage(send('complete')));
    expect(
      await rejection(client.cancelTask({ tenant: '', id: done.id, metadata: undefined })),
    ).toBeInstanceOf(TaskNotCancelableError);
  });

  it('a canceled stream closes its subscribers with the canceled status', async () => {
    const started = asTask(
      await client.sendMessage(
        send('stream', { returnImmediately: true, metadata: { simulate: { steps: 50, intervalMs: 40 } } }),
      ),
    );
    const reading = collect(client.resubscribeTask({ tenant: '', id: started.id }));
    await waitForSeq(started.id, 2);
    await client.cancelTask({ tenant: '', id: started.id, metadata: undefined });
    const events = await reading;
    const last = events[events.length - 1]!;
    expect(last.payload?.$case === 'statusUpdate' && last.payload.value.status?.state).toBe(
      TaskState.TASK_STATE_CANCELED,
    );
  });

  it('errors: unknown task, another user’s task, terminal subscribe, invalid params', async () => {
    expect(await rejection(client.getTask({ tenant: '', id: 'no-such-task' }))).toBeInstanceOf(
      TaskNotFoundError,
    );
    const mine = asTask(await client.sendMessage(send('complete')));
    const other = await a2aClient(t, undefined, undefined, 'mallory');
    expect(await rejection(other.getTask({ tenant: '', id: mine.id }))).toBeInstanceOf(TaskNotFoundError);
    expect(
      await rejection(other.cancelTask({ tenant: '', id: mine.id, metadata: undefined })),
    ).toBeInstanceOf(TaskNotFoundError);
    expect(await rejection(collect(client.resubscribeTask({ tenant: '', id: mine.id })))).toBeInstanceOf(
      UnsupportedOperationError,
    );
    expect(
      await rejection(collect(client.resubscribeTask({ tenant: '', id: 'no-such-task' }))),
    ).toBeInstanceOf(TaskNotFoundError);
    expect(
      await rejection(client.sendMessage(send('more', { message: { taskId: mine.id } }))),
    ).toBeInstanceOf(UnsupportedOperationError);
    expect(
      await rejection(client.sendMessage(send('x', { message: { taskId: 'no-such-task' } }))),
    ).toBeInstanceOf(TaskNotFoundError);
    expect(await rejection(client.getTask({ tenant: '', id: '' }))).toBeInstanceOf(RequestMalformedError);
    expect(
      await rejection(
        client.listTasks({
          tenant: '',
          contextId: '',
          status: TaskState.TASK_STATE_UNSPECIFIED,
          pageSize: 500,
          pageToken: '',
          statusTimestampAfter: undefined,
        }),
      ),
    ).toBeInstanceOf(RequestMalformedError);
    expect(
      await rejection(client.sendMessage(send('x', { metadata: { behavior: 'dance' } }))),
    ).toBeInstanceOf(RequestMalformedError);
    expect(
      await rejection(client.sendMessage(send('x', { message: { role: Role.ROLE_AGENT } }))),
    ).toBeInstanceOf(RequestMalformedError);
  });

  it('Last-Event-ID on SubscribeToTask of a running task resumes after that seq (resume extension)', async () => {
    const started = asTask(
      await client.sendMessage(
        send('stream', {
          returnImmediately: true,
          metadata: { simulate: { steps: 4, intervalMs: 60, chunkSize: 12 } },
        }),
      ),
    );
    await waitForSeq(started.id, 3);
    const events = await collect(
      client.resubscribeTask({ tenant: '', id: started.id }, { serviceParameters: { 'Last-Event-ID': '1' } }),
    );
    expect(events[0]?.payload?.$case).toBe('task');
    // Replayed from seq 2: the first update after the snapshot is the step-1 status (seq 2).
    const log = await t.app.log.readAfter(started.id, 1, 1000);
    const expected = log.events.filter((e) => 'statusUpdate' in e.event || 'artifactUpdate' in e.event);
    expect(events.length - 1).toBe(expected.length);
    const last = events[events.length - 1]!;
    expect(last.payload?.$case === 'statusUpdate' && last.payload.value.status?.state).toBe(
      TaskState.TASK_STATE_COMPLETED,
    );
  });
});

describe('an agent that posts its events over HTTP (not the simulator)', () => {
  it('two subscribers get the same events in the same order; closing one leaves the other streaming', async () => {
    const writer = await a2aClient(t, ORG, AGENT);
    const task = asTask(await writer.sendMessage(send('go', { returnImmediately: true })));
    const first = writer.resubscribeTask({ tenant: '', id: task.id });
    const second = writer.resubscribeTask({ tenant: '', id: task.id });
    // Both streams are open (their snapshots arrived) before anything is appended.
    const [snapA, snapB] = await Promise.all([first.next(), second.next()]);
    expect([snapA.value?.payload?.$case, snapB.value?.payload?.$case]).toEqual(['task', 'task']);

    expect(
      (await t.append(task.id, { events: [status('TASK_STATE_WORKING', 'one'), textChunk('a', false)] }))
        .status,
    ).toBe(200);
    const earlyB = [(await second.next()).value, (await second.next()).value];
    await second.return(undefined); // closes the second connection
    await expect.poll(() => t.app.hub.subscriptionCount).toBe(1);

    expect((await t.append(task.id, { events: [textChunk('b'), textChunk('c')] })).status).toBe(200);
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'done'))).status).toBe(200);
    const restA: StreamResponse[] = [];
    for await (const event of first) restA.push(event);
    expect(kinds(restA)).toEqual([
      'statusUpdate',
      'artifactUpdate',
      'artifactUpdate',
      'artifactUpdate',
      'statusUpdate',
    ]);
    expect(JSON.stringify(earlyB)).toBe(JSON.stringify(restA.slice(0, 2)));
    await expect.poll(() => t.app.hub.subscriptionCount).toBe(0);
  });

  it('SendStreamingMessage creates the task; the agent’s appends stream through to completion', async () => {
    const writer = await a2aClient(t, ORG, AGENT);
    const stream = writer.sendMessageStream(send('draft the memo'));
    const first = await stream.next();
    const task = (first.value as StreamResponse).payload!.value as Task;
    expect(task.status?.state).toBe(TaskState.TASK_STATE_SUBMITTED);
    expect(task.history[0]?.parts[0]?.content).toEqual({ $case: 'text', value: 'draft the memo' });

    const appended = await t.append(task.id, {
      events: [status('TASK_STATE_WORKING', 'drafting'), textChunk('Dear all,', false), textChunk(' hello.')],
    });
    expect(appended.status).toBe(200);
    expect((await t.append(task.id, status('TASK_STATE_COMPLETED', 'sent'))).status).toBe(200);
    const rest: StreamResponse[] = [];
    for await (const event of stream) rest.push(event);
    expect(kinds(rest)).toEqual(['statusUpdate', 'artifactUpdate', 'artifactUpdate', 'statusUpdate']);
  });
});
