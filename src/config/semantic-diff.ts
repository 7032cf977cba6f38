/**
 * A semantic diff of two loaded configs, for pull-request review (`gateway diff`): entities
 * matched by name (never by position), compared field by field down to plugin config fields,
 * references shown by name, and a security summary of what a reviewer must not miss. Secret
 * values (credentials, client and session secrets, anything that came from `${...}`) are shown as
 * "changed", never by value.
 */
import type { GatewayConfig, PluginModel, RouteModel } from './model.ts';
import { credentialHeader, redactUrlCredentials, type SecretValues, secretValues } from './secrets.ts';

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface FieldChange {
  /** Dotted path inside the entity, e.g. `config.claims_to_verify`. */
  field: string;
  /** Printable old and new values (undefined: absent); a secret is never included. */
  old?: string;
  new?: string;
  secret: boolean;
}

export interface EntityChange {
  kind: ChangeKind;
  /** services, routes, consumers, plugins, upstreams, targets, certificates, credentials, settings. */
  entity: string;
  /** Human name, e.g. "route 'orders'" or "plugin 'jwt' on route 'orders'". */
  name: string;
  /** Location in the new file (old file for a removal): `FILE:LINE`. */
  at: { file: string; line: number };
  fields: FieldChange[];
}

/** Service protocols that speak TLS to the upstream. */
const TLS_SCHEMES = new Set(['https', 'grpcs']);

export interface SecurityFinding {
  /** auth-removed, auth-added, public, cors-widened, rate-limit-removed, tls-verify-off, access-removed. */
  type: string;
  message: string;
  at: { file: string; line: number };
}

export interface ConfigDiff {
  equal: boolean;
  security: SecurityFinding[];
  changes: EntityChange[];
}

/** Authentication plugins: a route without one of them is public. */
export const AUTH_PLUGINS = new Set(['jwt', 'key-auth', 'oidc', 'basic-auth', 'hmac-auth', 'ldap-auth', 'oauth2']);
const RATE_LIMITS = new Set(['rate-limiting', 'rate-limiting-advanced', 'response-ratelimiting']);
const ACCESS = new Set(['acl', 'ip-restriction', 'bot-detection', 'request-termination']);
/** Field names whose values are secrets wherever they appear (plugin configs, credentials). */
const SECRET_FIELD = /(secret|password|passwd|token|private|api_?key|^key$|^key_alt$|hmac|salt)/i;
const PLACEHOLDER = /tollgate-unset-[a-z0-9-]+/g;

interface Keyed {
  key: string;
  name: string;
  value: Record<string, unknown>;
  path: readonly (string | number)[];
  /** Top-level fields whose values are secrets for this kind of entity. */
  secretFields: ReadonlySet<string>;
  /** For an entity named only by its position under its consumer: its kind and consumer. */
  ordinal?: string;
}

/**
 * How the diff names each route: `'name'`, or for an unnamed route what it matches and its
 * service, `(unnamed: GET /health on service 'api')`. An unnamed route's id comes from its
 * position in the file, so pairing routes by id paired a route inserted above others with the
 * one that used to be there: the diff then said a public route lost the authentication its
 * neighbour kept. Criteria are sorted (their order matches nothing); identical ones are numbered.
 */
function routeLabels(c: GatewayConfig): Map<string, string> {
  // Asked once per plugin while the summary is built: made once per config.
  const known = labelsOf.get(c);
  if (known !== undefined) return known;
  const svc = new Map(c.services.map((s) => [s.id, s.name ?? s.id]));
  const list = (l: readonly string[] | null): string => (l === null ? '' : [...l].sort().join(','));
  const out = new Map<string, string>();
  const seen = new Map<string, number>();
  for (const r of c.routes) {
    if (r.name !== null) {
      out.set(r.id, `'${r.name}'`);
      continue;
    }
    const headers =
      r.headers === null
        ? ''
        : Object.entries(r.headers)
            .map(([k, v]) => `${k}:${list(v)}`)
            .sort()
            .join(' ');
    // Kong's default protocols (http, https) say nothing; grpc or https only do.
    const protocols = list(r.protocols) === 'http,https' ? '' : list(r.protocols);
    const criteria = [list(r.methods), list(r.hosts), list(r.paths), headers, list(r.snis), protocols]
      .filter((x) => x !== '')
      .join(' ');
    const base = `(unnamed: ${criteria}${r.service === null ? '' : ` on service '${svc.get(r.service)}'`})`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    out.set(r.id, n === 1 ? base : `${base} #${n}`);
  }
  labelsOf.set(c, out);
  return out;
}
const labelsOf = new WeakMap<GatewayConfig, Map<string, string>>();

