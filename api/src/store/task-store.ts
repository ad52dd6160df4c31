import { randomUUID } from 'node:crypto';
import type { Collection, Db, Filter } from 'mongodb';
import type { WireMessage, WireTask } from '@orchestrator-ai/transport-types';
import { routes } from '@orchestrator-ai/transport-types';
import { COLLECTIONS, type TaskDoc } from '../db/types.js';

export interface CreateTaskInput {
  org: string;
  agent: string;
  ownerId: string;
  contextId?: string;
  message?: WireMessage;
  metadata?: Record<string, unknown>;
}

export interface ListTasksQuery {
  ownerId: string;
  org: string;
  agent: string;
  contextId?: string;
  limit: number;
  /** Skip this many (page token). */
  offset?: number;
}

/** Snapshot writes still on their way (the event log writes them behind its acknowledgements). */
export interface PendingSnapshots {
  /** Resolves once the task's document (every task's, without an id) holds what was acknowledged. */
  flushed(taskId?: string): Promise<void>;
  /**
   * A task was just created here. The event log knows its whole state from the document, so the
   * task's first append need not read the task and its newest message back (two queries).
   */
  created?(task: TaskDoc): void;
  /** The document with the messages stored after its `lastSeq` folded in (any instance's). */
  caughtUp?(doc: TaskDoc): Promise<TaskDoc>;
}

/**
 * The durable task snapshots (`tasks`): they outlive the messages. The event log writes them
 * behind its acknowledgements (artifact chunks and messages lazily), so a read folds in the
 * messages stored after the snapshot: a task read right after an acknowledged append shows it,
 * whichever instance took the append. Listings wait for this instance's pending writes instead.
 */
export class TaskStore {
  readonly collection: Collection<TaskDoc>;
  readonly #pending: PendingSnapshots | undefined;
  /** Task reads of `getOwnedForStream` on their way, by task id. */
  readonly #streamReads = new Map<string, Promise<TaskDoc | null>>();

  constructor(db: Db, pending?: PendingSnapshots) {
    this.collection = db.collection<TaskDoc>(COLLECTIONS.tasks);
    this.#pending = pending;
  }

  async create(input: CreateTaskInput): Promise<TaskDoc> {
    const now = new Date();
    const id = randomUUID();
    const contextId = input.contextId ?? randomUUID();
    const history = input.message ? [{ ...input.message, taskId: id, contextId }] : [];
    const doc: TaskDoc = {
      _id: id,
      org: input.org,
      agent: input.agent,
      ownerId: input.ownerId,
      contextId,
      status: { state: 'TASK_STATE_SUBMITTED', timestamp: now.toISOString() },
      artifacts: [],
      history,
      metadata: input.metadata ?? {},
      lastSeq: 0,
      final: false,
      createdAt: now,
      updatedAt: now,
    };
    await this.collection.insertOne(doc);
    this.#pending?.created?.(doc);
    return doc;
  }

  async get(taskId: string): Promise<TaskDoc | null> {
    const doc = await this.collection.findOne({ _id: taskId });
    return doc && this.#pending?.caughtUp ? this.#pending.caughtUp(doc) : doc;
  }

  /** The task when it exists under this org/agent and belongs to this user; otherwise null. */
  async getOwned(org: string, agent: string, taskId: string, ownerId: string): Promise<TaskDoc | null> {
    return ownedBy(await this.get(taskId), org, agent, ownerId);
  }

  /**
   * `getOwned` for a stream's snapshot: joins a read of the same task already on its way, so the
   * subscribers of a task opening together (tabs reconnecting after a deploy, an agent's
   * watchers) cost one read rather than one each. The document may then predate the call, which
   * a stream tolerates and a plain read must not: the stream subscribes after this read and then
   * replays everything stored after the snapshot's `lastSeq`, so whatever the document misses
   * reaches it anyway. The document is shared: callers must not change it.
   */
  async getOwnedForStream(
    org: string,
    agent: string,
    taskId: string,
    ownerId: string,
  ): Promise<TaskDoc | null> {
    let read = this.#streamReads.get(taskId);
    if (!read) {
      read = this.get(taskId).finally(() => this.#streamReads.delete(taskId));
      this.#streamReads.set(taskId, read);
    }
    return ownedBy(await read, org, agent, ownerId);
  }

  async list(query: ListTasksQuery): Promise<{ tasks: TaskDoc[]; total: number }> {
    const filter: Filter<TaskDoc> = { ownerId: query.ownerId, org: query.org, agent: query.agent };
    if (query.contextId) filter.contextId = query.contextId;
    // Status and order (updatedAt) come from the snapshots, so every pending one counts.
    await this.#pending?.flushed();
    const [tasks, total] = await Promise.all([
      this.collection
        .find(filter)
        .sort({ updatedAt: -1, _id: 1 })
        .skip(query.offset ?? 0)
        .limit(query.limit)
        .toArray(),
      this.collection.countDocuments(filter),
    ]);
    return { tasks, total };
  }
}

/** The task when it lives under this org/agent and belongs to this user; otherwise null. */
function ownedBy(doc: TaskDoc | null, org: string, agent: string, ownerId: string): TaskDoc | null {
  return doc && doc.org === org && doc.agent === agent && doc.ownerId === ownerId ? doc : null;
}

export interface WireTaskOptions {
  /** Extra metadata (seq, truncation) for stream snapshots. */
  metadata?: Record<string, unknown>;
  historyLength?: number;
}

/** The A2A `Task` a client sees, with our endpoints under `metadata`. */
export function toWireTask(doc: TaskDoc, options: WireTaskOptions = {}): WireTask {
  const history =
    options.historyLength === undefined
      ? doc.history
      : options.historyLength === 0
        ? []
        : doc.history.slice(-options.historyLength);
  const task: WireTask = {
    id: doc._id,
    contextId: doc.contextId,
    status: doc.status,
    metadata: {
      ...doc.metadata,
      org: doc.org,
      agent: doc.agent,
      seq: doc.lastSeq,
      final: doc.final,
      createdAt: doc.createdAt.toISOString(),
      updatedAt: doc.updatedAt.toISOString(),
      streamEndpoint: routes.stream(doc.org, doc.agent, doc._id),
      streamTokenEndpoint: routes.streamToken(doc.org, doc.agent, doc._id),
      messagesEndpoint: routes.messages(doc.org, doc.agent, doc._id),
      ...(doc.orchestration ? { orchestration: doc.orchestration } : {}),
      ...options.metadata,
    },
  };
  if (doc.artifacts.length > 0) task.artifacts = doc.artifacts;
  if (history.length > 0) task.history = history;
  return task;
}
