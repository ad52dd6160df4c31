import { afterEach, describe, expect, it, vi } from 'vitest';
import { mintStreamToken } from './mint.js';
import type { StreamTokenError } from '../shared/tokens.js';

const TOKEN_URL = 'https://api.example/agent-to-agent/o/a/tasks/t1/stream-token';

/** A browser's fetch as seen from a page: a cross-origin POST the CORS check refused fails like
 * a dead network, while an opaque `no-cors` request to a reachable API succeeds. */
function browserFetch(api: { reachable: boolean; allowsOrigin: boolean }) {
  const calls: Array<{ url: string; mode: RequestMode | undefined }> = [];
  const fetch = vi.fn((url: string, init?: RequestInit) => {
    calls.push({ url, mode: init?.mode });
    if (!api.reachable || (init?.mode !== 'no-cors' && !api.allowsOrigin))
      return Promise.reject(new TypeError('Failed to fetch'));
    if (init?.mode === 'no-cors') return Promise.resolve(new Response(null, { status: 200 }));
    return Promise.resolve(Response.json({ token: 'tok', expiresAt: new Date().toISOString() }));
  });
  return { fetch, calls };
}

async function mintError(fetch: ReturnType<typeof browserFetch>['fetch'], url = TOKEN_URL) {
  return mintStreamToken(fetch, url, 'user').then(
    () => expect.unreachable('the mint should fail'),
    (e: StreamTokenError) => e,
  );
}

describe('mintStreamToken from a page', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('tells a CORS refusal from a network failure, and says what to change', async () => {
    vi.stubGlobal('location', new URL('https://partner.example/page.html'));
    const { fetch, calls } = browserFetch({ reachable: true, allowsOrigin: false });
    const e = await mintError(fetch);
    expect(e.code).toBe('cors');
    expect(e.message).toContain('https://api.example');
    expect(e.message).toContain('https://partner.example');
    expect(e.message).toContain('CORS_ORIGINS');
    expect(calls.map((c) => c.mode)).toEqual([undefined, 'no-cors']);
  });

  it('reports a network failure when the API cannot be reached at all', async () => {
    vi.stubGlobal('location', new URL('https://partner.example/page.html'));
    const e = await mintError(browserFetch({ reachable: false, allowsOrigin: false }).fetch);
    expect(e.code).toBe('network');
  });

  it('never suspects CORS for an API on the page origin', async () => {
    vi.stubGlobal('location', new URL('https://api.example/app/'));
    const { fetch, calls } = browserFetch({ reachable: true, allowsOrigin: false });
    const e = await mintError(fetch);
    expect(e.code).toBe('network');
    expect(calls).toHaveLength(1);
  });

  it('mints as before when the origin is allowed', async () => {
    vi.stubGlobal('location', new URL('https://partner.example/page.html'));
    const res = await mintStreamToken(
      browserFetch({ reachable: true, allowsOrigin: true }).fetch,
      TOKEN_URL,
      'u',
    );
    expect(res.token).toBe('tok');
  });
});
