import type { PageToWorker, TaskRef, WorkerToPage } from '@orchestrator-ai/transport-types';

const isString = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

export function isTaskRef(v: unknown): v is TaskRef {
  return isObject(v) && isString(v.taskId) && isString(v.streamUrl) && isString(v.messagesUrl);
}

/** Checks the shape of a message from a page before the worker acts on it. */
export function isPageToWorker(v: unknown): v is PageToWorker {
  if (!isObject(v) || !isString(v.type)) return false;
  switch (v.type) {
    case 'subscribe':
      return isString(v.clientId) && isTaskRef(v.task);
    case 'unsubscribe':
      return isString(v.clientId) && isString(v.taskId);
    case 'token-response':
      return isString(v.requestId) && isString(v.taskId);
    case 'keepalive':
      return isString(v.clientId) && Array.isArray(v.taskIds);
    case 'configure':
      return isObject(v.config);
    case 'online':
      return true;
    case 'clear':
      return true;
    default:
      return false;
  }
}

const WORKER_TYPES = new Set(['history', 'event', 'events', 'snapshot', 'state', 'token-request', 'cleared']);

/** Checks that a message received by a page is one of the worker's (other scripts post too). */
export function isWorkerToPage(v: unknown): v is WorkerToPage {
  if (!isObject(v) || !isString(v.type) || !WORKER_TYPES.has(v.type)) return false;
  if (v.type === 'cleared') return true;
  return isString(v.taskId);
}
