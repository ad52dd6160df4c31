/**
 * `POST /agent-to-agent/{org}/{agent}`: the SDK's `JsonRpcTransportHandler` in a hapi handler.
 * Like the SDK's express glue, a stream's first event is awaited before anything is sent (an
 * error there is a plain JSON-RPC answer); then the answer is SSE, each `data:` a JSON-RPC
 * response with `id: <seq>`. Every answer, 401 included, is a JSON-RPC envelope.
 */
import type { Request, ResponseObject, ResponseToolkit } from '@hapi/hapi';
import { Session } from '@hapi/sse';
import { A2A_ERROR_CODE } from '@a2a-js/sdk/errors';
import {
  defaultServerCallContextBuilder,
  JsonRpcTransportHandler,
  validateVersion,
} from '@a2a-js/sdk/server';
import type { ServerCallContext } from '@a2a-js/sdk/server';
import {
  A2A_VERSION_HEADER,
  Extensions,
  HTTP_EXTENSION_HEADER,
  type AgentCard,
} from '@orchestrator-ai/transport-types';
import type { Config } from '../../config.js';
import { corsHeadersFor } from '../../http/cors.js';
import type { Metrics } from '../../observability/metrics.js';
import { closeDeadline, type RegisteredStream, type StreamRegistry } from '../streaming/stream-registry.js';
import type { StreamLimiter } from '../streaming/stream-limiter.js';
import {
  envelope,
  requestId,
  serverError,
  toJsonRpcError,
  type JsonRpcId,
  type JsonRpcResponse,
} from './jsonrpc.js';
import { TaskRequestHandler, type CallScope, type HandlerDeps } from './request-handler.js';
import { normaliseResponseJson } from './wire.js';

export interface RpcRouteContext {
  config: Config;
  metrics: Metrics;
  limiter: StreamLimiter | undefined;
  registry: StreamRegistry;
  /** Every request in progress, so a stopping server can let go of blocked ones. */
  inflight: Set<AbortController>;
  deps: HandlerDeps;
  cardFor(request: Request, org: string, agent: string): AgentCard;
}

type Credentials = { sub: string; exp: number };

export async function handleRpc(request: Request, h: ResponseToolkit, ctx: RpcRouteContext) {
  const payload = request.payload;
  const id = requestId(payload);
  if (!request.auth.isAuthenticated)
    return unauthenticated(h, id, Boolean(request.headers.authorization), request.auth.error);

  const { org, agent } = request.params as { org: string; agent: string };
  const credentials = request.auth.credentials as unknown as Credentials;
  const card = ctx.cardFor(request, org, agent);
  const context = defaultServerCallContextBuilder({
    extensions: Extensions.parseServiceParameter(header(request, HTTP_EXTENSION_HEADER)),
    user: { isAuthenticated: true, userName: credentials.sub },
    headers: request.headers as Record<string, string | string[] | undefined>,
    requestedVersion: requestedVersion(request),
  });
  try {
    validateVersion(context.requestedVersion, card, 'JSONRPC');
  } catch (error) {
    return json(h, envelope(id, toJsonRpcError(error)), context);
  }

  const abort = new AbortController();
  // Fires when the client goes away (and after a normal end, when it no longer matters).
  request.raw.res.once('close', () => {
    abort.abort();
    ctx.inflight.delete(abort);
  });
  ctx.inflight.add(abort);
  let streamId: number | undefined;
  const scope: CallScope = {
    org,
    agent,
    ownerId: credentials.sub,
    card,
    signal: abort.signal,
    lastEventId: header(request, 'last-event-id'),
    setStreamId: (seq) => (streamId = seq),
    logError: (error) => request.log(['a2a', 'error'], error as Error),
  };
  const rpc = new JsonRpcTransportHandler(new TaskRequestHandler(ctx.deps, scope));
  const result = (await rpc.handle(payload as Record<string, unknown>, context)) as
    JsonRpcResponse | AsyncGenerator<JsonRpcResponse, void, undefined>;
  if (!isAsyncGenerator(result)) return json(h, result, context);

  let first: IteratorResult<JsonRpcResponse, void>;
  try {
    first = await result.next();
  } catch (error) {
    abort.abort();
    return json(h, envelope(id, toJsonRpcError(error)), context);
  }
  if (ctx.limiter && !(await ctx.limiter.acquire(credentials.sub))) {
    abort.abort();
    await result.return(undefined);
    return h
      .response(envelope(id, serverError('RESOURCE_EXHAUSTED', 'Too many open streams for this user')))
      .code(429);
  }
  return streamSse(request, h, ctx, {
    id,
    first,
    iterator: result,
    context,
    abort,
    credentials,
    streamId: () => streamId,
  });
}

interface StreamInput {
  id: JsonRpcId;
  first: IteratorResult<JsonRpcResponse, void>;
  iterator: AsyncGenerator<JsonRpcResponse, void, undefined>;
  context: ServerCallContext;
  abort: AbortController;
  credentials: Credentials;
  /** The seq of the envelope just produced. */
  streamId(): number | undefined;
}

