/**
 * The built-in plugins, loaded on demand: a config loads the modules of the plugins it uses (and of
 * the plugins owning the credential entities it declares), not all of them, which keeps their code
 * and dependencies out of a gateway's start-up and memory. `./index.ts` is the eager list that
 * tooling and the test kit use; `registry.test.ts` checks that both agree.
 */
import type { PluginDefinition } from '../pipeline/plugin.ts';

type Loader = () => Promise<{ default: PluginDefinition }>;

const LOADERS: Record<string, Loader> = {
  acl: () => import('./acl/index.ts'),
  'aws-lambda': () => import('./aws-lambda/index.ts'),
  'azure-functions': () => import('./azure-functions/index.ts'),
  'basic-auth': () => import('./basic-auth/index.ts'),
  'bot-detection': () => import('./bot-detection/index.ts'),
  'correlation-id': () => import('./correlation-id/index.ts'),
  cors: () => import('./cors/index.ts'),
  datadog: () => import('./datadog/index.ts'),
  'file-log': () => import('./file-log/index.ts'),
  'grpc-gateway': () => import('./grpc-gateway/index.ts'),
  'grpc-web': () => import('./grpc-web/index.ts'),
  'hmac-auth': () => import('./hmac-auth/index.ts'),
  'http-log': () => import('./http-log/index.ts'),
  'ip-restriction': () => import('./ip-restriction/index.ts'),
  jwt: () => import('./jwt/index.ts'),
  'jwt-claims': () => import('./jwt-claims/index.ts'),
  'key-auth': () => import('./key-auth/index.ts'),
  'ldap-auth': () => import('./ldap-auth/index.ts'),
  loggly: () => import('./loggly/index.ts'),
  oidc: () => import('./oidc/index.ts'),
  opentelemetry: () => import('./opentelemetry/index.ts'),
  prometheus: () => import('./prometheus/index.ts'),
  'proxy-cache': () => import('./proxy-cache/index.ts'),
  'rate-limiting': () => import('./rate-limiting/index.ts'),
  redirect: () => import('./redirect/index.ts'),
  'request-size-limiting': () => import('./request-size-limiting/index.ts'),
  'request-termination': () => import('./request-termination/index.ts'),
  'request-transformer': () => import('./request-transformer/index.ts'),
  'response-ratelimiting': () => import('./response-ratelimiting/index.ts'),
  'response-transformer': () => import('./response-transformer/index.ts'),
  session: () => import('./session/index.ts'),
  'standard-webhooks': () => import('./standard-webhooks/index.ts'),
  statsd: () => import('./statsd/index.ts'),
  syslog: () => import('./syslog/index.ts'),
  'tcp-log': () => import('./tcp-log/index.ts'),
  'udp-log': () => import('./udp-log/index.ts'),
  zipkin: () => import('./zipkin/index.ts'),
};

/**
 * The entity kinds built-in plugins declare (Kong's credential tables), by the plugin declaring
 * each: a config listing `keyauth_credentials` needs key-auth's definition to validate them even
 * where no route enables key-auth.
 */
export const builtinEntityOwners: Readonly<Record<string, string>> = {
  acls: 'acl',
  basicauth_credentials: 'basic-auth',
  hmacauth_credentials: 'hmac-auth',
  jwt_secrets: 'jwt',
  keyauth_credentials: 'key-auth',
};

/** The built-in plugins' names. */
export const builtinPluginNames: ReadonlySet<string> = new Set(Object.keys(LOADERS));

/** The built-in plugins named (all of them by default), loaded. */
export async function loadBuiltinPlugins(
  names: Iterable<string> = builtinPluginNames,
): Promise<Map<string, PluginDefinition>> {
  const wanted = [...new Set(names)].filter((n) => Object.hasOwn(LOADERS, n)).sort();
  const defs = await Promise.all(wanted.map(async (n) => (await LOADERS[n]!()).default));
  return new Map(defs.map((d) => [d.name, d]));
}

/**
 * The built-in plugins a parsed config document uses: the names of its plugin entries (a
 * `plugins` list anywhere: top level, services, routes, consumers, consumer groups) and the owners
 * of the entity kinds it declares (at the top level or inside consumers). Null when it names a
 * plugin that is not built in (a typo, or a custom plugin): then every built-in is needed, for
 * "did you mean" and "known plugins" in the error, or for the custom plugin's name check.
 */
export function builtinPluginsUsedBy(doc: unknown, customNames: ReadonlySet<string> = new Set()): Set<string> | null {
  const used = new Set<string>();
  let foreign = false;
  // Keys and values read in place (no entry pairs) and scalars never visited: a 10,000-route
  // document has a few hundred thousand nodes.
  const visit = (node: object, depth: number): void => {
    if (depth > 6) return;
    if (Array.isArray(node)) {
      for (const item of node) if (item !== null && typeof item === 'object') visit(item, depth + 1);
      return;
    }
    const obj = node as Record<string, unknown>;
    for (const key in obj) {
      if (key === 'config' || !Object.hasOwn(obj, key)) continue; // a plugin's own settings
      const value = obj[key];
      if (Object.hasOwn(builtinEntityOwners, key)) used.add(builtinEntityOwners[key]!);
      if (key === 'plugins' && Array.isArray(value)) {
        for (const p of value) {
          const name = (p as { name?: unknown } | null)?.name;
          if (typeof name !== 'string') continue;
          if (builtinPluginNames.has(name)) used.add(name);
          else if (!customNames.has(name)) foreign = true;
        }
      }
      if (value !== null && typeof value === 'object') visit(value, depth + 1);
    }
  };
  if (doc !== null && typeof doc === 'object') visit(doc, 0);
  return foreign ? null : used;
}
