import { routes, type DevTokenResponse } from '@orchestrator-ai/transport-types';

/**
 * Dev-mode sign-in for the demo: `?user=<sub>` (default `demo-user`) gets a user token from
 * `POST /auth/dev/token`. The token is kept in sessionStorage per user and renewed a minute
 * before it expires.
 */
export const DEFAULT_USER = 'demo-user';

export function currentUser(search = location.search): string {
  const u = new URLSearchParams(search).get('user')?.trim();
  return u || DEFAULT_USER;
}

interface Held {
  token: string;
  expiresAt: number;
}

export class DevSession {
  private held: Held | undefined;
  private pending: Promise<string> | undefined;

  constructor(
    readonly user: string,
    private readonly apiBase = location.origin,
  ) {
    try {
      const raw = sessionStorage.getItem(this.storageKey);
      if (raw) this.held = JSON.parse(raw) as Held;
    } catch {
      // storage blocked: sign in each time
    }
  }

  private get storageKey(): string {
    return `a2a-demo-token:${this.user}`;
  }

  /** A valid user token (minted or renewed when needed). Pass it as `getAccessToken`. */
  readonly getAccessToken = (): Promise<string> => {
    if (this.held && this.held.expiresAt - Date.now() > 60_000) return Promise.resolve(this.held.token);
    this.pending ??= this.signIn().finally(() => (this.pending = undefined));
    return this.pending;
  };

  private async signIn(): Promise<string> {
    const res = await fetch(`${this.apiBase}${routes.devToken}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub: this.user, role: 'user' }),
    });
    if (!res.ok) {
      throw new Error(
        res.status === 404
          ? 'Dev sign-in is not available: the API runs in production mode.'
          : `Sign-in failed (HTTP ${res.status}).`,
      );
    }
    const body = (await res.json()) as DevTokenResponse;
    this.held = { token: body.token, expiresAt: Date.parse(body.expiresAt) };
    try {
      sessionStorage.setItem(this.storageKey, JSON.stringify(this.held));
    } catch {
      // ignore
    }
    return body.token;
  }
}
