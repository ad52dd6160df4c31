import { routes, type TaskRef, type WatchTarget } from '@orchestrator-ai/transport-types';

/** Absolute URLs of a task's routes under `apiBase` (an origin, optionally with a path prefix). */
export function buildTaskRef(apiBase: string, target: WatchTarget): TaskRef {
  const base = new URL(apiBase, globalThis.location?.href);
  const prefix = base.pathname.replace(/\/+$/, '');
  const at = (path: string) => new URL(prefix + path, base.origin).toString();
  const { org, agent, taskId } = target;
  return {
    taskId,
    streamUrl: at(routes.stream(org, agent, taskId)),
    messagesUrl: at(routes.messages(org, agent, taskId)),
    tokenUrl: at(routes.streamToken(org, agent, taskId)),
    taskUrl: at(routes.task(org, agent, taskId)),
  };
}

export function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
