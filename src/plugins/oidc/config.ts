/**
 * The oidc plugin's config: its shape, and the checks the schema cannot express, done once at
 * load (no I/O). Warnings go to the plugin's logger, so `gateway validate` shows them located.
 */
import type { PluginContext, PluginPeer, RouteInfo } from '../../index.ts';
import { anyRouteReaches, describeRoutes, PluginConfigError } from '../../index.ts';
import { safeReturnPath } from './urls.ts';

/** The plugin's config as validated by `schemas/plugins/oidc.schema.json` (defaults applied). */
export interface OidcConfig {
  client_id: string;
  client_secret?: string;
  discovery: string;
  allow_insecure_http: boolean;
  scope: string;
  response_type: 'code';
  token_endpoint_auth_method: 'client_secret_post' | 'client_secret_basic' | 'none';
  authorization_params: Record<string, string>;
  redirect_uri_path?: string;
  redirect_uri?: string;
  /** Absent (kong-oidc allows it): a random secret for this run, with a warning. */
  session_secret?: string | string[];
  session_cookie_name: string;
  session_lifetime: number;
  session_idle_timeout: number;
  refresh_leeway: number;
  bearer_only: boolean | 'yes' | 'no';
  bearer_jwt_auth_allowed_auds?: string[];
  bearer_jwt_auth_signing_algs: string[];
  introspection_endpoint?: string;
  introspection_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post';
  introspection_cache_ttl: number;
  realm: string;
  unauth_action: 'auth' | 'deny';
  logout_path?: string;
  post_logout_redirect_uri?: string;
  redirect_after_logout_uri?: string;
  end_session_endpoint?: string;
  recovery_page_path?: string;
  filters?: string | string[];
  userinfo: boolean;
  disable_userinfo_header: boolean | 'yes' | 'no';
  disable_access_token_header: boolean | 'yes' | 'no';
  disable_id_token_header: boolean | 'yes' | 'no';
  ssl_verify: boolean | 'yes' | 'no';
  timeout: number;
  debug?: boolean;
}

/** The callback path of a route, and where a callback without a pending login sends the browser. */
export interface RoutePaths {
  readonly callback: string;
  /** Where a callback without a pending login sends the browser to start over. */
  readonly home: string;
}

/** What `checkConfig` derives from a valid config. */
export interface CheckedConfig {
  readonly discovery: URL;
  readonly fixedRoute: RoutePaths | null;
  /** The configured `redirect_uri`'s origin: the origin of every absolute URL sent to the IdP. */
  readonly redirectOrigin: string | null;
  readonly postLogout: string;
  /** The path that logs out (`logout_path`, default /logout). */
  readonly logoutPath: string;
  readonly filter: RegExp | null;
  /** Each filter as matched, with its config path, for the load-time linearity check. */
  readonly filterChecks: readonly (readonly [RegExp, string])[];
  readonly bearerOnly: boolean;
  readonly audiences: readonly string[];
  readonly sslVerify: boolean;
  /** Which identity headers go upstream (the disable_*_header flags, read as booleans). */
  readonly send: { readonly userinfo: boolean; readonly accessToken: boolean; readonly idToken: boolean };
}

const RESERVED_AUTH_PARAMS = new Set([
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
]);
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/** kong-oidc's default logout path. */
const DEFAULT_LOGOUT_PATH = '/logout';

/**
 * The routes whose requests can reach a plugin that answers this instance's callback and logout:
 * its own (`own`), and those of every browser (not bearer_only) oidc instance with the same
 * client, IdP and session cookie, whose sessions are this one's (one registered callback for
 * several routes). That group's routes are gathered once per config and group, and whether a path
 * reaches them is found once per path: 10,000 routes with an instance each are not 10,000 scans
 * of 10,000 routes.
 */
interface Answering {
  readonly own: readonly RouteInfo[];
  readonly group: SharedRoutes | null;
}

interface SharedRoutes {
  readonly routes: readonly RouteInfo[];
  readonly ids: ReadonlySet<string>;
  readonly reaching: Map<string, boolean>;
}

