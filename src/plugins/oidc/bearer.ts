/**
 * `bearer_only` verification: a JWT access token checked locally against the IdP's JWKS, or any
 * token checked by RFC 7662 introspection with the result cached until the token expires.
 */

import { LRUCache } from 'lru-cache';
import * as client from 'openid-client';
import { createJwtVerifier, type GatewayServices, JwtVerificationError } from '../../index.ts';
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
  /** Shares the JWKS cache across reloads and with the jwt plugin (when TLS is verified). */
  readonly services: Pick<GatewayServices, 'shared' | 'http'>;
}

/**
 * A local JWT check against the discovered issuer and JWKS, through the jwt plugin's shared
 * verifier (pinned algorithms, JWKS refetched on an unknown kid, verified-token cache).
 */
export function jwtCheck(discovered: Discovered, options: JwtCheckOptions): TokenCheck {
  if (discovered.jwksUri === undefined) return async () => null;
  const verifier = createJwtVerifier({
    jwksUri: discovered.jwksUri,
    issuers: [discovered.issuer],
    audiences: options.audiences,
    algorithms: options.algorithms,
    // With ssl_verify off the gateway's pooled client (which verifies TLS) cannot be used.
    ...(discovered.fetch
      ? { jwks: { timeoutMs: options.timeout, fetch: discovered.fetch } }
      : { services: options.services, jwks: { timeoutMs: options.timeout } }),
  });
  // Surfaces per request (as a 503) instead of as an unhandled rejection.
  verifier.catch(() => undefined);
  return async (token) => {
    try {
      const { claims } = await (await verifier).verify(token);
      return claims as Record<string, unknown>;
    } catch (err) {
      if (err instanceof JwtVerificationError && err.code !== 'key_unavailable') return null;
      throw err;
    }
  };
}

interface CachedIntrospection {
  readonly claims: Record<string, unknown>;
}

/** RFC 7662 introspection, an active result cached until the token's `exp` (at most `maxTtl` seconds). */
export function introspectionCheck(config: client.Configuration, maxTtl: number): TokenCheck {
  const cache = new LRUCache<string, CachedIntrospection>({ max: 10_000, ttlAutopurge: false });
  return async (token) => {
    const hit = cache.get(token);
    if (hit) return hit.claims;
    let result: client.IntrospectionResponse;
    try {
      result = await client.tokenIntrospection(config, token);
    } catch (err) {
      // The IdP answered with an OAuth error about this token (oidc-provider refuses to introspect
      // JWTs, say): a refusal. Transport failures propagate as "IdP unreachable".
      if (err instanceof client.ResponseBodyError) return null;
      throw err;
    }
    if (result.active !== true) return null;
    const now = Math.floor(Date.now() / 1000);
    if (typeof result.exp === 'number' && result.exp <= now) return null;
    const claims = { ...result } as Record<string, unknown>;
    const ttl = Math.min(maxTtl, typeof result.exp === 'number' ? result.exp - now : maxTtl);
    if (ttl > 0) cache.set(token, { claims }, { ttl: ttl * 1000 });
    return claims;
  };
}
