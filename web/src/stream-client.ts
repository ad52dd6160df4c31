import type { TaskStreamClient, TaskStreamClientOptions } from '@orchestrator-ai/transport-types';
// The only module that imports the Service Worker package's page client.
// TODO(wire): replaced by `import { createTaskStreamClient } from '@orchestrator-ai/sw/client'`.
const createTaskStreamClient = (_options: TaskStreamClientOptions): TaskStreamClient => {
  throw new Error('@orchestrator-ai/sw/client is not available yet');
};

const clients = new WeakMap<TaskStreamClientOptions['getAccessToken'], Map<string, TaskStreamClient>>();

/**
 * The client a component uses when its host did not inject one: the Service Worker client with
 * its direct and polling fallbacks. One per token source and API base, so several components
 * fed by the same `getAccessToken` share it.
 */
export function defaultClient(options: TaskStreamClientOptions): TaskStreamClient {
  let byBase = clients.get(options.getAccessToken);
  if (!byBase) clients.set(options.getAccessToken, (byBase = new Map()));
  let client = byBase.get(options.apiBase);
  if (!client) byBase.set(options.apiBase, (client = createTaskStreamClient(options)));
  return client;
}

export { createTaskStreamClient };
