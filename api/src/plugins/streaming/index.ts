import Boom from '@hapi/boom';
import type { Plugin, Request, ResponseToolkit, Server } from '@hapi/hapi';
import { Session } from '@hapi/sse';
import Joi from 'joi';
import { ErrorCode, parseEventId, ROUTE_PATTERNS } from '@orchestrator-ai/transport-types';
import type { Config } from '../../config.js';
import type { Hub } from '../../hub/hub.js';
import type { Metrics } from '../../observability/metrics.js';
import type { EventLog } from '../../store/event-log.js';
import { domainError } from '../../store/errors.js';
import { toWireTask, type TaskStore } from '../../store/task-store.js';
import { STRATEGY } from '../auth/index.js';
import { closeDeadline, StreamRegistry, type RegisteredStream } from './stream-registry.js';
import { TaskStream } from './task-stream.js';
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

const REPLAY_PAGE = 1000;
const MAX_PENDING_LIVE = 10_000;

/**
 * `GET …/tasks/{taskId}/stream`: the task's snapshot, its retained events after the client's
 * last id, then live events, as SSE (DESIGN.md "Stream semantics").
 */
export const streamingPlugin: Plugin<StreamingOptions> = {
  name: 'streaming',
  dependencies: ['auth'],
  register(server: Server, options: StreamingOptions) {
    const registry = new StreamRegistry(options.config.sseHeartbeatSeconds * 1000);
    server.ext('onPreStop', () => registry.closeAll());
    server.expose('registry', registry);

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
      handler: (request, h) => openStream(request, h, options, registry),
    });
  },
};

async function openStream(
  request: Request,
  h: ResponseToolkit,
  { config, hub, tasks, log, metrics, limiter }: StreamingOptions,
  registry: StreamRegistry,
) {
  const { org, agent, taskId } = request.params as { org: string; agent: string; taskId: string };
  const credentials = request.auth.credentials as { kind: string; sub: string; exp: number; taskId?: string };
  if (credentials.kind === 'stream' && credentials.taskId !== taskId)
    throw domainError(ErrorCode.WrongTask, 403, 'This stream token belongs to another task');

  const task = await tasks.getOwned(org, agent, taskId, credentials.sub);
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

  const from = requested ?? task.lastSeq;
  const session = new Session({
    request,
    retry: config.sseRetryMs,
    keepAlive: false,
    headers: { 'Cache-Control': 'no-store', ...corsHeadersFor(request, config.corsOrigins) },
    backpressure: { maxBytes: config.sseMaxBufferBytes, strategy: 'close' },
  });
  const res = request.raw.res;

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let unsubscribe = () => {};
  let ended = false;
  const entry: RegisteredStream = {
    deadline: closeDeadline(credentials.exp, Date.now()),
    heartbeat: () => session.comment(),
    expire: () => {
      metrics.tokenExpiryCloses.inc();
      session.comment('token expiring');
      end('token-expiry');
    },
    close: () => end('shutdown'),
  };
  const end = (reason: string) => {
    if (ended) return;
    ended = true;
    request.log(['stream', 'closed'], { taskId, reason, lastSeq: stream.lastSent });
    stream.stop();
    unsubscribe();
    registry.delete(entry);
    metrics.activeStreams.dec();
    void limiter.release(credentials.sub);
    session.close();
    finish();
  };
  const stream = new TaskStream(
    {
      writeEvent(seq, json) {
        const ok = session.push(json, undefined, String(seq));
        if (ok) metrics.eventsSent.inc();
        return ok && session.isOpen;
      },
      close(reason) {
        if (reason === 'slow') metrics.slowReadersDropped.inc();
        end(reason);
      },
    },
    {
      readAfter: (after, limit) => log.readAfter(taskId, after, limit),
      pageSize: REPLAY_PAGE,
      maxPending: MAX_PENDING_LIVE,
      onLiveEvent: (event) =>
        metrics.deliverySeconds.observe(Math.max(0, Date.now() - event.storedAt) / 1000),
      onGapSkipped: (missing) => metrics.gapsSkipped.inc(missing),
      onError: (error) => request.log(['stream', 'error'], { taskId, err: error }),
    },
    from,
  );

  // Listen before reading the store: whatever is stored after the read arrives live.
  unsubscribe = hub.subscribe(taskId, stream.onLive);
  res.once('close', () => end('client-gone'));
  metrics.activeStreams.inc();
  metrics.streamsOpened.inc();

  try {
    const first = await log.readAfter(taskId, from, REPLAY_PAGE, lastSeq);
    session.initialize();
    // Registered only now: a heartbeat written before the headers would corrupt the response.
    if (!ended) registry.add(entry);
    const snapshot = toWireTask(task, {
      metadata: {
        seq: task.lastSeq,
        ...(first.historyTruncated ? { historyTruncated: true, earliestSeq: first.earliestSeq } : {}),
      },
    });
    // The snapshot's id is the client's position, not S: ids on one connection never go backwards.
    session.push(JSON.stringify({ task: snapshot }), undefined, String(from));
    await stream.catchUp(first);
    if (task.final && !stream.closed) end('final');
  } catch (error) {
    end('error');
    if (!res.headersSent) throw error;
  }
  await finished;
  return h.abandon;
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
