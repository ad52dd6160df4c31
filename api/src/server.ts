import Hapi, { type Server } from '@hapi/hapi';
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import HapiPino from 'hapi-pino';
import RateLimit from 'hapi-rate-limit';
import Boom from '@hapi/boom';
import type { Logger } from 'pino';
import { ErrorCode, DEFAULTS } from '@orchestrator-ai/transport-types';
import type { Config } from './config.js';
import type { Database } from './db/types.js';
import { Hub, type DeliverySource, type HubEvent } from './hub/hub.js';
import { AppendGaps } from './db/append-gaps.js';
import { ChangeStreamDelivery, supportsChangeStreams, TailingDelivery } from './hub/tailing-delivery.js';
import { PeerNudges } from './hub/peer-nudges.js';
import { REDACT_PATHS } from './logging.js';
import { exceedsDepth, hasNulKey } from './http/json-depth.js';
import { CLIENT_ERROR_TAGS, logClientErrors } from './http/client-errors.js';
import { Metrics } from './observability/metrics.js';
import { EventLog } from './store/event-log.js';
import { TaskStore } from './store/task-store.js';
import { OrchestrationStore } from './store/orchestration-store.js';
import { a2aPlugin } from './plugins/a2a/index.js';
import { authPlugin } from './plugins/auth/index.js';
import { errorsPlugin } from './plugins/errors/index.js';
import { jobsPlugin } from './plugins/jobs/index.js';
import { observabilityPlugin } from './plugins/observability/index.js';
import { Simulator } from './plugins/simulator/simulator.js';
import { streamingPlugin } from './plugins/streaming/index.js';
import type { StreamLimiter } from './plugins/streaming/stream-limiter.js';
import { MongoCatbox } from './limits/mongo-catbox.js';
import { MongoStreamLimiter } from './limits/stream-leases.js';

const SHARED_CACHE = 'shared';
import { tasksPlugin } from './plugins/tasks/index.js';
import { webPlugin } from './plugins/web/index.js';
import { docsPlugin } from './plugins/docs/index.js';

export interface AppDependencies {
  config: Config;
  database: Database;
  logger: Logger;
  metrics?: Metrics;
  limiter?: StreamLimiter;
}

/** HTTP/2 over TLS (with HTTP/1.1 allowed) when a certificate is configured: many streams, one connection. */
function listenerOptions(config: Config): { listener?: import('node:http').Server; tls?: boolean } {
  if (!config.tls) return {};
  const listener = createSecureServer({
    allowHTTP1: true,
    cert: readFileSync(config.tls.certFile),
    key: readFileSync(config.tls.keyFile),
  });
  // hapi accepts an HTTP/2 listener (its compat API), though its types name only node:http's.
  return { listener: listener as unknown as import('node:http').Server, tls: true };
}

