/**
 * The page-side stream client: `createTaskStreamClient()` gives the `TaskStreamClient` of
 * shared-types, served by the shared Service Worker when the page can use one, by a connection
 * from the page otherwise (and by polling, behind the same API, when streaming is blocked).
 */
import type {
  ConnectionInfo,
  StreamConfigInput,
  TaskStreamClient,
  TaskStreamClientOptions,
  TaskStreamListener,
  TaskStreamSubscription,
  WatchTarget,
} from '@orchestrator-ai/transport-types';
import { DB_NAME, resolveConfig, type StreamConfig } from '../shared/config.js';
import { ListenerGate } from '../shared/gate.js';
import { buildTaskRef, originOf } from '../shared/refs.js';
import type { FetchLike } from '../shared/timers.js';
import { WorkerBridge } from './bridge.js';
import { DirectHub } from './direct.js';
import type { Minter } from './mint.js';

export type { StreamConfig } from '../shared/config.js';
export { DEFAULT_STREAM_CONFIG } from '../shared/config.js';
export { buildTaskRef } from '../shared/refs.js';

export interface CreateTaskStreamClientOptions extends TaskStreamClientOptions {
  /**
   * `auto` (default): use the shared Service Worker when the page can (supported, secure context,
   * `apiBase` on the page's origin), else connect from the page. `off`: always from the page.
   */
  serviceWorker?: 'auto' | 'off';
  /** URL of the worker script; default `/sw.js` (served from the origin root so its scope covers the app). */
  swUrl?: string;
  /** Registration scope; default: the script's directory. */
  swScope?: string;
  /** `module` if the worker script is an ES module; default `classic`. */
  swType?: WorkerType;
  /** Keep-alive period while watching, in ms (default 15000; the browser stops an idle worker after ~30 s). */
  keepAliveMs?: number;
  /** How long to wait for the worker to register or answer before connecting from the page (default 10000). */
  workerTimeoutMs?: number;
  /** Timings and limits (backoff, polling, budget, retention…), sent to the worker too. */
  config?: StreamConfigInput;
  /** `fetch` for minting tokens and page connections; default `globalThis.fetch`. */
  fetch?: FetchLike;
}

/** A {@link TaskStreamClient} that can also be shut down. */
export interface BrowserTaskStreamClient extends TaskStreamClient {
  /** How this client delivers: `worker` once a worker serves it, `direct` otherwise. */
  readonly mode: Promise<'worker' | 'direct'>;
  /** Ends every watch of this client. */
  dispose(): void;
}

const DEFAULT_KEEPALIVE_MS = 15_000;
const DEFAULT_WORKER_TIMEOUT_MS = 10_000;

/** Whether this page can be served by a Service Worker for an API at `apiBase`. */
export function canUseServiceWorker(apiBase: string): boolean {
  if (typeof navigator === 'undefined' || typeof window === 'undefined') return false;
  if (!('serviceWorker' in navigator) || !navigator.serviceWorker) return false;
  if (window.isSecureContext === false) return false;
  const api = originOf(new URL(apiBase, window.location.href).toString());
  return api === window.location.origin;
}

export function createTaskStreamClient(options: CreateTaskStreamClientOptions): BrowserTaskStreamClient {
  const fetchImpl: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const config: StreamConfig = resolveConfig(options.config);
  const minter: Minter = { getAccessToken: options.getAccessToken, fetch: fetchImpl };
  const pageOrigin = typeof location !== 'undefined' ? location.origin : undefined;
  const direct = new DirectHub({
    fetch: fetchImpl,
    config: () => config,
    ...(typeof navigator !== 'undefined' && 'onLine' in navigator
      ? { isOnline: () => navigator.onLine }
      : {}),
    ...(pageOrigin ? { pageOrigin } : {}),
  });
  const bridge =
    options.serviceWorker !== 'off' && canUseServiceWorker(options.apiBase)
      ? WorkerBridge.for({
          swUrl: options.swUrl ?? '/sw.js',
          keepAliveMs: options.keepAliveMs ?? DEFAULT_KEEPALIVE_MS,
          workerTimeoutMs: options.workerTimeoutMs ?? DEFAULT_WORKER_TIMEOUT_MS,
          ...(options.swScope ? { swScope: options.swScope } : {}),
          ...(options.swType ? { swType: options.swType } : {}),
          ...(options.config ? { config: options.config } : {}),
        })
      : undefined;
  const mode: Promise<'worker' | 'direct'> = bridge
    ? bridge.ready.then((ok) => (ok ? 'worker' : 'direct'))
    : Promise.resolve('direct');

  const live = new Set<TaskStreamSubscription>();
  const onWake = () => direct.kick();
  if (typeof window !== 'undefined') {
    window.addEventListener('online', onWake);
    document.addEventListener('visibilitychange', onWake);
  }

  const client: BrowserTaskStreamClient = {
    mode,
    watch(target: WatchTarget, listener: TaskStreamListener): TaskStreamSubscription {
      const ref = buildTaskRef(options.apiBase, target);
      const gate = new ListenerGate(listener);
      let detach: (() => void) | undefined;
      let closed = false;
      const viaPage = () => {
        if (closed) return;
        detach?.();
        detach = direct.watch(ref, gate, minter);
      };
      if (bridge) {
        const connecting: ConnectionInfo = { state: 'connecting', transport: 'worker', via: 'worker' };
        gate.connection(connecting);
        void bridge.ready.then((ok) => {
          if (closed) return;
          if (ok) detach = bridge.watch(ref, gate, minter, viaPage);
          else viaPage();
        });
      } else {
        viaPage();
      }
      const sub: TaskStreamSubscription = {
        close() {
          if (closed) return;
          closed = true;
          gate.closed = true;
          live.delete(sub);
          detach?.();
          detach = undefined;
        },
      };
      live.add(sub);
      return sub;
    },
    async clear(): Promise<void> {
      direct.clear();
      if (bridge && (await bridge.ready)) {
        await bridge.clear();
        return;
      }
      await deleteDatabase(DB_NAME);
    },
    dispose(): void {
      for (const sub of [...live]) sub.close();
      direct.dispose();
      if (typeof window !== 'undefined') {
        window.removeEventListener('online', onWake);
        document.removeEventListener('visibilitychange', onWake);
      }
    },
  };
  return client;
}

/** Without a worker, the page removes the database itself (nothing else holds it open). */
function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') {
      resolve();
      return;
    }
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}
