/**
 * A route compiled for the router: its paths, hosts and headers checked and turned into matchers,
 * split into sub-routes (one per prefix length, one for all its regexes) the way Kong ranks them.
 */
import { normalizePath } from './normalize.ts';
import { translatePcre } from './pcre.ts';

/** The fields of a route the router reads (a subset of `RouteModel`). */
export interface RoutableRoute {
  readonly id: string;
  readonly name: string | null;
  readonly hosts: readonly string[] | null;
  readonly paths: readonly string[] | null;
  readonly methods: readonly string[] | null;
  /** Header name → accepted values; a value starting with `~*` is a case-insensitive regex. */
  readonly headers: Readonly<Record<string, readonly string[]>> | null;
  /** TLS server names (`*.example.com` and `example.*` wildcards); matched on TLS connections only. */
  readonly snis: readonly string[] | null;
  readonly regex_priority: number;
  readonly strip_path: boolean;
  readonly path_handling: 'v0' | 'v1';
}

/** Thrown by `new Router` and `Router.build` for a route the router cannot compile (an invalid regex, say). */
export class RouteCompileError extends Error {
  readonly routeId: string;
  /** Dotted path inside the route, e.g. `paths[1]`. */
  readonly field: string;
  constructor(route: RoutableRoute, field: string, message: string) {
    super(`route ${route.name ?? route.id}: ${field}: ${message}`);
    this.name = 'RouteCompileError';
    this.routeId = route.id;
    this.field = field;
  }
}

export const HOST_EXACT = 0;
export const HOST_SUFFIX = 1; // '*.example.com' → ends with '.example.com'
export const HOST_PREFIX = 2; // 'example.*' → starts with 'example.'

export interface HostMatcher {
  readonly kind: 0 | 1 | 2;
  readonly value: string;
  /** -1: any port. */
  readonly port: number;
}

export interface HeaderMatcher {
  /** The header's name, lower-case, `_` read as `-`. */
  readonly name: string;
  /** The same name spelled with `_`, looked up when `name` is absent; null when it has no `-`. */
  readonly underscored: string | null;
  /** Lower-cased literal values. */
  readonly values: readonly string[];
  readonly regexes: readonly RegExp[];
}

/**
 * A route, or one slice of it: like Kong, a route whose paths mix regexes and prefixes of different
 * lengths is split into one sub-route per prefix length plus one for all its regexes, each with its
 * own priority.
 */
export interface SubRoute<R> {
  readonly route: R;
  readonly routeIndex: number;
  readonly weight: number;
  readonly plainHostOnly: boolean;
  readonly headerCount: number;
  readonly isRegex: boolean;
  readonly regexPriority: number;
  readonly prefixLength: number;
  /**
   * The kinds of fields the route sets as Kong's traditional router weighs them (hosts 0x40,
   * headers 0x20, paths 0x10, methods 0x08, snis 0x04): the larger wins a tie.
   */
  readonly category: number;
  /** Whether one of the route's hosts names a port: it wins a tie with a route whose hosts do not. */
  readonly portHost: boolean;
  readonly methods: readonly string[] | null;
  readonly hosts: readonly HostMatcher[] | null;
  readonly headers: readonly HeaderMatcher[] | null;
  readonly snis: readonly HostMatcher[] | null;
  readonly regexes: readonly RegExp[] | null;
  readonly prefixes: readonly string[] | null;
  rank: number;
}

function isEmpty(v: readonly unknown[] | null | undefined): v is null | undefined {
  return v === null || v === undefined || v.length === 0;
}

/** What the sub-routes of one route share. */
type RouteTraits<R> = Pick<
  SubRoute<R>,
  | 'route'
  | 'routeIndex'
  | 'plainHostOnly'
  | 'category'
  | 'portHost'
  | 'headerCount'
  | 'methods'
  | 'hosts'
  | 'headers'
  | 'snis'
  | 'weight'
>;

/**
 * One sub-route, as a literal of a single shape: copies made with object spread were several
 * times slower to read in the sort and the trie build (three times the CPU of a 10,000-route
 * router build).
 */
function subRoute<R>(
  t: RouteTraits<R>,
  isRegex: boolean,
  regexPriority: number,
  prefixLength: number,
  regexes: readonly RegExp[] | null,
  prefixes: readonly string[] | null,
): SubRoute<R> {
  return {
    route: t.route,
    routeIndex: t.routeIndex,
    weight: t.weight,
    plainHostOnly: t.plainHostOnly,
    headerCount: t.headerCount,
    isRegex,
    regexPriority,
    prefixLength,
    category: t.category,
    portHost: t.portHost,
    methods: t.methods,
    hosts: t.hosts,
    headers: t.headers,
    snis: t.snis,
    regexes,
    prefixes,
    rank: 0,
  };
}

