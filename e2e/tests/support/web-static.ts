/**
 * A tiny static server standing in for another team's site: it serves `web/examples/*.html` and
 * the built library bundle (`web/dist/lib/*`) from `web/`, so `examples/embed.html` loads
 * `../dist/lib/a2a-components.js` exactly as it does in the repository. Nothing else is served.
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const webRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

export interface StaticSite {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Paths requested, in order (to check what the page loaded). */
  requests: string[];
  close(): Promise<void>;
}

export async function serveWebExamples(): Promise<StaticSite> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const allowed = /^\/(examples\/[\w-]+\.html|dist\/lib\/[\w.-]+\.(js|map))$/.test(path);
    const file = normalize(join(webRoot, path));
    if (req.method !== 'GET' || !allowed || !file.startsWith(webRoot + sep)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    readFile(file).then(
      (body) =>
        res
          .writeHead(200, {
            'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
            'cache-control': 'no-store',
          })
          .end(body),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('static server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
