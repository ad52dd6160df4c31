import { createHmac } from 'node:crypto';

/**
 * HS256 JWTs, minted by the bench itself with the JWT_SECRET it gives the API (the same claims the
 * API's own dev-token and stream-token routes put in them). 10,000 stream tokens this way cost
 * nothing on the server under test.
 */
export function signHs256(payload: Record<string, unknown>, secret: string): string {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);

export function userToken(secret: string, sub: string, ttlSec = 7200): string {
  return signHs256({ sub, aud: 'user', iat: now(), exp: now() + ttlSec }, secret);
}

export function agentToken(secret: string, org: string, agent: string, ttlSec = 7200): string {
  return signHs256({ sub: agent, aud: 'agent', org, agent, iat: now(), exp: now() + ttlSec }, secret);
}

/** A stream token (aud `stream`, bound to user and task), valid long enough for the soak. */
export function streamToken(secret: string, sub: string, taskId: string, ttlSec = 7200): string {
  return signHs256({ sub, taskId, aud: 'stream', iat: now(), exp: now() + ttlSec }, secret);
}
