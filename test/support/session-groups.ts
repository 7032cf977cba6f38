// For the session tests: a plugin that sets `authenticated_groups` at sign-in by the `apikey` the
// request carries, as an LDAP or OIDC authentication would (Kong's spec does it with its
// ctx-checker plugin), so that the groups come back with the session afterwards.
import { definePlugin, type PluginDefinition } from '../../src/index.ts';

/** `groups-at-sign-in`: the groups of the request's `apikey` header, by key. */
export function groupsAtSignInPlugin(byKey: Readonly<Record<string, readonly string[]>>): PluginDefinition {
  return definePlugin({
    name: 'groups-at-sign-in',
    version: '1.0.0',
    priority: 1000,
    schema: { type: 'object' },
    create: () => ({
      access(req) {
        const key = req.headers.apikey;
        if (typeof key === 'string' && Object.hasOwn(byKey, key)) req.ctx.authenticated_groups = byKey[key];
      },
    }),
  });
}
