/**
 * The JWKS cache of `tollgate/jwt`: the keys of one `jwks_uri`, fetched within a deadline and a
 * size cap, refreshed in the background, refetched single-flight on an unknown kid.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import type { DependencyHealth, GatewayServices, HttpClient } from '../pipeline/plugin.ts';
import { boundedFetch, MAX_RESPONSE_BYTES } from './bounded-fetch.ts';
import type { VerificationKey } from './jwt.ts';

/**
 * A token without `kid` is checked against at most this many keys fitting its algorithm, in the
 * set's order. IdPs that publish more keys name them by kid in their tokens (Auth0, Okta, Entra ID,
 * Google and Keycloak all do).
 */
export const MAX_KEYS_WITHOUT_KID = 10;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a JWK may verify signatures at all: a key type we verify with, not marked for encryption only. */
function isSigningKey(jwk: JWK): boolean {
  return (jwk.use === undefined || jwk.use === 'sig') && (jwk.kty === 'RSA' || jwk.kty === 'EC' || jwk.kty === 'OKP');
}

/** Checks `alg` against a JWK's kty/crv/alg, so a JWKS key is never used with another algorithm family. */
export function jwkFitsAlg(jwk: JWK, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (alg.startsWith('RS') || alg.startsWith('PS')) return jwk.kty === 'RSA';
  if (alg.startsWith('ES')) {
    const crv = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[alg];
    return jwk.kty === 'EC' && jwk.crv === crv;
  }
  if (alg === 'EdDSA') return jwk.kty === 'OKP' && (jwk.crv === 'Ed25519' || jwk.crv === 'Ed448');
  return false;
}

/**
 * A JWK imported to verify `alg`, or null when it cannot. jose imports Ed25519 keys only for
 * EdDSA; an Ed448 key (RFC 8037) is imported by node:crypto, and verifySignature checks its
 * signatures there.
 */
export async function importVerificationKey(jwk: JWK, alg: string): Promise<VerificationKey | null> {
  try {
    if (alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed448') {
      return createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    }
    const key = await importJWK(jwk, alg);
    return key instanceof Uint8Array ? null : key;
  } catch {
    return null;
  }
}

/** Options of a JWKS cache. */
export interface JwksCacheOptions {
  /** Seconds between two fetches triggered by an unknown kid. Default 30. */
  cooldownSeconds?: number;
  /** Seconds after which a fetched key set is refreshed in the background. Default 600. */
  maxAgeSeconds?: number;
  /** Milliseconds for one fetch, head and body. Default 5000. */
  timeoutMs?: number;
  /** Largest JWKS document accepted, in bytes. Default 1 MiB. */
  maxBytes?: number;
  /**
   * Milliseconds a token may wait for keys it needs and the cache lacks (an unknown kid, or no
   * keys fetched yet). Default 2000, at most `timeoutMs`. Tokens whose key is known never wait.
   */
  waitMs?: number;
  /** A fetch to use instead of the global one when no gateway HTTP client is given (e.g. a loopback-only fetch in tests). */
  fetch?: typeof fetch;
}

/** A background refresh that failed is retried at most this often. */
const MIN_RETRY_MS = 1000;

/**
 * The keys of one `jwks_uri`.
 *
 * jose's `createRemoteJWKSet` is not used: once its cache is older than `cacheMaxAge` every
 * verification waits for the refetch, and a failed refetch fails verifications although the old
 * keys are still good. Here no verification whose key is known ever waits for a fetch: the set is
 * refreshed in the background once older than `maxAgeSeconds`, and the last good keys keep serving
 * whatever the refresh does. A token naming a kid the set does not have triggers one refetch (at
 * most one in flight, at most one per cooldown, or per second after a failed fetch), and only
 * such tokens wait for it, for at most `waitMs`. Every fetch has a total deadline and a size cap.
 * Keys are imported once per fetch, per algorithm.
 */
export class JwksCache {
  readonly uri: string;
  /** The URI without query or credentials, as health reports show it. */
  readonly target: string;
  private http: HttpClient | null;
  private readonly cooldownMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly waitMs: number;
  private readonly fetchImpl: typeof fetch;
  private jwks: JWK[] = [];
  /** The set's keys by kid (a kid may name several keys, one per algorithm family). */
  private byKid = new Map<string, JWK[]>();
  /** Imported keys of the current set, by JWK and algorithm. */
  private imported = new Map<JWK, Map<string, Promise<VerificationKey | null>>>();
  private fetchedAt = -Infinity;
  private attemptedAt = -Infinity;
  private inflight: Promise<void> | null = null;
  /** The last fetch error, without response bodies (they could echo anything). */
  lastError: string | null = null;
  lastErrorAt: Date | null = null;
  lastSuccess: Date | null = null;
  /** Number of fetches made (successful or not), and of failed ones. */
  fetches = 0;
  failures = 0;