/** Every entity of a config, keyed by what identifies it to a reader. */
function entities(c: GatewayConfig): Map<string, Keyed> {
  const out = new Map<string, Keyed>();
  const svc = new Map(c.services.map((s) => [s.id, s.name ?? s.id]));
  const rte = routeLabels(c);
  const con = new Map(c.consumers.map((x) => [x.id, x.username ?? x.custom_id ?? x.id]));
  const put = (
    kind: string,
    name: string,
    value: object,
    path: readonly (string | number)[],
    secretFields: string[] = [],
    ordinal?: string,
  ): void => {
    let key = `${kind}\u0000${name}`;
    for (let n = 2; out.has(key); n++) key = `${kind}\u0000${name}\u0000${n}`;
    const v: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    delete v.id;
    delete v.yaml_path;
    out.set(key, { key, name, value: v, path, secretFields: new Set(secretFields), ordinal });
  };
  for (const s of c.services) put('services', `service '${s.name ?? s.id}'`, s, s.yaml_path);
  for (const r of c.routes)
    put('routes', `route ${rte.get(r.id)}`, { ...r, service: r.service && svc.get(r.service) }, r.yaml_path);
  for (const x of c.consumers) put('consumers', `consumer '${con.get(x.id)}'`, x, x.yaml_path);
  for (const p of c.plugins) {
    const scope = [
      p.route && `route ${rte.get(p.route)}`,
      p.service && `service '${svc.get(p.service)}'`,
      p.consumer && `consumer '${con.get(p.consumer)}'`,
    ].filter(Boolean);
    const label = `plugin '${p.name}'${p.instance_name ? ` (${p.instance_name})` : ''} ${scope.length ? `on ${scope.join(', ')}` : '(global)'}`;
    put(
      'plugins',
      label,
      {
        ...p,
        route: p.route && rte.get(p.route),
        service: p.service && svc.get(p.service),
        consumer: p.consumer && con.get(p.consumer),
      },
      p.yaml_path,
    );
  }
  for (const u of c.upstreams) {
    put('upstreams', `upstream '${u.name}'`, { ...u, targets: undefined }, u.yaml_path);
    for (const t of u.targets) put('targets', `target '${t.target}' of upstream '${u.name}'`, t, t.yaml_path);
  }
  for (const cert of c.certificates)
    put('certificates', `certificate for ${cert.snis.join(', ') || cert.id}`, cert, cert.yaml_path, ['key', 'key_alt']);
  // Plugin-declared entities (credentials, acl groups, ...): by consumer and a field that names
  // them when it is not secret (jwt's key, acl's group), else by their order under the consumer.
  for (const [kind, list] of Object.entries(c.plugin_entities)) {
    const secretFields = [...(c.entity_kinds[kind]?.secrets ?? [])];
    const singular = kind.replace(/s$/, '').replace(/_/g, ' ');
    list.forEach((e, i) => {
      const owner = e.consumer === null ? '' : ` of consumer '${con.get(e.consumer)}'`;
      const field = ['key', 'group', 'name', 'username'].find(
        (f) => typeof e[f] === 'string' && !secretFields.includes(f),
      );
      const n = list.slice(0, i).filter((x) => x.consumer === e.consumer).length + 1;
      const label = field !== undefined ? `${singular} '${e[field] as string}'${owner}` : `${singular} #${n}${owner}`;
      const value = { ...e, consumer: e.consumer && con.get(e.consumer) };
      put(kind, label, value, e.yaml_path, secretFields, field === undefined ? `${kind}\u0000${owner}` : undefined);
    });
  }
  const settings: Record<string, unknown> = { ...c.settings };
  out.set('settings', {
    key: 'settings',
    name: '_tollgate settings',
    value: settings,
    path: ['_tollgate'],
    secretFields: new Set(),
  });
  return out;
}

