import type { SnapshotTask, TaskEvent } from './envelope.js';
import type { ConnectionState } from './protocol.js';

/**
 * The page-side stream client contract, implemented in `sw/` (Service Worker, direct and polling
 * transports behind one API) and consumed by the `web/` components.
 */
export interface WatchTarget {
  org: string;
  agent: string;
  taskId: string;
}

export type StreamTransport = 'worker' | 'direct' | 'polling';

export interface ConnectionInfo {
  state: ConnectionState;
  transport: StreamTransport;
  /** Why the state is `error` (or `offline`): meant for a person. */
  reason?: string;
  /** HTTP status behind an `error`, when there was one (401, 403, 404). */
  status?: number;
  /** Who holds the connection: the shared Service Worker, or this page itself. */
  via?: 'worker' | 'page';
}

/**
 * How an `error`'s reason starts when the API refused this page's origin (CORS): the host's
 * setup, which no retry fixes (the API's CORS_ORIGINS must list the page's origin).
 */
export const CORS_BLOCKED_REASON = 'blocked by CORS';

export interface TaskStreamListener {
  /** The latest `Task` snapshot (the stream's first frame, or the stored one when offline). */
  onSnapshot?(snapshot: SnapshotTask): void;
  /** Each event once, in seq order, with no gap except what the snapshot reports as truncated. */
  onEvent(event: TaskEvent): void;
  onConnection?(info: ConnectionInfo): void;
}

export interface TaskStreamSubscription {
  close(): void;
}

export interface TaskStreamClientOptions {
  /** Origin (and optional path prefix) of the API, e.g. `http://127.0.0.1:3000`. */
  apiBase: string;
  /** The host app's user token; called whenever a stream token must be minted. */
  getAccessToken: () => string | Promise<string>;
}

export interface TaskStreamClient {
  watch(target: WatchTarget, listener: TaskStreamListener): TaskStreamSubscription;
  /** Sign-out: forget every stored event and snapshot. */
  clear(): Promise<void>;
}
