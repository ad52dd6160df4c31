import type {
  ConnectionInfo,
  TaskEvent,
  WireMessage,
  WireTask,
  WireTaskState,
} from '@orchestrator-ai/transport-types';

/**
 * Typed events of the components. Every one bubbles and is composed, so a host page can listen
 * on the element, on an ancestor, or on `document`.
 */

/** `a2a-status-change`: the task's A2A state changed (from the snapshot or a status update). */
export interface A2AStatusChangeDetail {
  taskId: string;
  state: WireTaskState;
  previousState?: WireTaskState;
  /** Completed, failed, canceled or rejected: no more events will come. */
  final: boolean;
  /** The seq the new state reflects. */
  seq: number;
  /** The agent's message attached to the status, if any. */
  message?: WireMessage;
}

/** `a2a-event`: one stream event, new to the component's log (never twice for one seq). */
export interface A2AEventDetail {
  taskId: string;
  event: TaskEvent;
}

/** `a2a-connection-change`: the stream's connection state or transport changed. */
export interface A2AConnectionChangeDetail extends ConnectionInfo {
  taskId?: string;
}

/** `a2a-error`: something the person (or the host) has to act on. */
export interface A2AErrorDetail {
  taskId?: string;
  /** Meant for a person: what went wrong and what to do. */
  message: string;
  /** HTTP status behind it, when there was one. */
  status?: number;
  /** `auth` (sign in again), `not-found`, `network`, `config` (the host's setup), `unknown`. */
  kind: 'auth' | 'not-found' | 'network' | 'config' | 'unknown';
}

/** `a2a-task-select` (task list): a task was chosen. Cancelable: prevent it to route yourself. */
export interface A2ATaskSelectDetail {
  task: WireTask;
  org: string;
  agent: string;
  href: string;
}

export type A2AStatusChangeEvent = CustomEvent<A2AStatusChangeDetail>;
export type A2AEventEvent = CustomEvent<A2AEventDetail>;
export type A2AConnectionChangeEvent = CustomEvent<A2AConnectionChangeDetail>;
export type A2AErrorEvent = CustomEvent<A2AErrorDetail>;
export type A2ATaskSelectEvent = CustomEvent<A2ATaskSelectDetail>;

export interface A2AEventMap {
  'a2a-status-change': A2AStatusChangeEvent;
  'a2a-event': A2AEventEvent;
  'a2a-connection-change': A2AConnectionChangeEvent;
  'a2a-error': A2AErrorEvent;
  'a2a-task-select': A2ATaskSelectEvent;
}

declare global {
  // Typed `addEventListener('a2a-…', e => e.detail…)` on any element.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface HTMLElementEventMap extends A2AEventMap {}
  // They bubble and are composed, so `document.addEventListener('a2a-…')` is typed too.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface DocumentEventMap extends A2AEventMap {}
}

/** Dispatch a bubbling, composed CustomEvent; returns false when a listener prevented it. */
export function emit<K extends keyof A2AEventMap>(
  target: EventTarget,
  type: K,
  detail: A2AEventMap[K]['detail'],
  options: { cancelable?: boolean } = {},
): boolean {
  return target.dispatchEvent(
    new CustomEvent(type, { detail, bubbles: true, composed: true, cancelable: options.cancelable ?? false }),
  );
}
