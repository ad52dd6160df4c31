import type { SnapshotTask, TaskEvent } from './envelope.js';

/**
 * The page ↔ Service Worker protocol. Pages post `PageToWorker` messages to the worker
 * (`postMessage`, which also wakes a stopped worker); the worker answers with `WorkerToPage`
 * messages. Every message is `{ type, ... }`. Written down in `sw/PROTOCOL.md`.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed' | 'error';

export interface TaskRef {
  taskId: string;
  /** Absolute URL of the task's stream route (without token). */
  streamUrl: string;
  /** Absolute URL of the polling route. */
  messagesUrl: string;
  /** Absolute URL of the stream-token route (the page mints there). */
  tokenUrl?: string;
  /** Absolute URL of the task route (`GET` gives the snapshot; used when polling meets truncated history). */
  taskUrl?: string;
}

/** `stream`: a short-lived stream token for the task; `user`: the host app's user token, for one poll. */
export type TokenKind = 'stream' | 'user';

/**
 * Timings and limits of the stream machinery (worker and direct page connections). Every field is
 * optional in messages; the defaults are in `sw/src/shared/config.ts`.
 */
export interface StreamConfigInput {
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  backoffFactor?: number;
  backoffJitter?: number;
  honorServerRetry?: boolean;
  firstFrameTimeoutMs?: number;
  idleTimeoutMs?: number;
  healthyStreamMs?: number;
  quietReconnectMs?: number;
  streamFailuresBeforePolling?: number;
  streamRetryAfterMs?: number;
  pollIntervalMs?: number;
  pollPageLimit?: number;
  maxStreamsHttp1?: number;
  maxStreamsHttp2?: number;
  retentionMs?: number;
  snapshotRetentionMs?: number;
  tokenTimeoutMs?: number;
  userTokenReuseMs?: number;
  sweepIntervalMs?: number;
  pruneIntervalMs?: number;
}

/** One watched task in a keep-alive: enough to (re)subscribe a restarted worker. */
export interface WatchedTaskInfo {
  task: TaskRef;
  /** The highest seq this tab has delivered for the task (0: none). */
  afterSeq: number;
}

export type PageToWorker =
  | {
      type: 'subscribe';
      clientId: string;
      task: TaskRef;
      token?: string;
      afterSeq?: number;
      /** A catch-up (tab woke up, worker changed): send history, but do not restart a task in `error`. */
      catchUp?: boolean;
      visible?: boolean;
      config?: StreamConfigInput;
      /**
       * The tab reads `events` (live events in one message). A page that does not say so gets
       * one `event` message per event, as before `events` existed.
       */
      batches?: boolean;
    }
  | { type: 'unsubscribe'; clientId: string; taskId: string }
  | {
      type: 'token-response';
      requestId: string;
      taskId: string;
      token?: string;
      error?: string;
      kind?: TokenKind;
      /** HTTP status of a failed mint (401, 403, 404, 429…); absent for network failures. */
      status?: number;
      retryAfterMs?: number;
      /** The API refused this page's origin (CORS): a configuration error, `error` says which. */
      corsBlocked?: boolean;
      /** `nextHopProtocol` the tab saw for the API (`http/1.1`, `h2`, `h3`), when known. */
      httpProtocol?: string;
    }
  | {
      type: 'keepalive';
      clientId: string;
      taskIds: string[];
      tasks?: WatchedTaskInfo[];
      visible?: boolean;
      config?: StreamConfigInput;
      /** As in `subscribe`: a restarted worker learns it again from here. */
      batches?: boolean;
    }
  | { type: 'configure'; config: StreamConfigInput }
  | { type: 'online'; clientId: string }
  | { type: 'clear'; requestId?: string };

export type WorkerToPage =
  | {
      type: 'history';
      taskId: string;
      snapshot?: SnapshotTask;
      events: TaskEvent[];
      /** The highest seq stored for the task. */
      lastSeq?: number;
      final?: boolean;
      /** Events after the requested seq are missing (expired): the history is partial. */
      truncated?: boolean;
      earliestSeq?: number;
    }
  | { type: 'event'; taskId: string; event: TaskEvent }
  /** Live events stored together, in seq order: only to a tab that announced `batches`. */
  | { type: 'events'; taskId: string; events: TaskEvent[] }
  | { type: 'snapshot'; taskId: string; snapshot: SnapshotTask }
  | {
      type: 'state';
      taskId: string;
      state: ConnectionState;
      reason?: string;
      transport?: 'sse' | 'polling';
      /** HTTP status behind an `error`. */
      status?: number;
    }
  | { type: 'token-request'; requestId: string; taskId: string; kind?: TokenKind }
  | { type: 'cleared'; requestId?: string };
