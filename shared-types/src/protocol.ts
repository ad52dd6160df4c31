import type { SnapshotTask, TaskEvent } from './envelope.js';

/**
 * The page ↔ Service Worker protocol. Pages post `PageToWorker` messages to the worker
 * (`postMessage`, which also wakes a stopped worker); the worker answers with `WorkerToPage`
 * messages. Every message is `{ type, ... }`.
 */
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'offline' | 'closed' | 'error';

export interface TaskRef {
  taskId: string;
  /** Absolute URL of the task's stream route (without token). */
  streamUrl: string;
  /** Absolute URL of the polling route. */
  messagesUrl: string;
}

export type PageToWorker =
  | { type: 'subscribe'; clientId: string; task: TaskRef; token?: string; afterSeq?: number }
  | { type: 'unsubscribe'; clientId: string; taskId: string }
  | { type: 'token-response'; requestId: string; taskId: string; token?: string; error?: string }
  | { type: 'keepalive'; clientId: string; taskIds: string[] }
  | { type: 'clear' };

export type WorkerToPage =
  | { type: 'history'; taskId: string; snapshot?: SnapshotTask; events: TaskEvent[] }
  | { type: 'event'; taskId: string; event: TaskEvent }
  | { type: 'snapshot'; taskId: string; snapshot: SnapshotTask }
  | { type: 'state'; taskId: string; state: ConnectionState; reason?: string; transport?: 'sse' | 'polling' }
  | { type: 'token-request'; requestId: string; taskId: string }
  | { type: 'cleared' };