/** Compares two configs; `display` maps placeholder values back to `${NAME}` for printing. */
export function diffConfigs(a: GatewayConfig, b: GatewayConfig, display: (s: string) => string = (s) => s): ConfigDiff {
  const ea = entities(a);
  const eb = pairByValue(ea, entities(b));
  const secrets = secretValues(new Set([...a.source.secrets, ...b.source.secrets]));
  const loc = (c: GatewayConfig, path: readonly (string | number)[]): { file: string; line: number } => {
    const l = c.source.locate(path);
    return { file: l.file, line: l.line };
  };
  const changes: EntityChange[] = [];
  for (const [key, x] of eb) {
    const old = ea.get(key);
    if (old === undefined) {
      changes.push({ kind: 'added', entity: entityKind(key), name: x.name, at: loc(b, x.path), fields: [] });
      continue;
    }
    const fields: FieldChange[] = [];
    compare(old.value, x.value, '', x.secretFields, secrets, display, fields);
    if (fields.length > 0)
      changes.push({ kind: 'changed', entity: entityKind(key), name: x.name, at: loc(b, x.path), fields });
  }
  for (const [key, x] of ea)
    if (!eb.has(key))
      changes.push({ kind: 'removed', entity: entityKind(key), name: x.name, at: loc(a, x.path), fields: [] });
  // The summary quotes values (a route's paths, CORS origins) and every change is named by a
  // value (a route's name, a jwt credential's key): a value from `${...}` or --env-file is
  // shown as `[redacted]` there too, as in the field changes; an unset one as `${NAME}`.
  const shown = (s: string): string => secrets.scrubMessage(display(s).replace(PLACEHOLDER, '${…}'));
  const security = securitySummary(a, b, display).map((f) => ({ ...f, message: shown(f.message) }));
  for (const c of changes) c.name = shown(c.name);
  return { equal: changes.length === 0, security, changes };
}

/**
 * Re-keys the new config's entities that are named only by their position under their consumer
 * (a key-auth credential: its key is a secret, so it cannot name it): each is paired first with an
 * old one of equal value, then the rest in order. By position alone, swapping two keys read as
 * both keys rotated, and removing the first key as the second one rotated.
 */
function pairByValue(ea: Map<string, Keyed>, eb: Map<string, Keyed>): Map<string, Keyed> {
  const inOrder = new Map<string, string[]>();
  const byValue = new Map<string, string[]>();
  const push = (m: Map<string, string[]>, k: string, v: string): void => {
    const l = m.get(k);
    if (l === undefined) m.set(k, [v]);
    else l.push(v);
  };
  for (const x of ea.values()) {
    if (x.ordinal === undefined) continue;
    push(inOrder, x.ordinal, x.key);
    push(byValue, `${x.ordinal}\u0000${JSON.stringify(x.value)}`, x.key);
  }
  if (inOrder.size === 0) return eb;
  const used = new Set<string>();
  const next = (l: string[] | undefined): string | undefined => {
    while (l !== undefined && l.length > 0) {
      const k = l.shift()!;
      if (!used.has(k)) {
        used.add(k);
        return k;
      }
    }
    return undefined;
  };
  const paired = new Map<Keyed, string>();
  for (const x of eb.values()) {
    if (x.ordinal === undefined) continue;
    const k = next(byValue.get(`${x.ordinal}\u0000${JSON.stringify(x.value)}`));
    if (k !== undefined) paired.set(x, k);
  }
  const out = new Map<string, Keyed>();
  for (const [key, x] of eb) {
    if (x.ordinal === undefined) out.set(key, x);
    else out.set(paired.get(x) ?? next(inOrder.get(x.ordinal)) ?? `${key}\u0000new`, x);
  }
  return out;
}

function entityKind(key: string): string {
  return key.split('\u0000')[0]!;
}

