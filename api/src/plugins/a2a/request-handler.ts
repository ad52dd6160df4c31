/**
 * Our `A2ARequestHandler`: the A2A operations over the MongoDB task store, the event log and the
 * hub (the SDK's `DefaultRequestHandler` assumes agents run in-process; ours post their events
 * over HTTP). One instance per request, bound to its org/agent/user (`CallScope`); the SDK's
 * `JsonRpcTransportHandler` drives it.
 */
import Boom from '@hapi/boom';
import {
  A2AError,
  PushNotificationNotSupportedError,
  RequestMalformedError,
  TaskNotCancelableError,
  TaskNotFoundError,
  UnsupportedOperationError,
} from '@a2a-js/sdk/errors';
import type { A2ARequestHandler, ServerCallContext } from '@a2a-js/sdk/server';
import type { Filter } from 'mongodb';
import { randomUUID } from 'node:crypto';
import {
  parseEventId,
  Role,
  TaskState,
  taskStateToJSON,
  type AgentCard,
  type CancelTaskRequest,
  type GetTaskRequest,
  type ListTasksRequest,
  type ListTasksResponse,
  type Message,
  type SendMessageRequest,
  type StreamResponse,
  type SubscribeToTaskRequest,
  type Task,
  type WireStreamResponse,
} from '@orchestrator-ai/transport-types';
import type { TaskDoc } from '../../db/types.js';
import type { Hub } from '../../hub/hub.js';
import type { EventLog } from '../../store/event-log.js';
import type { TaskStore } from '../../store/task-store.js';
import { RESUME_EXTENSION_URI } from './agent-card.js';
import { directReply, parseSimulate, selectBehaviour, type Behaviour, type DemoAgent } from './demo-agent.js';
import { FeedBrokenError, TaskEventFeed } from './event-feed.js';
import {
  camelizeKeys,
  historyOptions,
  messageToWire,
  taskFromDoc,
  wireEventToSdk,
  wireMessageToSdk,
} from './wire.js';

export interface HandlerDeps {
  tasks: TaskStore;
  log: EventLog;
  hub: Hub;
  /** The built-in demo agent, when it is switched on. */
  demo: DemoAgent | undefined;
  /** Told after a task was canceled here (stops an in-process agent). */
  onCanceled?: (taskId: string) => void;
  /** A blocking SendMessage returns the task as it stands after this long. */
  maxBlockingWaitMs: number;
  /** How often a blocking SendMessage re-reads the task (events from other instances). */
  settlePollMs: number;
  /** Replay page size and queue bound of a stream. */
  pageSize: number;
  maxQueued: number;
  onLiveEvent?(storedAt: number): void;
  onGapSkipped?(missing: number): void;
}

/** What a request is bound to. */
export interface CallScope {
  org: string;
  agent: string;
  ownerId: string;
  card: AgentCard;
  /** Aborted when the client goes away or the server stops. */
  signal: AbortSignal;
  /** The raw `Last-Event-ID` header (resume extension of SubscribeToTask). */
  lastEventId: string | undefined;
  /** The seq of the stream event about to be yielded (its SSE `id:`), or none. */
  setStreamId(seq: number | undefined): void;
  logError(error: unknown, message: string): void;
}

/** The abort reason when the server stops (vs. the client going away). */
export const SHUTDOWN = 'shutdown';

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 100;
const INTERRUPTED = new Set(['TASK_STATE_INPUT_REQUIRED', 'TASK_STATE_AUTH_REQUIRED']);

export class TaskRequestHandler implements A2ARequestHandler {
  constructor(
    private readonly deps: HandlerDeps,
    private readonly scope: CallScope,
  ) {}

  async getAgentCard(): Promise<AgentCard> {
    return this.scope.card;
  }

  async getAuthenticatedExtendedAgentCard(): Promise<AgentCard> {
    throw new UnsupportedOperationError('This agent declares no extended agent card');
  }

