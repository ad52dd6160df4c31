/// <reference lib="webworker" />
/**
 * The Service Worker: caches the app shell (the manifest the web build injects; app-shell.ts) and
 * runs the {@link StreamManager}: one SSE connection per watched task for all tabs, mirrored into
 * IndexedDB. Served from the origin root (`/sw.js`) so its scope covers the app.
 */
import { AppShell, type ManifestEntry } from './app-shell.js';
import { detectHttpProtocol } from '../shared/pool.js';
import { originOf } from '../shared/refs.js';
import { ServiceWorkerClientPort } from './client-port.js';
import { StreamStore } from './db.js';
import { StreamManager } from './manager.js';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: ManifestEntry[] | undefined;
};

/** Navigations that belong to the API, never answered with the app shell. */
const NOT_APP =
  /^\/(agent-to-agent|auth|healthz|readyz|metrics|documentation|swaggerui|swagger\.json|openapi\.json)(\/|$)/;

const shell = new AppShell(self.__WB_MANIFEST ?? [], self.location.href, self.caches, (url, init) =>
  fetch(url, init),
);

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // Network first, the cached app shell when the network is gone, so that a task page opens
    // offline and shows what IndexedDB holds.
    if (NOT_APP.test(url.pathname)) return;
    event.respondWith(
      fetch(req).catch(async (err: unknown) => {
        const page = (await shell.match(url.href)) ?? (await shell.match(new URL('/index.html', url).href));
        if (page) return page;
        throw err;
      }),
    );
    return;
  }
  // Hashed build files: from the cache, the network only for one the cache lost.
  if (!shell.has(url.href)) return;
  event.respondWith(shell.match(url.href).then((cached) => cached ?? fetch(req)));
});

self.addEventListener('install', (event) => {
  event.waitUntil(shell.install().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(Promise.all([shell.activate(), self.clients.claim()]));
});

const port = new ServiceWorkerClientPort(self.clients);
const manager = new StreamManager({
  store: new StreamStore(),
  clients: port,
  fetch: (input, init) => fetch(input, init),
  isOnline: () => self.navigator.onLine,
  sameOrigin: (url) => originOf(url) === self.location.origin,
  detectProtocol: (url) => {
    const origin = originOf(url);
    if (!origin) return undefined;
    const protocol = detectHttpProtocol(origin, self.performance);
    // The worker's own timeline: keep the buffer from filling with polls.
    self.performance.clearResourceTimings();
    return protocol;
  },
  housekeeping: true,
});

// Every start of the worker resumes every watched task from IndexedDB alone.
void manager.start();

self.addEventListener('message', (event) => {
  const source = event.source;
  const clientId = source && 'id' in source && typeof source.id === 'string' ? source.id : undefined;
  if (source && clientId !== undefined && !('scriptURL' in source)) port.remember(source as Client);
  event.waitUntil(manager.handleMessage(event.data, clientId).catch(() => undefined));
});