function compare(
  a: unknown,
  b: unknown,
  path: string,
  secretFields: ReadonlySet<string>,
  secrets: SecretValues,
  display: (s: string) => string,
  out: FieldChange[],
): void {
  const leaf = path.split('.').pop() ?? '';
  // As the admin API redacts them: a credential header's value (http-log's `Authorization`, a
  // request-transformer's `Authorization:Bearer ...`) and a url carrying user:password (Kong's
  // http-log sends it as Basic auth).
  const secretField =
    (path !== '' && !path.includes('.') && secretFields.has(path)) ||
    (path.startsWith('config.') &&
      (SECRET_FIELD.test(leaf) ||
        (path.includes('.headers.') && credentialHeader(leaf)) ||
        (leaf === 'headers' && [a, b].some(namesCredentialHeader)))) ||
    [a, b].some((v) => typeof v === 'string' && redactUrlCredentials(v) !== v);
  if (isObj(a) && isObj(b) && !secretField) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)]))
      compare(a[k], b[k], path === '' ? k : `${path}.${k}`, secretFields, secrets, display, out);
    return;
  }
  if (JSON.stringify(a ?? null) === JSON.stringify(b ?? null)) return;
  // Lists Kong treats as sets (a route matches any of its paths, in any order): reordering is no change.
  if (UNORDERED.has(path) && sameMembers(a, b)) return;
  const secret = secretField || holdsSecret(a, secrets) || holdsSecret(b, secrets);
  out.push({
    field: path,
    secret,
    ...(secret || a === undefined ? {} : { old: show(a, display) }),
    ...(secret || b === undefined ? {} : { new: show(b, display) }),
  });
}

/** A list of `name:value` headers (request-transformer's) with one that carries a credential. */
function namesCredentialHeader(v: unknown): boolean {
  return (
    Array.isArray(v) &&
    v.some((h) => typeof h === 'string' && h.indexOf(':') > 0 && credentialHeader(h.slice(0, h.indexOf(':'))))
  );
}

/** Entity fields whose lists are sets: their order changes nothing the gateway does. */
const UNORDERED: ReadonlySet<string> = new Set(['hosts', 'methods', 'paths', 'protocols', 'snis', 'tags']);

