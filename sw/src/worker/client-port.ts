/// <reference lib="webworker" />
import type { WorkerToPage } from '@orchestrator-ai/transport-types';
import type { ClientPort } from './manager.js';

/**
 * {@link ClientPort} over the Service Worker `Clients` API. Posting is synchronous for tabs the
 * worker has met (a message's `source`, or the last `matchAll`), so relayed events keep their
 * order; an unknown id is looked up once, with later posts to it queued behind the lookup.
 */
export class ServiceWorkerClientPort implements ClientPort {
  private readonly known = new Map<string, Client>();
  private readonly lookups = new Map<string, WorkerToPage[]>();

  constructor(private readonly clients: Clients) {}

  remember(client: Client): void {
    this.known.set(client.id, client);
  }

  post(clientId: string, message: WorkerToPage): boolean {
    const client = this.known.get(clientId);
    if (client) {
      client.postMessage(message);
      return true;
    }
    const queued = this.lookups.get(clientId);
    if (queued) {
      queued.push(message);
      return true;
    }
    this.lookups.set(clientId, [message]);
    void this.clients.get(clientId).then(
      (found) => {
        const pending = this.lookups.get(clientId) ?? [];
        this.lookups.delete(clientId);
        if (!found) return;
        this.known.set(clientId, found);
        for (const m of pending) found.postMessage(m);
      },
      () => this.lookups.delete(clientId),
    );
    return true;
  }

  async liveClientIds(): Promise<Set<string>> {
    const all = await this.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const ids = new Set<string>();
    this.known.clear();
    for (const c of all) {
      ids.add(c.id);
      this.known.set(c.id, c);
    }
    return ids;
  }
}
