/**
 * The `jwt` plugin: Kong 3's jwt plugin (same config, status codes, messages and
 * WWW-Authenticate headers), plus credentials backed by a JWKS (`jwks_uri`) with key rotation,
 * `issuers` / `audiences` checks, `leeway_seconds`, and a bounded cache of verified tokens.
 * See docs/plugins/jwt.md.
 */
import type { KeyObject } from 'node:crypto';
import {
  audienceMatches,
  importStaticKey,
  type JwksCache,
  type ParsedJwt,
  parseJwt,
  sharedJwksCache,
  type VerificationKey,
  VerifiedTokenCache,
  verifySignature,
} from 'tollgate/jwt';
import schema from '../../../schemas/plugins/jwt.schema.json' with { type: 'json' };
import type {
  Consumer,
  ConsumerEntity,
  Credential,
  DependencyHealth,
  GatewayRequest,
  GatewayServices,
  HeaderValue,
  PluginContext,
  PluginHandlers,
} from '../../index.ts';
import {
  anonymousConsumer,
  configHeaderValue,
  definePlugin,
  firstHeader,
  hasQueryFlag,
  PluginConfigError,
  trimAsciiSpace,
} from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { type JwtSecret, jwtSecrets } from './entities.ts';

/** The jwt plugin's config, defaults applied. */
export interface JwtConfig {
  uri_param_names: string[];
  cookie_names: string[];
  header_names: string[];
  key_claim_name: string;
  secret_is_base64: boolean;
  claims_to_verify?: ('exp' | 'nbf')[] | null;
  maximum_expiration: number;
  anonymous?: string | null;
  run_on_preflight: boolean;
  realm?: string | null;
  issuers?: string[] | null;
  audiences?: string[] | null;
  leeway_seconds: number;
  jwks_refetch_cooldown_seconds: number;
  jwks_cache_ttl_seconds: number;
  jwks_timeout_ms: number;
  verified_token_cache_size: number;
}

/** Kong's priority for jwt. */
export const JWT_PRIORITY = 1450;

/** A credential ready for requests: key imported (or JWKS cache attached), consumer resolved. */
interface Entry {
  readonly consumer: Consumer;
  readonly credential: Credential;
  readonly alg: string;
  readonly key: KeyObject | null;
  readonly jwks: JwksCache | null;
  /**
   * JWKS credentials (a Tollgate extension, so no Kong behaviour to keep) always get the checks
   * RFC 9068 asks of an access token: exp required and in the future, nbf in the past if present.
   */
  readonly strictTime: boolean;
  /** An HS* secret that secret_is_base64 cannot decode: Kong answers its tokens Invalid key/secret. */
  readonly undecodable?: boolean;
}

interface Verified {
  readonly entry: Entry;
  readonly claims: Readonly<Record<string, unknown>>;
}

interface Failure {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, HeaderValue>>;
}

class JwtAuthenticator implements PluginHandlers {
  private readonly uriParams: readonly string[];
  private readonly cookieNames: ReadonlySet<string>;
  /** Per `header_names` entry, the header names it is looked up as (see `headerCandidates`). */
  private readonly headerNames: readonly (readonly string[])[];
  private readonly keyClaim: string;
  private readonly verifyExp: boolean;
  private readonly verifyNbf: boolean;
  private readonly maxExpiration: number;
  private readonly leeway: number;
  private readonly issuers: ReadonlySet<string> | null;
  private readonly audiences: ReadonlySet<string> | null;
  private readonly runOnPreflight: boolean;
  private readonly anonymous: Consumer | null;
  private readonly entries: ReadonlyMap<string, Entry>;
  private readonly cache: VerifiedTokenCache<Verified>;
  /** Logged at most once a second while a JWKS cannot be had (every request would log it). */
  private readonly noKeys: RepeatedWarning;
  private readonly wwwBase: Readonly<Record<string, string>>;
  private readonly wwwError: Readonly<Record<string, string>>;
  private readonly fail: Readonly<Record<string, Failure>>;
  /** The distinct JWKS caches of the credentials (several credentials may share one). */
  private readonly jwksCaches: readonly JwksCache[];
  /** Where tokens come from besides the always-redacted Authorization and Cookie: loggers redact them. */
  readonly secretHeaders: readonly string[];
  readonly secretQueryParams: readonly string[];

