/**
 * Kong's `anonymous` setting of the authentication plugins (jwt, key-auth, basic-auth, hmac-auth,
 * ldap-auth): the consumer, by id or username, that a request without valid credentials continues
 * as. Resolved once at `create()`; a name that matches no consumer is a config error, as in Kong.
 */
import { PluginConfigError } from '../errors.ts';
import type { Consumer, ConsumerDirectory } from '../pipeline/plugin.ts';

export function anonymousConsumer(anonymous: string | null | undefined, consumers: ConsumerDirectory): Consumer | null {
  if (anonymous == null) return null;
  const consumer = consumers.find(anonymous);
  if (consumer === null)
    throw new PluginConfigError('anonymous', `anonymous consumer "${anonymous}" is configured but doesn't exist`);
  return consumer;
}
