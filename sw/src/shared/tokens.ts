/**
 * Why a token could not be had. `status` is the HTTP status of a failed mint, when there was one;
 * `cors`: the API answers, but not to this page's origin (not in its CORS_ORIGINS).
 */
export type TokenErrorCode =
  'http' | 'network' | 'cors' | 'no-client' | 'not-watching' | 'timeout' | 'failed';

export class StreamTokenError extends Error {
  override readonly name = 'StreamTokenError';
  readonly code: TokenErrorCode;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: { code: TokenErrorCode; status?: number; retryAfterMs?: number }) {
    super(message);
    this.code = options.code;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Where a session gets its credentials. Neither is ever stored by the session. */
export interface SessionTokens {
  /** A fresh stream token for the task; called before every connection attempt. */
  streamToken(): Promise<string>;
  /** A user token for one poll of the messages route; `fresh` after a 401. */
  userToken(fresh: boolean): Promise<string>;
}