  constructor(config: JwtConfig, context: PluginContext, index: CredentialIndex, anonymous: Consumer | null) {
    this.uriParams = config.uri_param_names;
    this.cookieNames = new Set(config.cookie_names.map((n) => n.toLowerCase()));
    this.headerNames = config.header_names.map(headerCandidates);
    this.secretHeaders = this.headerNames.flat();
    this.secretQueryParams = config.uri_param_names;
    this.keyClaim = config.key_claim_name;
    const claims = config.claims_to_verify ?? [];
    this.verifyExp = claims.includes('exp');
    this.verifyNbf = claims.includes('nbf');
    this.maxExpiration = config.maximum_expiration;
    this.leeway = config.leeway_seconds;
    this.issuers = config.issuers?.length ? new Set(config.issuers) : null;
    this.audiences = config.audiences?.length ? new Set(config.audiences) : null;
    this.runOnPreflight = config.run_on_preflight;
    this.anonymous = anonymous;
    this.entries = index.entries;
    this.jwksCaches = index.jwksCaches;
    this.cache = new VerifiedTokenCache<Verified>(config.verified_token_cache_size);
    this.noKeys = new RepeatedWarning(
      context.log,
      'no keys to verify a token: the JWKS could not be fetched',
      1000,
      'error',
    );

    const base = config.realm != null ? `Bearer realm="${configHeaderValue(config.realm, 'realm')}"` : 'Bearer';
    const withError = config.realm != null ? `${base}, error="invalid_token"` : 'Bearer error="invalid_token"';
    this.wwwBase = { 'WWW-Authenticate': base };
    this.wwwError = { 'WWW-Authenticate': withError };
    const k = this.keyClaim;
    const msg = (status: number, message: string, headers = this.wwwError): Failure => ({
      status,
      body: { message },
      headers,
    });
    this.fail = {
      none: msg(401, 'Unauthorized', this.wwwBase),
      multiple: msg(401, 'Multiple tokens provided'),
      unrecognizable: msg(401, 'Unrecognizable token'),
      noKey: msg(401, `No mandatory '${k}' in claims`),
      emptyKey: msg(401, `Invalid '${k}' in claims`),
      noCredential: msg(401, `No credentials found for given '${k}'`),
      algorithm: msg(401, 'Invalid algorithm'),
      // Kong's 503 body (kong.tools.http's default exit body), without WWW-Authenticate: the
      // token could not be checked, which says nothing about it.
      unavailable: msg(503, 'Service unavailable', {}),
      signature: msg(401, 'Invalid signature'),
      keySecret: msg(401, 'Invalid key/secret'),
      maxExp: { status: 401, body: { exp: 'exceeds maximum allowed expiration' }, headers: this.wwwError },
      issuer: { status: 401, body: { iss: 'issuer not allowed' }, headers: this.wwwError },
      audience: { status: 401, body: { aud: 'audience not allowed' }, headers: this.wwwError },
    };
  }

  /** Fetches every JWKS in the background, so the first tokens find their keys. */
  open(): void {
    for (const c of this.jwksCaches) c.prefetch();
  }

  health(): DependencyHealth[] {
    return this.jwksCaches.map((c) => c.health());
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (!this.runOnPreflight && req.method === 'OPTIONS') return;
    // With `anonymous`, auth plugins are OR-ed: an earlier plugin's success is enough.
    if (this.anonymous && req.credential) return;

    const token = this.retrieveToken(req);
    if (typeof token !== 'string') {
      const failure =
        token === null ? this.fail.none! : token === true ? this.fail.unrecognizable! : this.fail.multiple!;
      return this.finish(req, failure);
    }

    const hit = this.cache.get(token);
    if (hit)
      return this.finish(req, this.checkClaims(hit.claims, hit.entry.strictTime) ?? this.succeed(req, token, hit));
    return this.verify(req, token);
  }

