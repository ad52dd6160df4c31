/**
 * The A2A 1.0 JSON-RPC binding (DESIGN.md "HTTP contract"): `POST /agent-to-agent/{org}/{agent}`
 * driven by the SDK's `JsonRpcTransportHandler` over our task store, event log and hub, and the
 * agent card at `…/.well-known/agent-card.json`. The demo simulator's per-message behaviours live
 * in `demo-agent.ts` (README.md beside this file).
 */
import { createHash } from 'node:crypto';
import Boom from '@hapi/boom';
import type { Plugin, Request, ResponseToolkit, Server } from '@hapi/hapi';
import Joi from 'joi';
import { A2A_ERROR_CODE } from '@a2a-js/sdk/errors';
import { A2A_CONTENT_TYPE, ROUTE_PATTERNS, routes } from '@orchestrator-ai/transport-types';
import type { Config } from '../../config.js';
import type { Hub } from '../../hub/hub.js';
import type { Metrics } from '../../observability/metrics.js';
import type { EventLog } from '../../store/event-log.js';
import type { TaskStore } from '../../store/task-store.js';
import { STRATEGY } from '../auth/index.js';
import { StreamRegistry } from '../streaming/stream-registry.js';
import type { StreamLimiter } from '../streaming/stream-limiter.js';
import { agentCardJson, buildAgentCard } from './agent-card.js';
import { DemoAgent } from './demo-agent.js';
import { envelope, fromBoom, requestId } from './jsonrpc.js';
import { SHUTDOWN, type HandlerDeps } from './request-handler.js';
import { handleRpc, type RpcRouteContext } from './rpc-route.js';

export interface A2AOptions {
  config: Config;
  tasks: TaskStore;
  log: EventLog;
  hub: Hub;
  metrics: Metrics;
  /** Caps concurrent A2A streams per user (the same limit as the SSE route's), when given. */
  limiter?: StreamLimiter;
  /** Told after a task was canceled over A2A (stops the REST simulator's timers). */
  onCanceled?: (taskId: string) => void;
  /** The demo simulator answers at demo/simulator (default: `config.simulator`). */
  demoAgent?: boolean;
  /** A blocking SendMessage returns the task as it stands after this long (default 10 min). */
  maxBlockingWaitMs?: number;
  /** How often a blocking SendMessage re-reads its task (default 1 s). */
  settlePollMs?: number;
  /** Seconds the agent card may be cached (default 300). */
  cardMaxAgeSeconds?: number;
}

const DEFAULTS = { maxBlockingWaitMs: 10 * 60_000, settlePollMs: 1000, cardMaxAgeSeconds: 300 };
const REPLAY_PAGE = 1000;
const MAX_QUEUED = 10_000;

const optionsSchema = Joi.object({
  config: Joi.object().required(),
  tasks: Joi.object().required(),
  log: Joi.object().required(),
  hub: Joi.object().required(),
  metrics: Joi.object().required(),
  limiter: Joi.object(),
  onCanceled: Joi.function(),
  demoAgent: Joi.boolean(),
  maxBlockingWaitMs: Joi.number().integer().min(0),
  settlePollMs: Joi.number().integer().min(10),
  cardMaxAgeSeconds: Joi.number().integer().min(0),
}).label('A2AOptions');

const name = Joi.string()
  .min(1)
  .max(200)
  .pattern(/^[\w.-]+$/);
const agentParams = Joi.object({ org: name.required(), agent: name.required() });

