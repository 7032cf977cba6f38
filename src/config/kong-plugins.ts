/**
 * Kong plugins Tollgate does not ship, each with why and the way out, so a Kong file using one is
 * refused with something to do instead of "not installed". docs/kong-compatibility.md is the
 * table a user reads; this is the same knowledge the validator prints.
 */

import { REDIS_SHORTHANDS } from '../lib/counter-policy.ts';

const LUA = 'runs Lua code, which Tollgate cannot run; write a custom plugin in TypeScript instead (docs/plugins.md)';
const ENTERPRISE = 'is a Kong Enterprise plugin, not part of Kong OSS';

/** Kong OSS plugins Tollgate does not ship. */
const OSS: Record<string, string> = {
  oauth2:
    'is not available in Kong DB-less either (it stores tokens in the database); use `jwt` with your identity provider, or `oidc`',
  'pre-function': LUA,
  'post-function': LUA,
  'aws-lambda':
    'is not supported: expose the function over HTTP (a Lambda function URL or API Gateway) and proxy to it as a service',
  'azure-functions': 'is not supported: proxy to the function app over HTTP as a service',
  'grpc-gateway':
    "is not supported: Tollgate proxies HTTP/1.1 and HTTP/2 requests, not gRPC transcoding; run a transcoder beside the gRPC service (grpc-gateway, Envoy's grpc_json_transcoder) and proxy its REST API as an http service",
  'grpc-web':
    "is not supported: Tollgate proxies HTTP/1.1 and HTTP/2 requests, not gRPC-Web; serve gRPC-Web from the service (a Connect or grpc-web server, Envoy's grpc_web filter) and proxy it as an http service",
  acme: 'is not supported: get certificates with your ACME client (cert-manager, certbot) and declare them as `certificates`',
  datadog: 'is not supported: scrape the Prometheus metrics at /metrics with the Datadog agent',
  loggly: 'is not supported: ship the JSON access log to Loggly with your log collector',
  'standard-webhooks': 'is not supported: verify webhook signatures in the upstream or with a custom plugin',
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

/**
 * Plugin config fields Tollgate refuses with a specific way out: fields Kong 3.0 renamed, and
 * fields of kong-oidc forks that Tollgate's `oidc` names differently. Keyed by plugin name.
 */
export const RENAMED_FIELDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  acl: {
    whitelist: 'Kong 3.0 renamed `whitelist` to `allow`: rename the field',
    blacklist: 'Kong 3.0 renamed `blacklist` to `deny`: rename the field',
  },
  'ip-restriction': {
    whitelist: 'Kong 3.0 renamed `whitelist` to `allow`: rename the field',
    blacklist: 'Kong 3.0 renamed `blacklist` to `deny`: rename the field',
  },
  'bot-detection': {
    whitelist: 'Kong 3.0 renamed `whitelist` to `allow`: rename the field',
    blacklist: 'Kong 3.0 renamed `blacklist` to `deny`: rename the field',
  },
  oidc: {
    cookie_name: 'a kong-oidc fork field: Tollgate calls it `session_cookie_name`',
    encryption_secret: 'a kong-oidc fork field: Tollgate encrypts sessions with `session_secret`',
    session_secret_key: 'a kong-oidc fork field: Tollgate calls it `session_secret`',
    redirect_after_logout_with_id_token_hint:
      'a kong-oidc fork field: Tollgate always sends id_token_hint to the end_session_endpoint; set `redirect_after_logout_uri`',
    logout_redirect_uri: 'a kong-oidc fork field: Tollgate calls it `redirect_after_logout_uri`',
    session_lifetime_seconds: 'a kong-oidc fork field: Tollgate calls it `session_lifetime`',
    validate_scope: 'a kong-oidc fork field: check scopes with the `jwt-claims` plugin',
    header_names: 'a kong-oidc fork field: map claims to headers with `jwt-claims` forward_claims',
    header_claims: 'a kong-oidc fork field: map claims to headers with `jwt-claims` forward_claims',
    use_jwks:
      "a kong-oidc fork field: bearer tokens are verified against the discovery document's JWKS with `bearer_only`",
    groups_claim: 'a kong-oidc fork field: check groups with the `jwt-claims` plugin',
    skip_already_auth_requests: 'a kong-oidc fork field: not supported',
    ignore_auth_filters: 'a kong-oidc fork field: Tollgate calls it `filters`',
  },
};