  private async verify(req: GatewayRequest, token: string): Promise<void> {
    const parsed = parseJwt(token);
    if ('error' in parsed) {
      return this.finish(req, { status: 401, body: { message: `Bad token; ${parsed.error}` }, headers: this.wwwError });
    }
    // Own members only: a claim name such as `constructor` must not find Object.prototype's.
    let keyValue = Object.hasOwn(parsed.claims, this.keyClaim) ? parsed.claims[this.keyClaim] : undefined;
    if (
      (keyValue === undefined || keyValue === null || keyValue === false) &&
      Object.hasOwn(parsed.header, this.keyClaim)
    )
      keyValue = parsed.header[this.keyClaim];
    if (keyValue === undefined || keyValue === null || keyValue === false) return this.finish(req, this.fail.noKey!);
    if (keyValue === '') return this.finish(req, this.fail.emptyKey!);
    // Credential keys are strings: an array or object names none (Kong fails its cache lookup on
    // them); a number is looked up as its digits, as Kong's select_by_key does.
    const entry = typeof keyValue === 'object' ? undefined : this.entries.get(String(keyValue));
    if (!entry) return this.finish(req, this.fail.noCredential!);
    // The credential pins the algorithm: `none`, HS256-signed-with-the-public-key and any other
    // alg than the configured one stop here.
    if (parsed.alg !== entry.alg) return this.finish(req, this.fail.algorithm!);
    // A credential loaded without its key material (jwt_secrets' load warned): Kong's has a random
    // HS* secret, which fails the signature, or no ES* key, which its handler reports as such.
    if (!entry.key && !entry.jwks)
      return this.finish(
        req,
        entry.alg.startsWith('HS') && !entry.undecodable ? this.fail.signature! : this.fail.keySecret!,
      );

    const ok = await this.checkSignature(parsed, entry);
    if (ok === null) return this.finish(req, this.fail.unavailable!);
    if (!ok) return this.finish(req, this.fail.signature!);

    const verified: Verified = { entry, claims: parsed.claims };
    this.cache.set(token, verified, parsed.claims.exp);
    return this.finish(req, this.checkClaims(parsed.claims, entry.strictTime) ?? this.succeed(req, token, verified));
  }

  /**
   * true/false for the signature; null when the JWKS cannot say which key the token needs (never
   * fetched, or the token's kid is not in the last set while the endpoint fails or has not answered).
   */
  private async checkSignature(parsed: ParsedJwt, entry: Entry): Promise<boolean | null> {
    if (entry.key) return verifySignature(parsed, entry.key, entry.alg);
    const jwks = entry.jwks!;
    const kid = typeof parsed.header.kid === 'string' ? parsed.header.kid : undefined;
    const keys: VerificationKey[] = await jwks.keysFor(kid, entry.alg);
    if (keys.length === 0 && jwks.unsure(kid)) {
      this.noKeys.report({
        credential: entry.credential.identifier,
        error: jwks.lastError ?? `no answer from ${jwks.target} yet`,
      });
      return null;
    }
    for (const key of keys) {
      if (await verifySignature(parsed, key, entry.alg)) return true;
    }
    return false;
  }

  /** Kong's registered-claims checks, then Tollgate's issuer and audience checks. */
  private checkClaims(claims: Readonly<Record<string, unknown>>, strictTime: boolean): Failure | null {
    const now = Date.now() / 1000;
    let errors: Record<string, string> | null = null;
    if (this.verifyNbf || (strictTime && claims.nbf !== undefined)) {
      const nbf = claims.nbf;
      if (typeof nbf !== 'number') (errors ??= {}).nbf = 'must be a number';
      else if (nbf > now + this.leeway) (errors ??= {}).nbf = 'token not valid yet';
    }
    if (this.verifyExp || strictTime) {
      const exp = claims.exp;
      if (typeof exp !== 'number') (errors ??= {}).exp = 'must be a number';
      else if (exp <= now - this.leeway) (errors ??= {}).exp = 'token expired';
    }
    if (errors) return { status: 401, body: errors, headers: this.wwwError };
    if (this.maxExpiration > 0) {
      const exp = claims.exp;
      if (typeof exp !== 'number' || exp - now > this.maxExpiration) return this.fail.maxExp!;
    }
    if (this.issuers && !(typeof claims.iss === 'string' && this.issuers.has(claims.iss))) return this.fail.issuer!;
    if (this.audiences && !audienceMatches(claims.aud, this.audiences)) return this.fail.audience!;
    return null;
  }

  private succeed(req: GatewayRequest, token: string, verified: Verified): null {
    req.authenticate(verified.entry.consumer, verified.entry.credential, { claims: verified.claims });
    // Kong's kong.ctx.shared.authenticated_jwt_token, for plugins that forward the token.
    req.ctx.authenticated_jwt_token = token;
    return null;
  }

  private finish(req: GatewayRequest, failure: Failure | null): void {
    if (failure === null) return;
    const unavailable = failure === this.fail.unavailable;
    // An outage of the key set is no failure of the client's credential: Kong's jwt raises an
    // error (500) when it cannot load a credential, with `anonymous` too, rather than demoting a
    // client whose token may well be good to the anonymous consumer.
    if (this.anonymous && !unavailable) {
      req.authenticate(this.anonymous, null, true);
      return;
    }
    const reason = unavailable
      ? 'IDP_UNAVAILABLE'
      : failure === this.fail.none
        ? 'NO_CREDENTIALS'
        : 'INVALID_CREDENTIALS';
    // JSON whatever the client's Accept: Kong's jwt answers with kong.response.exit and a table
    // body, not with kong.response.error (which key-auth uses, and which negotiates the format).
    req.exit(failure.status, failure.body, failure.headers, reason);
  }