function sameMembers(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  const key = (l: unknown[]): string => JSON.stringify(l.map((x) => JSON.stringify(x)).sort());
  return key(a) === key(b);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether `v` is or holds a secret or a form derived from one (a url's host, port or path, ...). */
function holdsSecret(v: unknown, secrets: SecretValues): boolean {
  if (v === undefined || v === null || secrets.empty) return false;
  if ((typeof v === 'string' || typeof v === 'number') && secrets.is(v)) return true;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return secrets.scrubMessage(s) !== s;
}

function show(v: unknown, display: (s: string) => string): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  const out = display(s.length > 200 ? `${s.slice(0, 200)}…` : s);
  return out.replace(PLACEHOLDER, '${…}');
}

// ---- security summary -----------------------------------------------------------------------

/**
 * The plugins that run on every request of the route: enabled, not consumer-scoped, and listing
 * each of the route's protocols (a plugin narrowed to `protocols: [grpcs]` does not guard the
 * route's http requests). Of several instances of one plugin only the most specific runs, as in
 * Kong: a route's over its service's, either over a global one.
 */
function routePlugins(c: GatewayConfig, r: RouteModel): PluginModel[] {
  const specificity = (p: PluginModel): number => (p.route !== null ? 2 : 0) + (p.service !== null ? 1 : 0);
  const byName = new Map<string, PluginModel>();
  for (const p of c.plugins) {
    if (
      !p.enabled ||
      p.consumer !== null ||
      (p.route !== null && p.route !== r.id) ||
      (p.service !== null && p.service !== r.service) ||
      !r.protocols.every((proto) => p.protocols.includes(proto))
    )
      continue;
    const seen = byName.get(p.name);
    if (seen === undefined || specificity(p) > specificity(seen)) byName.set(p.name, p);
  }
  return [...byName.values()];
}

/**
 * An authentication plugin with Kong's `anonymous` set lets a request without a credential through
 * as that consumer: it authenticates nobody, and a route with no other one is public.
 */
function admitsAnonymous(p: PluginModel): boolean {
  const anonymous = (p.config as Record<string, unknown>).anonymous;
  return typeof anonymous === 'string' && anonymous !== '';
}

/** The authentication plugins of a route that require a credential, and those that admit anonymous requests. */
function routeAuth(plugins: readonly PluginModel[]): { required: Set<string>; anonymous: Set<string> } {
  const auth = plugins.filter((p) => AUTH_PLUGINS.has(p.name));
  return {
    required: new Set(auth.filter((p) => !admitsAnonymous(p)).map((p) => p.name)),
    anonymous: new Set(auth.filter(admitsAnonymous).map((p) => p.name)),
  };
}

/**
 * What a route's paths match that they did not, or null: a route without `paths` matches every
 * path (Kong's router), so removing them all is the widest change; "also" only while every old
 * path is still served.
 */
function widenedPaths(old: RouteModel, r: RouteModel): string | null {
  const before = old.paths ?? [];
  const after = r.paths ?? [];
  if (before.length === 0) return null;
  if (after.length === 0) return 'serves every path (its paths were removed)';
  const added = after.filter((p) => !before.includes(p));
  if (added.length === 0) return null;
  return `${before.every((p) => after.includes(p)) ? 'also ' : ''}serves ${added.join(', ')}`;
}

function securitySummary(a: GatewayConfig, b: GatewayConfig, display: (s: string) => string): SecurityFinding[] {
  const out: SecurityFinding[] = [];
  const at = (c: GatewayConfig, path: readonly (string | number)[]): { file: string; line: number } => {
    const l = c.source.locate(path);
    return { file: l.file, line: l.line };
  };
  const byName = (c: GatewayConfig): Map<string, RouteModel> => {
    const labels = routeLabels(c);
    return new Map(c.routes.map((r) => [labels.get(r.id)!, r]));
  };
  const ra = byName(a);
  const rb = byName(b);
  for (const [name, r] of rb) {
    const pb = routePlugins(b, r);
    const { required: authB, anonymous: anonymousB } = routeAuth(pb);
    const old = ra.get(name);
    const paths = (r.paths ?? ['/']).join(', ');
    if (old === undefined) {
      if (authB.size === 0)
        out.push({
          type: 'public',
          message: `new route ${name} is public (${anonymousB.size === 0 ? 'no authentication plugin' : `${[...anonymousB].join(', ')} admits requests without a credential (anonymous)`}): ${paths}`,
          at: at(b, r.yaml_path),
        });
      continue;
    }
    const pa = routePlugins(a, old);
    const authA = routeAuth(pa).required;
    const lost = [...authA].filter((x) => !authB.has(x));
    const gained = [...authB].filter((x) => !authA.has(x));
    if (lost.length > 0) {
      const gone = lost.filter((x) => !anonymousB.has(x));
      const anonymous = lost.filter((x) => anonymousB.has(x));
      const what = [
        ...(gone.length > 0 ? [`${gone.join(', ')} no longer runs`] : []),
        ...(anonymous.length > 0
          ? [`${anonymous.join(', ')} now admits requests without a credential (anonymous)`]
          : []),
      ].join('; ');
      out.push({
        type: 'auth-removed',
        message: `route ${name} loses authentication: ${what}${authB.size === 0 ? `; the route is now public: ${paths}` : ''}`,
        at: at(b, r.yaml_path),
      });
    }
    if (gained.length > 0)
      out.push({
        type: 'auth-added',
        message: `route ${name} gains authentication: ${gained.join(', ')}`,
        at: at(b, r.yaml_path),
      });
    if (authB.size === 0 && authA.size === 0) {
      const wider = widenedPaths(old, r);
      if (wider !== null)
        out.push({ type: 'public', message: `public route ${name} now ${wider}`, at: at(b, r.yaml_path) });
    }
    for (const kind of [RATE_LIMITS, ACCESS]) {
      const namesB = new Set(pb.filter((p) => kind.has(p.name)).map((p) => p.name));
      for (const p of pa) {
        if (!kind.has(p.name) || namesB.has(p.name)) continue;
        out.push({
          type: kind === RATE_LIMITS ? 'rate-limit-removed' : 'access-removed',
          message: `route ${name} no longer runs ${p.name}${kind === RATE_LIMITS ? ' (rate limit removed)' : ' (access restriction removed)'}`,
          at: at(b, r.yaml_path),
        });
      }
    }
  }
  // CORS origins that widen: a new origin, or '*'.
  const cors = (c: GatewayConfig): Map<string, PluginModel> =>
    new Map(c.plugins.filter((p) => p.name === 'cors').map((p) => [scopeKey(c, p), p]));
  const ca = cors(a);
  for (const [k, p] of cors(b)) {
    const before = new Set(
      ((ca.get(k)?.config.origins as string[] | undefined) ?? (ca.has(k) ? ['*'] : [])).map(String),
    );
    const after = ((p.config.origins as string[] | undefined) ?? ['*']).map(String);
    const added = after.filter((o) => !before.has(o));
    if (ca.has(k) && added.length > 0)
      out.push({
        type: 'cors-widened',
        message: `cors on ${k} allows more origins: ${added.map((o) => display(o)).join(', ')}`,
        at: at(b, p.yaml_path),
      });
    if (!ca.has(k) && after.includes('*'))
      out.push({
        type: 'cors-widened',
        message: `cors on ${k} is new and allows any origin ('*')`,
        at: at(b, p.yaml_path),
      });
  }
  // TLS verification turned off.
  const sa = new Map(a.services.map((s) => [s.name ?? s.id, s]));
  for (const s of b.services) {
    const old = sa.get(s.name ?? s.id);
    if (s.tls_verify === false && old !== undefined && old.tls_verify !== false)
      out.push({
        type: 'tls-verify-off',
        message: `service '${s.name ?? s.id}': TLS verification of the upstream turned off (tls_verify: false)`,
        at: at(b, [...s.yaml_path, 'tls_verify']),
      });
    // https → http (grpcs → grpc): the upstream leg loses TLS altogether, which is more than
    // turning verification off.
    if (old !== undefined && TLS_SCHEMES.has(old.protocol) && !TLS_SCHEMES.has(s.protocol))
      out.push({
        type: 'tls-verify-off',
        message: `service '${s.name ?? s.id}': the upstream is now reached in cleartext (protocol ${old.protocol} → ${s.protocol})`,
        at: at(b, [...s.yaml_path, 'protocol']),
      });
    if (s.tls_verify === false && old === undefined)
      out.push({
        type: 'tls-verify-off',
        message: `new service '${s.name ?? s.id}' does not verify its upstream's TLS certificate`,
        at: at(b, [...s.yaml_path, 'tls_verify']),
      });
  }
  const verifyFields = (c: GatewayConfig): Map<string, PluginModel> =>
    new Map(c.plugins.map((p) => [`${p.name} on ${scopeKey(c, p)}`, p]));
  const pa = verifyFields(a);
  for (const [k, p] of verifyFields(b)) {
    const old = pa.get(k);
    for (const f of VERIFY_FIELDS) {
      const now = fieldAt(p.config, f);
      const before = old === undefined ? undefined : fieldAt(old.config, f);
      if (now === false && before !== false)
        out.push({
          type: 'tls-verify-off',
          message: `plugin ${k}: ${f.join('.')} turned off`,
          at: at(b, [...p.yaml_path, 'config', ...f]),
        });
    }
  }
  return out;
}

/**
 * Plugin config fields that switch off the check of a peer's TLS certificate: the IdP's (oidc),
 * the directory's (ldap-auth) and Redis's (rate-limiting, response-ratelimiting, basic-auth's
 * brute-force protection).
 */
const VERIFY_FIELDS: readonly (readonly string[])[] = [
  ['ssl_verify'],
  ['verify_ssl'],
  ['tls_verify'],
  ['verify_ldap_host'],
  ['redis', 'ssl_verify'],
  ['brute_force_protection', 'redis', 'ssl_verify'],
];

function fieldAt(config: unknown, path: readonly string[]): unknown {
  let v = config;
  for (const f of path) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[f] : undefined;
  return v;
}

function scopeKey(c: GatewayConfig, p: PluginModel): string {
  const parts: string[] = [];
  if (p.route) parts.push(`route ${routeLabels(c).get(p.route) ?? `'${p.route}'`}`);
  if (p.service) parts.push(`service '${c.services.find((s) => s.id === p.service)?.name ?? p.service}'`);
  if (p.consumer) {
    const x = c.consumers.find((y) => y.id === p.consumer);
    parts.push(`consumer '${x?.username ?? x?.custom_id ?? p.consumer}'`);
  }
  return parts.length === 0 ? 'all routes (global)' : parts.join(', ');
}