/**
 * A field Kong Gateway (Enterprise, or a release after Kong OSS's last) has on a plugin Tollgate
 * ships, in Tollgate's schema with Kong's type so its dumps load. `refuses` picks the values that
 * would make Kong behave otherwise than Tollgate (null never does: Kong's "not set"); `warning`
 * marks a field whose every value loads because, without the feature, Kong would do the same.
 */
interface KongGatewayField {
  refuses: (value: unknown) => boolean;
  /** Where in a refused value the refused part is (an item of a list), when not the whole value. */
  at?: (value: unknown) => (string | number)[];
  message: string;
  warning?: true;
}

const CONSUMER_GROUPS_ABSENT =
  "Tollgate has no consumer groups (a file declaring Kong Enterprise's consumer_groups is refused)";

/**
 * Kong Gateway fields Tollgate takes only with the value that does what it does, from Kong's
 * plugin schemas (docs.konghq.com plugin reference, Kong Gateway 3.12); keyed by plugin name.
 */
export const KONG_GATEWAY_FIELDS: Readonly<Record<string, Readonly<Record<string, KongGatewayField>>>> = {
  acl: {
    // Kong's default is false; true with no consumer groups matches what false does.
    include_consumer_groups: {
      refuses: (v) => v === true,
      warning: true,
      message: `Kong Enterprise's consumer groups in allow and deny (Kong 3.6) have no effect here: ${CONSUMER_GROUPS_ABSENT}, so no consumer is in one and allow and deny match the consumer's acls groups, as Kong's do when no consumer is in a group: remove the field, or set it to false`,
    },
  },
  'key-auth': {
    // Kong's default, [{scope: cp}], is the consumers of this file; decK dumps of 3.10+ write it.
    identity_realms: {
      refuses: (v) => Array.isArray(v) && v.some(realmScope),
      at: (v) => [(v as unknown[]).findIndex(realmScope), 'scope'],
      message:
        "`scope: realm` (Konnect's Identity Realms, Kong Gateway 3.10, Enterprise) is not implemented: Kong looks up there consumers the file does not declare, and Tollgate authenticates the file's consumers only, so the realm's would get 401: declare those consumers (and their keys) in the file and keep `scope: cp` alone, or remove identity_realms",
    },
  },
  opentelemetry: {
    sampling_strategy: {
      refuses: (v) => v === 'parent_probability_fallback',
      message:
        "parent_probability_fallback (Kong Gateway 3.11, Enterprise) is not implemented: it traces every request whose client says sampled; Tollgate samples as Kong's default, parent_drop_probability_fallback: a client's not-sampled is honoured and sampling_rate decides the rest: remove the field, or set sampling_rate: 1 to trace every request a client does not drop",
    },
  },
  'rate-limiting': {
    limit_by: {
      refuses: (v) => v === 'consumer-group',
      message: `consumer-group (Kong Enterprise) is not implemented: it counts per consumer group, and ${CONSUMER_GROUPS_ABSENT}: set limit_by: consumer (a counter per consumer), or scope a rate-limiting plugin to each consumer`,
    },
  },
  session: {
    // Without it a session cookie is honoured from any client, as in Kong when bind is unset.
    bind: {
      refuses: (v) => Array.isArray(v) && v.length > 0,
      message:
        "binding a session to the client's ip, scheme or user-agent (Kong Gateway 3.12, Enterprise) is not implemented, and ignoring it would honour a stolen session cookie from any client: remove bind (or set it to []) to run sessions unbound, as Kong OSS does",
    },
  },
};