  /**
   * The token, null when none, or an array of (at most two) distinct tokens when there are several; true
   * when the only "token" is a parameter without `=` (`?jwt`), which Kong's get_query reads as
   * the boolean true: it counts as one token, and alone it is `Unrecognizable token`.
   */
  private retrieveToken(req: GatewayRequest): string | string[] | true | null {
    const found: string[] = [];
    let valueless = false;
    if (this.uriParams.length > 0 && req.rawQuery !== '') {
      const q = req.query;
      for (const name of this.uriParams) {
        let empty = false;
        for (const v of q.getAll(name)) {
          if (v !== '') addToken(found, v);
          else empty = true;
        }
        // One scan of the raw query per name, not one per empty value (`?jwt=&jwt=&...`).
        if (empty && !valueless) valueless = hasQueryFlag(req.rawQuery, name);
      }
    }
    if (this.cookieNames.size > 0) {
      const cookie = req.headers.cookie;
      if (cookie) {
        // nginx's $cookie_NAME, which Kong reads: the name in any case, its first occurrence only.
        const seen: string[] = [];
        for (const part of cookie.split(';')) {
          const eq = part.indexOf('=');
          if (eq < 0) continue;
          const name = trimAsciiSpace(part.slice(0, eq)).toLowerCase();
          if (!this.cookieNames.has(name) || seen.includes(name)) continue;
          seen.push(name);
          const value = trimAsciiSpace(part.slice(eq + 1));
          if (value !== '') addToken(found, value);
        }
      }
    }
    for (const names of this.headerNames) {
      let value: string | undefined;
      for (const name of names) if ((value = firstHeader(req, name)) !== undefined) break;
      if (value === undefined) continue;
      const token = bearerToken(value);
      if (token !== null) addToken(found, token);
    }
    if (valueless) return found.length === 0 ? true : [...found, ''];
    return found.length === 0 ? null : found.length === 1 ? found[0]! : found;
  }
}

/**
 * Whether a secret_is_base64 secret decodes. Kong decodes it with nginx's decoder, which reads up
 * to the first `=` and fails on any other character, or on 4n+1 characters (no byte ends there).
 * Both alphabets are taken here (Kong's URL-safe one only: docs/plugins/jwt.md says why).
 */
function isBase64(secret: string): boolean {
  const eq = secret.indexOf('=');
  const body = eq < 0 ? secret : secret.slice(0, eq);
  return body.length % 4 !== 1 && BASE64_CHARS.test(body);
}

const BASE64_CHARS = /^[A-Za-z0-9+/_-]*$/;

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0xa0;
}

/**
 * What Kong's search `\s*[Bb]earer\s+(.+)` captures, found by one scan: the rest of the value after
 * the first `Bearer`/`bearer` followed by whitespace. (That regex, unanchored, backtracks
 * quadratically on a long run of whitespace; this is linear.)
 */
export function bearerToken(value: string): string | null {
  const len = value.length;
  for (let at = value.indexOf('earer', 1); at !== -1; at = value.indexOf('earer', at + 1)) {
    const b = value.charCodeAt(at - 1);
    if (b !== 0x42 && b !== 0x62) continue;
    let end = at + 5;
    while (end < len && isSpace(value.charCodeAt(end))) end++;
    const spaces = end - (at + 5);
    if (spaces === 0) continue;
    if (end < len) return value.slice(end);
    // Only whitespace follows: `\s+` gives its last character back to `(.+)`.
    return spaces >= 2 ? value.slice(len - 1) : null;
  }
  return null;
}

/**
 * The header names a `header_names` entry is looked up as: itself, then with `_` written `-`.
 * Kong reads `kong.request.get_headers()[name]`, whose lookup falls back to that spelling, so
 * `x_auth_token` names `X-Auth-Token` (a header spelled with `_` is dropped at the edge by default).
 */
function headerCandidates(name: string): string[] {
  const lower = name.toLowerCase();
  const dashed = lower.replaceAll('_', '-');
  return dashed === lower ? [lower] : [lower, dashed];
}

/**
 * Adds a token to the set found in a request. Kong counts distinct non-empty tokens only to tell
 * none, one and several apart, so two are enough: keeping more made thousands of `?jwt=` values
 * cost quadratic time.
 */
function addToken(found: string[], token: string): void {
  if (token !== '' && found.length < 2 && !found.includes(token)) found.push(token);
}

