import type { Collection, FindCursor } from 'mongodb';
import type { TaskMessageDoc } from '../../db/types.js';
import { isFinalEvent, type ReadResult } from '../../store/event-log.js';

/** A retained event as a stream writes it. */
export interface StoredFrame {
  seq: number;
  json: string;
  final: boolean;
}

/** Retained events in seq order, in batches (one batch = one database reply). */
export type History = AsyncIterable<StoredFrame[]>;

export interface OpenedHistory {
  batches: History;
  /** True when events after `after` have expired: the client cannot get a gap-free history. */
  historyTruncated: boolean;
  earliestSeq: number | undefined;
  /** Lets go of the database cursor when the batches will not be read (the stream ended first). */
  discard(): Promise<void>;
}

/**
 * Events per database reply. A reply is capped at 16 MB by the server whatever this says, so a
 * larger batch costs no more memory than that; fewer `getMore`s matter (on the embedded server a
 * replay of 10,000 events spent 1.2 s in ten of them at 1,000, 0.5 s at 5,000).
 */
const BATCH = 5000;

/**
 * Retained events after `after` through ONE cursor: a replay of 10,000 events is one query and
 * a few `getMore`s, not ten queries. The first batch is fetched before this resolves, so the
 * caller knows whether history was truncated before it writes the snapshot.
 */
export async function openHistory(
  messages: Collection<TaskMessageDoc>,
  taskId: string,
  after: number,
  lastSeq: number,
  { now = new Date(), batchSize = BATCH }: { now?: Date; batchSize?: number } = {},
): Promise<OpenedHistory> {
  const cursor = findAfter(messages, taskId, after, now, batchSize);
  let first: TaskMessageDoc | null;
  try {
    first = await cursor.next();
  } catch (error) {
    await cursor.close().catch(() => undefined);
    throw error;
  }
  // The next reply is asked for before the current one is handed over: the database prepares it
  // while this process writes the current one out (the two work on different cores).
  async function* batches(): History {
    let more: Promise<boolean> | undefined;
    try {
      if (!first) return;
      let batch = [first, ...cursor.readBufferedDocuments()];
      for (;;) {
        more = cursor.hasNext();
        // Handled here so a failure while the consumer is busy is not an unhandled rejection; the
        // await below still throws it.
        more.catch(() => undefined);
        yield batch.map(toFrame);
        const again = await more;
        more = undefined;
        if (!again) return;
        batch = cursor.readBufferedDocuments();
      }
    } finally {
      await more?.catch(() => undefined);
      await cursor.close().catch(() => undefined);
    }
  }
  return {
    batches: batches(),
    ...truncation(first?.seq, after, lastSeq),
    discard: () => cursor.close().catch(() => undefined),
  };
}

function findAfter(
  messages: Collection<TaskMessageDoc>,
  taskId: string,
  after: number,
  now: Date,
  batchSize: number,
): FindCursor<TaskMessageDoc> {
  return messages.find(
    { taskId, seq: { $gt: after }, expiresAt: { $gt: now } },
    { projection: { _id: 0, seq: 1, event: 1 }, sort: { seq: 1 }, batchSize },
  );
}

/** Whether events after `after` expired, judged by the first retained one after it. */
function truncation(
  firstSeq: number | undefined,
  after: number,
  lastSeq: number,
): Pick<OpenedHistory, 'historyTruncated' | 'earliestSeq'> {
  const historyTruncated = firstSeq !== undefined ? firstSeq > after + 1 : lastSeq > after;
  return { historyTruncated, earliestSeq: historyTruncated ? (firstSeq ?? lastSeq + 1) : undefined };
}

interface WaitingOpen {
  after: number;
  lastSeq: number;
  resolve(opened: OpenedHistory): void;
  reject(error: unknown): void;
}

/**
 * `openHistory` for streams opening together: opens of one task that wait while a read of it is
 * on its way share the next read (from the lowest position among them), and each takes the
 * events after its own. A shared read always starts after every one of its callers asked, so
 * whatever was stored before a stream subscribed is in it.
 *
 * Ten thousand idle streams over a hundred tasks were ten thousand queries, half the API's CPU
 * while they opened. A history that does not fit one reply is not shared: each stream then reads
 * its own through one cursor, as `openHistory` does.
 */
