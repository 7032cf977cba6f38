/**
 * `bearer_only` verification: a JWT access token checked locally against the IdP's JWKS, or any
 * token checked by RFC 7662 introspection with the result cached until the token expires.
 */
import { createRemoteJWKSet, customFetch, jwtVerify, type FetchImplementation, type JWTPayload } from 'jose';
import * as client from 'openid-client';
import { LRUCache } from 'lru-cache';
import type { Discovered } from './provider.ts';

/**
 * Claims of an accepted token, or null for a token that must be refused. Rejects (throws) when
 * the IdP could not be asked (JWKS or introspection endpoint unreachable): that is a 503, not a 401.
 */
export type TokenCheck = (token: string) => Promise<Record<string, unknown> | null>;

export interface JwtCheckOptions {
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  /** Milliseconds for a JWKS fetch. */
  readonly timeout: number;
}

/**
 * A local JWT check against the discovered issuer and JWKS.
 *
 * Kept behind this small function so it can move onto the jwt plugin's shared verifier
 * (`createJwtVerifier`) without touching the plugin.
 */
export function jwtCheck(discovered: Discovered, options: JwtCheckOptions): TokenCheck {
  if (discovered.jwksUri === undefined) return async () => null;
  const jwks = createRemoteJWKSet(new URL(discovered.jwksUri), {
    timeoutDuration: options.timeout,
    ...(discovered.fetch ? { [customFetch]: discovered.fetch as unknown as FetchImplementation } : {}),
  });
  const verifyOptions = {
    issuer: discovered.issuer,
    audience: [...options.audiences],
    algorithms: [...options.algorithms],
    requiredClaims: ['exp'],
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify<JWTPayload>(token, jwks, verifyOptions);
      return payload as Record<string, unknown>;
    } catch (err) {
      if (TOKEN_ERRORS.has((err as { code?: string }).code ?? '')) return null;
      throw err;
    }
  };
}

/** jose errors that judge the token itself (everything else is about reaching the JWKS). */
const TOKEN_ERRORS: ReadonlySet<string> = new Set([
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

interface CachedIntrospection {
  readonly claims: Record<string, unknown>;
}

/** RFC 7662 introspection, an active result cached until the token's `exp` (at most `maxTtl` seconds). */
export function introspectionCheck(config: client.Configuration, maxTtl: number): TokenCheck {
  const cache = new LRUCache<string, CachedIntrospection>({ max: 10_000, ttlAutopurge: false });
  return async (token) => {
    const hit = cache.get(token);
    if (hit) return hit.claims;
    const result = await client.tokenIntrospection(config, token);
    if (result.active !== true) return null;
    const now = Math.floor(Date.now() / 1000);
    if (typeof result.exp === 'number' && result.exp <= now) return null;
    const claims = { ...result } as Record<string, unknown>;
    const ttl = Math.min(maxTtl, typeof result.exp === 'number' ? result.exp - now : maxTtl);
    if (ttl > 0) cache.set(token, { claims }, { ttl: ttl * 1000 });
    return claims;
  };
}
