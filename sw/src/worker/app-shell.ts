/**
 * The app shell, cached when the worker installs so that the app opens with the network off.
 * The list is the precache manifest the web build injects (`self.__WB_MANIFEST`, Workbox's
 * format: hashed files without a revision, the others with one). Workbox's own precaching did
 * the same through its strategy and routing machinery, a quarter of the worker's size; this is
 * what the worker needs of it: fetch at install, drop old builds at activation, answer lookups.
 */
export type ManifestEntry = string | { url: string; revision?: string | null };

/** One cache for every build: an entry's key is its URL plus its revision. */
export const APP_SHELL_CACHE = 'a2a-app-shell';
const REVISION_PARAM = '__a2a_revision';
/** Caches of Workbox's precaching, which earlier versions of this worker used. */
const OLD_CACHE_PREFIX = 'workbox-precache';

export class AppShell {
  /** Absolute URL → cache key. */
  readonly #keys = new Map<string, string>();

  constructor(
    entries: readonly ManifestEntry[],
    base: string,
    private readonly caches: CacheStorage,
    private readonly fetch: (url: string, init: RequestInit) => Promise<Response>,
  ) {
    for (const entry of entries) {
      const { url, revision } = typeof entry === 'string' ? { url: entry, revision: null } : entry;
      const absolute = new URL(url, base);
      absolute.hash = '';
      const key = new URL(absolute);
      if (revision) key.searchParams.set(REVISION_PARAM, revision);
      this.#keys.set(absolute.href, key.href);
    }
  }

  /**
   * Fetches every file this build lists and the cache lacks. Any failure fails the install, so a
   * worker never takes over with half a shell (the browser keeps the previous worker and tries
   * again at the next update check).
   */
  async install(): Promise<void> {
    const cache = await this.caches.open(APP_SHELL_CACHE);
    await Promise.all(
      [...this.#keys].map(async ([url, key]) => {
        if (await cache.match(key)) return;
        const res = await this.fetch(url, { cache: 'reload', credentials: 'same-origin' });
        if (!res.ok) throw new Error(`app shell: ${url} answered ${res.status}`);
        await cache.put(key, await servable(res));
      }),
    );
  }

  /** Drops what earlier builds cached (and Workbox's caches of earlier versions of this worker). */
  async activate(): Promise<void> {
    const cache = await this.caches.open(APP_SHELL_CACHE);
    const keep = new Set(this.#keys.values());
    for (const request of await cache.keys()) if (!keep.has(request.url)) await cache.delete(request);
    for (const name of await this.caches.keys())
      if (name.startsWith(OLD_CACHE_PREFIX)) await this.caches.delete(name);
  }

  /** Whether this build lists the URL (query included; fragments ignored). */
  has(url: string): boolean {
    return this.#keys.has(withoutHash(url));
  }

  /** The cached copy of a listed URL. */
  async match(url: string): Promise<Response | undefined> {
    const key = this.#keys.get(withoutHash(url));
    if (!key) return undefined;
    const cache = await this.caches.open(APP_SHELL_CACHE);
    return cache.match(key);
  }
}

function withoutHash(url: string): string {
  const u = new URL(url);
  u.hash = '';
  return u.href;
}

/**
 * A response that followed a redirect cannot answer a navigation (the browser refuses it), so
 * the body is stored under a response of its own.
 */
async function servable(res: Response): Promise<Response> {
  if (!res.redirected) return res;
  return new Response(await res.blob(), {
    status: res.status,
    statusText: res.statusText,
    headers: res.headers,
  });
}
