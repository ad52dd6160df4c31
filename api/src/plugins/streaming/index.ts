import Boom from '@hapi/boom';
import type { Plugin, Request, ResponseToolkit, Server } from '@hapi/hapi';
import Joi from 'joi';
import { ErrorCode, parseEventId, ROUTE_PATTERNS } from '@orchestrator-ai/transport-types';
import type { Config } from '../../config.js';
import type { Hub } from '../../hub/hub.js';
import type { Metrics } from '../../observability/metrics.js';
import type { EventLog } from '../../store/event-log.js';
import { domainError } from '../../store/errors.js';
import { toWireTask, type TaskStore } from '../../store/task-store.js';
import { STRATEGY } from '../auth/index.js';
import { closeDeadline, StreamRegistry } from './stream-registry.js';
import { HistoryOpens, type OpenedHistory } from './history.js';
import { SseTaskStream, type Listener, type RawResponse, type StreamServices } from './sse-stream.js';
import type { StreamLimiter } from './stream-limiter.js';
import { corsHeadersFor } from '../../http/cors.js';

export interface StreamingOptions {
  config: Config;
  hub: Hub;
  tasks: TaskStore;
  log: EventLog;
  metrics: Metrics;
  limiter: StreamLimiter;
}

const MAX_PENDING_LIVE = 10_000;

/**
 * `GET …/tasks/{taskId}/stream`: the task's snapshot, its retained events after the client's
 * last id, then live events, as SSE (DESIGN.md "Stream semantics").
 */
export const streamingPlugin: Plugin<StreamingOptions> = {
  name: 'streaming',
  dependencies: ['auth'],
  register(server: Server, options: StreamingOptions) {
    const { config, hub, metrics, limiter, log } = options;
    const registry = new StreamRegistry(config.sseHeartbeatSeconds * 1000);
    server.ext('onPreStop', () => registry.closeAll());
    server.expose('registry', registry);
    const histories = new HistoryOpens(log.messages);
    const services: StreamServices = {
      hub,
      registry,
      metrics,
      limiter,
      messages: log.messages,
      retryMs: config.sseRetryMs,
      maxBufferBytes: config.sseMaxBufferBytes,
      replayStallMs: config.sseReplayStallSeconds * 1000,
      maxPendingLive: MAX_PENDING_LIVE,
      log: (tags, data) => server.log(tags, data),
    };

    server.route({
      method: 'GET',
      path: ROUTE_PATTERNS.stream,
      options: {
        auth: { strategies: [STRATEGY.stream] },
        description: 'The task as a resumable SSE stream',
        notes:
          'text/event-stream. First frame: `{"task": Task}` with `id:` = the resume position; then `id: <seq>` frames ' +
          'whose data is an A2A StreamResponse (`statusUpdate`, `artifactUpdate`, `message`). Heartbeat comments every ' +
          'SSE_HEARTBEAT_SECONDS. Resume with the Last-Event-ID header (or ?lastEventId=). Closes after a terminal status and before the token expires; 204 when already at the end.',
        tags: ['api', 'stream'],
        timeout: { socket: false },
        validate: {
          params: Joi.object({ org: Joi.string(), agent: Joi.string(), taskId: Joi.string().max(200) }),
          query: Joi.object({ token: Joi.string().allow(''), lastEventId: Joi.string().allow('') }),
        },
      },
      handler: (request, h) => openStream(request, h, options, services, histories),
    });
  },
};