  sendMessage(params: SendMessageRequest): Promise<Message | Task> {
    return this.#guard(async () => {
      const message = checkMessage(params.message);
      const historyLength = checkHistoryLength(params.configuration?.historyLength);
      const blocking = !params.configuration?.returnImmediately;
      const text = firstText(message);

      if (message.taskId) {
        const { doc, seq } = await this.#appendFollowUp(message);
        const settled = blocking ? this.#settled(doc._id, seq) : undefined;
        this.#followUp(doc, message, params);
        const result = settled ? await settled : ((await this.deps.tasks.get(doc._id)) ?? doc);
        return taskFromDoc(result, historyOptions(historyLength));
      }

      const behaviour = this.#behaviour(message, params, 'complete');
      if (behaviour === 'message') return wireMessageToSdk(directReply(message, text));
      const doc = await this.#create(message, params);
      const settled = blocking ? this.#settled(doc._id, 0) : undefined;
      this.#start(doc, behaviour, text);
      const result = settled ? await settled : ((await this.deps.tasks.get(doc._id)) ?? doc);
      return taskFromDoc(result, historyOptions(historyLength));
    });
  }

  sendMessageStream(params: SendMessageRequest): AsyncGenerator<StreamResponse, void, undefined> {
    return this.#guardStream(this.#streamMessage(params));
  }

  getTask(params: GetTaskRequest): Promise<Task> {
    return this.#guard(async () => {
      const historyLength = checkHistoryLength(params.historyLength);
      return taskFromDoc(await this.#owned(requireId(params.id)), historyOptions(historyLength));
    });
  }

  listTasks(params: ListTasksRequest): Promise<ListTasksResponse> {
    return this.#guard(() => this.#list(params));
  }

  cancelTask(params: CancelTaskRequest): Promise<Task> {
    return this.#guard(async () => {
      const doc = await this.#owned(requireId(params.id));
      // Canceling twice has the same effect as once (A2A: cancel is idempotent).
      if (doc.status.state === 'TASK_STATE_CANCELED') return taskFromDoc(doc);
      if (doc.final) throw notCancelable(doc);
      try {
        await this.deps.log.append(doc._id, [canceledStatus(doc)]);
      } catch (error) {
        if (!isBoomStatus(error, 409)) throw error;
        // It became final meanwhile: canceled by someone else is fine, anything else is not.
        const now = (await this.deps.tasks.get(doc._id)) ?? doc;
        if (now.status.state === 'TASK_STATE_CANCELED') return taskFromDoc(now);
        throw notCancelable(now);
      }
      this.deps.demo?.stop(doc._id);
      this.deps.onCanceled?.(doc._id);
      return taskFromDoc((await this.deps.tasks.get(doc._id)) ?? doc);
    });
  }

  resubscribe(
    params: SubscribeToTaskRequest,
    context: ServerCallContext,
  ): AsyncGenerator<StreamResponse, void, undefined> {
    return this.#guardStream(this.#subscribe(params, context));
  }

  async createTaskPushNotificationConfig(): Promise<never> {
    throw new PushNotificationNotSupportedError();
  }

  async getTaskPushNotificationConfig(): Promise<never> {
    throw new PushNotificationNotSupportedError();
  }

  async listTaskPushNotificationConfigs(): Promise<never> {
    throw new PushNotificationNotSupportedError();
  }

  async deleteTaskPushNotificationConfig(): Promise<never> {
    throw new PushNotificationNotSupportedError();
  }

  async *#streamMessage(params: SendMessageRequest): AsyncGenerator<StreamResponse, void, undefined> {
    const message = checkMessage(params.message);
    const historyLength = checkHistoryLength(params.configuration?.historyLength);
    const text = firstText(message);

    if (message.taskId) {
      const { doc: before } = await this.#appendFollowUp(message);
      // The snapshot includes the message just stored; the feed starts after it.
      const doc = (await this.deps.tasks.get(before._id)) ?? before;
      const feed = this.#feed(doc._id, doc.lastSeq);
      this.#followUp(before, message, params);
      yield* this.#lifecycle(doc, doc.lastSeq, feed, historyLength, doc.lastSeq);
      return;
    }

    const behaviour = this.#behaviour(message, params, 'stream');
    if (behaviour === 'message') {
      this.scope.setStreamId(undefined);
      yield { payload: { $case: 'message', value: wireMessageToSdk(directReply(message, text)) } };
      return;
    }
    const doc = await this.#create(message, params);
    const feed = this.#feed(doc._id, 0);
    this.#start(doc, behaviour, text);
    yield* this.#lifecycle(doc, 0, feed, historyLength, 0);
  }

  async *#subscribe(
    params: SubscribeToTaskRequest,
    context: ServerCallContext,
  ): AsyncGenerator<StreamResponse, void, undefined> {
    const doc = await this.#owned(requireId(params.id));
    if (doc.final)
      throw new UnsupportedOperationError(
        `Task ${doc._id} is in a terminal state (${doc.status.state}); read it with GetTask`,
      );
    const requested = parseLastEventId(this.scope.lastEventId);
    let lastSeq = doc.lastSeq;
    if (requested !== undefined && requested > lastSeq) lastSeq = await this.deps.log.lastSeq(doc._id);
    if (requested !== undefined && requested > lastSeq)
      throw new RequestMalformedError(
        `Last-Event-ID ${requested} is beyond the task's last event (${lastSeq})`,
      );
    if (requested !== undefined) context.addActivatedExtension(RESUME_EXTENSION_URI);
    const from = requested ?? doc.lastSeq;
    const feed = this.#feed(doc._id, from);
    yield* this.#lifecycle(doc, from, feed, undefined, lastSeq);
  }

  /**
   * A task-lifecycle stream: the Task snapshot (SSE id = the client's position), then the status
   * and artifact updates after `from`, closed after the one that makes the task final. Message
   * events of the log (a user's follow-up, an agent's note) are not A2A stream events here: they
   * are in the task's history.
   */
  async *#lifecycle(
    doc: TaskDoc,
    from: number,
    feed: TaskEventFeed,
    historyLength: number | undefined,
    lastSeq: number,
  ): AsyncGenerator<StreamResponse, void, undefined> {
    try {
      const first = await feed.begin(Math.max(lastSeq, doc.lastSeq));
      const truncation = first.historyTruncated
        ? { historyTruncated: true, earliestSeq: first.earliestSeq }
        : {};
      this.scope.setStreamId(from);
      yield {
        payload: {
          $case: 'task',
          value: taskFromDoc(doc, {
            ...historyOptions(historyLength),
            metadata: { seq: doc.lastSeq, ...truncation },
          }),
        },
      };
      if (doc.final) return;
      for await (const { seq, event } of feed.events()) {
        if (!isUpdate(event)) continue;
        this.scope.setStreamId(seq);
        yield wireEventToSdk(event);
      }
    } finally {
      feed.close();
    }
  }

  #feed(taskId: string, from: number): TaskEventFeed {
    return new TaskEventFeed(taskId, from, {
      hub: this.deps.hub,
      log: this.deps.log,
      pageSize: this.deps.pageSize,
      maxQueued: this.deps.maxQueued,
      signal: this.scope.signal,
      ...(this.deps.onLiveEvent ? { onLiveEvent: this.deps.onLiveEvent } : {}),
      ...(this.deps.onGapSkipped ? { onGapSkipped: this.deps.onGapSkipped } : {}),
      onError: (error) => this.scope.logError(error, 'A2A stream read failed'),
    });
  }

  async #owned(taskId: string): Promise<TaskDoc> {
    const { org, agent, ownerId } = this.scope;
    const doc = await this.deps.tasks.getOwned(org, agent, taskId, ownerId);
    // Another user's task answers exactly like an unknown one.
    if (!doc) throw new TaskNotFoundError(`Task not found: ${taskId}`);
    return doc;
  }

  #demoHere(): DemoAgent | undefined {
    return this.deps.demo?.handles(this.scope.org, this.scope.agent) ? this.deps.demo : undefined;
  }

  #behaviour(message: Message, params: SendMessageRequest, fallback: Behaviour): Behaviour | undefined {
    if (!this.#demoHere()) return undefined;
    return selectBehaviour(
      { metadata: [message.metadata, params.metadata], text: firstText(message) },
      fallback,
    );
  }

  async #create(message: Message, params: SendMessageRequest): Promise<TaskDoc> {
    const { org, agent, ownerId } = this.scope;
    const metadata = (camelizeKeys(params.metadata ?? {}) ?? {}) as Record<string, unknown>;
    if (this.#demoHere()) {
      const simulate = parseSimulate(metadata.simulate ?? camelizeKeys(message.metadata?.simulate));
      if (simulate) metadata.simulate = simulate;
      else delete metadata.simulate;
    }
    return this.deps.tasks.create({
      org,
      agent,
      ownerId,
      ...(message.contextId ? { contextId: message.contextId } : {}),
      message: messageToWire(message),
      metadata,
    });
  }

  #start(doc: TaskDoc, behaviour: Behaviour | undefined, text: string | undefined): void {
    if (behaviour) this.#demoHere()?.start(doc, behaviour, text);
  }

  async #appendFollowUp(message: Message): Promise<{ doc: TaskDoc; seq: number }> {
    const doc = await this.#owned(message.taskId);
    if (doc.final)
      throw new UnsupportedOperationError(
        `Task ${doc._id} is in a terminal state (${doc.status.state}) and accepts no more messages`,
      );
    if (message.contextId && message.contextId !== doc.contextId)
      throw new RequestMalformedError(`message.contextId does not match the context of task ${doc._id}`);
    try {
      const stored = await this.deps.log.append(doc._id, [
        { message: { ...messageToWire(message), taskId: doc._id, contextId: doc.contextId } },
      ]);
      return { doc, seq: stored[0]!.seq };
    } catch (error) {
      if (isBoomStatus(error, 409))
        throw new UnsupportedOperationError(
          `Task ${doc._id} reached a terminal state and accepts no more messages`,
        );
      throw error;
    }
  }

  #followUp(doc: TaskDoc, message: Message, params: SendMessageRequest): void {
    const demo = this.#demoHere();
    if (!demo) return;
    const behaviour = selectBehaviour({
      metadata: [message.metadata, params.metadata],
      text: firstText(message),
    });
    demo.followUp(doc, behaviour, firstText(message));
  }

  /**
   * Resolves with the task once an event after `afterSeq` left it terminal or interrupted (A2A's
   * blocking SendMessage), or as it stands after `maxBlockingWaitMs`. Listens on the hub and
   * re-reads the task now and then (events stored by another instance).
   */
  #settled(taskId: string, afterSeq: number): Promise<TaskDoc> {
    const { tasks, hub, maxBlockingWaitMs, settlePollMs } = this.deps;
    const signal = this.scope.signal;
    return new Promise<TaskDoc>((resolve, reject) => {
      let done = false;
      let latest: TaskDoc | undefined;
      const finish = (error: unknown, doc?: TaskDoc) => {
        if (done) return;
        done = true;
        unsubscribe();
        clearInterval(poll);
        clearTimeout(deadline);
        signal.removeEventListener('abort', onAbort);
        if (doc) resolve(doc);
        else reject(error);
      };
      const check = () => {
        tasks.get(taskId).then(
          (doc) => {
            if (!doc) return finish(new TaskNotFoundError(`Task not found: ${taskId}`));
            latest = doc;
            if (doc.final || (doc.lastSeq > afterSeq && INTERRUPTED.has(doc.status.state)))
              finish(undefined, doc);
          },
          (error: unknown) => finish(error),
        );
      };
      const unsubscribe = hub.subscribe(taskId, (event) => {
        if (event.seq > afterSeq && (event.final || /TASK_STATE_(INPUT|AUTH)_REQUIRED/.test(event.json)))
          check();
      });
      const poll = setInterval(check, settlePollMs);
      const deadline = setTimeout(() => {
        if (latest) finish(undefined, latest);
        else check();
      }, maxBlockingWaitMs);
      const onAbort = () =>
        signal.reason === SHUTDOWN && latest
          ? finish(undefined, latest)
          : finish(new Error('The client went away'));
      signal.addEventListener('abort', onAbort, { once: true });
      check();
    });
  }

  async #list(params: ListTasksRequest): Promise<ListTasksResponse> {
    const pageSize = params.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE)
      throw new RequestMalformedError(`pageSize must be an integer from 1 to ${MAX_PAGE_SIZE}`);
    const historyLength = checkHistoryLength(params.historyLength);
    if (params.status === TaskState.UNRECOGNIZED || !(params.status in TaskState))
      throw new RequestMalformedError('status must be a TaskState such as TASK_STATE_WORKING');
    const filter: Filter<TaskDoc> = {
      ownerId: this.scope.ownerId,
      org: this.scope.org,
      agent: this.scope.agent,
    };
    if (params.contextId) filter.contextId = params.contextId;
    if (params.status !== TaskState.TASK_STATE_UNSPECIFIED)
      filter['status.state'] = taskStateToJSON(params.status) as TaskDoc['status']['state'];
    if (params.statusTimestampAfter) {
      const after = Date.parse(params.statusTimestampAfter);
      if (Number.isNaN(after))
        throw new RequestMalformedError('statusTimestampAfter must be an ISO 8601 timestamp');
      filter.updatedAt = { $gte: new Date(after) };
    }
    const cursor = params.pageToken ? decodePageToken(params.pageToken) : undefined;
    const page: Filter<TaskDoc> = cursor
      ? {
          $and: [
            filter,
            {
              $or: [
                { updatedAt: { $lt: cursor.updatedAt } },
                { updatedAt: cursor.updatedAt, _id: { $gt: cursor.id } },
              ],
            },
          ],
        }
      : filter;
    const collection = this.deps.tasks.collection;
    // Status and order come from the snapshots, which the event log writes just behind its acks.
    await this.deps.log.flushed();
    const [docs, totalSize] = await Promise.all([
      collection
        .find(page)
        .sort({ updatedAt: -1, _id: 1 })
        .limit(pageSize + 1)
        .toArray(),
      collection.countDocuments(filter),
    ]);
    const shown = docs.slice(0, pageSize);
    const last = shown[shown.length - 1];
    const tasks = shown.map((doc) => {
      const task = taskFromDoc(doc, historyOptions(historyLength));
      // Artifacts only when asked (A2A: omitted entirely otherwise).
      if (!params.includeArtifacts) task.artifacts = [];
      return task;
    });
    return {
      tasks,
      nextPageToken: docs.length > pageSize && last ? encodePageToken(last) : '',
      pageSize,
      totalSize,
    };
  }

  /** Domain errors as A2A errors; anything unexpected is logged and leaves as "Internal error". */
  #toA2AError(error: unknown): Error {
    if (error instanceof A2AError) return error;
    // The client went away: nobody reads the answer. The server stopping: say so.
    if (this.scope.signal.aborted)
      return new Error(
        this.scope.signal.reason === SHUTDOWN ? 'The server is shutting down' : 'The request was aborted',
      );
    if (Boom.isBoom(error)) {
      const status = error.output.statusCode;
      if (status === 404) return new TaskNotFoundError();
      if (status === 409) return new UnsupportedOperationError(error.message);
      if (status === 400) return new RequestMalformedError(error.message);
    }
    if (error instanceof FeedBrokenError && error.reason === 'slow') return new Error(error.message);
    this.scope.logError(error, 'A2A request failed');
    return new Error('Internal error');
  }

  async #guard<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.#toA2AError(error);
    }
  }

  async *#guardStream(
    stream: AsyncGenerator<StreamResponse, void, undefined>,
  ): AsyncGenerator<StreamResponse, void, undefined> {
    try {
      yield* stream;
    } catch (error) {
      throw this.#toA2AError(error);
    }
  }
}

