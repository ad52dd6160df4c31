import Inert from '@hapi/inert';
import Vision from '@hapi/vision';
// Before hapi-swagger: see the module.
import './swagger-ui-assets.js';
import HapiSwagger from 'hapi-swagger';
import type { Plugin, Server } from '@hapi/hapi';

/**
 * OpenAPI 3 at /openapi.json and browsable docs at /documentation, generated from the routes'
 * Joi validation (routes tagged `api`).
 */
export const docsPlugin: Plugin<void> = {
  name: 'docs',
  async register(server: Server) {
    await server.register(
      [
        { plugin: Inert, options: {} },
        { plugin: Vision, options: {} },
      ],
      { once: true } as never,
    );
    await server.register({
      plugin: HapiSwagger,
      options: {
        OAS: 'v3.0',
        info: {
          title: 'Orchestrator AI task streaming API',
          version: '0.1.0',
          description:
            'A2A task events over resumable Server-Sent Events. `GET …/stream` answers `text/event-stream`: ' +
            'the first frame is `{"task": Task}` (id = the client\'s Last-Event-ID), then one frame per event ' +
            '`id: <seq>` / `data: <A2A StreamResponse JSON>`, heartbeat comments, and the stream closes after a ' +
            'terminal status. Resume with the `Last-Event-ID` header or `?lastEventId=`.',
        },
        securityDefinitions: { bearer: { type: 'apiKey', name: 'Authorization', in: 'header' } },
        security: [{ bearer: [] }],
        documentationPath: '/documentation',
        grouping: 'tags',
      },
    });
  },
};