  constructor(uri: string, http: HttpClient | null, options: JwksCacheOptions = {}) {
    this.uri = uri;
    this.target = describeTarget(uri);
    this.http = http;
    this.cooldownMs = (options.cooldownSeconds ?? 30) * 1000;
    this.maxAgeMs = (options.maxAgeSeconds ?? 600) * 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxBytes = options.maxBytes ?? MAX_RESPONSE_BYTES;
    this.waitMs = Math.min(options.waitMs ?? 2000, this.timeoutMs);
    this.fetchImpl = boundedFetch({ timeoutMs: this.timeoutMs, maxBytes: this.maxBytes, fetch: options.fetch });
  }

  /**
   * Fetches through this client from now on. The cache outlives the runtime that created it, and
   * a retired runtime's client may be closed: each runtime that acquires the cache hands over its own.
   */
  useHttp(http: HttpClient | null): void {
    this.http = http;
  }

  /** Starts a fetch unless one is running; resolves when it ends (never rejects). */
  refresh(): Promise<void> {
    this.inflight ??= this.fetchOnce().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.attemptedAt = Date.now();
    this.fetches++;
    try {
      let status: number;
      let text: string;
      if (this.http) {
        const res = await this.http.request(this.uri, {
          headers: { accept: 'application/json' },
          timeout: this.timeoutMs,
          maxBytes: this.maxBytes,
        });
        status = res.status;
        text = res.body.toString('utf8');
      } else {
        const res = await this.fetchImpl(this.uri, { headers: { accept: 'application/json' } });
        status = res.status;
        text = await res.text();
      }
      if (status !== 200) throw new Error(`status ${status}`);
      const body = JSON.parse(text) as unknown;
      if (!isObject(body) || !Array.isArray(body.keys)) throw new Error('not a JSON Web Key Set');
      const jwks = (body.keys as unknown[]).filter(isObject) as JWK[];
      // IdPs rotate by publishing the next key beside the current one, which stays until its tokens
      // expire (Auth0, Okta, Entra ID, Keycloak), so a set without any signing key after one with
      // some is a publishing fault (an empty document from a half-deployed IdP or a cache in front
      // of it), not a rotation; taking it would refuse every token until the next fetch.
      if (!jwks.some(isSigningKey) && this.jwks.some(isSigningKey)) {
        throw new Error(`the set has no signing keys; the last good set (${this.jwks.length} keys) stays`);
      }
      this.jwks = jwks;
      this.byKid = new Map();
      for (const k of this.jwks) {
        if (typeof k.kid !== 'string') continue;
        const same = this.byKid.get(k.kid);
        if (same === undefined) this.byKid.set(k.kid, [k]);
        else same.push(k);
      }
      this.imported = new Map();
      this.fetchedAt = Date.now();
      this.lastSuccess = new Date();
      this.lastError = null;
    } catch (err) {
      this.failures++;
      this.lastErrorAt = new Date();
      this.lastError = `fetching ${this.target} failed: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** Whether a set was fetched successfully at least once. */
  get loaded(): boolean {
    return this.fetchedAt > -Infinity;
  }

  /**
   * Whether the set cannot tell a token's key is not the IdP's: no set was ever fetched, or the
   * token names a kid the set lacks while the last fetch failed or the one under way has not
   * answered (after `keysFor` waited its `waitMs` for it): a key rotated in during an outage.
   * Such a token could not be checked, which is not the same as failing the check.
   */
  unsure(kid: string | undefined): boolean {
    if (!this.loaded) return true;
    if (kid === undefined || this.byKid.has(kid)) return false;
    return this.lastError !== null || this.inflight !== null;
  }

  /** Number of keys of the last good set. */
  get size(): number {
    return this.jwks.length;
  }

  /** Fetches the first set in the background (the gateway's open step); no-op once loaded or fetching. */
  prefetch(): void {
    if (!this.loaded && this.inflight === null) void this.refresh();
  }

  /**
   * The keys that may verify a token with this `kid` (all keys fitting `alg` when the token has no
   * kid). Known keys resolve without waiting for any fetch; an unknown kid may wait up to `waitMs`.
   */
  async keysFor(kid: string | undefined, alg: string): Promise<VerificationKey[]> {
    const now = Date.now();
    if (
      this.loaded &&
      now - this.fetchedAt > this.maxAgeMs &&
      this.inflight === null &&
      now - this.attemptedAt >= Math.max(this.cooldownMs, MIN_RETRY_MS)
    ) {
      void this.refresh();
    }
    let found = this.select(kid, alg);
    if (found.length === 0) {
      let wait: boolean;
      if (!this.loaded) {
        // No keys at all yet: retry a failed first fetch sooner than the cooldown, but not on every request.
        if (this.inflight === null && now - this.attemptedAt >= MIN_RETRY_MS) void this.refresh();
        wait = true;
      } else {
        wait = kid !== undefined && !this.byKid.has(kid);
        // After a failed fetch the set may lack a key the IdP rotated in: retried as soon as a
        // failed first fetch is, still single-flight, rather than refusing its tokens for a cooldown.
        const interval = this.lastError === null ? this.cooldownMs : Math.min(this.cooldownMs, MIN_RETRY_MS);
        if (wait && this.inflight === null && now - this.attemptedAt >= interval) void this.refresh();
      }
      if (wait && this.inflight !== null) {
        await within(this.inflight, this.waitMs);
        found = this.select(kid, alg);
      }
    }
    const keys: VerificationKey[] = [];
    for (const jwk of found) {
      const key = await this.importKey(jwk, alg);
      if (key) keys.push(key);
    }
    return keys;
  }

  /** The state of the JWKS endpoint, for `GET /status` and metrics. */
  health(): DependencyHealth {
    return {
      kind: 'jwks',
      target: this.target,
      healthy: this.lastError === null,
      lastSuccess: this.lastSuccess,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt,
      failures: this.failures,
      keys: this.jwks.length,
    };
  }

  /**
   * The keys a token may be checked with: its kid's, or without a kid the first
   * MAX_KEYS_WITHOUT_KID fitting its algorithm. A token costs one signature check per key tried,
   * and a forged kid-less token fails them all: against a large set (1 MiB holds about 2,000 RSA
   * keys) every such request would cost a third of a second of CPU.
   */
  private select(kid: string | undefined, alg: string): JWK[] {
    if (kid !== undefined) return this.byKid.get(kid)?.filter((k) => jwkFitsAlg(k, alg)) ?? [];
    const out: JWK[] = [];
    for (const k of this.jwks) {
      if (!jwkFitsAlg(k, alg)) continue;
      out.push(k);
      if (out.length === MAX_KEYS_WITHOUT_KID) break;
    }
    return out;
  }

  private importKey(jwk: JWK, alg: string): Promise<VerificationKey | null> {
    let byAlg = this.imported.get(jwk);
    if (byAlg === undefined) {
      byAlg = new Map();
      this.imported.set(jwk, byAlg);
    }
    let p = byAlg.get(alg);
    if (!p) {
      p = importVerificationKey(jwk, alg);
      byAlg.set(alg, p);
    }
    return p;
  }
}

/** Resolves when `p` settles or after `ms`, whichever comes first. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A URL as health reports show it: no credentials, no query (either could carry a secret). */
export function describeTarget(uri: string): string {
  try {
    const u = new URL(uri);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'invalid URL';
  }
}

/**
 * Gets the JWKS cache of `uri` from the gateway's shared resources, so the fetched keys survive a
 * config reload (and two plugins naming the same URI share one cache). Nothing is fetched here:
 * the first fetch happens at the gateway's open step (`prefetch`) or at the first token.
 */
export function sharedJwksCache(
  services: Pick<GatewayServices, 'shared' | 'http'>,
  uri: string,
  options: JwksCacheOptions = {},
): JwksCache {
  const key = `jwks:${uri}:${options.cooldownSeconds ?? 30}:${options.maxAgeSeconds ?? 600}:${options.timeoutMs ?? 5000}:${options.maxBytes ?? MAX_RESPONSE_BYTES}:${options.waitMs ?? 2000}`;
  const cache = services.shared(key, () => new JwksCache(uri, services.http, options));
  cache.useHttp(services.http);
  return cache;
}