function checkMessage(message: Message | undefined): Message {
  if (!message) throw new RequestMalformedError('params.message is required');
  if (!message.messageId) throw new RequestMalformedError('message.messageId is required');
  if (message.role !== Role.ROLE_USER) throw new RequestMalformedError('message.role must be ROLE_USER');
  if (message.parts.length === 0)
    throw new RequestMalformedError('message.parts must hold at least one part');
  if (message.parts.some((part) => !part.content))
    throw new RequestMalformedError('every part of message.parts needs one of text, data, url or raw');
  return message;
}

function checkHistoryLength(historyLength: number | undefined): number | undefined {
  if (historyLength === undefined) return undefined;
  if (!Number.isInteger(historyLength) || historyLength < 0)
    throw new RequestMalformedError('historyLength must be a non-negative integer');
  return historyLength;
}

function requireId(id: string): string {
  if (!id || id.trim() === '') throw new RequestMalformedError('The task id is required');
  return id;
}

function parseLastEventId(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const id = parseEventId(raw);
  if (id === undefined) throw new RequestMalformedError('Last-Event-ID must be a non-negative integer');
  return id;
}

function firstText(message: Message): string | undefined {
  for (const part of message.parts) if (part.content?.$case === 'text') return part.content.value;
  return undefined;
}