async function openStream(
  request: Request,
  h: ResponseToolkit,
  { config, tasks, log, limiter }: StreamingOptions,
  services: StreamServices,
  histories: HistoryOpens,
) {
  const { org, agent, taskId } = request.params as { org: string; agent: string; taskId: string };
  const credentials = request.auth.credentials as { kind: string; sub: string; exp: number; taskId?: string };
  if (credentials.kind === 'stream' && credentials.taskId !== taskId)
    throw domainError(ErrorCode.WrongTask, 403, 'This stream token belongs to another task');

  const task = await tasks.getOwnedForStream(org, agent, taskId, credentials.sub);
  if (!task) throw domainError(ErrorCode.TaskNotFound, 404, 'Task not found');

  const requested = requestedEventId(request);
  let lastSeq = task.lastSeq;
  if (requested !== undefined && requested > lastSeq) lastSeq = await log.lastSeq(taskId);
  if (requested !== undefined && requested > lastSeq)
    throw domainError(
      ErrorCode.InvalidEventId,
      400,
      `Last-Event-ID is beyond the task's last event (${lastSeq})`,
    );
  if (task.final && requested !== undefined && requested >= lastSeq) return h.response().code(204);

  // HEAD learns what a stream would answer without holding one open.
  if (request.method === 'head')
    return h.response().code(200).type('text/event-stream').header('Cache-Control', 'no-store');

  if (!(await limiter.acquire(credentials.sub)))
    throw domainError(ErrorCode.TooManyStreams, 429, 'Too many open streams for this user');

  const res = request.raw.res as unknown as RawResponse;
  const hapiListeners = listenersOf(request, res);
  const from = requested ?? task.lastSeq;
  // Subscribed before the store is read: whatever is stored after the read arrives live.
  const stream = new SseTaskStream(
    res,
    services,
    {
      taskId,
      userId: credentials.sub,
      requestId: request.info.id,
      deadline: closeDeadline(credentials.exp, Date.now()),
    },
    from,
  );
  if (stream.ended) return h.abandon;
  let history: OpenedHistory;
  try {
    history = await histories.open(taskId, from, lastSeq);
  } catch (error) {
    stream.end('error');
    throw error;
  }
  if (stream.ended) {
    void history.discard();
    return h.abandon;
  }
  const snapshot = toWireTask(task, {
    metadata: {
      seq: task.lastSeq,
      ...(history.historyTruncated ? { historyTruncated: true, earliestSeq: history.earliestSeq } : {}),
    },
  });
  // The snapshot's id is the client's position, not S: ids on one connection never go backwards.
  stream.open(sseHeaders(request, config), JSON.stringify({ task: snapshot }), from);
  stream.catchUp(history.batches, task.final);
  releaseRequest(request, res, hapiListeners);
  return h.abandon;
}

function sseHeaders(request: Request, config: Config): Record<string, string> {
  return {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
    // HTTP/2 forbids connection-specific headers (Node warns and drops them).
    ...(request.raw.req.httpVersionMajor === 1 ? { Connection: 'keep-alive' } : {}),
    ...corsHeadersFor(request, config.corsOrigins),
  };
}

interface HapiListeners {
  resClose: Listener[];
  resFinish: Listener[];
  reqAborted: Listener[];
}

/** Taken before the stream adds its own: at this point every one of these is hapi's. */
function listenersOf(request: Request, res: RawResponse): HapiListeners {
  const req = request.raw.req;
  return {
    resClose: res.listeners('close'),
    // Node's own 'finish' listener (`bound resOnFinish`) must stay; hapi's is an anonymous bound one.
    resFinish: (res.listeners('finish') as Listener[]).filter((l) => l.name === 'bound '),
    reqAborted: req.listeners('aborted') as Listener[],
  };
}

/**
 * Lets the request go once the stream is on the wire: `h.abandon` ended its lifecycle, but hapi
 * still holds it from listeners on the raw request and response and from its table of sockets
 * with a request in progress (which a stream never leaves). Without this the whole request
 * (query with its token, auth artifacts, logger, route state) lives as long as the stream,
 * ≈ 7 KB each, and so would the raw headers with the bearer token in them. Streams are closed by
 * our own onPreStop, so hapi's clean stop no longer needs to know them.
 */
function releaseRequest(request: Request, res: RawResponse, hapi: HapiListeners): void {
  const req = request.raw.req;
  for (const listener of hapi.resClose) res.off('close', listener);
  for (const listener of hapi.resFinish) res.off('finish', listener);
  for (const listener of hapi.reqAborted) req.off('aborted', listener);
  const core = (request as unknown as { _core?: { actives?: WeakMap<object, unknown> } })._core;
  if (req.socket) core?.actives?.delete(req.socket);
  if (req.httpVersionMajor === 1) {
    req.headers = {};
    req.rawHeaders = [];
  }
}

/** `Last-Event-ID` wins over `?lastEventId=`; anything but a non-negative integer is a 400. */
function requestedEventId(request: Request): number | undefined {
  const header = request.headers['last-event-id'] as string | undefined;
  const query = (request.query as { lastEventId?: string }).lastEventId;
  const raw =
    header !== undefined && header !== '' ? header : query !== undefined && query !== '' ? query : undefined;
  if (raw === undefined) return undefined;
  const id = parseEventId(raw);
  if (id === undefined) {
    const error = Boom.badRequest('Last-Event-ID must be a non-negative integer');
    error.data = { code: ErrorCode.InvalidEventId };
    throw error;
  }
  return id;
}