export const a2aPlugin: Plugin<A2AOptions> = {
  name: 'a2a',
  dependencies: ['auth', 'errors'],
  register(server: Server, rawOptions: A2AOptions) {
    const options = { ...DEFAULTS, ...(Joi.attempt(rawOptions, optionsSchema) as A2AOptions) };
    const { config, tasks, log, hub, metrics } = options;
    const demo = (options.demoAgent ?? config.simulator) ? new DemoAgent(log, server.logger) : undefined;
    const registry = new StreamRegistry(config.sseHeartbeatSeconds * 1000);
    const inflight = new Set<AbortController>();
    server.ext('onPreStop', () => {
      registry.closeAll();
      demo?.stopAll();
      // A blocking SendMessage answers the task as it stands; nothing else is left waiting.
      for (const abort of inflight) abort.abort(SHUTDOWN);
      inflight.clear();
    });
    server.expose('registry', registry);
    if (demo) server.expose('demo', demo);

    const deps: HandlerDeps = {
      tasks,
      log,
      hub,
      demo,
      ...(options.onCanceled ? { onCanceled: options.onCanceled } : {}),
      maxBlockingWaitMs: options.maxBlockingWaitMs,
      settlePollMs: options.settlePollMs,
      pageSize: REPLAY_PAGE,
      maxQueued: MAX_QUEUED,
      onLiveEvent: (storedAt) => metrics.deliverySeconds.observe(Math.max(0, Date.now() - storedAt) / 1000),
      onGapSkipped: (missing) => metrics.gapsSkipped.inc(missing),
    };
    const cardFor = (request: Request, org: string, agent: string) => {
      const origin = originOf(request);
      const documented = request.server.match('GET', '/documentation') !== null;
      return buildAgentCard({
        org,
        agent,
        url: origin + routes.agentBase(org, agent),
        ...(documented ? { documentationUrl: `${origin}/documentation` } : {}),
        demo: demo?.handles(org, agent) ?? false,
      });
    };
    const ctx: RpcRouteContext = {
      config,
      metrics,
      limiter: options.limiter,
      registry,
      inflight,
      deps,
      cardFor,
    };

    server.route({
      method: 'POST',
      path: ROUTE_PATTERNS.agentBase,
      options: {
        // Every answer is a JSON-RPC envelope, 401 included: the handler answers unauthenticated calls.
        auth: { mode: 'try', strategies: [STRATEGY.user] },
        description:
          'A2A 1.0 JSON-RPC binding (SendMessage, SendStreamingMessage, GetTask, ListTasks, CancelTask, SubscribeToTask)',
        notes:
          'JSON-RPC 2.0 with the A2A-Version: 1.0 header. SendStreamingMessage and SubscribeToTask answer text/event-stream: each data: line is a JSON-RPC response whose result is a StreamResponse, each frame has id: <task seq>. Last-Event-ID on SubscribeToTask resumes after that seq.',
        tags: ['api', 'a2a'],
        // Browser clients send A2A's service parameters as headers: let them through preflight.
        cors:
          config.corsOrigins.length > 0
            ? {
                origin: config.corsOrigins,
                additionalHeaders: ['a2a-version', 'a2a-extensions', 'last-event-id'],
                additionalExposedHeaders: ['a2a-extensions'],
              }
            : false,
        timeout: { socket: false },
        payload: {
          allow: ['application/json', A2A_CONTENT_TYPE],
          failAction: payloadFailAction,
        },
        validate: { params: agentParams },
      },
      handler: (request, h) => handleRpc(request, h, ctx),
    });

    server.route({
      method: 'GET',
      path: ROUTE_PATTERNS.agentCard,
      options: {
        auth: false,
        // A public document without credentials: any page may discover the agent.
        cors: { origin: ['*'] },
        description: 'The A2A 1.0 agent card',
        tags: ['api', 'a2a'],
        validate: { params: agentParams },
      },
      handler(request, h) {
        const { org, agent } = request.params as { org: string; agent: string };
        const body = JSON.stringify(agentCardJson(cardFor(request, org, agent)));
        const etag = createHash('sha256').update(body).digest('base64url').slice(0, 22);
        return h
          .response(body)
          .type('application/json')
          .etag(etag)
          .header('Cache-Control', `public, max-age=${options.cardMaxAgeSeconds}`)
          .header('Vary', 'Host, X-Forwarded-Proto');
      },
    });

    // hapi's own errors on the JSON-RPC route (validation, limits, auth) leave as envelopes too,
    // before the REST error mapper turns them into `{ code, message }`.
    server.ext(
      'onPreResponse',
      (request: Request, h: ResponseToolkit) => {
        const response = request.response;
        if (!isRpcRoute(request) || !Boom.isBoom(response)) return h.continue;
        if (response.output.statusCode >= 500) request.log(['a2a', 'error'], response);
        const { status, error } = fromBoom(response);
        const reply = h.response(envelope(requestId(request.payload), error)).code(status);
        for (const [key, value] of Object.entries(response.output.headers)) {
          if (key.toLowerCase() !== 'content-type' && value !== undefined) reply.header(key, String(value));
        }
        return reply;
      },
      { before: ['errors'] },
    );
  },
};

const isRpcRoute = (request: Request) =>
  request.route.method === 'post' && request.route.path === ROUTE_PATTERNS.agentBase;

/** Bad JSON is a JSON-RPC parse error; hapi's 413/415 keep their meaning in an envelope. */
function payloadFailAction(_request: Request, h: ResponseToolkit, error: Error | undefined) {
  const boom = Boom.isBoom(error) ? error : Boom.badRequest(error?.message);
  const status = boom.output.statusCode;
  if (status === 413 || status === 415) {
    const mapped = fromBoom(boom);
    return h.response(envelope(null, mapped.error)).code(mapped.status).takeover();
  }
  return h
    .response(envelope(null, { code: A2A_ERROR_CODE.PARSE_ERROR, message: 'Invalid JSON payload' }))
    .code(200)
    .takeover();
}

/** Where clients reach us: the Host they used, over the protocol a proxy in front says it terminated. */
function originOf(request: Request): string {
  const forwarded = String(request.headers['x-forwarded-proto'] ?? '')
    .split(',')[0]!
    .trim()
    .toLowerCase();
  const protocol = forwarded === 'https' || forwarded === 'http' ? forwarded : request.server.info.protocol;
  return `${protocol}://${request.info.host}`;
}
