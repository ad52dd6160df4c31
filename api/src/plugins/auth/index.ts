import Boom from '@hapi/boom';
import Jwt from '@hapi/jwt';
import type { AuthCredentials, Plugin, Request, ResponseToolkit, Server } from '@hapi/hapi';
import Joi from 'joi';
import { ErrorCode, routes } from '@orchestrator-ai/transport-types';
import type { Config } from '../../config.js';
import { mintDevToken, TokenError, verifyStreamToken, type Credentials } from '../../auth/tokens.js';
import { VerifiedTokens } from '../../auth/verified-tokens.js';

declare module '@hapi/hapi' {
  interface AuthCredentials {
    kind?: Credentials['kind'];
    sub?: string;
    exp?: number;
    taskId?: string;
    org?: string;
    agent?: string;
  }
}

export interface AuthOptions {
  config: Config;
}

export const STRATEGY = { user: 'user', agent: 'agent', stream: 'stream' } as const;

/** The `@hapi/jwt` strategies that verify a bearer token the first time `STRATEGY.user`/`agent` see it. */
const VERIFIED_BY = { user: 'user-jwt', agent: 'agent-jwt' } as const;

/**
 * Three credentials: user tokens (the host app's JWTs), agent tokens (bound to org/agent), and
 * our own stream tokens (bound to user and task, read from `?token=` because EventSource cannot
 * send headers). In dev mode a token route lets the demo sign in.
 */
export const authPlugin: Plugin<AuthOptions> = {
  name: 'auth',
  dependencies: [],
  async register(server: Server, { config }: AuthOptions) {
    await server.register(Jwt);

    const keys = config.jwksUri
      ? { uri: config.jwksUri }
      : config.jwtPublicKey
        ? { key: config.jwtPublicKey, algorithms: ['RS256', 'ES256'] as ('RS256' | 'ES256')[] }
        : { key: config.jwtSecret, algorithms: ['HS256'] as 'HS256'[] };
    const verify = (aud: string) => ({
      aud,
      iss: false as const,
      sub: false as const,
      nbf: true,
      exp: true,
      maxAgeSec: 0,
      timeSkewSec: config.clockSkewSeconds,
    });

    server.auth.strategy(VERIFIED_BY.user, 'jwt', {
      keys,
      verify: verify(config.userTokenAudience),
      validate: (artifacts: { decoded: { payload: Record<string, unknown> } }) => {
        const p = artifacts.decoded.payload;
        // @hapi/jwt checks exp only when present: a token without one never expires, so refuse it.
        if (typeof p.exp !== 'number' || typeof p.sub !== 'string' || p.sub === '') return { isValid: false };
        return { isValid: true, credentials: { kind: 'user', sub: p.sub, exp: p.exp } };
      },
    });

    server.auth.strategy(VERIFIED_BY.agent, 'jwt', {
      keys,
      verify: verify(config.agentTokenAudience),
      validate: (artifacts: { decoded: { payload: Record<string, unknown> } }) => {
        const p = artifacts.decoded.payload;
        if (typeof p.exp !== 'number' || typeof p.org !== 'string' || typeof p.agent !== 'string')
          return { isValid: false };
        return {
          isValid: true,
          credentials: {
            kind: 'agent',
            sub: String(p.sub ?? p.agent),
            org: p.org,
            agent: p.agent,
            exp: p.exp,
          },
        };
      },
    });

    server.auth.scheme('verified-bearer', (_server, options) => {
      const { verifiedBy } = options as { verifiedBy: string };
      const verified = new VerifiedTokens<AuthCredentials>();
      return {
        async authenticate(request: Request, h: ResponseToolkit) {
          const value: unknown = request.headers.authorization;
          const header = typeof value === 'string' && value !== '' ? value : undefined;
          const known = header === undefined ? undefined : verified.get(header);
          if (known) return h.authenticated({ credentials: known });
          // Throws the strategy's own 401 (missing, malformed, expired…), WWW-Authenticate included.
          const { credentials, artifacts } = await request.server.auth.test(verifiedBy, request);
          // Frozen: later requests with the same token share this object.
          if (header !== undefined && typeof credentials.exp === 'number')
            verified.set(header, Object.freeze(credentials), credentials.exp * 1000);
          return h.authenticated({ credentials, artifacts });
        },
      };
    });
    server.auth.strategy(STRATEGY.user, 'verified-bearer', { verifiedBy: VERIFIED_BY.user });
    server.auth.strategy(STRATEGY.agent, 'verified-bearer', { verifiedBy: VERIFIED_BY.agent });

    const streamSettings = {
      secret: config.streamTokenSecret,
      audience: config.streamTokenAudience,
      ttlSeconds: config.streamTokenTtlSeconds,
      clockSkewSeconds: config.clockSkewSeconds,
    };
    server.auth.scheme('stream-token', () => ({
      async authenticate(request: Request, h: ResponseToolkit) {
        const queryToken = request.query.token;
        if (typeof queryToken === 'string' && queryToken !== '') {
          try {
            return h.authenticated({ credentials: verifyStreamToken(streamSettings, queryToken) });
          } catch (error) {
            throw unauthorized(error instanceof TokenError && error.expired);
          }
        }
        if (request.headers.authorization) {
          try {
            const { credentials } = await request.server.auth.test(STRATEGY.user, request);
            return h.authenticated({ credentials });
          } catch {
            throw unauthorized(false);
          }
        }
        throw unauthorized(false, 'A stream token (?token=) or a user Bearer token is required');
      },
    }));
    server.auth.strategy(STRATEGY.stream, 'stream-token');

    if (config.authMode === 'dev') {
      server.route({
        method: 'POST',
        path: routes.devToken,
        options: {
          auth: false,
          description: 'Dev mode only: issue a user or agent token',
          tags: ['api', 'dev'],
          cache: { otherwise: 'no-store' },
          validate: {
            payload: Joi.object({
              sub: Joi.string().min(1).max(200).required(),
              role: Joi.string().valid('user', 'agent').default('user'),
              org: Joi.string().min(1).max(200).when('role', { is: 'agent', then: Joi.required() }),
              agent: Joi.string().min(1).max(200).when('role', { is: 'agent', then: Joi.required() }),
            }).label('DevTokenRequest'),
          },
        },
        handler(request) {
          const body = request.payload as {
            sub: string;
            role: 'user' | 'agent';
            org?: string;
            agent?: string;
          };
          const { token, expiresAt } = mintDevToken(
            {
              secret: config.jwtSecret,
              ttlSeconds: config.devTokenTtlSeconds,
              userAudience: config.userTokenAudience,
              agentAudience: config.agentTokenAudience,
            },
            body,
          );
          return { token, expiresAt: expiresAt.toISOString() };
        },
      });
    }
  },
};

function unauthorized(expired: boolean, message?: string) {
  const error = Boom.unauthorized(
    message ?? (expired ? 'The token has expired' : 'Invalid or missing token'),
  );
  error.data = { code: expired ? ErrorCode.TokenExpired : ErrorCode.Unauthorized };
  return error;
}
