/// <reference lib="webworker" />
/**
 * The Service Worker: precaches the app shell (Workbox, manifest injected by the web build) and
 * runs the {@link StreamManager}: one SSE connection per watched task for all tabs, mirrored into
 * IndexedDB. Served from the origin root (`/sw.js`) so its scope covers the app.
 */
import {
  cleanupOutdatedCaches,
  getCacheKeyForURL,
  matchPrecache,
  precache,
  type PrecacheEntry,
} from 'workbox-precaching';
import { detectHttpProtocol } from '../shared/pool.js';
import { originOf } from '../shared/refs.js';
import { ServiceWorkerClientPort } from './client-port.js';
import { StreamStore } from './db.js';
import { StreamManager } from './manager.js';

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: Array<PrecacheEntry | string> | undefined;
};

/** Navigations that belong to the API, never answered with the app shell. */
const NOT_APP =
  /^\/(agent-to-agent|auth|healthz|readyz|metrics|documentation|swaggerui|swagger\.json|openapi\.json)(\/|$)/;

// The app's files are cached at install (Workbox precaching) and answered here rather than by
// Workbox's router: precacheAndRoute would add workbox-routing and its strategies' plumbing to
// every worker start, about a seventh of the worker's size, for what two lookups do.
precache(self.__WB_MANIFEST ?? []);
cleanupOutdatedCaches();

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // Network first, the precached app shell when the network is gone, so that a task page
    // opens offline and shows what IndexedDB holds.
    if (NOT_APP.test(url.pathname)) return;
    event.respondWith(
      fetch(req).catch(async (err: unknown) => {
        const shell = (await matchPrecache(url.pathname)) ?? (await matchPrecache('index.html'));
        if (shell) return shell;
        throw err;
      }),
    );
    return;
  }
  // Hashed build files: from the precache, the network only for one the cache lost.
  if (getCacheKeyForURL(url.href) === undefined) return;
  event.respondWith(matchPrecache(url.href).then((cached) => cached ?? fetch(req)));
});

self.addEventListener('install', () => {
  void self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
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
