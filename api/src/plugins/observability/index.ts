import type { Plugin, Server } from '@hapi/hapi';
import type { Db } from 'mongodb';
import { routes } from '@orchestrator-ai/transport-types';
import type { Metrics } from '../../observability/metrics.js';

export interface ObservabilityOptions {
  db: Db;
  metrics: Metrics;
}

/** Liveness, readiness (the database answers) and Prometheus metrics. */
export const observabilityPlugin: Plugin<ObservabilityOptions> = {
  name: 'observability',
  register(server: Server, { db, metrics }: ObservabilityOptions) {
    server.route({
      method: 'GET',
      path: routes.healthz,
      options: { auth: false, tags: ['api', 'ops'], description: 'Liveness' },
      handler: () => ({ status: 'ok' }),
    });
    server.route({
      method: 'GET',
      path: routes.readyz,
      options: { auth: false, tags: ['api', 'ops'], description: 'Readiness: the database answers' },
      async handler(_request, h) {
        try {
          await db.command({ ping: 1 }, { timeoutMS: 2000 });
          return { status: 'ready' };
        } catch {
          return h
            .response({ status: 'unavailable', code: 'unavailable', message: 'Database unreachable' })
            .code(503);
        }
      },
    });
    server.route({
      method: 'GET',
      path: routes.metrics,
      options: { auth: false, tags: ['api', 'ops'], description: 'Prometheus metrics' },
      async handler(_request, h) {
        return h.response(await metrics.registry.metrics()).type(metrics.registry.contentType);
      },
    });
  },
};
