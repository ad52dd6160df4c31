/** `@hapi/jwt`'s signature check, which its strategies call through this module object (tests spy on it). */
declare module '@hapi/jwt/lib/crypto.js' {
  const crypto: {
    verify(raw: { token: string; signature: string }, algorithm: string, key: unknown): boolean;
  };
  export default crypto;
}