/** An identity_realms item other than Kong's default scope, `cp`. */
function realmScope(r: unknown): boolean {
  return isRecord(r) && r.scope != null && r.scope !== 'cp';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * What one plugin config says to Kong that Tollgate answers with a specific message: a field
 * Kong 3.0 renamed or a kong-oidc fork's (refused whatever its value), or a Kong Gateway field
 * with a value Tollgate does not implement. [path under config, message, severity].
 */
export function kongFieldIssues(plugin: string, config: unknown): [(string | number)[], string, 'error' | 'warning'][] {
  if (!isRecord(config)) return [];
  const renamed = Object.hasOwn(RENAMED_FIELDS, plugin) ? RENAMED_FIELDS[plugin] : undefined;
  const gateway = Object.hasOwn(KONG_GATEWAY_FIELDS, plugin) ? KONG_GATEWAY_FIELDS[plugin] : undefined;
  const out: [(string | number)[], string, 'error' | 'warning'][] = [];
  // Own keys only: a field named toString is unknown, not described by Object.prototype's.
  for (const k of Object.keys(config)) {
    if (renamed !== undefined && Object.hasOwn(renamed, k)) out.push([[k], `${k}: ${renamed[k]}`, 'error']);
    const field = gateway !== undefined && Object.hasOwn(gateway, k) ? gateway[k] : undefined;
    if (field === undefined || config[k] == null || !field.refuses(config[k])) continue;
    out.push([[k, ...(field.at?.(config[k]) ?? [])], `${k}: ${field.message}`, field.warning ? 'warning' : 'error']);
  }
  return out;
}

/** Plugins with Kong's deprecated flat `redis_*` fields (their schema.lua's shorthand_fields). */
const REDIS_SHORTHAND_PLUGINS: ReadonlySet<string> = new Set(['rate-limiting', 'response-ratelimiting']);

/**
 * A deprecated flat `redis_*` field written beside its `redis` field with another value: Kong's
 * schema refuses the plugin ("both deprecated and new field are used but their values mismatch",
 * kong/db/schema/init.lua), where folding one over the other would count on a Redis the file does
 * not mean. Checked as written, before defaults: `redis_port: 6380` alone is no conflict with the
 * default port. Equal values load (decK dumps of Kong 3.6+ write both). A password is not quoted
 * in the message (Kong prints both values).
 */
export function redisShorthandConflicts(plugin: string, config: unknown): [string, string][] {
  if (!REDIS_SHORTHAND_PLUGINS.has(plugin) || config === null || typeof config !== 'object') return [];
  const c = config as Record<string, unknown>;
  const redis = c.redis;
  if (redis === null || typeof redis !== 'object' || Array.isArray(redis)) return [];
  const out: [string, string][] = [];
  for (const [flat, field] of REDIS_SHORTHANDS) {
    const old = c[flat];
    const now = (redis as Record<string, unknown>)[field];
    if (old === undefined || old === null || now === undefined || now === null || old === now) continue;
    const [a, b] = field === 'password' ? ['[redacted]', '[redacted]'] : [String(old), String(now)];
    out.push([
      flat,
      `both deprecated and new field are used but their values mismatch: ${flat} = ${a} vs redis.${field} = ${b}`,
    ]);
  }
  return out;
}

/**
 * Kong's `typedefs.protocols_http`: the protocols a plugin that works on HTTP requests accepts.
 * Kong Enterprise adds `ws` and `wss` (its decK dumps list them), which the gateway schema takes.
 */
export const HTTP_PROTOCOLS: readonly string[] = ['grpc', 'grpcs', 'http', 'https', 'ws', 'wss'];

/**
 * Bundled plugins whose Kong schema takes `typedefs.protocols_http`: Kong refuses them with
 * `tcp`, `tls`, `tls_passthrough` or `udp` in `protocols`. Tollgate loaded such an instance and
 * never ran it, so `key-auth` with `protocols: [tcp]` left its routes open.
 */
export const HTTP_ONLY_PLUGINS: ReadonlySet<string> = new Set([
  'acl',
  'basic-auth',
  'bot-detection',
  'correlation-id',
  'cors',
  'hmac-auth',
  'jwt',
  'key-auth',
  'ldap-auth',
  'opentelemetry',
  'rate-limiting',
  'redirect',
  'request-size-limiting',
  'request-termination',
  'response-ratelimiting',
  'response-transformer',
]);