export default definePlugin<JwtConfig>({
  name: 'jwt',
  version: '1.0.0',
  priority: JWT_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  entities: [jwtSecrets],
  create(config, context) {
    const claims = config.claims_to_verify ?? [];
    if (config.maximum_expiration > 0 && !claims.includes('exp')) {
      throw new PluginConfigError('claims_to_verify', 'expected to contain: exp (maximum_expiration is set)');
    }
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    // One index per config for every instance whose credential-facing settings are the same: a
    // jwt plugin on 10,000 routes imports each credential's key once.
    const key = `jwt:${config.secret_is_base64}:${config.jwks_refetch_cooldown_seconds}:${config.jwks_cache_ttl_seconds}:${config.jwks_timeout_ms}`;
    const index = context.services.consumers.index(jwtSecrets, key, (credentials) =>
      credentialIndex(credentials, config, context.services),
    );
    for (const where of index.undecodable) {
      context.warn(
        `jwt ${where}: secret_is_base64 is set but the secret is not base64; as in Kong, its tokens get 401 Invalid key/secret`,
        'secret_is_base64',
      );
    }
    if (!claims.includes('exp') && index.anyStaticKey) {
      context.warn(
        "claims_to_verify does not include 'exp': expired tokens of static-key credentials are accepted (Kong's default)",
        'claims_to_verify',
      );
    }
    return new JwtAuthenticator(config, context, index, anonymous);
  },
});

/** A config's jwt credentials as the plugin verifies against them, shared by its instances. */
interface CredentialIndex {
  readonly entries: ReadonlyMap<string, Entry>;
  /** The distinct JWKS caches of the credentials (several credentials may share one). */
  readonly jwksCaches: readonly JwksCache[];
  /** Credentials whose HS* secret secret_is_base64 cannot decode, named for a warning. */
  readonly undecodable: readonly string[];
  /** Whether any credential verifies with a static key (Kong's lenient time checks apply). */
  readonly anyStaticKey: boolean;
}

/**
 * Each credential's key imported (or its JWKS cache opened), by the credential's `key`. Reads only
 * the settings named in the index's key above: secret_is_base64 and the JWKS settings.
 */
function credentialIndex(
  credentials: readonly ConsumerEntity<JwtSecret>[],
  config: JwtConfig,
  services: GatewayServices,
): CredentialIndex {
  const entries = new Map<string, Entry>();
  const undecodable: string[] = [];
  for (const { consumer, entity: credential } of credentials) {
    if (consumer === null) continue;
    const alg = credential.algorithm || 'HS256';
    const where = `credential "${credential.key}" of consumer "${consumer.username ?? consumer.id}"`;
    let key: KeyObject | null = null;
    let jwks: JwksCache | null = null;
    const cannotDecode =
      config.secret_is_base64 && alg.startsWith('HS') && credential.secret !== null && !isBase64(credential.secret);
    if (cannotDecode) {
      undecodable.push(where);
    } else if (credential.jwks_uri) {
      if (alg.startsWith('HS'))
        throw new PluginConfigError('', `jwt ${where}: jwks_uri needs an asymmetric algorithm, not ${alg}`);
      if (credential.rsa_public_key)
        throw new PluginConfigError('', `jwt ${where}: give rsa_public_key or jwks_uri, not both`);
      jwks = sharedJwksCache(services, credential.jwks_uri, {
        cooldownSeconds: config.jwks_refetch_cooldown_seconds,
        maxAgeSeconds: config.jwks_cache_ttl_seconds,
        timeoutMs: config.jwks_timeout_ms,
      });
    } else if (alg.startsWith('HS') ? credential.secret !== null : credential.rsa_public_key !== null) {
      try {
        key = importStaticKey(alg, {
          secret: credential.secret,
          publicKey: credential.rsa_public_key,
          secretIsBase64: config.secret_is_base64,
        });
      } catch (err) {
        throw new PluginConfigError('', `jwt ${where}: ${(err as Error).message}`);
      }
    }
    entries.set(credential.key, {
      consumer,
      credential: { id: credential.id, type: 'jwt', identifier: credential.key, consumer_id: consumer.id },
      alg,
      key,
      jwks,
      strictTime: jwks !== null,
      undecodable: cannotDecode,
    });
  }
  const values = [...entries.values()];
  return {
    entries,
    jwksCaches: [...new Set(values.flatMap((e) => (e.jwks ? [e.jwks] : [])))],
    undecodable,
    anyStaticKey: values.some((e) => !e.strictTime),
  };
}