const describe = (settings: Record<string, string | number>) =>
  Object.entries(settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** Change streams where the deployment has them, else a tailing query by seq. */
async function chooseDelivery(
  config: Config,
  database: Database,
  metrics: Metrics,
  appendGaps: AppendGaps,
): Promise<
  | (DeliverySource & {
      kind: string;
      settings?: Record<string, string | number>;
      noteLocal?(events: readonly HubEvent[]): void;
    })
  | undefined
> {
  if (config.crossInstance === 'off') return undefined;
  const onDelivered = (count: number) => metrics.crossInstanceEvents.inc(count);
  if (config.crossInstance !== 'tailing' && (await supportsChangeStreams(database.db)))
    return new ChangeStreamDelivery(database.db, { onDelivered });
  return new TailingDelivery(database.db, {
    pollMs: config.tailPollMs,
    sweepMs: config.tailSweepMs,
    nudges:
      config.peerNudges &&
      new PeerNudges(database.db, {
        ...config.peerNudges,
        secret: config.streamTokenSecret,
        appendGaps,
        observer: {
          datagram: (result) => metrics.peerNudges.inc({ result }),
          peers: (count) => metrics.deliveryPeers.set(count),
        },
      }),
    appendGaps,
    onDelivered,
  });
}

export interface App {
  server: Server;
  hub: Hub;
  tasks: TaskStore;
  log: EventLog;
  metrics: Metrics;
  simulator: Simulator;
}

/** The whole API as one hapi server; `npm start` and the tests build it the same way. */
export async function createServer({
  config,
  database,
  logger,
  metrics,
  limiter,
}: AppDependencies): Promise<App> {
  const server = Hapi.server({
    ...listenerOptions(config),
    // Rate-limit counters live in the database so every instance counts the same requests.
    cache: [
      { name: SHARED_CACHE, provider: { constructor: MongoCatbox as never, options: { db: database.db } } },
    ],
    port: config.port,
    host: config.host,
    router: { stripTrailingSlash: true },
    routes: {
      cors:
        config.corsOrigins.length > 0
          ? { origin: config.corsOrigins, additionalHeaders: ['last-event-id'] }
          : false,
      validate: { failAction: (_request, _h, error) => Promise.reject(error) },
      payload: { maxBytes: Math.max(config.maxEventBytes * 4, 1024 * 1024) },
      response: { emptyStatusCode: 204 },
    },
  });
  const appMetrics = metrics ?? new Metrics({ defaultMetrics: true });
  const hub = new Hub();
  // Background database work (snapshots, tail polls, peer renewals) waits for gaps between appends.
  const appendGaps = new AppendGaps();
  const delivery = await chooseDelivery(config, database, appMetrics, appendGaps);
  const log = new EventLog(database.db, {
    appendGaps,
    ttlMs: config.taskMessageTtlMinutes * 60_000,
    snapshotDelayMs: config.snapshotDelayMs,
    contentSnapshotDelayMs: config.snapshotContentDelayMs,
    hub,
    onConflict: () => appMetrics.seqConflicts.inc(),
    // Both counted where every append path (REST, A2A, the simulator) stores its batch.
    onCommitted: (count) => {
      appMetrics.eventsAppended.inc(count);
      appMetrics.appendBatches.inc();
    },
    onPublished: (events) => delivery?.noteLocal?.(events),
    onSnapshotError: (taskId, err) => logger.warn({ taskId, err }, 'task snapshot not written'),
  });
  const tasks = new TaskStore(database.db, log);
  const orchestration = new OrchestrationStore(database.db);
  const simulator = new Simulator(log, logger, orchestration);
  const streamLimiter = limiter ?? new MongoStreamLimiter(database.db, config.maxStreamsPerUser);
  if (streamLimiter instanceof MongoStreamLimiter) {
    server.ext('onPreStart', () => streamLimiter.start());
    server.ext('onPostStop', () => streamLimiter.stop());
  }

  await server.register({
    plugin: HapiPino,
    options: {
      instance: logger,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      ignorePaths: ['/healthz', '/readyz', '/metrics'],
      logQueryParams: false,
      logPayload: false,
      // Typed as object[]; the plugin reads `{ log, request }` (hapi-pino/index.js).
      ignoredEventTags: { log: CLIENT_ERROR_TAGS } as unknown as object[],
    },
  });
  logClientErrors(server, logger);
  await server.register(errorsPlugin);
  server.ext('onPostAuth', (request, h) => {
    if (
      request.payload &&
      typeof request.payload === 'object' &&
      exceedsDepth(request.payload, DEFAULTS.maxJsonDepth)
    ) {
      const error = Boom.badRequest(`JSON may nest at most ${DEFAULTS.maxJsonDepth} levels`);
      error.data = { code: ErrorCode.BadRequest };
      throw error;
    }
    if (request.payload && typeof request.payload === 'object' && hasNulKey(request.payload)) {
      const error = Boom.badRequest('JSON object keys may not contain NUL characters');
      error.data = { code: ErrorCode.BadRequest };
      throw error;
    }
    return h.continue;
  });
  await server.register({ plugin: authPlugin, options: { config } });
  await server.register({
    plugin: RateLimit,
    options: {
      enabled: false,
      authLimit: false,
      pathLimit: false,
      headers: false,
      userAttribute: 'sub',
      userLimit: config.streamTokenRateLimit.perUser,
      userCache: { cache: SHARED_CACHE, expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
      userPathLimit: config.streamTokenRateLimit.perTask,
      userPathCache: { cache: SHARED_CACHE, expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
      limitExceededResponse: (request: { plugins: Record<string, any> }) => {
        const state = request.plugins['hapi-rate-limit'] ?? {};
        const resets = [state.userReset, state.userPathReset].filter(
          (r: unknown): r is number => typeof r === 'number',
        );
        const resetAt = resets.length > 0 ? Math.max(...resets) : Date.now() + 1000;
        const error = Boom.tooManyRequests('Too many stream tokens requested; retry later');
        error.data = { code: ErrorCode.RateLimited };
        error.output.headers['Retry-After'] = String(Math.max(1, Math.ceil((resetAt - Date.now()) / 1000)));
        throw error;
      },
    },
  });
  await server.register({
    plugin: tasksPlugin,
    options: {
      config,
      tasks,
      log,
      metrics: appMetrics,
      onCreated: (task) => {
        if (config.simulator && simulator.handles(task)) simulator.start(task);
      },
      onCanceled: (taskId) => simulator.stop(taskId),
      orchestration,
    },
  });
  await server.register({
    plugin: streamingPlugin,
    options: {
      config,
      hub,
      tasks,
      log,
      metrics: appMetrics,
      limiter: streamLimiter,
    },
  });
  await server.register({
    plugin: a2aPlugin,
    options: {
      config,
      tasks,
      log,
      hub,
      metrics: appMetrics,
      limiter: streamLimiter,
      onCanceled: (taskId: string) => simulator.stop(taskId),
    },
  });
  await server.register({ plugin: observabilityPlugin, options: { db: database.db, metrics: appMetrics } });
  await server.register({
    plugin: jobsPlugin,
    options: {
      db: database.db,
      pruneEvery: Math.max(10, config.pruneEveryMs),
      taskRetentionMs: config.taskRetentionDays * 24 * 3600 * 1000,
      onPruned: (messages, orchestration) => {
        appMetrics.prunedMessages.inc(messages);
        appMetrics.prunedOrchestration.inc(orchestration);
      },
    },
  });
  await server.register(docsPlugin);
  if (config.webRoot) await server.register({ plugin: webPlugin, options: { root: config.webRoot } });
  server.ext('onPreStop', () => simulator.stopAll());
  server.ext('onPostStop', () => log.flushAll());
  if (delivery) {
    server.ext('onPreStart', async () => {
      await delivery.start(hub);
      logger.info(
        { delivery: delivery.kind, ...delivery.settings },
        `cross-instance delivery: ${delivery.kind}${delivery.settings ? ` (${describe(delivery.settings)})` : ''}`,
      );
    });
    server.ext('onPostStop', () => delivery.stop());
  } else logger.info({ delivery: 'in-process only' }, 'cross-instance delivery: off');

  return { server, hub, tasks, log, metrics: appMetrics, simulator };
}
