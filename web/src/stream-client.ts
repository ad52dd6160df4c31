import type { TaskStreamClient, TaskStreamClientOptions } from '@orchestrator-ai/transport-types';
// The only module of web/ that imports the Service Worker package's page client.
import { createTaskStreamClient, type CreateTaskStreamClientOptions } from '@orchestrator-ai/sw/client';

const clients = new WeakMap<TaskStreamClientOptions['getAccessToken'], Map<string, TaskStreamClient>>();

/**
 * The client a component uses when its host did not inject one: the Service Worker client with
 * its direct and polling fallbacks (the worker only when the API is on the page's origin; an
 * embedding page on another origin connects directly). One per token source and API base, so
 * components fed by the same `getAccessToken` share it.
 */
export function defaultClient(options: TaskStreamClientOptions): TaskStreamClient {
  let byBase = clients.get(options.getAccessToken);
  if (!byBase) clients.set(options.getAccessToken, (byBase = new Map()));
  let client = byBase.get(options.apiBase);
  if (!client) byBase.set(options.apiBase, (client = createTaskStreamClient(options)));
  return client;
}

export { createTaskStreamClient, type CreateTaskStreamClientOptions };
