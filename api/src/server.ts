import Hapi, { type Server } from '@hapi/hapi';
import HapiPino from 'hapi-pino';
import RateLimit from 'hapi-rate-limit';
import Boom from '@hapi/boom';
import type { Logger } from 'pino';
import { ErrorCode, DEFAULTS } from '@orchestrator-ai/transport-types';
import type { Config } from './config.js';
import type { Database } from './db/types.js';
import { Hub } from './hub/hub.js';
import { REDACT_PATHS } from './logging.js';
import { exceedsDepth } from './http/json-depth.js';
import { Metrics } from './observability/metrics.js';
import { EventLog } from './store/event-log.js';
import { TaskStore } from './store/task-store.js';
import { authPlugin } from './plugins/auth/index.js';
import { errorsPlugin } from './plugins/errors/index.js';
import { jobsPlugin } from './plugins/jobs/index.js';
import { observabilityPlugin } from './plugins/observability/index.js';
import { Simulator } from './plugins/simulator/simulator.js';
import { streamingPlugin } from './plugins/streaming/index.js';
import { InProcessStreamLimiter, type StreamLimiter } from './plugins/streaming/stream-limiter.js';
import { tasksPlugin } from './plugins/tasks/index.js';
import { webPlugin } from './plugins/web/index.js';

export interface AppDependencies {
  config: Config;
  database: Database;
  logger: Logger;
  metrics?: Metrics;
  limiter?: StreamLimiter;
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
export async function createServer({ config, database, logger, metrics, limiter }: AppDependencies): Promise<App> {
  const server = Hapi.server({
    port: config.port,
    host: config.host,
    router: { stripTrailingSlash: true },
    routes: {
      cors: config.corsOrigins.length > 0 ? { origin: config.corsOrigins, additionalHeaders: ['last-event-id'] } : false,
      validate: { failAction: (_request, _h, error) => Promise.reject(error) },
      payload: { maxBytes: Math.max(config.maxEventBytes * 4, 1024 * 1024) },
      response: { emptyStatusCode: 204 },
    },
  });
  const appMetrics = metrics ?? new Metrics({ defaultMetrics: true });
  const hub = new Hub();
  const tasks = new TaskStore(database.db);
  const log = new EventLog(database.db, {
    ttlMs: config.taskMessageTtlMinutes * 60_000,
    hub,
    onConflict: () => appMetrics.seqConflicts.inc(),
  });
  const simulator = new Simulator(log, logger);

  await server.register({
    plugin: HapiPino,
    options: {
      instance: logger,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      ignorePaths: ['/healthz', '/readyz', '/metrics'],
      logQueryParams: false,
      logPayload: false,
    },
  });
  await server.register(errorsPlugin);
  server.ext('onPostAuth', (request, h) => {
    if (request.payload && typeof request.payload === 'object' && exceedsDepth(request.payload, DEFAULTS.maxJsonDepth)) {
      const error = Boom.badRequest(`JSON may nest at most ${DEFAULTS.maxJsonDepth} levels`);
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
      userCache: { expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
      userPathLimit: config.streamTokenRateLimit.perTask,
      userPathCache: { expiresIn: config.streamTokenRateLimit.windowSeconds * 1000 },
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
      limiter: limiter ?? new InProcessStreamLimiter(config.maxStreamsPerUser),
    },
  });
  await server.register({ plugin: observabilityPlugin, options: { db: database.db, metrics: appMetrics } });
  await server.register({ plugin: jobsPlugin, options: { db: database.db, pruneEvery: config.pruneEveryMs } });
  if (config.webRoot) await server.register({ plugin: webPlugin, options: { root: config.webRoot } });
  server.ext('onPreStop', () => simulator.stopAll());

  return { server, hub, tasks, log, metrics: appMetrics, simulator };
}