async function streamSse(request: Request, h: ResponseToolkit, ctx: RpcRouteContext, input: StreamInput) {
  const { config, metrics, limiter, registry } = ctx;
  const { id, iterator, abort, credentials } = input;
  const activated = input.context.activatedExtensions;
  const session = new Session({
    request,
    retry: config.sseRetryMs,
    keepAlive: false,
    headers: {
      'Cache-Control': 'no-store',
      ...corsHeadersFor(request, config.corsOrigins),
      ...(activated?.length ? { [HTTP_EXTENSION_HEADER]: Extensions.toServiceParameter(activated) } : {}),
    },
    backpressure: { maxBytes: config.sseMaxBufferBytes, strategy: 'close' },
  });

  let ended = false;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const entry: RegisteredStream = {
    deadline: closeDeadline(credentials.exp, Date.now()),
    heartbeat: () => session.comment(),
    expire: () => {
      metrics.tokenExpiryCloses.inc();
      session.comment('token expiring');
      end();
    },
    close: () => end(),
  };
  const end = () => {
    if (ended) return;
    ended = true;
    abort.abort();
    registry.delete(entry);
    metrics.activeStreams.dec();
    limiter
      ?.release(credentials.sub)
      .catch((error: unknown) => request.log(['a2a', 'error'], error as Error));
    session.close();
    finish();
  };
  let frames = 0;
  const write = (response: JsonRpcResponse, seq: number | undefined): boolean => {
    const ok = session.push(
      JSON.stringify(normaliseEnvelope(response)),
      undefined,
      seq === undefined ? undefined : String(seq),
    );
    if (ok && frames++ > 0) metrics.eventsSent.inc();
    return ok && session.isOpen;
  };

  request.raw.res.once('close', end);
  session.initialize();
  metrics.activeStreams.inc();
  metrics.streamsOpened.inc();
  registry.add(entry);

  void (async () => {
    try {
      let next = input.first;
      while (!next.done) {
        if (!write(next.value, input.streamId())) {
          await iterator.return(undefined);
          break;
        }
        next = await iterator.next();
      }
    } catch (error) {
      // After the headers, an error is an SSE `error` event carrying the JSON-RPC error.
      if (!ended) session.push(JSON.stringify(envelope(id, toJsonRpcError(error))), 'error');
    } finally {
      end();
    }
  })();
  await finished;
  return h.abandon;
}

function json(h: ResponseToolkit, response: JsonRpcResponse, context: ServerCallContext): ResponseObject {
  const internal = response.error?.code === A2A_ERROR_CODE.INTERNAL_ERROR;
  const reply = h
    .response(normaliseEnvelope(response))
    .code(internal ? 500 : 200)
    .type('application/json');
  const activated = context.activatedExtensions;
  if (activated?.length) reply.header(HTTP_EXTENSION_HEADER, Extensions.toServiceParameter(activated));
  return reply;
}

function unauthenticated(
  h: ResponseToolkit,
  id: JsonRpcId,
  sentToken: boolean,
  error: Error | null | undefined,
): ResponseObject {
  const expired = sentToken && /expired/i.test(error?.message ?? '');
  const message = expired
    ? 'The token has expired'
    : sentToken
      ? 'The Bearer token is not valid'
      : 'A Bearer token is required';
  // RFC 6750: error="invalid_token" only when a token was sent.
  return h
    .response(envelope(id, serverError('UNAUTHENTICATED', message)))
    .code(401)
    .header('WWW-Authenticate', `Bearer realm="a2a"${sentToken ? ', error="invalid_token"' : ''}`);
}

/** Results in A2A's wire form: camelCase inside `metadata`, UTC timestamps. */
function normaliseEnvelope(response: JsonRpcResponse): JsonRpcResponse {
  return response.result === undefined
    ? response
    : { ...response, result: normaliseResponseJson(response.result) };
}

/** `A2A-Version` header, or the `A2A-Version` query parameter A2A also allows. */
function requestedVersion(request: Request): string | undefined {
  const query = request.query as Record<string, unknown>;
  const fromQuery = query[A2A_VERSION_HEADER] ?? query[A2A_VERSION_HEADER.toLowerCase()];
  return header(request, A2A_VERSION_HEADER) || (typeof fromQuery === 'string' && fromQuery) || undefined;
}

function header(request: Request, name: string): string | undefined {
  const value: unknown = request.headers[name.toLowerCase()];
  if (Array.isArray(value)) return typeof value[0] === 'string' ? value[0] : undefined;
  return typeof value === 'string' ? value : undefined;
}

function isAsyncGenerator<T>(value: unknown): value is AsyncGenerator<T, void, undefined> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown })?.[Symbol.asyncIterator] === 'function';
}
