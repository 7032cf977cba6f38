/**
 * Bearer tokens: a JWT access token checked locally against the IdP's JWKS, or any token checked
 * by RFC 7662 introspection with the result cached until the token expires.
 */

import type * as OpenIdClient from 'openid-client';
import { createJwtVerifier, JwtVerificationError, type JwtVerifier } from 'tollgate/jwt';
import {
  BoundedCache,
  cacheKey,
  type DependencyHealth,
  type GatewayRequest,
  type GatewayServices,
  type PluginLogger,
  trimAsciiSpace,
} from '../../index.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { type Client, type Discovered, describe, unreachable } from './provider.ts';
import { userinfoHeader } from './urls.ts';

/** The token of an `Authorization: Bearer` header (scheme case-insensitive), or null. */
export function bearerToken(req: GatewayRequest): string | null {
  const auth = req.headers.authorization;
  if (typeof auth !== 'string' || auth.length < 8 || auth.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  const token = trimAsciiSpace(auth.slice(7));
  return token === '' ? null : token;
}

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

/**
 * Distinct tokens waiting for the IdP's introspection answer at most. The IdP has 16 connections;
 * past this many waiting calls a slow IdP is not keeping up, and each further token (attacker-chosen:
 * a flood of made-up tokens costs nothing to send) is answered 503 at once instead of holding a
 * request, a promise and a queued call until `timeout`.
 */
export const MAX_WAITING_INTROSPECTIONS = 256;

/** Introspection results kept at most (entries and bytes): tokens are attacker-chosen keys. */
const INTROSPECTION_CACHE = { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024 };

/**
 * An inactive result, or the IdP's refusal to introspect the token, is kept this long at most: such
 * a token never becomes active (RFC 7662 2.2: expired, revoked or never issued), and a client
 * retrying it, or one replaying a bad token on purpose, would otherwise cost an IdP call each time.
 */
const INACTIVE_TTL_SECONDS = 60;
const INACTIVE: Readonly<Record<string, unknown>> = Object.freeze({});

/** RFC 7662 introspection, an active result cached until the token's `exp` (at most `maxTtl` seconds). */
export function introspectionCheck(client: Client, config: OpenIdClient.Configuration, maxTtl: number): TokenCheck {
  const inactiveMs = Math.min(maxTtl, INACTIVE_TTL_SECONDS) * 1000;
  const cache = new BoundedCache<Readonly<Record<string, unknown>>>({
    ...INTROSPECTION_CACHE,
    sizeOf: (claims) => JSON.stringify(claims).length,
  });
  /**
   * Introspections under way, by token: requests with a token being introspected share the call.
   * Without this a client sending one token many times at once (or replaying it while a slow IdP
   * has not answered yet) cost an IdP call per request, each holding one of the 16 connections.
   */
  const pending = new Map<string, Promise<Readonly<Record<string, unknown>> | null>>();
  return {
    health: () => [],
    check(token) {
      const hit = cache.get(token);
      if (hit !== undefined) return Promise.resolve(hit === INACTIVE ? null : hit);
      // Keyed by a digest past 256 characters, as every cache of request data is: V8 hashes a
      // string over 16 KiB by its length alone, so long tokens of one length would share a bucket.
      const key = cacheKey(token);
      let p = pending.get(key);
      if (p === undefined) {
        if (pending.size >= MAX_WAITING_INTROSPECTIONS)
          return Promise.reject(new Error(`${pending.size} introspections already waiting for the IdP`));
        p = introspect(token).finally(() => pending.delete(key));
        pending.set(key, p);
      }
      return p;
    },
  };

  async function introspect(token: string): Promise<Readonly<Record<string, unknown>> | null> {
    let result: OpenIdClient.IntrospectionResponse;
    try {
      result = await client.tokenIntrospection(config, token);
    } catch (err) {
      // The IdP answered with an OAuth error about this token (oidc-provider refuses to introspect
      // JWTs, say): a refusal. Transport failures, and a 429 (the IdP rate-limiting the gateway,
      // RFC 6585, not judging the token), propagate as "IdP unreachable".
      if (err instanceof client.ResponseBodyError && !unreachable(err)) return inactive(token);
      throw err;
    }
    if (result.active !== true) return inactive(token);
    const now = Math.floor(Date.now() / 1000);
    if (typeof result.exp === 'number' && result.exp <= now) return null;
    const claims = { ...result } as Record<string, unknown>;
    const ttl = Math.min(maxTtl, typeof result.exp === 'number' ? result.exp - now : maxTtl);
    if (ttl > 0) cache.set(token, claims, ttl * 1000);
    return claims;
  }

  function inactive(token: string): null {
    if (inactiveMs > 0) cache.set(token, INACTIVE, inactiveMs);
    return null;
  }
}

/** What `BearerTokens` checks tokens with. */
export interface BearerOptions extends JwtCheckOptions {
  /** Tokens are introspected (introspection_endpoint) instead of verified against the JWKS. */
  readonly introspection: boolean;
  /** Seconds an active introspection result is reused at most. */
  readonly introspectionCacheTtl: number;
  /** The discovered IdP, or null while it cannot be reached. */
  readonly ensure: () => Promise<Discovered | null>;
  readonly log: PluginLogger;
}

/** The token check of a plugin instance, made again when the discovered IdP changes. */
export class BearerTokens {
  readonly #options: BearerOptions;
  #for: Discovered | null = null;
  #current: TokenCheck | null = null;
  /**
   * While the JWKS or introspection endpoint cannot be reached every bearer request fails its
   * check: one error line a second, with the count held back, not a line per request.
   */
  readonly #unreachable: RepeatedWarning;

  constructor(options: BearerOptions) {
    this.#options = options;
    this.#unreachable = new RepeatedWarning(
      options.log,
      'oidc bearer token could not be verified: IdP unreachable',
      1000,
      'error',
    );
  }

  /** A token's verified claims; null for a refused token, undefined when the IdP cannot be asked. */
  async verify(token: string): Promise<Readonly<Record<string, unknown>> | null | undefined> {
    const d = await this.#options.ensure();
    if (d === null) return undefined;
    try {
      return await this.#check(d).check(token);
    } catch (err) {
      this.#unreachable.report({ error: describe(err) });
      return undefined;
    }
  }

  #check(d: Discovered): TokenCheck {
    if (this.#for !== d || this.#current === null) {
      const o = this.#options;
      this.#current =
        o.introspection && d.introspection !== null
          ? introspectionCheck(d.client, d.introspection, o.introspectionCacheTtl)
          : jwtCheck(d, o);
      this.#for = d;
    }
    return this.#current;
  }

  health(): DependencyHealth[] {
    return this.#current?.health() ?? [];
  }
}

/** Passes a verified token's identity on: X-Userinfo (unless disabled) and the gateway's credential. */
export function authenticateBearer(
  req: GatewayRequest,
  claims: Readonly<Record<string, unknown>>,
  userinfo: boolean,
): void {
  if (userinfo) req.setUpstreamHeader('x-userinfo', userinfoHeader(claims));
  const sub = typeof claims.sub === 'string' ? claims.sub : '';
  // A JWT's claims, or what the IdP's introspection answer says about the token (RFC 7662):
  // both come from the IdP, never from the client.
  req.authenticate(null, { id: sub, type: 'oidc', identifier: sub, consumer_id: null }, { claims });
}
