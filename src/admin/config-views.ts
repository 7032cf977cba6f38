// What the admin API shows of the serving config: the effective config (GET /config), scrubbed
// of secrets, and the compiled route table (GET /routes).
import type { GatewayConfig, ServiceModel } from '../config/model.ts';
import {
  credentialHeader,
  knownSecrets,
  REDACTED,
  redactUrlCredentials,
  SECRET_FIELD,
  type SecretValues,
  secretValues,
} from '../config/secrets.ts';
import type { TollgateInstance } from '../instance.ts';
import type { PluginInstance, Runtime } from '../pipeline/runtime.ts';

// ---------------------------------------------------------------------------------------------
// GET /config

/** Fields of core entities that are secret whatever their value (plugin-declared kinds declare theirs). */
const SECRET_ENTITY_FIELDS: Record<string, ReadonlySet<string>> = {
  certificates: new Set(['key', 'key_alt']),
};

/**
 * A `headers` field: a map (http-log's, opentelemetry's; of value lists in an upstream's active
 * health check and a route's match) or `name:value` strings (request-transformer's).
 */
export function scrubHeaders(v: unknown, scrub: (x: unknown) => unknown): unknown {
  if (Array.isArray(v)) {
    return v.map((x) => {
      if (typeof x !== 'string') return scrub(x);
      const colon = x.indexOf(':');
      return colon > 0 && credentialHeader(x.slice(0, colon)) ? `${x.slice(0, colon)}:${REDACTED}` : scrub(x);
    });
  }
  if (v === null || typeof v !== 'object') return scrub(v);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>))
    out[k] =
      !credentialHeader(k) || x === null || x === undefined
        ? scrub(x)
        : Array.isArray(x)
          ? x.map(() => REDACTED)
          : REDACTED;
  return out;
}

/**
 * request-transformer's `add`, `append` and `replace` sections: their `querystring` and `body`
 * entries are `name:value`, and a value sent upstream under a name that says secret (`api_key`,
 * `client_secret`, `access_token`) is one: the upstream's credential written in the file.
 */
const NAME_VALUE_SECTIONS = new Set(['add', 'append', 'replace']);
function scrubNameValues(section: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section))
    out[k] =
      (k === 'querystring' || k === 'body') && Array.isArray(v)
        ? v.map((x) => {
            if (typeof x !== 'string') return x;
            const colon = x.indexOf(':');
            return colon > 0 && SECRET_FIELD.test(x.slice(0, colon).trim()) ? `${x.slice(0, colon)}:${REDACTED}` : x;
          })
        : v;
  return out;
}

/**
 * GET /config's text per config, with the secrets registry it was scrubbed against: building it
 * takes about 260 ms for 3,000 services, on the thread that proxies, and fifty concurrent requests
 * stalled proxied requests for seconds. A config the process reads later may add secrets (a new
 * registry object), and then the text is made again.
 */
const configBodies = new WeakMap<GatewayConfig, { known: SecretValues; text: string }>();

export function configBody(inst: TollgateInstance, res: { scrub: (body: unknown) => unknown }): string {
  const config = inst.runtime.config;
  const known = knownSecrets();
  const kept = configBodies.get(config);
  if (kept !== undefined && kept.known === known) return kept.text;
  const text = JSON.stringify(res.scrub(effectiveConfig(config)), null, 2);
  configBodies.set(config, { known, text });
  return text;
}

/**
 * A value of the config with every secret redacted: a field named as a secret (`secretField`), a
 * URL's credentials, a credential header, and whatever came from `${...}`.
 */
function scrubValue(v: unknown, secretField: boolean, secrets: SecretValues): unknown {
  if (v === null || v === undefined) return v;
  const scrub = (x: unknown, secret: boolean): unknown => scrubValue(x, secret, secrets);
  if (secretField && (typeof v !== 'object' || Array.isArray(v))) {
    if (typeof v === 'string' || typeof v === 'number') return REDACTED;
    if (Array.isArray(v)) return v.map((x) => (typeof x === 'object' && x !== null ? scrub(x, false) : REDACTED));
  }
  if (typeof v === 'string') return secrets.scrubDeep(redactUrlCredentials(v));
  if (typeof v === 'number') return secrets.scrubDeep(v);
  if (Array.isArray(v)) return v.map((x) => scrub(x, false));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'yaml_path') continue;
      if (k === 'headers') out[k] = scrubHeaders(x, (y) => scrub(y, false));
      else if (NAME_VALUE_SECTIONS.has(k) && x !== null && typeof x === 'object' && !Array.isArray(x))
        out[k] = scrub(scrubNameValues(x as Record<string, unknown>), false);
      else out[k] = scrub(x, SECRET_FIELD.test(k));
    }
    return out;
  }
  return v;
}

