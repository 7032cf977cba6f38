// Apart from the JWT helpers (lib/jwt.ts), which load jose: every request context freezes the
// claims it is given, and a gateway whose plugins verify no token should not load a JOSE library.

/**
 * Freezes a claims object and everything in it, so no plugin can change what a token said once it
 * is verified (the same object may be served from the cache to many requests).
 */
export function freezeClaims<T>(claims: T): T {
  if (claims !== null && typeof claims === 'object' && !Object.isFrozen(claims)) {
    Object.freeze(claims);
    for (const v of Object.values(claims)) freezeClaims(v);
  }
  return claims;
}
