import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readSse,
  seqsOf,
  startTestApp,
  status,
  textChunk,
  type TestApp,
  json,
} from '../../test-support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('resuming a stream', () => {
  it('loses and repeats nothing at the seam while appends continue during the reconnect', async () => {
    const task = await t.createTask();
    const token = await t.streamToken(task.id);
    let appending = true;
    let appended = 0;
    const appender = (async () => {
      while (appending) {
        const res = await t.append(task.id, {
          events: [textChunk(`a${appended}`), textChunk(`b${appended}`)],
        });
        expect(res.status).toBe(200);
        appended += 2;
        await sleep(2);
      }
    })();

    const received: number[] = [];
    let last = 0;
    for (let round = 0; round < 8; round++) {
      // Each connection reads a few events, drops, and resumes from the last id it saw.
      const result = await readSse(t.streamUrl(task.id, { token }), {
        headers: { 'Last-Event-ID': String(last) },
        until: (frames) => frames.length > 1 + 5,
      });
      expect(result.status).toBe(200);
      expect(result.frames[0]!.id).toBe(String(last));
      const seqs = seqsOf(result.frames);
      received.push(...seqs);
      last = seqs.at(-1) ?? last;
    }
    appending = false;
    await appender;
    await t.append(task.id, status('TASK_STATE_COMPLETED'));
    const rest = await readSse(t.streamUrl(task.id, { token, lastEventId: String(last) }));
    received.push(...seqsOf(rest.frames));

    expect(received.length).toBe(appended + 1);
    expect(received).toEqual(Array.from({ length: appended + 1 }, (_, i) => i + 1));
  });

  it('Last-Event-ID wins over the query; lastEventId=0 replays everything retained', async () => {
    const task = await t.createTask();
    await t.append(task.id, {
      events: [textChunk('1', false), textChunk('2'), textChunk('3'), status('TASK_STATE_COMPLETED')],
    });
    const token = await t.streamToken(task.id);
    const both = await readSse(t.streamUrl(task.id, { token, lastEventId: '1' }), {
      headers: { 'Last-Event-ID': '2' },
    });
    expect(both.frames[0]!.id).toBe('2');
    expect(seqsOf(both.frames)).toEqual([3, 4]);
    const all = await readSse(t.streamUrl(task.id, { token, lastEventId: '0' }));
    expect(seqsOf(all.frames)).toEqual([1, 2, 3, 4]);
    const snapshot = JSON.parse(all.frames[0]!.data).task;
    expect(snapshot.metadata.seq).toBe(4);
    expect(snapshot.metadata.historyTruncated).toBeUndefined();
    // Without any id: the snapshot (reflecting seq 4), then the stream closes (task is final).
    const none = await readSse(t.streamUrl(task.id, { token }));
    expect(none.frames.length).toBe(1);
    expect(none.frames[0]!.id).toBe('4');
    expect(none.closedByServer).toBe(true);
  });

  it('a live stream with no id starts at the snapshot and gets only new events', async () => {
    const task = await t.createTask();
    await t.append(task.id, { events: [textChunk('old', false), textChunk('older')] });
    const token = await t.streamToken(task.id);
    const reading = readSse(t.streamUrl(task.id, { token }), { until: (f) => f.length >= 3 });
    await sleep(150);
    await t.append(task.id, { events: [textChunk('new'), textChunk('newer')] });
    const result = await reading;
    expect(result.frames[0]!.id).toBe('2');
    expect(seqsOf(result.frames)).toEqual([3, 4]);
  });
});

describe('retention', () => {
  let short: TestApp;
  beforeAll(async () => {
    // 0.02 minutes = 1.2 s of message lifetime.
    short = await startTestApp({ TASK_MESSAGE_TTL_MINUTES: '0.02' });
  });
  afterAll(() => short.close());

  it('never returns expired messages and says the history was truncated', async () => {
    const task = await short.createTask();
    await short.append(task.id, { events: [textChunk('1', false), textChunk('2')] });
    await sleep(1400);
    await short.append(task.id, textChunk('3'));
    // Both messages are still in the collection (nothing deleted them), yet no read returns them.
    expect(await short.database.db.collection('task_messages').countDocuments({ taskId: task.id })).toBe(3);

    const token = await short.streamToken(task.id);
    const res = await readSse(short.streamUrl(task.id, { token, lastEventId: '0' }), {
      until: (f) => f.length >= 2,
    });
    const snapshot = JSON.parse(res.frames[0]!.data).task;
    expect(snapshot.metadata).toMatchObject({ historyTruncated: true, earliestSeq: 3 });
    expect(seqsOf(res.frames)).toEqual([3]);

    const poll = await fetch(
      `${short.baseUrl}${short.streamUrl(task.id).replace(short.baseUrl, '').replace('/stream', '/messages')}?after=0`,
      {
        headers: { authorization: `Bearer ${short.userToken()}` },
      },
    );
    const page = await json(poll);
    expect(page.events.map((e: { seq: number }) => e.seq)).toEqual([3]);
    expect(page).toMatchObject({ historyTruncated: true, earliestSeq: 3, lastSeq: 3 });

    // A client that already has seq 2 is told nothing is missing.
    const caughtUp = await readSse(short.streamUrl(task.id, { token, lastEventId: '2' }), {
      until: (f) => f.length >= 2,
    });
    expect(JSON.parse(caughtUp.frames[0]!.data).task.metadata.historyTruncated).toBeUndefined();

    // The prune job deletes them for real.
    const jobs = short.app.server.plugins as unknown as { jobs: { runPruneNow(): Promise<number> } };
    expect(await jobs.jobs.runPruneNow()).toBe(2);
    expect(await short.database.db.collection('task_messages').countDocuments({ taskId: task.id })).toBe(1);
  });
});
