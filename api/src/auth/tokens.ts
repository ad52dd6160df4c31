import Jwt from '@hapi/jwt';

/** Who a request acts for, after authentication. */
export type Credentials =
  | { kind: 'user'; sub: string; exp: number }
  | { kind: 'agent'; sub: string; org: string; agent: string; exp: number }
  | { kind: 'stream'; sub: string; taskId: string; exp: number };

export interface StreamTokenSettings {
  secret: string;
  audience: string;
  ttlSeconds: number;
  clockSkewSeconds: number;
}

export class TokenError extends Error {
  constructor(
    message: string,
    readonly expired = false,
  ) {
    super(message);
  }
}

/** A short-lived JWT bound to one user and one task, accepted only by that task's stream route. */
export function mintStreamToken(
  settings: StreamTokenSettings,
  sub: string,
  taskId: string,
  nowMs = Date.now(),
): { token: string; expiresAt: Date } {
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + settings.ttlSeconds;
  const token = Jwt.token.generate(
    { sub, taskId, aud: settings.audience, iat, exp },
    { key: settings.secret, algorithm: 'HS256' },
    { iat: false },
  );
  return { token, expiresAt: new Date(exp * 1000) };
}

/** Verifies signature (HS256 only), audience and time; throws TokenError. */
export function verifyStreamToken(
  settings: StreamTokenSettings,
  token: string,
): Credentials & { kind: 'stream' } {
  let artifacts;
  try {
    artifacts = Jwt.token.decode(token);
  } catch {
    throw new TokenError('Malformed token');
  }
  try {
    Jwt.token.verify(
      artifacts,
      { key: settings.secret, algorithm: 'HS256' },
      { aud: settings.audience, iss: false, sub: false, timeSkewSec: settings.clockSkewSeconds },
    );
  } catch (error) {
    const message = error instanceof Error ? error.message : '';
    throw new TokenError(
      /expired/i.test(message) ? 'Token expired' : 'Invalid token',
      /expired/i.test(message),
    );
  }
  const payload = artifacts.decoded.payload as Record<string, unknown>;
  if (
    typeof payload.exp !== 'number' ||
    typeof payload.sub !== 'string' ||
    typeof payload.taskId !== 'string'
  )
    throw new TokenError('Invalid token');
  return { kind: 'stream', sub: payload.sub, taskId: payload.taskId, exp: payload.exp };
}

export interface DevTokenSettings {
  secret: string;
  ttlSeconds: number;
  userAudience: string;
  agentAudience: string;
}

/** Dev mode only: user tokens, or agent tokens bound to an org/agent. */
export function mintDevToken(
  settings: DevTokenSettings,
  claims: { sub: string; role: 'user' | 'agent'; org?: string; agent?: string },
  nowMs = Date.now(),
): { token: string; expiresAt: Date } {
  const iat = Math.floor(nowMs / 1000);
  const exp = iat + settings.ttlSeconds;
  const payload =
    claims.role === 'agent'
      ? { sub: claims.sub, aud: settings.agentAudience, org: claims.org, agent: claims.agent, iat, exp }
      : { sub: claims.sub, aud: settings.userAudience, iat, exp };
  const token = Jwt.token.generate(payload, { key: settings.secret, algorithm: 'HS256' }, { iat: false });
  return { token, expiresAt: new Date(exp * 1000) };
}
