/**
 * `tollgate/jwt`: JWT verification building blocks shared by the `jwt` plugin, the OIDC plugin's
 * bearer tokens and custom plugins: token parsing with Kong's error messages, key import, a JWKS cache that refetches on an
 * unknown `kid` (with a cooldown), a bounded cache of verified tokens, and a ready-made verifier
 * (`createJwtVerifier`) for standard access-token checks.
 *
 * Signatures are checked by jose with the algorithm pinned by the caller: the token's `alg`
 * header only selects among algorithms the configuration allows, never the other way round.
 */
import {
  createPublicKey,
  createSecretKey,
  constants as cryptoConstants,
  verify as cryptoVerify,
  KeyObject,
  type VerifyKeyObjectInput,
  type webcrypto,
} from 'node:crypto';
import { compactVerify, type JWK } from 'jose';
import type { DependencyHealth, GatewayServices } from '../pipeline/plugin.ts';
import { TailKeyedCache } from './bounded-cache.ts';
import { freezeClaims } from './freeze-claims.ts';
import { parseRequestJson } from './json.ts';
import { importVerificationKey, JwksCache, type JwksCacheOptions, jwkFitsAlg, sharedJwksCache } from './jwks.ts';

/** Deep-freezes verified claims; kept here for plugins that import it from `tollgate/jwt`. */
export { freezeClaims } from './freeze-claims.ts';

export * from './jwks.ts';

/** Algorithms Kong's jwt plugin supports (and so do we). */
export const SUPPORTED_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];
const SUPPORTED = new Set<string>(SUPPORTED_ALGORITHMS);

/** A key usable to verify a signature: a Node KeyObject or a WebCrypto key imported by jose. */
export type VerificationKey = KeyObject | webcrypto.CryptoKey;

/** A token split and decoded, before any verification. */
export interface ParsedJwt {
  readonly token: string;
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly alg: JwtAlgorithm;
}

/**
 * Splits and decodes a compact JWS like Kong's jwt_parser. Returns the parsed token or one of
 * Kong's reasons, used as `Bad token; <reason>`: `invalid JSON`, `invalid alg`, `invalid claims`,
 * `invalid signature`.
 */
