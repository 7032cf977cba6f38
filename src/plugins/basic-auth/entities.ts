/**
 * The basic-auth plugin's entity: `basicauth_credentials` (Kong's daos). Kong stores
 * sha1(password .. consumer_id) in hex and never the password; here the password is hashed the
 * same way when the config loads, and only digests are kept. A decK dump of a database-backed
 * Kong carries those stored hashes in `password`: a 40-hex-digit password is therefore accepted
 * both as Kong's hash and as a plain password (whose own hash is kept too), so a dump and a
 * hand-written file both work. Kong Gateway 3.14 stores sha256(password .. consumer_id) instead
 * (as its FIPS mode did before), and verifies a 64-hex-digit hash with SHA-256 and a 40-digit one
 * with SHA-1: a 64-hex-digit password is taken both ways too.
 */
import { createHash } from 'node:crypto';
import type { EntityRecord } from '../../index.ts';
import { defineEntity } from '../../index.ts';

/** A basic-auth credential after load: `password` holds the accepted digests (hex, comma-separated). */
export interface BasicAuthCredential extends EntityRecord {
  readonly username: string;
  readonly password: string;
}

/** Kong's hash of a password: sha1(password .. consumer_id), hex. */
export function kongPasswordHash(password: string, consumerId: string): string {
  return createHash('sha1').update(password, 'utf8').update(consumerId, 'utf8').digest('hex');
}

/** Kong's stored forms: SHA-1 (40 hex digits) or, from Kong Gateway 3.14 (and FIPS mode), SHA-256 (64). */
const KONG_HASH = /^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$/;

export const basicauthCredentials = defineEntity<BasicAuthCredential>({
  name: 'basicauth_credentials',
  adminApi: { name: 'basic-auths', nestedName: 'basic-auth', endpointKey: 'username' },
  description: "A basic-auth credential: a username and a password (plain, or Kong's stored hash from a decK dump).",
  schema: {
    type: 'object',
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', minLength: 1 },
      password: {
        type: 'string',
        // Kong refuses an empty string for any string field (its schema's default len_min of 1):
        // an empty password (say, an unset variable) would let anyone who knows the username in.
        minLength: 1,
        description:
          'The password, or the hash Kong stores (sha1, or from Kong Gateway 3.14 sha256, of password and consumer id, hex), as decK dumps it.',
      },
    },
  },
  unique: ['username'],
  secrets: ['password'],
  load(credential, context) {
    if (credential.username.includes(':'))
      context.warn(
        "this credential can never authenticate: the Authorization header separates username and password at the first ':'",
        'username',
      );
    if (context.consumer === null) return undefined;
    const hashed = KONG_HASH.test(credential.password);
    // `_transform: false` says the passwords are Kong's hashes already (a dump); otherwise a
    // 40-hex-digit password may be either, and both are accepted.
    if (!context.transform && !hashed)
      context.error(
        "with _transform: false, a password must be Kong's hash (40 hex digits, or 64 from Kong Gateway 3.14)",
        'password',
      );
    const digests = context.transform ? [kongPasswordHash(credential.password, context.consumer.id)] : [];
    if (hashed) digests.push(credential.password.toLowerCase());
    return { ...credential, password: digests.join(',') };
  },
});