/**
 * An entity of the list `kind` as the admin API shows it: its secret fields (`secretFields`, a
 * certificate's key) redacted, a plugin's config scrubbed as GET /config scrubs it, credential
 * headers and `${...}` values redacted. Also for an entity as posted (POST /config's errors).
 */
export function redactedEntity(
  kind: string,
  entity: Record<string, unknown>,
  secretFields: ReadonlySet<string> | undefined,
  secrets: SecretValues,
): Record<string, unknown> {
  const fields = SECRET_ENTITY_FIELDS[kind] ?? secretFields;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(entity)) {
    if (fields?.has(k) === true && x !== null && x !== undefined) out[k] = REDACTED;
    else if (kind === 'plugins' && k === 'config') out[k] = scrubValue(x, false, secrets);
    else out[k] = secrets.scrubDeep(k === 'headers' ? scrubHeaders(x, stripYamlPaths) : stripYamlPaths(x));
  }
  return out;
}

/** The effective config (defaults applied, references resolved), with every secret redacted. */
export function effectiveConfig(config: GatewayConfig): Record<string, unknown> {
  const secrets = secretValues(config.source.secrets);
  const scrub = (v: unknown, secretField: boolean): unknown => scrubValue(v, secretField, secrets);
  const declared = (kind: string): ReadonlySet<string> | undefined => {
    const secretFields = config.entity_kinds[kind]?.secrets;
    return secretFields === undefined ? undefined : new Set(secretFields);
  };
  const entities = (kind: string, list: readonly object[]): unknown[] => {
    const fields = declared(kind);
    return list.map((e) => {
      const shown: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(e as Record<string, unknown>)) {
        // A certificate's SNIs show as its names, as Kong's certificate does; /snis shows each entity.
        if (k === 'yaml_path' || k === 'ca_certificate_refs' || k === 'sni_entities') continue;
        // A service's ca_certificates as Kong shows them: the entity ids (the model holds the PEMs).
        shown[k] = k === 'ca_certificates' && kind === 'services' ? (e as ServiceModel).ca_certificate_refs : v;
      }
      return redactedEntity(kind, shown, fields, secrets);
    });
  };
  return {
    _format_version: config.format_version,
    config_hash: config.source.hash,
    _tollgate: scrub(config.settings, false),
    services: entities('services', config.services),
    routes: entities('routes', config.routes),
    consumers: entities('consumers', config.consumers),
    ...Object.fromEntries(Object.entries(config.plugin_entities).map(([kind, list]) => [kind, entities(kind, list)])),
    plugins: entities('plugins', config.plugins),
    upstreams: entities('upstreams', config.upstreams),
    certificates: entities('certificates', config.certificates),
    ca_certificates: entities('ca_certificates', config.ca_certificates),
  };
}

/** An entity's value without source positions, credential headers redacted (an upstream's health check). */
function stripYamlPaths(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripYamlPaths);
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>))
      if (k !== 'yaml_path') out[k] = k === 'headers' ? scrubHeaders(x, stripYamlPaths) : stripYamlPaths(x);
    return out;
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// GET /routes

/** The compiled route table in the order the router tries routes, each with its plugin chain. */
export function routeTable(rt: Runtime): { config_hash: string; data: Record<string, unknown>[] } {
  const routes = rt.router.ordered().map((r, i) => ({
    order: i + 1,
    id: r.id,
    name: r.name,
    service:
      r.service === null
        ? null
        : {
            id: r.service.info.id,
            name: r.service.info.name,
            protocol: r.service.info.protocol,
            host: r.service.info.host,
            port: r.service.info.port,
            path: r.service.info.path,
          },
    protocols: r.model.protocols,
    methods: r.methods,
    hosts: r.hosts,
    paths: r.paths,
    headers: scrubHeaders(r.headers, (x) => x),
    regex_priority: r.regex_priority,
    strip_path: r.strip_path,
    preserve_host: r.preserve_host,
    path_handling: r.path_handling,
    plugins: r.pipeline.slots.map((slot) => ({
      name: slot.name,
      priority: slot.priority,
      instance: slot.fallback === null ? null : pluginRef(slot.fallback),
      per_consumer:
        slot.byConsumer === null
          ? []
          : [...slot.byConsumer].map(([consumer, inst]) => ({ consumer, ...pluginRef(inst) })),
    })),
  }));
  return { config_hash: rt.config.source.hash, data: routes };
}

function pluginRef(inst: PluginInstance): Record<string, unknown> {
  const m = inst.model;
  return {
    id: m.id,
    scope: m.route !== null ? 'route' : m.service !== null ? 'service' : m.consumer !== null ? 'consumer' : 'global',
    route: m.route,
    service: m.service,
    consumer: m.consumer,
    protocols: m.protocols,
  };
}