/** Per peer list (one per config), the routes of each group of browser instances. */
const groupsByPeers = new WeakMap<readonly PluginPeer[], Map<string, SharedRoutes>>();

function groupKey(c: Partial<OidcConfig>): string {
  return JSON.stringify([c.client_id, c.discovery, c.session_cookie_name]);
}

function answering(cfg: OidcConfig, own: readonly RouteInfo[], peers: readonly PluginPeer[]): Answering {
  if (peers.length === 0) return { own, group: null };
  let groups = groupsByPeers.get(peers);
  if (groups === undefined) {
    const byKey = new Map<string, Map<string, RouteInfo>>();
    for (const peer of peers) {
      const c = peer.config as Partial<OidcConfig>;
      if (yes(c.bearer_only ?? false)) continue;
      const key = groupKey(c);
      let routes = byKey.get(key);
      if (routes === undefined) byKey.set(key, (routes = new Map()));
      for (const r of peer.routes) routes.set(r.id, r);
    }
    groups = new Map(
      [...byKey].map(([key, routes]) => [
        key,
        { routes: [...routes.values()], ids: new Set(routes.keys()), reaching: new Map() },
      ]),
    );
    groupsByPeers.set(peers, groups);
  }
  return { own, group: groups.get(groupKey(cfg)) ?? null };
}

function reaches(a: Answering, path: string): boolean {
  if (anyRouteReaches(a.own, path)) return true;
  if (a.group === null) return false;
  let hit = a.group.reaching.get(path);
  if (hit === undefined) a.group.reaching.set(path, (hit = anyRouteReaches(a.group.routes, path)));
  return hit;
}

function hasRoutes(a: Answering): boolean {
  return a.own.length > 0 || (a.group !== null && a.group.routes.length > 0);
}

/** The answering routes, own first, each once; read only as far as a message needs. */
function* answeringRoutes(a: Answering): Generator<RouteInfo> {
  const seen = new Set<string>();
  for (const list of [a.own, a.group?.routes ?? []]) {
    for (const r of list) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      yield r;
    }
  }
}

/** The answering routes for a message: the first ten, and how many there are in all. */
function described(a: Answering): string {
  const total =
    a.group === null ? a.own.length : a.group.routes.length + a.own.filter((r) => !a.group!.ids.has(r.id)).length;
  return describeRoutes(answeringRoutes(a), total);
}

/**
 * Throws at `field` when `path` is outside every route the plugin runs on (no check without
 * routes: a plugin on a service or globally with no route yet serves nothing anyway).
 */
function unreachable(a: Answering, path: string, what: string, field: string): void {
  if (!hasRoutes(a) || reaches(a, path)) return;
  throw new PluginConfigError(
    field,
    `${what} '${path}' is outside every route this plugin (or an oidc instance sharing its client and session cookie) runs on (${described(a)}): the gateway would never pass it to the plugin; use a path under one of them, such as '${under(a, path.split('/').filter(Boolean).at(-1) ?? 'cb')}'`,
  );
}

/** `leaf` under the first prefix path of the routes, for suggestions. */
function under(a: Answering, leaf: string): string {
  for (const r of answeringRoutes(a)) {
    const prefix = r.paths?.find((p) => !p.startsWith('~'));
    if (prefix !== undefined) return `${prefix.replace(/\/+$/, '')}/${leaf}`;
  }
  return `/${leaf}`;
}

/** kong-oidc's flags (and its forks') are booleans or the strings yes/no. */
export function yes(v: boolean | 'yes' | 'no'): boolean {
  return v === true || v === 'yes';
}

/** What a session is bound to: a session sealed under another binding does not open. */
export function sessionBinding(clientId: string, discovery: string, cookieName: string): string {
  return `${clientId}\n${new URL(discovery).href}\n${cookieName}`;
}

/** An absolute URL of the config, or a config error located at `field` (the schema only checks its scheme). */
function absoluteUrl(value: string, field: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new PluginConfigError(field, 'must be an absolute URL');
  }
}

