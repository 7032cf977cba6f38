/**
 * Bearer tokens: a JWT access token checked locally against the IdP's JWKS, or any token checked
 * by RFC 7662 introspection with the result cached until the token expires.
 */

import type * as OpenIdClient from 'openid-client';
import { createJwtVerifier, JwtVerificationError, type JwtVerifier } from 'tollgate/jwt';
import { BoundedCache, type DependencyHealth, type GatewayServices } from '../../index.ts';
import type { Client, Discovered } from './provider.ts';

/**
 * Verifies one token. `check` resolves with the claims of an accepted token, or null for a token
 * that must be refused; it rejects when the IdP could not be asked (JWKS or introspection endpoint
 * unreachable): that is a 503, not a 401.
 */
export interface TokenCheck {
  check(token: string): Promise<Readonly<Record<string, unknown>> | null>;
  /** The JWKS endpoint's state, when tokens are checked against one. */
  health(): DependencyHealth[];
}

export interface JwtCheckOptions {
  readonly audiences: readonly string[];
  readonly algorithms: readonly string[];
  /** Milliseconds for a JWKS fetch. */
  readonly timeout: number;
  /** Shares the JWKS cache across reloads and with the jwt plugin (when TLS is verified). */
  readonly services: Pick<GatewayServices, 'shared' | 'http'>;
}

/**
 * A local JWT check against the discovered issuer and JWKS, through the shared verifier of
 * `tollgate/jwt` (pinned algorithms, JWKS refetched on an unknown kid, verified-token cache).
 */
export function jwtCheck(discovered: Discovered, options: JwtCheckOptions): TokenCheck {
  if (discovered.jwksUri === undefined) return { check: async () => null, health: () => [] };
  let verifier: JwtVerifier | null = null;
  const pending = createJwtVerifier({
    jwksUri: discovered.jwksUri,
    issuers: [discovered.issuer],
    audiences: options.audiences,
    algorithms: options.algorithms,
    // With ssl_verify off the gateway's pooled client (which verifies TLS) cannot be used.
    ...(discovered.fetch
      ? { jwks: { timeoutMs: options.timeout, fetch: discovered.fetch } }
      : { services: options.services, jwks: { timeoutMs: options.timeout } }),
  }).then((v) => {
    verifier = v;
    v.prefetch();
    return v;
  });
  // Surfaces per request (as a 503) instead of as an unhandled rejection.
  pending.catch(() => undefined);
  return {
    health: () => verifier?.health() ?? [],
    async check(token) {
      try {
        const { claims } = await (verifier ?? (await pending)).verify(token);
        return claims;
      } catch (err) {
        if (err instanceof JwtVerificationError && err.code !== 'key_unavailable') return null;
        throw err;
      }
    },
  };
}

/** Introspection results kept at most (entries and bytes): tokens are attacker-chosen keys. */
const INTROSPECTION_CACHE = { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 };

/** RFC 7662 introspection, an active result cached until the token's `exp` (at most `maxTtl` seconds). */
export function introspectionCheck(client: Client, config: OpenIdClient.Configuration, maxTtl: number): TokenCheck {
  const cache = new BoundedCache<Readonly<Record<string, unknown>>>({
    ...INTROSPECTION_CACHE,
    sizeOf: (claims) => JSON.stringify(claims).length,
  });
  return {
    health: () => [],
    async check(token) {
      const hit = cache.get(token);
      if (hit) return hit;
      let result: OpenIdClient.IntrospectionResponse;
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
      if (ttl > 0) cache.set(token, claims, ttl * 1000);
      return claims;
    },
  };
}
