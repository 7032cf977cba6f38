/**
 * Kong plugins Tollgate does not ship, each with why and the way out, so a Kong file using one is
 * refused with something to do instead of "not enabled". docs/kong-compatibility.md is the
 * table a user reads; this is the same knowledge the validator prints.
 */

const LUA = 'runs Lua code, which Tollgate cannot run; write a custom plugin in TypeScript instead (docs/plugins.md)';
const ENTERPRISE = 'is a Kong Enterprise plugin, not part of Kong OSS';

/** Kong OSS plugins Tollgate does not ship. */
const OSS: Record<string, string> = {
  oauth2:
    'is not available in Kong DB-less either (it stores tokens in the database); use `jwt` with your identity provider, or `oidc`',
  'pre-function': LUA,
  'post-function': LUA,
  acme: 'is not supported: get certificates with your ACME client (cert-manager, certbot) and declare them as `certificates`',
  'mtls-auth': `${ENTERPRISE}; terminate client TLS in front of Tollgate and use key-auth, jwt or oidc`,
};

/** The way out from an Enterprise plugin that no Tollgate plugin stands in for. */
const NO_EQUIVALENT =
  'no Tollgate plugin does its job: do it in the upstream, or write a custom plugin in TypeScript (docs/plugins.md)';

/** Kong Enterprise plugins, with Tollgate's nearest equivalent ('' for none: NO_EQUIVALENT). */
const ENTERPRISE_EQUIVALENT: Record<string, string> = {
  'openid-connect': 'use Tollgate `oidc` (browser login, bearer tokens) or `jwt` with `jwks_uri`',
  'oauth2-introspection': 'use `jwt` (JWKS) or `oidc` with bearer_only',
  'rate-limiting-advanced': 'use `rate-limiting` with policy: redis',
  'proxy-cache-advanced': 'use `proxy-cache` (memory strategy)',
  'request-transformer-advanced': 'use `request-transformer`',
  'response-transformer-advanced': 'use `response-transformer`',
  'ldap-auth-advanced': 'use `ldap-auth`',
  'key-auth-enc': 'use `key-auth` (keys are compared by digest in constant time)',
  'jwt-signer': 'use `jwt` to verify tokens',
  canary: 'use an `upstreams` entry with weighted targets',
  'request-validator': 'validate bodies in the upstream or with a custom plugin',
  'route-by-header': 'use route `headers` matching',
  'upstream-timeout': 'set `connect_timeout`/`read_timeout`/`write_timeout` on the service',
  'exit-transformer': 'use `response-transformer` or a custom plugin',
  'forward-proxy': '',
  'vault-auth': 'use `${...}` references for secrets',
  'graphql-rate-limiting-advanced': '',
  'graphql-proxy-cache-advanced': '',
  degraphql: '',
  'kafka-log':
    'ship the JSON access log to Kafka with your log collector, or send it with `http-log` to a Kafka REST proxy',
  'kafka-upstream': '',
  opa: '',
  mocking: 'use `request-termination` with a body',
  jq: 'use `response-transformer` or a custom plugin',
  'oas-validation': '',
  'tls-handshake-modifier': '',
  'tls-metadata-headers': '',
  'statsd-advanced': 'use `statsd`',
  saml: 'use `oidc`',
  'xml-threat-protection': '',
  'json-threat-protection': '',
  'websocket-size-limit': '',
  'websocket-validator': '',
  'application-registration': '',
  'header-cert-auth': 'terminate client TLS in front of Tollgate and use key-auth, jwt or oidc',
  'ai-rate-limiting-advanced': '',
  'ai-semantic-cache': '',
  'ai-semantic-prompt-guard': '',
  'ai-azure-content-safety': '',
  confluent: '',
  'app-dynamics': '',
  datakit: '',
  'injection-protection': '',
  'service-protection': 'use `rate-limiting` with limit_by: service',
  'request-callout': '',
  'ai-proxy-advanced': '',
  'oauth2-introspection-advanced': '',
};

/** Kong OSS AI plugins. */
const AI = /^ai-/;

/** Why a Kong plugin name is refused and what to do instead; null for a name Kong does not know. */
export function kongPluginRefusal(name: string): string | null {
  // Own keys only: a plugin named toString is unknown, not Object.prototype's function.
  if (Object.hasOwn(OSS, name)) return `plugin '${name}' ${OSS[name]}`;
  const ent = Object.hasOwn(ENTERPRISE_EQUIVALENT, name) ? ENTERPRISE_EQUIVALENT[name] : undefined;
  if (ent !== undefined) return `plugin '${name}' ${ENTERPRISE}; ${ent || NO_EQUIVALENT}`;
  if (AI.test(name))
    return `plugin '${name}' is one of Kong's AI gateway plugins, which Tollgate does not ship; proxy to your model provider as a service`;
  return null;
}
