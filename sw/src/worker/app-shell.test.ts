import { describe, expect, it } from 'vitest';
import { APP_SHELL_CACHE, AppShell, type ManifestEntry } from './app-shell.js';

/** CacheStorage as far as the app shell uses it, in memory. */
class MemoryCaches {
  readonly stores = new Map<string, Map<string, Response>>();

  open(name: string): Promise<Cache> {
    let store = this.stores.get(name);
    if (!store) this.stores.set(name, (store = new Map()));
    const entries = store;
    const urlOf = (r: RequestInfo | URL) => (r instanceof Request ? r.url : String(r));
    const cache = {
      match: (r: RequestInfo | URL) => Promise.resolve(entries.get(urlOf(r))?.clone()),
      put: (r: RequestInfo | URL, res: Response) => {
        entries.set(urlOf(r), res);
        return Promise.resolve();
      },
      keys: () => Promise.resolve([...entries.keys()].map((u) => new Request(u))),
      delete: (r: RequestInfo | URL) => Promise.resolve(entries.delete(urlOf(r))),
    };
    return Promise.resolve(cache as unknown as Cache);
  }

  keys(): Promise<string[]> {
    return Promise.resolve([...this.stores.keys()]);
  }

  delete(name: string): Promise<boolean> {
    return Promise.resolve(this.stores.delete(name));
  }
}

const BASE = 'https://app.example/sw.js';

function setup(files: Record<string, string | number>) {
  const caches = new MemoryCaches();
  const fetched: string[] = [];
  const fetch = (url: string) => {
    fetched.push(url);
    const body = files[new URL(url).pathname];
    if (body === undefined) return Promise.reject(new TypeError('Failed to fetch'));
    if (typeof body === 'number') return Promise.resolve(new Response('', { status: body }));
    return Promise.resolve(new Response(body, { headers: { 'content-type': 'text/plain' } }));
  };
  const shell = (entries: ManifestEntry[]) =>
    new AppShell(entries, BASE, caches as unknown as CacheStorage, fetch);
  return { caches, fetched, shell };
}

describe('AppShell', () => {
  it('caches every listed file at install and answers for them, not for others', async () => {
    const { shell } = setup({ '/index.html': 'v1 page', '/assets/app-abc.js': 'code' });
    const s = shell([{ url: 'index.html', revision: 'r1' }, 'assets/app-abc.js']);
    await s.install();
    expect(await (await s.match('https://app.example/index.html'))?.text()).toBe('v1 page');
    expect(await (await s.match('https://app.example/assets/app-abc.js#x'))?.text()).toBe('code');
    expect(s.has('https://app.example/assets/app-abc.js')).toBe(true);
    expect(s.has('https://app.example/assets/other.js')).toBe(false);
    expect(await s.match('https://app.example/assets/other.js')).toBeUndefined();
  });

  it('fetches only what changed when a new build installs, and drops the old build at activation', async () => {
    const { shell, fetched, caches } = setup({ '/index.html': 'v1 page', '/assets/app-abc.js': 'code' });
    await shell([{ url: 'index.html', revision: 'r1' }, 'assets/app-abc.js']).install();
    fetched.length = 0;

    const next = new AppShell(
      [{ url: 'index.html', revision: 'r2' }, 'assets/app-abc.js', 'assets/new-def.js'],
      BASE,
      caches as unknown as CacheStorage,
      (url) => {
        fetched.push(url);
        const path = new URL(url).pathname;
        return Promise.resolve(new Response(path === '/index.html' ? 'v2 page' : 'new code'));
      },
    );
    await next.install();
    expect(fetched.sort()).toEqual([
      'https://app.example/assets/new-def.js',
      'https://app.example/index.html',
    ]);
    expect(caches.stores.get(APP_SHELL_CACHE)?.size).toBe(4); // both pages until activation
    await next.activate();
    expect(caches.stores.get(APP_SHELL_CACHE)?.size).toBe(3);
    expect(await (await next.match('https://app.example/index.html'))?.text()).toBe('v2 page');
  });

  it('fails the install when a listed file cannot be fetched, so a half shell never takes over', async () => {
    const { shell } = setup({ '/index.html': 'page', '/assets/gone.js': 404 });
    await expect(shell(['index.html', 'assets/gone.js']).install()).rejects.toThrow(/gone\.js answered 404/);
    await expect(shell(['index.html', 'assets/missing.js']).install()).rejects.toThrow(/Failed to fetch/);
  });

  it("deletes Workbox's precache of earlier versions of the worker at activation", async () => {
    const { shell, caches } = setup({ '/index.html': 'page' });
    await caches.open('workbox-precache-v2-https://app.example/');
    await caches.open('someone-elses-cache');
    const s = shell(['index.html']);
    await s.install();
    await s.activate();
    expect(await caches.keys()).toEqual(['someone-elses-cache', APP_SHELL_CACHE]);
  });

  it('stores a redirected page under a response of its own (a navigation cannot use a redirect)', async () => {
    const caches = new MemoryCaches();
    const redirected = new Response('page');
    Object.defineProperty(redirected, 'redirected', { value: true });
    const s = new AppShell(['index.html'], BASE, caches as unknown as CacheStorage, () =>
      Promise.resolve(redirected),
    );
    await s.install();
    const cached = await s.match('https://app.example/index.html');
    expect(cached?.redirected).toBe(false);
    expect(await cached?.text()).toBe('page');
  });
});