export class HistoryOpens {
  /** Opens waiting for the next read, by task; a task is listed while a read of it is on its way. */
  readonly #waiting = new Map<string, WaitingOpen[]>();

  constructor(
    private readonly messages: Collection<TaskMessageDoc>,
    private readonly batchSize = BATCH,
  ) {}

  open(taskId: string, after: number, lastSeq: number): Promise<OpenedHistory> {
    return new Promise((resolve, reject) => {
      const open = { after, lastSeq, resolve, reject };
      const waiting = this.#waiting.get(taskId);
      if (waiting) {
        waiting.push(open);
        return;
      }
      const next: WaitingOpen[] = [];
      this.#waiting.set(taskId, next);
      void this.#readFor(taskId, [open], next);
    });
  }

  async #readFor(taskId: string, group: WaitingOpen[], next: WaitingOpen[]): Promise<void> {
    for (;;) {
      await this.#serve(taskId, group);
      if (next.length === 0) break;
      group = next.splice(0);
    }
    this.#waiting.delete(taskId);
  }

  /** Settles every open of the group; never throws. */
  async #serve(taskId: string, group: WaitingOpen[]): Promise<void> {
    if (group.length === 1) return this.#alone(taskId, group[0]!);
    // Not Math.min(...): a reconnect storm can put more opens in one group than a call takes arguments.
    const after = group.reduce((lowest, open) => Math.min(lowest, open.after), Infinity);
    let cursor: FindCursor<TaskMessageDoc> | undefined;
    let docs: TaskMessageDoc[];
    let whole: boolean;
    try {
      cursor = findAfter(this.messages, taskId, after, new Date(), this.batchSize);
      const first = await cursor.next();
      docs = first ? [first, ...cursor.readBufferedDocuments()] : [];
      whole = cursor.id?.isZero() ?? false;
    } catch (error) {
      await cursor?.close().catch(() => undefined);
      for (const open of group) open.reject(error);
      return;
    }
    if (!whole) {
      await cursor.close().catch(() => undefined);
      await Promise.all(group.map((open) => this.#alone(taskId, open)));
      return;
    }
    const frames = docs.map(toFrame);
    for (const open of group) {
      const start = frames.findIndex((frame) => frame.seq > open.after);
      const mine = start < 0 ? [] : frames.slice(start);
      open.resolve({
        batches: oneBatch(mine),
        ...truncation(mine[0]?.seq, open.after, open.lastSeq),
        discard: () => Promise.resolve(),
      });
    }
  }

  async #alone(taskId: string, open: WaitingOpen): Promise<void> {
    await openHistory(this.messages, taskId, open.after, open.lastSeq, { batchSize: this.batchSize }).then(
      open.resolve,
      open.reject,
    );
  }
}

async function* oneBatch(frames: StoredFrame[]): History {
  if (frames.length > 0) yield frames;
}

/** Every retained event after `after`, for catching up again later (a hole, a late start). */
export function historyAfter(messages: Collection<TaskMessageDoc>, taskId: string, after: number): History {
  return {
    async *[Symbol.asyncIterator]() {
      const opened = await openHistory(messages, taskId, after, after);
      yield* opened.batches;
    },
  };
}

/** Pages of a `readAfter`-style reader as a History (callers that page through EventLog). */
export async function* pagedHistory(
  readAfter: (after: number, limit: number) => Promise<ReadResult>,
  after: number,
  pageSize: number,
  first?: ReadResult,
): History {
  let page = first ?? (await readAfter(after, pageSize));
  for (;;) {
    yield page.events.map((e) => ({
      seq: e.seq,
      json: JSON.stringify(e.event),
      final: isFinalEvent(e.event),
    }));
    if (page.events.length < pageSize) return;
    page = await readAfter(page.events[page.events.length - 1]!.seq, pageSize);
  }
}

function toFrame(doc: TaskMessageDoc): StoredFrame {
  return { seq: doc.seq, json: JSON.stringify(doc.event), final: isFinalEvent(doc.event) };
}