function isAllowedUrl(url: URL, allowInsecure: boolean): boolean {
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (allowInsecure || LOOPBACK.test(url.hostname));
}

/** Checks what the schema cannot; throws `PluginConfigError` at the offending field. */
export function checkConfig(
  cfg: OidcConfig,
  warn: PluginContext['warn'],
  route: RouteInfo | null,
  own: readonly RouteInfo[],
  peers: readonly PluginPeer[] = [],
): CheckedConfig {
  const routes = answering(cfg, own, peers);
  const discovery = absoluteUrl(cfg.discovery, 'discovery');
  // Parsed at every logout: an unparsable one would fail each of them.
  if (cfg.end_session_endpoint !== undefined) absoluteUrl(cfg.end_session_endpoint, 'end_session_endpoint');
  if (!isAllowedUrl(discovery, cfg.allow_insecure_http)) {
    throw new PluginConfigError(
      'discovery',
      'must use https (plain http is accepted only for a loopback host, or with allow_insecure_http: true)',
    );
  }
  if (
    cfg.introspection_endpoint !== undefined &&
    !isAllowedUrl(
      absoluteUrl(cfg.introspection_endpoint, 'introspection_endpoint'),
      cfg.allow_insecure_http || LOOPBACK.test(discovery.hostname),
    )
  ) {
    throw new PluginConfigError('introspection_endpoint', 'must use https (or plain http on a loopback host)');
  }
  if (!cfg.scope.split(/\s+/).includes('openid')) throw new PluginConfigError('scope', 'must include openid');
  if (cfg.client_secret === undefined && cfg.token_endpoint_auth_method !== 'none') {
    throw new PluginConfigError('client_secret', 'is required unless token_endpoint_auth_method is none');
  }
  for (const k of Object.keys(cfg.authorization_params)) {
    if (RESERVED_AUTH_PARAMS.has(k)) {
      throw new PluginConfigError(`authorization_params.${k}`, 'is set by the plugin and cannot be configured');
    }
  }
  const mode = cfg.authorization_params.response_mode;
  if (mode !== undefined && mode !== 'query') {
    // The callback reads the code and state from its query string: a form_post answer is a
    // cross-site POST (without the SameSite=Lax login cookie), a fragment never reaches the server.
    throw new PluginConfigError(
      'authorization_params.response_mode',
      `'${mode}' is not supported: the callback reads the IdP's answer from the query string; remove response_mode (or set it to query)`,
    );
  }
  if (cfg.redirect_uri !== undefined && cfg.redirect_uri_path !== undefined) {
    throw new PluginConfigError('redirect_uri_path', 'set either redirect_uri or redirect_uri_path, not both');
  }
  let fixedCallback: string | null = cfg.redirect_uri_path ?? null;
  if (cfg.redirect_uri !== undefined) {
    const u = absoluteUrl(cfg.redirect_uri, 'redirect_uri');
    if (u.search !== '' || u.hash !== '')
      throw new PluginConfigError('redirect_uri', 'must not have a query or fragment');
    fixedCallback = u.pathname;
  }
  const logoutPath = cfg.logout_path ?? DEFAULT_LOGOUT_PATH;
  if (!yes(cfg.bearer_only)) {
    // The callback and the logout path are answered by the plugin, so only on its routes: a path
    // no route of the plugin matches is answered by another route, or 404, and the login never
    // completes (kong-oidc fails the same way, silently).
    if (fixedCallback !== null) {
      const field = cfg.redirect_uri !== undefined ? 'redirect_uri' : 'redirect_uri_path';
      unreachable(routes, fixedCallback, 'the callback path', field);
    }
    if (cfg.logout_path !== undefined) unreachable(routes, logoutPath, 'logout_path', 'logout_path');
    else if (hasRoutes(routes) && !reaches(routes, logoutPath)) {
      warn(
        `logout is not reachable: the default logout_path '${logoutPath}' is outside every route this plugin (or an oidc instance sharing its client and session cookie) runs on (${described(routes)}); set logout_path to a path under one of them, such as '${under(routes, 'logout')}'`,
      );
    }
  }
  const fixedRoute: RoutePaths | null = fixedCallback === null ? null : { callback: fixedCallback, home: '/' };
  const redirectOrigin = cfg.redirect_uri === undefined ? null : new URL(cfg.redirect_uri).origin;
  if (cfg.redirect_uri === undefined && !yes(cfg.bearer_only) && !(route?.hosts?.length ?? 0)) {
    // Nothing configured says which host the IdP must send the browser back to.
    warn(
      "redirect_uri is not set and the plugin is not on a route with hosts: the redirect_uri and post_logout_redirect_uri sent to the IdP are built from each request's Host header; set redirect_uri to an absolute URL (https://app.example.com/callback) or give the route hosts",
    );
  }

  if (
    cfg.post_logout_redirect_uri !== undefined &&
    cfg.redirect_after_logout_uri !== undefined &&
    cfg.post_logout_redirect_uri !== cfg.redirect_after_logout_uri
  ) {
    throw new PluginConfigError(
      'redirect_after_logout_uri',
      'conflicts with post_logout_redirect_uri (kong-oidc name of the same setting)',
    );
  }
  const postLogout = cfg.post_logout_redirect_uri ?? cfg.redirect_after_logout_uri ?? '/';
  const postLogoutPath =
    cfg.post_logout_redirect_uri !== undefined ? 'post_logout_redirect_uri' : 'redirect_after_logout_uri';
  if (postLogout.startsWith('/')) {
    if (safeReturnPath(postLogout) !== postLogout)
      throw new PluginConfigError(postLogoutPath, 'must be a path on this gateway or an absolute URL');
  } else {
    let u: URL | null = null;
    try {
      u = new URL(postLogout);
    } catch {
      /* reported below */
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
      throw new PluginConfigError(postLogoutPath, 'must be a path on this gateway or an absolute http(s) URL');
    }
  }

  const filters =
    typeof cfg.filters === 'string'
      ? cfg.filters
          .split(',')
          .map((f) => f.trim())
          .filter((f) => f !== '')
      : (cfg.filters ?? []);
  const alternatives: string[] = [];
  const filterChecks: [RegExp, string][] = [];
  filters.forEach((f, i) => {
    try {
      new RegExp(f);
    } catch (err) {
      throw new PluginConfigError(
        typeof cfg.filters === 'string' ? 'filters' : `filters.${i}`,
        `is not a valid regular expression: ${(err as Error).message}`,
      );
    }
    if (/%[a-zA-Z.%-]/.test(f)) {
      warn(
        `oidc filter '${f}' looks like a Lua pattern; filters are regular expressions matched against the whole path`,
        typeof cfg.filters === 'string' ? 'filters' : `filters.${i}`,
      );
    }
    alternatives.push(`(?:${f})`);
    filterChecks.push([new RegExp(`^(?:${f})$`, 's'), typeof cfg.filters === 'string' ? 'filters' : `filters.${i}`]);
  });
  // dotAll: the normalized request path never holds a line break (src/router/normalize.ts), so it
  // changes no match, and the complexity check then knows `.` matches all of it (src/safe-regex.ts).
  const filter = alternatives.length === 0 ? null : new RegExp(`^(?:${alternatives.join('|')})$`, 's');

  const bearerOnly = yes(cfg.bearer_only);
  const audiences = cfg.bearer_jwt_auth_allowed_auds ?? [cfg.client_id];
  const sslVerify = yes(cfg.ssl_verify);
  if (!sslVerify) {
    warn(
      `oidc ssl_verify is off: the IdP's TLS certificate (${discovery.origin}) is not verified; anyone on the path can impersonate it`,
      'ssl_verify',
    );
  }

  return {
    discovery,
    fixedRoute,
    redirectOrigin,
    postLogout,
    logoutPath,
    filter,
    filterChecks,
    bearerOnly,
    audiences,
    sslVerify,
    send: {
      userinfo: !yes(cfg.disable_userinfo_header),
      accessToken: !yes(cfg.disable_access_token_header),
      idToken: !yes(cfg.disable_id_token_header),
    },
  };
}
