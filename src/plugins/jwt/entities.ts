/**
 * The jwt plugin's entity: `jwt_secrets` (Kong's jwt credentials). `key` matches the token's
 * `iss` claim (or the plugin's key_claim_name); the HMAC secret and the public key are secret
 * fields (the admin API redacts them). Checked at load: the key material must fit the algorithm.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { EntityLoadContext, EntityRecord } from '../../index.ts';
import { defineEntity } from '../../index.ts';
import { SUPPORTED_ALGORITHMS } from '../../lib/jwt.ts';

/** A jwt credential as the plugin sees it. */
export interface JwtSecret extends EntityRecord {
  readonly key: string;
  readonly algorithm: string;
  readonly secret: string | null;
  readonly rsa_public_key: string | null;
  /** Tollgate extension: keys from a JWKS instead of a static key. */
  readonly jwks_uri: string | null;
}

export const jwtSecrets = defineEntity<JwtSecret>({
  name: 'jwt_secrets',
  adminApi: { name: 'jwts', nestedName: 'jwt', endpointKey: 'key' },
  description: "A jwt credential: `key` matches the token's `iss` claim (or the plugin's key_claim_name).",
  schema: {
    type: 'object',
    properties: {
      key: {
        type: 'string',
        minLength: 1,
        description:
          "What the token's `iss` (or key_claim_name) claim must be. Absent: generated from the consumer and credential ids, with a warning.",
      },
      algorithm: { type: 'string', enum: [...SUPPORTED_ALGORITHMS], default: 'HS256' },
      secret: { type: 'string', minLength: 1, description: 'The HMAC secret (HS* algorithms).' },
      rsa_public_key: {
        type: 'string',
        minLength: 1,
        description: 'PEM public key (RS*, PS*, ES*, EdDSA); `${file:key.pem}` reads it from a file.',
      },
      jwks_uri: {
        type: 'string',
        format: 'uri',
        description: 'Tollgate extension: verify with the keys of this JWKS instead of a static key.',
      },
    },
  },
  unique: ['key'],
  secrets: ['secret', 'rsa_public_key'],
  // Without a key, the id comes from the owner and the position (as for kinds without a natural key).
  idKey: (e, place) =>
    typeof e.key === 'string' ? e.key : `${place.consumer ?? ''}:${place.nested ? '' : 'top:'}${place.index}`,
  load(secret, context) {
    checkKeyMaterial(secret, context);
    if (typeof secret.key === 'string') return undefined;
    const key = generatedKey(secret.consumer, secret.id);
    context.warn(
      `no 'key': Tollgate uses the generated key '${key}' (Kong generates a random one; this one derives from the consumer and credential ids, so every instance and reload agree). Tokens must carry it in their iss claim (or key_claim_name); write the key in the file to choose it`,
    );
    return { ...secret, key };
  },
});

/**
 * Kong's generated key is 32 hex characters; ours is as long but derived from the consumer and
 * credential ids instead of random, so a declarative file gives the same key everywhere.
 */
export function generatedKey(consumer: string | null, id: string): string {
  return createHash('sha256')
    .update(`jwt_secrets.key\u0000${consumer ?? ''}\u0000${id}`)
    .digest('hex')
    .slice(0, 32);
}

const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function keyKind(k: KeyObject): string {
  const t = k.asymmetricKeyType;
  if (t === 'ec') return `an EC (${k.asymmetricKeyDetails?.namedCurve ?? 'unknown curve'}) key`;
  if (t === 'rsa' || t === 'rsa-pss') return 'an RSA key';
  return `an ${t ?? 'unknown'} key`;
}

/** The secret or public key a credential needs for its algorithm, of the right type and curve. */
function checkKeyMaterial(m: JwtSecret, context: EntityLoadContext): void {
  const alg = m.algorithm;
  if (alg.startsWith('HS')) {
    if (m.jwks_uri)
      context.error(`jwks_uri needs an asymmetric algorithm (RS*, PS*, ES*, EdDSA), not ${alg}`, 'jwks_uri');
    // Kong's `secret` is auto (kong/plugins/jwt/daos.lua): the file loads with a random secret no
    // client has, so every token fails its signature check. As key-auth's keyless credential.
    if (m.secret === null)
      context.warn(
        "no 'secret': Kong would generate a random one, which no client could know; this credential never authenticates",
      );
    if (m.rsa_public_key !== null) context.warn(`rsa_public_key is ignored when algorithm is ${alg}`, 'rsa_public_key');
    return;
  }
  if (m.rsa_public_key === null) {
    if (m.jwks_uri) return;
    // Kong's entity check requires rsa_public_key for RS*, PS* and EdDSA, not ES*: an ES*
    // credential without it loads, and its handler answers every token 401 Invalid key/secret.
    if (alg.startsWith('ES'))
      context.warn(
        `no 'rsa_public_key': Kong loads an ${alg} credential without one and answers its tokens 401 Invalid key/secret; this credential never authenticates`,
      );
    else context.error(`'rsa_public_key' (or 'jwks_uri') is required when algorithm is ${alg}`);
    return;
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: m.rsa_public_key, format: 'pem' });
  } catch {
    context.error('rsa_public_key is not a valid PEM public key', 'rsa_public_key');
    return;
  }
  const t = key.asymmetricKeyType;
  const ok = alg.startsWith('RS')
    ? t === 'rsa'
    : alg.startsWith('PS')
      ? t === 'rsa' || t === 'rsa-pss'
      : alg.startsWith('ES')
        ? t === 'ec' && key.asymmetricKeyDetails?.namedCurve === CURVES[alg]
        : t === 'ed25519' || t === 'ed448';
  if (!ok) {
    const want =
      alg.startsWith('RS') || alg.startsWith('PS')
        ? 'an RSA key'
        : alg.startsWith('ES')
          ? `an EC key on curve ${CURVES[alg]}`
          : 'an Ed25519 or Ed448 key';
    context.error(`rsa_public_key is ${keyKind(key)}, but ${alg} needs ${want}`, 'rsa_public_key');
    return;
  }
  // RFC 7518 (3.3, 3.5): RS* and PS* keys MUST have 2048 bits or more. Kong's OpenSSL verifies
  // with a shorter one, and so does the gateway: the file loads, with a warning.
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if ((t === 'rsa' || t === 'rsa-pss') && bits !== undefined && bits < 2048)
    context.warn(
      `rsa_public_key is a ${bits}-bit RSA key: RFC 7518 asks ${alg} for 2048 bits or more, and a key this short can be broken; replace it`,
      'rsa_public_key',
    );
}
