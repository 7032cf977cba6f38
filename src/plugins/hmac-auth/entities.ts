/**
 * The hmac-auth plugin's entity: `hmacauth_credentials` (Kong's daos): a username the client
 * names in its signature and the shared secret. Kong generates a secret when none is given,
 * which no client could know; such a credential loads (with a warning) and never authenticates.
 */
import type { EntityRecord } from '../../index.ts';
import { defineEntity } from '../../index.ts';

/** An hmac-auth credential as the plugin sees it. */
export interface HmacAuthCredential extends EntityRecord {
  readonly username: string;
  readonly secret: string | null;
}

export const hmacauthCredentials = defineEntity<HmacAuthCredential>({
  name: 'hmacauth_credentials',
  adminApi: { name: 'hmac-auths', nestedName: 'hmac-auth', endpointKey: 'username' },
  description: 'An hmac-auth credential: the username a client signs as and the shared secret.',
  schema: {
    type: 'object',
    required: ['username'],
    properties: {
      username: { type: 'string', minLength: 1 },
      secret: {
        type: 'string',
        minLength: 1,
        description: 'The shared HMAC secret; `${NAME}` keeps it out of the file.',
      },
    },
  },
  unique: ['username'],
  secrets: ['secret'],
  load(credential, context) {
    if (credential.secret === null)
      context.warn(
        "no 'secret': Kong would generate a random one, which no client could know; this credential never authenticates",
      );
    return undefined;
  },
});
