import type { Request } from '@hapi/hapi';

/** CORS headers for responses written outside hapi's pipeline (SSE), from the same allow-list. */
export function corsHeadersFor(request: Request, allowed: readonly string[]): Record<string, string> {
  const origin = request.headers.origin as string | undefined;
  if (!origin || !(allowed.includes(origin) || allowed.includes('*'))) return {};
  return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
}
