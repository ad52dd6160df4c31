import Inert from '@hapi/inert';
import type { Plugin, Server } from '@hapi/hapi';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface WebOptions {
  /** The built demo app (web/dist/app). */
  root: string;
}

/**
 * Serves the demo app: its files, `/sw.js` at the origin root (so the worker's scope covers the
 * app), and index.html for the app's own paths (`/`, `/tasks/…`).
 */
export const webPlugin: Plugin<WebOptions> = {
  name: 'web',
  async register(server: Server, { root }: WebOptions) {
    await server.register(Inert, { once: true } as never);
    const index = join(root, 'index.html');
    const built = existsSync(index);
    const app = (_request: unknown, h: { file(path: string): unknown; response(v: unknown): any }) =>
      built
        ? h.file(index)
        : h
            .response(
              '<!doctype html><title>Demo not built</title><p>Run <code>npm run build</code>, then reload.</p>',
            )
            .type('text/html')
            .code(503);

    server.route({ method: 'GET', path: '/', options: { auth: false }, handler: app as never });
    server.route({ method: 'GET', path: '/tasks/{path*}', options: { auth: false }, handler: app as never });
    server.route({
      method: 'GET',
      path: '/sw.js',
      options: { auth: false },
      handler: (_request, h) =>
        h.file(join(root, 'sw.js')).header('Cache-Control', 'no-cache').header('Service-Worker-Allowed', '/'),
    });
    server.route({
      method: 'GET',
      path: '/{file*}',
      options: { auth: false },
      handler: { directory: { path: root, index: false, redirectToSlash: false, lookupCompressed: false } },
    });
  },
};
