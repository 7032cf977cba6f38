/**
 * Kong's config rules that several plugins share, for their `protocols` and `configIssues`
 * (`tollgate/kong-config`): what Kong's `typedefs` and schema library give its plugins' schema.lua.
 */
import type { PluginConfigIssue } from '../errors.ts';
import { REDIS_SHORTHANDS } from './counter-policy.ts';

/**
 * Kong's `typedefs.protocols_http`: the protocols a plugin that works on HTTP requests accepts.
 * Kong Enterprise adds `ws` and `wss` (its decK dumps list them), which the gateway schema takes.
 */
export const HTTP_PROTOCOLS: readonly string[] = ['grpc', 'grpcs', 'http', 'https', 'ws', 'wss'];

/** The fields Kong 3.0 renamed in acl, ip-restriction and bot-detection, with the way out. */
export const KONG3_RENAMED_FIELDS: Readonly<Record<string, string>> = {
  whitelist: 'Kong 3.0 renamed `whitelist` to `allow`: rename the field',
  blacklist: 'Kong 3.0 renamed `blacklist` to `deny`: rename the field',
};

/** Why a Kong Enterprise consumer-group setting cannot do here what it does in Kong. */
export const NO_CONSUMER_GROUPS =
  "Tollgate has no consumer groups (a file declaring Kong Enterprise's consumer_groups is refused)";

/**
 * The fields of `config` that `renamed` names (a field Kong renamed, a fork's field), each refused
 * whatever its value with `<field>: <what to write instead>`. Own keys only: a field named
 * toString is unknown, not described by Object.prototype's.
 */
export function renamedFieldIssues(
  config: Readonly<Record<string, unknown>>,
  renamed: Readonly<Record<string, string>>,
): PluginConfigIssue[] {
  return Object.keys(config)
    .filter((k) => Object.hasOwn(renamed, k))
    .map((k) => ({ at: [k], message: `${k}: ${renamed[k]}`, severity: 'error' }));
}

/**
 * A deprecated flat `redis_*` field written beside its `redis` field with another value: Kong's
 * schema refuses the plugin ("both deprecated and new field are used but their values mismatch",
 * kong/db/schema/init.lua), where folding one over the other would count on a Redis the file does
 * not mean. Checked as written, before defaults: `redis_port: 6380` alone is no conflict with the
 * default port. Equal values load (decK dumps of Kong 3.6+ write both). A password is not quoted
 * in the message (Kong prints both values).
 */
export function redisShorthandConflicts(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  const redis = config.redis;
  if (redis === null || typeof redis !== 'object' || Array.isArray(redis)) return [];
  const out: PluginConfigIssue[] = [];
  for (const [flat, field] of REDIS_SHORTHANDS) {
    const old = config[flat];
    const now = (redis as Record<string, unknown>)[field];
    if (old === undefined || old === null || now === undefined || now === null || old === now) continue;
    const [a, b] = field === 'password' ? ['[redacted]', '[redacted]'] : [String(old), String(now)];
    out.push({
      at: [flat],
      message: `both deprecated and new field are used but their values mismatch: ${flat} = ${a} vs redis.${field} = ${b}`,
      severity: 'error',
    });
  }
  return out;
}

/**
 * Kong Gateway 3.15's `principals` of basic-auth and key-auth: with `enabled: true` Kong
 * authenticates against Kong Identity's directory, a Konnect service, instead of the credentials
 * in the file. Its default (`enabled: false`), which decK dumps write, loads.
 */
export function principalsIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  const principals = config.principals as { enabled?: unknown } | null | undefined;
  if (principals?.enabled !== true) return [];
  return [
    {
      at: ['principals', 'enabled'],
      message:
        "principals (Kong Gateway 3.15: Kong Identity's directory, a Konnect service) are not supported: declare the clients as consumers with their credentials in the file, and set principals.enabled to false",
      severity: 'error',
    },
  ];
}

/**
 * What Kong's shared `redis` record may say that Tollgate cannot do: the shorthand conflicts above,
 * and Kong Gateway 3.13's `cloud_authentication` (tokens from AWS ElastiCache IAM, Azure or GCP in
 * place of a password). Its default, which decK dumps write, is every field null but
 * `aws_is_serverless`; any other field set is refused at that field, its value never quoted (some
 * are secrets).
 */
export function redisConfigIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  return [...redisShorthandConflicts(config), ...cloudAuthenticationIssues(config.redis, ['redis'])];
}

/** The `cloud_authentication` of a Kong `redis` record found at `at` of the config (see above). */
export function cloudAuthenticationIssues(redis: unknown, at: readonly string[]): PluginConfigIssue[] {
  const cloud =
    redis !== null && typeof redis === 'object' ? (redis as Record<string, unknown>).cloud_authentication : null;
  if (cloud === null || typeof cloud !== 'object' || Array.isArray(cloud)) return [];
  const set = Object.keys(cloud).find(
    (k) => k !== 'aws_is_serverless' && (cloud as Record<string, unknown>)[k] != null,
  );
  if (set === undefined) return [];
  const field = at.join('.');
  return [
    {
      at: [...at, 'cloud_authentication', set],
      message: `${field}.cloud_authentication (Kong Gateway 3.13: Redis authentication with AWS, Azure or GCP credentials) is not implemented: connect with ${field}.username and ${field}.password (a \${...} reference keeps the password out of the file), and leave cloud_authentication's fields null`,
      severity: 'error',
    },
  ];
}

/**
 * A path as Kong's `typedefs.path` checks it, with its messages: RFC 3986 path characters, escapes
 * well formed. Anything else could not be sent in a request line: in a service's `path` a space
 * broke every request and a raw non-ASCII character reached the upstream as a byte it refused; in
 * `http_path` every probe failed, so every target was marked down; in `hash_on_cookie_path` a line
 * break made every answer that sets the hashing cookie fail. `allowQuery`: a `?` (which Kong
 * refuses) is let through, for a health check's `http_path`.
 */
export function pathProblem(p: string, allowQuery: boolean): string | null {
  // Without its leading '/', the schema's own pattern says so.
  if (!p.startsWith('/')) return null;
  if (p.includes('//')) return EMPTY_SEGMENTS;
  if (!(allowQuery ? RFC3986_PATH_OR_QUERY : RFC3986_PATH).test(p))
    return `invalid path: '${JSON.stringify(p).slice(1, -1)}' (characters outside of the reserved list of RFC 3986 found)`;
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(p);
  return bad ? `invalid url-encoded value: '${p.slice(bad.index, bad.index + 3)}'` : null;
}

const RFC3986_PATH = /^\/[A-Za-z0-9._~/%:@!$&'()*+,;=-]*$/;
const RFC3986_PATH_OR_QUERY = /^\/[A-Za-z0-9._~/%:@!$&'()*+,;=?-]*$/;

/**
 * Kong's typedefs.path and router_path refuse `//` anywhere, regex paths included (their
 * `match_none`, checked before the path's other rules but a path's leading '/'): a normalized
 * request path never has an empty segment, so such a route could never match as written.
 */
export const EMPTY_SEGMENTS = 'must not have empty segments';