function isUpdate(event: WireStreamResponse): boolean {
  return 'statusUpdate' in event || 'artifactUpdate' in event;
}

function isBoomStatus(error: unknown, status: number): boolean {
  return Boom.isBoom(error) && error.output.statusCode === status;
}

function notCancelable(doc: TaskDoc): TaskNotCancelableError {
  return new TaskNotCancelableError(`Task ${doc._id} is ${doc.status.state} and cannot be canceled`);
}

function canceledStatus(doc: TaskDoc): WireStreamResponse {
  return {
    statusUpdate: {
      taskId: doc._id,
      contextId: doc.contextId,
      status: {
        state: 'TASK_STATE_CANCELED',
        timestamp: new Date().toISOString(),
        message: { messageId: randomUUID(), role: 'ROLE_AGENT', parts: [{ text: 'Canceled by the user' }] },
      },
    },
  };
}

/** Page tokens are opaque cursors: the last task's `updatedAt` and id. */
function encodePageToken(doc: TaskDoc): string {
  return Buffer.from(JSON.stringify([doc.updatedAt.getTime(), doc._id])).toString('base64url');
}

function decodePageToken(token: string): { updatedAt: Date; id: string } {
  try {
    const [ms, id] = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof ms === 'number' && Number.isFinite(ms) && typeof id === 'string')
      return { updatedAt: new Date(ms), id };
  } catch {
    // fall through
  }
  throw new RequestMalformedError('pageToken is not one this server issued');
}
