import type { Collection } from 'mongodb';
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
  const cursor = messages.find(
    { taskId, seq: { $gt: after }, expiresAt: { $gt: now } },
    { projection: { _id: 0, seq: 1, event: 1 }, sort: { seq: 1 }, batchSize },
  );
  let first: TaskMessageDoc | null;
  try {
    first = await cursor.next();
  } catch (error) {
    await cursor.close().catch(() => undefined);
    throw error;
  }
  const historyTruncated = first ? first.seq > after + 1 : lastSeq > after;
  const earliestSeq = historyTruncated ? (first?.seq ?? lastSeq + 1) : undefined;
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
  return { batches: batches(), historyTruncated, earliestSeq };
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