export function compileRoute<R extends RoutableRoute>(route: R, routeIndex: number, out: SubRoute<R>[]): void {
  const methods = isEmpty(route.methods) ? null : Object.freeze(route.methods.map((m) => m.toUpperCase()));
  const hosts = isEmpty(route.hosts) ? null : Object.freeze(route.hosts.map((h, i) => compileHost(route, h, i)));
  const headerNames =
    route.headers === null ? [] : Object.keys(route.headers).filter((k) => !isEmpty(route.headers![k]));
  const headers =
    headerNames.length === 0
      ? null
      : Object.freeze(headerNames.map((n) => compileHeader(route, n, route.headers![n]!)));
  const snis = isEmpty(route.snis) ? null : Object.freeze(route.snis.map(compileSni));
  const plainHostOnly = hosts?.every((h) => h.kind === HOST_EXACT) === true;
  // Kong's router specs expect `route.*:123` to win over `route.*` for `route.org:123`, and
  // `a.test:321` over `a.test` (spec/01-unit/08-router_spec.lua, both flavors): the traditional
  // router ranks a host with a port higher (HAS_WILDCARD_HOST_PORT, its plain-host index tries
  // host:port first); traditional_compatible gives both one priority and its tie-break by route id
  // puts the port route first in those specs.
  const portHost = hosts?.some((h) => h.port !== -1) === true;
  // traditional_compatible gives `methods: [GET]` and `hosts: [domain.*]` one priority and breaks
  // the tie by route id; Kong's specs expect the host route to win for both flavors ("[method] does
  // not supersede [wildcard host]"), as the traditional router's categories order them
  // (MATCH_RULES in kong/router/traditional.lua: host, header, uri, method, sni).
  const category =
    (hosts !== null ? 0x40 : 0) |
    (headers !== null ? 0x20 : 0) |
    (isEmpty(route.paths) ? 0 : 0x10) |
    (methods !== null ? 0x08 : 0) |
    (snis !== null ? 0x04 : 0);
  // Kong's match weight: one for each kind of criterion the route sets (kong/router/transform.lua).
  const weight =
    Number(methods !== null) +
    Number(hosts !== null) +
    Number(headers !== null) +
    Number(snis !== null) +
    Number(!isEmpty(route.paths));
  const base: RouteTraits<R> = {
    route,
    routeIndex,
    plainHostOnly,
    category,
    portHost,
    headerCount: headers?.length ?? 0,
    methods,
    hosts,
    headers,
    snis,
    weight,
  };

  if (isEmpty(route.paths)) {
    out.push(subRoute(base, false, 0, 0, null, null));
    return;
  }

  const regexes: RegExp[] = [];
  const byLength = new Map<number, string[]>();
  route.paths.forEach((p, i) => {
    if (p.startsWith('~')) {
      regexes.push(compileRegexPath(route, p.slice(1), i));
    } else {
      const norm = normalizeRoutePrefix(route, p, i);
      let group = byLength.get(norm.length);
      if (group === undefined) byLength.set(norm.length, (group = []));
      if (!group.includes(norm)) group.push(norm);
    }
  });
  if (regexes.length > 0) {
    out.push(subRoute(base, true, route.regex_priority, 0, Object.freeze(regexes), null));
  }
  for (const [length, prefixes] of byLength) {
    out.push(subRoute(base, false, 0, length, null, Object.freeze(prefixes)));
  }
}

function compileHost(route: RoutableRoute, raw: string, i: number): HostMatcher {
  let h = raw.toLowerCase();
  // An IPv6 literal without brackets (`::1`, loaded as Kong's schema loads it) is the whole
  // address with no port; Kong's traditional router matches it as `[::1]` on any port.
  if (!h.startsWith('[') && h.indexOf(':') !== h.lastIndexOf(':'))
    return { kind: HOST_EXACT, value: `[${h}]`, port: -1 };
  let port = -1;
  const m = /^(.*):(\d+)$/.exec(h);
  if (m !== null && !m[1]!.endsWith(':')) {
    h = m[1]!;
    port = Number(m[2]);
  }
  if (h.startsWith('*') && h.indexOf('*', 1) === -1) return { kind: HOST_SUFFIX, value: h.slice(1), port };
  if (h.endsWith('*') && h.indexOf('*') === h.length - 1) return { kind: HOST_PREFIX, value: h.slice(0, -1), port };
  if (h.includes('*'))
    throw new RouteCompileError(route, `hosts[${i}]`, 'a wildcard must be the leftmost or rightmost label');
  return { kind: HOST_EXACT, value: h, port };
}

/**
 * A route's SNI as Kong matches it: `*.example.com` by suffix, `example.*` by prefix, otherwise
 * exactly, case-insensitively, a trailing dot dropped (the config checks forbid ports).
 */
