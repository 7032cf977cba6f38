/**
 * The security summary of `gateway diff`: what a reviewer must not miss between two configs (a
 * route that loses authentication or becomes public, CORS widened, a rate limit or an access
 * rule removed, TLS verification turned off), and how the diff names routes.
 */
import type { GatewayConfig, PluginModel, RouteModel } from './model.ts';

export interface SecurityFinding {
  /** auth-removed, auth-added, public, cors-widened, rate-limit-removed, tls-verify-off, access-removed. */
  type: string;
  message: string;
  at: { file: string; line: number };
}

/** Authentication plugins: a route without one of them is public. */
export const AUTH_PLUGINS = new Set(['jwt', 'key-auth', 'oidc', 'basic-auth', 'hmac-auth', 'ldap-auth', 'oauth2']);
const RATE_LIMITS = new Set(['rate-limiting', 'rate-limiting-advanced', 'response-ratelimiting']);
const ACCESS = new Set(['acl', 'ip-restriction', 'bot-detection', 'request-termination']);
/** Service protocols that speak TLS to the upstream. */
const TLS_SCHEMES = new Set(['https', 'grpcs']);

/**
 * How the diff names each route: `'name'`, or for an unnamed route what it matches and its
 * service, `(unnamed: GET /health on service 'api')`. An unnamed route's id comes from its
 * position in the file, so pairing routes by id paired a route inserted above others with the
 * one that used to be there: the diff then said a public route lost the authentication its
 * neighbour kept. Criteria are sorted (their order matches nothing); identical ones are numbered.
 */
export function routeLabels(c: GatewayConfig): Map<string, string> {
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

/**
 * The plugins that run on every request of the route: enabled, not consumer-scoped, and listing
 * each of the route's protocols (a plugin narrowed to `protocols: [grpcs]` does not guard the
 * route's http requests). Of several instances of one plugin only the most specific runs, as in
 * Kong: a route's over its service's, either over a global one.
 */
function routePlugins(c: GatewayConfig, r: RouteModel): PluginModel[] {
  const specificity = (p: PluginModel): number => (p.route !== null ? 2 : 0) + (p.service !== null ? 1 : 0);
  const index = pluginIndex(c);
  // The instances that can apply, in file order (the first of equal specificity wins).
  const candidates = [
    ...index.global,
    ...(index.byRoute.get(r.id) ?? []),
    ...(r.service === null ? [] : (index.byService.get(r.service) ?? [])),
  ].sort((x, y) => x - y);
  const byName = new Map<string, PluginModel>();
  for (const i of candidates) {
    const p = c.plugins[i]!;
    if (
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
 * A config's enabled plugins that name no consumer, by position: global ones, and by the route or
 * else the service they name. Built once per config: every route looks its plugins up here
 * instead of scanning them all (10,000 routes with two plugins each were 200 million checks).
 */
interface PluginIndex {
  readonly global: readonly number[];
  readonly byRoute: ReadonlyMap<string, number[]>;
  readonly byService: ReadonlyMap<string, number[]>;
}
const pluginIndexes = new WeakMap<GatewayConfig, PluginIndex>();
function pluginIndex(c: GatewayConfig): PluginIndex {
  let index = pluginIndexes.get(c);
  if (index !== undefined) return index;
  const global: number[] = [];
  const byRoute = new Map<string, number[]>();
  const byService = new Map<string, number[]>();
  c.plugins.forEach((p, i) => {
    if (!p.enabled || p.consumer !== null) return;
    const [map, key] = p.route !== null ? [byRoute, p.route] : p.service !== null ? [byService, p.service] : [null, ''];
    if (map === null) return global.push(i);
    const list = map.get(key);
    if (list === undefined) map.set(key, [i]);
    else list.push(i);
  });
  index = { global, byRoute, byService };
  pluginIndexes.set(c, index);
  return index;
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

export function securitySummary(a: GatewayConfig, b: GatewayConfig, display: (s: string) => string): SecurityFinding[] {
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
