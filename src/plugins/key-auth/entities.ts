/**
 * The key-auth plugin's entity: `keyauth_credentials`. The key is secret: redacted by the admin
 * API, never quoted in messages, and never the source of an id (Kong derives the id from the key
 * itself; here it comes from the consumer and the position).
 */
import type { EntityRecord } from '../../index.ts';
import { defineEntity } from '../../index.ts';

/** A key-auth credential as the plugin sees it. */
export interface KeyAuthCredential extends EntityRecord {
  /** Null when the file gives none: Kong generates a random key, which no client could know. */
  readonly key: string | null;
  /**
   * The Unix time (seconds) the key expires at, as Kong 3.5+ reads `ttl` in a DB-less file (the
   * off strategy's `entity.ttl - ngx.time()`; `kong config db_export` writes the expiry so).
   */
  readonly ttl: number | null;
}

export const keyauthCredentials = defineEntity<KeyAuthCredential>({
  name: 'keyauth_credentials',
  // Looked up by id only: Kong also takes the key, which would make the unauthenticated admin
  // listener an oracle for guessed keys.
  adminApi: { name: 'key-auths', nestedName: 'key-auth' },
  description: 'A key-auth credential: the API key a client presents.',
  schema: {
    type: 'object',
    properties: {
      key: { type: 'string', minLength: 1 },
      // No maximum: an expiry time is past the Admin API's 100000000-second bound on a relative ttl.
      ttl: { type: 'integer', minimum: 0 },
    },
  },
  unique: ['key'],
  secrets: ['key'],
  // Kong's `key` is `auto`: left out, Kong makes a random one. Such a credential loads, as in Kong,
  // and never authenticates (its key is not printed: no client has it, and it would be a secret).
  load(credential, context) {
    if (credential.key === null)
      context.warn(
        "no 'key': Kong would generate a random one, which no client could know; this credential never authenticates",
      );
    if (credential.ttl !== null && credential.ttl <= Date.now() / 1000)
      context.warn(
        `ttl ${credential.ttl} is past: a DB-less file's ttl is the Unix time the key expires (Kong 3.5+, as kong config db_export writes it), so this credential never authenticates`,
        'ttl',
      );
    return undefined;
  },
});