function compileSni(raw: string): HostMatcher {
  const sni = raw.toLowerCase();
  if (sni.endsWith('*')) return { kind: HOST_PREFIX, value: sni.slice(0, -1), port: -1 };
  const name = sni.length > 1 && sni.endsWith('.') ? sni.slice(0, -1) : sni;
  if (name.startsWith('*')) return { kind: HOST_SUFFIX, value: name.slice(1), port: -1 };
  return { kind: HOST_EXACT, value: name, port: -1 };
}

/**
 * Kong matches a route's header as `http.headers.<name with '-' as '_'>`, which nginx's header
 * lookup reads with '_' as '-' (kong/router/transform.lua, ngx.req.get_headers): `X_Version` and
 * `x-version` name one header, sent as `X-Version` (or `X_Version`, where underscores are allowed).
 */
function compileHeader(route: RoutableRoute, rawName: string, values: readonly string[]): HeaderMatcher {
  const name = rawName.toLowerCase().replaceAll('_', '-');
  const literal: string[] = [];
  const regexes: RegExp[] = [];
  values.forEach((v, i) => {
    if (v.startsWith('~*')) {
      try {
        regexes.push(new RegExp(headerRegexSource(v.slice(2)), REGEX_HEADER_FLAGS));
      } catch (err) {
        throw new RouteCompileError(route, `headers.${rawName}[${i}]`, `invalid regex: ${(err as Error).message}`);
      }
    } else {
      literal.push(v.toLowerCase());
    }
  });
  const underscored = name.includes('-') ? name.replaceAll('-', '_') : null;
  return { name, underscored, values: Object.freeze(literal), regexes: Object.freeze(regexes) };
}

/**
 * Route prefixes get the request normalization (Kong normalizes route paths too), so `/caf%c3%a9`,
 * `/café` and `/a/./b` in a config match what clients send. Non-ASCII is encoded as UTF-8 here,
 * since config strings are Unicode while request targets arrive as latin1 bytes.
 */
function normalizeRoutePrefix(route: RoutableRoute, raw: string, i: number): string {
  try {
    const ascii = raw.replace(/[^\x00-\x7f]+/g, (s) => encodeURIComponent(s));
    return normalizePath(ascii, 'allow');
  } catch {
    throw new RouteCompileError(
      route,
      `paths[${i}]`,
      'not a valid path (must start with "/", valid percent-escapes, no control characters)',
    );
  }
}

/**
 * The source of the regex a `~` route path (`source` is the text after `~`) compiles to, as the
 * router runs it with REGEX_PATH_FLAGS (the config loader checks this very source for super-linear
 * matching time): PCRE spellings translated and Kong's normalization applied (src/router/pcre.ts),
 * anchored at the start of the path and wrapped in a group so that an alternation (`~/a|/b`) is
 * anchored as a whole.
 * @throws SyntaxError naming the PCRE construct when the path cannot be translated
 */
export function regexPathSource(source: string): string {
  const t = translatePcre(source);
  if ('error' in t) throw new SyntaxError(t.error);
  return `^(?:${t.source})`;
}

/**
 * The JavaScript source of a `~*` header value regex (the text after `~*`), Kong's PCRE spellings
 * translated (`\-`, `\h`, `[[:digit:]]`, `\Q...\E`); compiled with REGEX_HEADER_FLAGS.
 * @throws SyntaxError naming the PCRE construct when the regex cannot be translated
 */
export function headerRegexSource(source: string): string {
  const t = translatePcre(source, 'header');
  if ('error' in t) throw new SyntaxError(t.error);
  return t.source;
}

/**
 * Flags of a `~*` header value regex: case-insensitive, as Kong's; `u`, as the config loader
 * compiles it, so that `\p{L}` is a letter class and an escape JavaScript does not know is an
 * error instead of a literal letter; and dotAll. A header value
 * never holds a line break (RFC 9110 5.5, RFC 9113 8.2.1; Node's parsers refuse or drop one), so
 * dotAll changes no match, and the load-time complexity check, which is run with these flags,
 * then knows `.` matches every character of the value (`^v.*-beta.*$` is linear on it).
 */
export const REGEX_HEADER_FLAGS = 'isu';

/**
 * Flags of a regex route path: `u`, so that PCRE-only escapes are refused instead of read as
 * letters, and dotAll. The normalized path never holds a line break (a raw control character is
 * refused, `%0A` and `%0D` stay encoded: src/router/normalize.ts), so dotAll changes no match, and
 * the load-time complexity check then knows `.` matches every character of it.
 */
export const REGEX_PATH_FLAGS = 'su';

function compileRegexPath(route: RoutableRoute, source: string, i: number): RegExp {
  try {
    return new RegExp(regexPathSource(source), REGEX_PATH_FLAGS);
  } catch (err) {
    throw new RouteCompileError(route, `paths[${i}]`, `invalid regex: ${(err as Error).message}`);
  }
}