export function parseJwt(token: string): ParsedJwt | { error: string } {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return { error: 'invalid JSON' };
  let header: unknown;
  let claims: unknown;
  try {
    // Nesting past cjson's decode_max_depth is invalid JSON in Kong; here it would also overflow
    // the stack of whatever walks the claims later (freezing them, logging them).
    header = parseRequestJson(base64UrlText(token.slice(0, first)));
    claims = parseRequestJson(base64UrlText(token.slice(first + 1, second)));
  } catch {
    return { error: 'invalid JSON' };
  }
  if (!isObject(header) || typeof header.alg !== 'string' || !SUPPORTED.has(header.alg)) {
    return { error: 'invalid alg' };
  }
  if (!isObject(claims)) return { error: 'invalid claims' };
  if (!isBase64Url(token.slice(second + 1))) return { error: 'invalid signature' };
  return { token, header, claims, alg: header.alg as JwtAlgorithm };
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Whether nginx's decoder, which Kong's parser uses, decodes `part`: base64url characters only,
 * and not 4n+1 of them (no byte ends there; Node's decoder would drop the last one silently).
 */
function isBase64Url(part: string): boolean {
  return part.length % 4 !== 1 && BASE64URL.test(part);
}

function base64UrlText(part: string): string {
  // Kong pads and decodes; what does not decode makes the JSON parse fail, as it does there.
  if (!isBase64Url(part)) throw new Error('not base64url');
  return Buffer.from(part, 'base64url').toString('utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Verifies the signature of a parsed token with `key` and the pinned `alg`. */
export async function verifySignature(parsed: ParsedJwt, key: VerificationKey, alg: string): Promise<boolean> {
  if (parsed.alg !== alg) return false;
  if (key instanceof KeyObject && key.type === 'public') {
    const type = key.asymmetricKeyType;
    // RFC 8037's EdDSA covers Ed448 too, which Kong's OpenSSL verifies; jose verifies Ed25519 only.
    if (alg === 'EdDSA' && type === 'ed448') return verifyWithNode(parsed, null, key);
    // jose refuses RSA keys under 2048 bits (RFC 7518 3.3); Kong's OpenSSL verifies with them, and
    // the file loaded with a warning.
    const hash = RSA_HASHES[alg];
    if (hash !== undefined && (type === 'rsa' || type === 'rsa-pss') && isShortRsaKey(key))
      return verifyWithNode(
        parsed,
        hash,
        alg.startsWith('PS') ? { key, padding: PSS, saltLength: PSS_SALT[hash]! } : key,
      );
  }
  try {
    await compactVerify(parsed.token, key, { algorithms: [alg] });
    return true;
  } catch {
    return false;
  }
}

const RSA_HASHES: Readonly<Record<string, string>> = {
  RS256: 'sha256',
  RS384: 'sha384',
  RS512: 'sha512',
  PS256: 'sha256',
  PS384: 'sha384',
  PS512: 'sha512',
};
/** RFC 7518 3.5: the PSS salt is as long as the hash. */
const PSS_SALT: Readonly<Record<string, number>> = { sha256: 32, sha384: 48, sha512: 64 };
const PSS = cryptoConstants.RSA_PKCS1_PSS_PADDING;

/** An RSA key shorter than the 2048 bits RFC 7518 asks for (Kong verifies with it; jose does not). */
export function isShortRsaKey(key: KeyObject): boolean {
  return (key.asymmetricKeyDetails?.modulusLength ?? 2048) < 2048;
}

function verifyWithNode(parsed: ParsedJwt, hash: string | null, key: KeyObject | VerifyKeyObjectInput): boolean {
  const dot = parsed.token.lastIndexOf('.');
  const signature = Buffer.from(parsed.token.slice(dot + 1), 'base64url');
  try {
    return cryptoVerify(hash, Buffer.from(parsed.token.slice(0, dot)), key, signature);
  } catch {
    return false;
  }
}

/**
 * Imports a static key for `alg`: a shared secret for HS* (raw bytes, or base64 when
 * `secretIsBase64`), a PEM public key (SPKI or PKCS#1) or certificate for the others.
 * Throws a message without the key material when the key does not fit the algorithm.
 */
export function importStaticKey(
  alg: string,
  material: { secret?: string | null; publicKey?: string | null; secretIsBase64?: boolean },
): KeyObject {
  if (alg.startsWith('HS')) {
    if (material.secret == null || material.secret === '') throw new Error(`a secret is required for ${alg}`);
    const bytes = material.secretIsBase64
      ? Buffer.from(material.secret, 'base64')
      : Buffer.from(material.secret, 'utf8');
    return createSecretKey(bytes);
  }
  if (material.publicKey == null || material.publicKey === '') throw new Error(`rsa_public_key is required for ${alg}`);
  let key: KeyObject;
  try {
    key = createPublicKey(material.publicKey);
  } catch {
    throw new Error('rsa_public_key is not a valid PEM public key');
  }
  if (!keyFitsAlg(key, alg)) throw new Error(`rsa_public_key is a ${describeKey(key)} key, which cannot verify ${alg}`);
  return key;
}

function describeKey(key: KeyObject): string {
  const crv = key.asymmetricKeyDetails?.namedCurve;
  return crv ? `${key.asymmetricKeyType} (${crv})` : String(key.asymmetricKeyType);
}

const EC_CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function keyFitsAlg(key: KeyObject, alg: string): boolean {
  const type = key.asymmetricKeyType;
  if (alg.startsWith('RS')) return type === 'rsa';
  if (alg.startsWith('PS')) return type === 'rsa' || type === 'rsa-pss';
  if (alg.startsWith('ES')) return type === 'ec' && key.asymmetricKeyDetails?.namedCurve === EC_CURVES[alg];
  if (alg === 'EdDSA') return type === 'ed25519' || type === 'ed448';
  return false;
}

/** Bytes a verified-token cache holds at most, whatever its entry count. */
export const VERIFIED_TOKEN_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * A bounded cache of tokens whose signature was verified. At most `max` entries and
 * `VERIFIED_TOKEN_CACHE_BYTES` bytes (each token counted whole, two bytes a character, with its
 * claims). Keyed by the token's tail (`TailKeyedCache`); a hit counts only when the whole token is
 * the same, so a forged token that copies a cached token's signature is a miss and goes to
 * verification.
 */
export class VerifiedTokenCache<V extends { readonly claims: Readonly<Record<string, unknown>> }> {
  private readonly cache: TailKeyedCache<V> | null;
  private readonly maxTtlMs: number;

  /** `max` 0 disables the cache. */
  constructor(max: number, maxTtlSeconds = 3600, maxBytes = VERIFIED_TOKEN_CACHE_BYTES) {
    this.cache =
      max > 0
        ? new TailKeyedCache<V>({ maxEntries: max, maxBytes, sizeOf: (value) => approximateSize(value.claims) })
        : null;
    this.maxTtlMs = maxTtlSeconds * 1000;
  }

  get(token: string): V | undefined {
    return this.cache?.get(token);
  }

  /** Stores until the token's `exp` (never past it), at most `maxTtlSeconds`. Expired tokens are not stored. */
  set(token: string, value: V, exp: unknown): void {
    if (!this.cache) return;
    let ttl = this.maxTtlMs;
    if (typeof exp === 'number') {
      const left = exp * 1000 - Date.now();
      if (left <= 0) return;
      ttl = Math.min(ttl, left);
    }
    freezeClaims(value.claims);
    this.cache.set(token, value, ttl);
  }

  /** Entries and bytes held (tests, diagnostics). */
  get size(): number {
    return this.cache?.size ?? 0;
  }

  get bytes(): number {
    return this.cache?.bytes ?? 0;
  }

  clear(): void {
    this.cache?.clear();
  }
}

/** Bytes a decoded claims object takes, roughly: its JSON length, twice (UTF-16) plus objects. */
function approximateSize(claims: Readonly<Record<string, unknown>>): number {
  try {
    return JSON.stringify(claims).length * 2 + 64;
  } catch {
    return 4096;
  }
}

/** Why `createJwtVerifier().verify()` refused a token. */
export type JwtErrorCode =
  | 'malformed'
  | 'algorithm'
  | 'key_unavailable'
  | 'signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer'
  | 'audience'
  | 'missing_claim';

/** A refused token; `message` is safe to return to a client (no key material, no expected values). */
export class JwtVerificationError extends Error {
  readonly code: JwtErrorCode;
  constructor(code: JwtErrorCode, message: string) {
    super(message);
    this.name = 'JwtVerificationError';
    this.code = code;
  }
}

/** Options of `createJwtVerifier`. Give `jwksUri` or `keys`. */
export interface JwtVerifierOptions {
  /** Fetch keys from this JWKS (cached, refetched on unknown kid). */
  jwksUri?: string;
  /** Static keys: JWKs (public) or PEM public keys / KeyObjects. */
  keys?: readonly (JWK | string | VerificationKey)[];
  /** Accepted `iss` values; omitted = any. */
  issuers?: readonly string[];
  /** Accepted audiences: the token's `aud` (string or array) must contain one; omitted = any. */
  audiences?: readonly string[];
  /** Accepted algorithms. Default `['RS256']`. `none` and unknown names are never accepted. */
  algorithms?: readonly string[];
  /** Clock skew tolerated on exp and nbf, seconds. Default 0. */
  leewaySeconds?: number;
  /** Refuse tokens without `exp`. Default true. */
  requireExp?: boolean;
  /** Size of the verified-token cache; 0 disables. Default 1000. */
  cacheSize?: number;
  /** Gateway services, to share the JWKS cache across reloads and fetch through the pooled client. */
  services?: Pick<GatewayServices, 'shared' | 'http'>;
  /** JWKS cache tuning. */
  jwks?: JwksCacheOptions;
}

/** A verified token. */
export interface VerifiedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Verifies bearer tokens for one issuer. */
export interface JwtVerifier {
  /** Resolves with the verified token or rejects with a `JwtVerificationError`. */
  verify(token: string): Promise<VerifiedJwt>;
  /** The JWKS endpoint's state (empty for static keys), for a plugin's `health()`. */
  health(): DependencyHealth[];
  /** Fetches the JWKS in the background (for a plugin's `open()`); no-op for static keys. */
  prefetch(): void;
}

/**
 * A verifier with the checks an access token needs: pinned algorithms, signature (static keys or
 * a JWKS with rotation), exp/nbf with leeway, issuer and audience.
 *
 * @example
 * const verifier = await createJwtVerifier({ jwksUri: 'https://tenant.auth0.com/.well-known/jwks.json',
 *   issuers: ['https://tenant.auth0.com/'], audiences: ['https://api.example.com'], services: context.services });
 * const { claims } = await verifier.verify(token);
 */
export async function createJwtVerifier(options: JwtVerifierOptions): Promise<JwtVerifier> {
  const algorithms = [...(options.algorithms ?? ['RS256'])];
  for (const alg of algorithms) {
    if (!SUPPORTED.has(alg)) throw new Error(`unsupported algorithm ${alg}`);
  }
  if (!options.jwksUri && !options.keys?.length) throw new Error('createJwtVerifier needs jwksUri or keys');
  const leeway = options.leewaySeconds ?? 0;
  const requireExp = options.requireExp ?? true;
  const issuers = options.issuers ? new Set(options.issuers) : null;
  const audiences = options.audiences ? new Set(options.audiences) : null;
  const cache = new VerifiedTokenCache<VerifiedJwt>(options.cacheSize ?? 1000);

  let jwks: JwksCache | null = null;
  if (options.jwksUri) {
    jwks = options.services
      ? sharedJwksCache(options.services, options.jwksUri, options.jwks)
      : new JwksCache(options.jwksUri, null, options.jwks);
  }
  // Static keys, imported once per algorithm they can serve.
  const staticKeys: { kid: string | undefined; alg: string; key: VerificationKey }[] = [];
  for (const input of options.keys ?? []) {
    for (const alg of algorithms) {
      if (typeof input === 'string') {
        try {
          staticKeys.push({ kid: undefined, alg, key: importStaticKey(alg, { publicKey: input }) });
        } catch {
          /* this key serves another algorithm */
        }
      } else if (isJwk(input)) {
        if (!jwkFitsAlg(input, alg)) continue;
        const key = await importVerificationKey(input, alg);
        if (key) staticKeys.push({ kid: input.kid, alg, key });
      } else {
        staticKeys.push({ kid: undefined, alg, key: input });
      }
    }
  }

  const checkClaims = (claims: Readonly<Record<string, unknown>>) => {
    const now = Date.now() / 1000;
    if (claims.exp === undefined) {
      if (requireExp) throw new JwtVerificationError('missing_claim', "Token has no 'exp'");
    } else if (typeof claims.exp !== 'number' || claims.exp <= now - leeway) {
      throw new JwtVerificationError('expired', 'Token expired');
    }
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > now + leeway)) {
      throw new JwtVerificationError('not_yet_valid', 'Token not valid yet');
    }
    if (issuers && !(typeof claims.iss === 'string' && issuers.has(claims.iss))) {
      throw new JwtVerificationError('issuer', 'Issuer not allowed');
    }
    if (audiences && !audienceMatches(claims.aud, audiences)) {
      throw new JwtVerificationError('audience', 'Audience not allowed');
    }
  };

  return {
    health: () => (jwks ? [jwks.health()] : []),
    prefetch: () => jwks?.prefetch(),
    async verify(token) {
      const hit = cache.get(token);
      if (hit) {
        checkClaims(hit.claims);
        return hit;
      }
      const parsed = parseJwt(token);
      if ('error' in parsed) {
        throw new JwtVerificationError(
          parsed.error === 'invalid alg' ? 'algorithm' : 'malformed',
          `Bad token; ${parsed.error}`,
        );
      }
      if (!algorithms.includes(parsed.alg)) throw new JwtVerificationError('algorithm', 'Invalid algorithm');
      const kid = typeof parsed.header.kid === 'string' ? parsed.header.kid : undefined;
      let candidates: VerificationKey[];
      if (jwks) {
        candidates = await jwks.keysFor(kid, parsed.alg);
        if (candidates.length === 0 && jwks.unsure(kid))
          throw new JwtVerificationError('key_unavailable', 'Signing keys unavailable');
      } else {
        candidates = staticKeys
          .filter((k) => k.alg === parsed.alg && (kid === undefined || k.kid === undefined || k.kid === kid))
          .map((k) => k.key);
      }
      let ok = false;
      for (const key of candidates) {
        if (await verifySignature(parsed, key, parsed.alg)) {
          ok = true;
          break;
        }
      }
      if (!ok) throw new JwtVerificationError('signature', 'Invalid signature');
      checkClaims(parsed.claims);
      const verified: VerifiedJwt = { header: parsed.header, claims: parsed.claims };
      cache.set(token, verified, parsed.claims.exp);
      return verified;
    },
  };
}

function isJwk(v: unknown): v is JWK {
  return isObject(v) && typeof v.kty === 'string';
}

/** Whether `aud` (a string or an array of strings) names one of `allowed`. */
export function audienceMatches(aud: unknown, allowed: ReadonlySet<string>): boolean {
  if (typeof aud === 'string') return allowed.has(aud);
  if (Array.isArray(aud)) return aud.some((a) => typeof a === 'string' && allowed.has(a));
  return false;
}
