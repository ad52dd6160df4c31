import { CORS_BLOCKED_REASON, type StreamTokenResponse } from '@orchestrator-ai/transport-types';
import { parseRetryAfter } from '../shared/backoff.js';
import type { FetchLike } from '../shared/timers.js';
import { StreamTokenError } from '../shared/tokens.js';

/** The host app's user token; a failure to produce one counts as unauthenticated (401). */
export async function accessToken(getAccessToken: () => string | Promise<string>): Promise<string> {
  let token: string;
  try {
    token = await getAccessToken();
  } catch (err) {
    throw new StreamTokenError(`no user token: ${err instanceof Error ? err.message : String(err)}`, {
      code: 'http',
      status: 401,
    });
  }
  if (typeof token !== 'string' || token.length === 0) {
    throw new StreamTokenError('no user token', { code: 'http', status: 401 });
  }
  return token;
}

/** `POST …/stream-token` with the user token: a short-lived token for one task's stream. */
export async function mintStreamToken(
  fetch: FetchLike,
  tokenUrl: string,
  userToken: string,
): Promise<StreamTokenResponse> {
  let res: Response;
  try {
    res = await fetch(tokenUrl, {
      method: 'POST',
      headers: { Authorization: `Bearer ${userToken}`, Accept: 'application/json' },
      cache: 'no-store',
    });
  } catch (err) {
    const refusedBy = await corsRefusal(fetch, tokenUrl);
    if (refusedBy)
      throw new StreamTokenError(
        `${CORS_BLOCKED_REASON}: the API (${refusedBy}) does not allow this page's origin (${globalThis.location.origin}); add it to the API's CORS_ORIGINS`,
        { code: 'cors' },
      );
    throw new StreamTokenError(`network: ${err instanceof Error ? err.message : String(err)}`, {
      code: 'network',
    });
  }
  if (!res.ok) {
    let code = '';
    try {
      const body = (await res.json()) as { code?: unknown };
      if (typeof body.code === 'string') code = ` ${body.code}`;
    } catch {
      // no JSON body
    }
    const opts: { code: 'http'; status: number; retryAfterMs?: number } = {
      code: 'http',
      status: res.status,
    };
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
    if (retryAfterMs !== undefined) opts.retryAfterMs = retryAfterMs;
    throw new StreamTokenError(`stream token refused: ${res.status}${code}`, opts);
  }
  const body = (await res.json().catch(() => undefined)) as Partial<StreamTokenResponse> | undefined;
  if (!body || typeof body.token !== 'string' || body.token.length === 0) {
    throw new StreamTokenError('stream token response without a token', { code: 'failed' });
  }
  return body as StreamTokenResponse;
}

/**
 * A browser reports a request its CORS check refused exactly like a network failure. A request
 * that needs no CORS answer (`no-cors`, opaque) tells them apart: it succeeds when the API is
 * reachable. Only for an API on another origin; offline, both fail. Answers the API's origin
 * when it refused this page, else undefined.
 */
async function corsRefusal(fetch: FetchLike, url: string): Promise<string | undefined> {
  const here = globalThis.location;
  if (!here?.origin || here.origin === 'null') return undefined;
  let target: URL;
  try {
    target = new URL(url, here.href);
  } catch {
    return undefined;
  }
  if (target.origin === here.origin) return undefined;
  try {
    await fetch(target.href, { mode: 'no-cors', cache: 'no-store', credentials: 'omit' });
    return target.origin;
  } catch {
    return undefined;
  }
}

export interface Minter {
  getAccessToken: () => string | Promise<string>;
  fetch: FetchLike;
}
