/**
 * The route checks Kong's schema cannot express: something to match on, valid paths (with the
 * 1.1/2.1 regex migration), hosts, SNIs and header matchers, and two routes that match exactly
 * the same requests (a warning, as Kong loads them).
 */
import { formatYamlPath } from '../../errors.ts';
import { headerRegexSource, REGEX_HEADER_FLAGS } from '../../router/router.ts';
import { checkHost, checkRoutePath, migrateLegacyPath, normalizePath } from '../paths.ts';
import { type Build, drain, type Path, type PendingRoute, type Steps } from './state.ts';
import { sniProblem } from './tls.ts';

export function routeChecks(b: Build): void {
  drain(routeChecksSteps(b));
}

export function* routeChecksSteps(b: Build): Steps {
  const matchKeys = new Map<string, PendingRoute>();
  for (const r of b.routes) {
    yield;
    checkRoute(b, r);
    const key = matchKey(r);
    const first = matchKeys.get(key);
    // Kong loads such routes (one of them simply never matches): a warning, a failure under --strict.
    if (first) b.warn('SEMANTIC', duplicateMessage(first, r), r.path);
    else matchKeys.set(key, r);
  }
}

function routeLabel(r: PendingRoute): string {
  return r.model.name !== null
    ? `route '${r.model.name}' (${formatYamlPath(r.path)})`
    : `the route at ${formatYamlPath(r.path)}`;
}

/**
 * Which of two identical routes the router picks: its order is Kong's priority bits, then
 * regex_priority for regex paths, then declaration order (src/router/router.ts compareSubRoutes).
 */
function duplicateMessage(first: PendingRoute, second: PendingRoute): string {
  const a = first.model;
  const bm = second.model;
  const head = `${routeLabel(second)} matches exactly the same requests as ${routeLabel(first)}`;
  const hasRegex = a.paths?.some((p) => p.startsWith('~')) === true;
  const hasPrefix = a.paths?.some((p) => !p.startsWith('~')) === true;
  const name = (r: PendingRoute): string => (r.model.name !== null ? `'${r.model.name}'` : formatYamlPath(r.path));
  if (hasRegex && a.regex_priority !== bm.regex_priority) {
    const [win, lose] = a.regex_priority > bm.regex_priority ? [first, second] : [second, first];
    const regexPart = `${name(win)} wins for its regex paths (higher regex_priority), so ${name(lose)} never matches them`;
    return hasPrefix
      ? `${head}: ${regexPart}; ${name(first)} wins for its prefix paths (declared first)`
      : `${head}: ${regexPart}`;
  }
  return `${head}: ${name(first)} wins (declared first, same priority), so ${name(second)} never matches`;
}

/** One route's own checks (paths are migrated in place for 1.1/2.1 files). */
export function checkRoute(b: Build, r: PendingRoute): void {
  const m = r.model;
  const tls = m.protocols.includes('https') || m.protocols.includes('grpcs');
  const proto = m.protocols.includes('https') ? 'https' : m.protocols.includes('grpcs') ? 'grpcs' : m.protocols[0];
  const grpc = m.protocols.some((p) => p === 'grpc' || p === 'grpcs');
  if (!m.methods && !m.hosts && !m.headers && !m.paths && !(m.snis && tls)) {
    // Kong's http and grpc route subschemas: a grpc route takes no methods.
    b.err(
      'SCHEMA',
      `must set one of ${grpc ? '' : "'methods', "}'hosts', 'headers', 'paths'${tls ? ", 'snis'" : ''} when 'protocols' is '${proto}'`,
      r.path,
    );
  }
  // Kong's words (routes.lua entity check), which name its stream protocols too; the hint says
  // which of them Tollgate routes.
  if (m.snis && !tls)
    b.err(
      'SCHEMA',
      "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough' (Tollgate routes 'grpcs' and 'https' only: stream routes are not supported)",
      [...r.path, 'snis'],
    );
  // Kong 3 logs path_handling v1 as deprecated and its default router ignores it (atc.lua joins
  // every route's paths as v0); Tollgate honours it, so the same file routes differently.
  if (m.path_handling === 'v1')
    b.warn(
      'SEMANTIC',
      "path_handling 'v1' is deprecated in Kong 3, whose default router (traditional_compatible) joins paths as 'v0'; Tollgate joins them as 'v1', as Kong's traditional router does: write 'v0' for Kong 3's default behaviour",
      [...r.path, 'path_handling'],
    );
  // Kong's mutually exclusive subsets of `protocols`.
  if (grpc && m.methods)
    b.err('SCHEMA', "cannot set 'methods' when 'protocols' is 'grpc' or 'grpcs'", [...r.path, 'methods']);
  if (grpc && r.raw.strip_path === true)
    b.err('SCHEMA', "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'", [...r.path, 'strip_path']);
  if (grpc && m.protocols.some((p) => p === 'http' || p === 'https'))
    b.err('SCHEMA', "these sets are mutually exclusive: ('http', 'https'), ('grpc', 'grpcs')", [
      ...r.path,
      'protocols',
    ]);
  m.paths?.forEach((p, k) => {
    const pp = [...r.path, 'paths', k];
    if (b.legacy && p.startsWith('~')) {
      // Kong 3.x's migration would prefix another '~': the file is already written for 3.0.
      b.err(
        'FORMAT_VERSION',
        `this regex path is already written the Kong 3.0 way (starting with '~'), but _format_version ${b.doc._format_version} files have their regex paths migrated, which would break it: set _format_version: "3.0"`,
        pp,
      );
      return;
    }
    if (b.legacy) {
      const migrated = migrateLegacyPath(p);
      // Kong's migration normalizes the plain paths it keeps (migrate_path_280_300.lua). One
      // without its leading '/' (`bla`) keeps its text there and is refused as in a 3.0 file;
      // normalizing it here would make it '/', a route for every request.
      const normal = migrated === null && p.startsWith('/') ? normalizePath(p) : p;
      if (normal !== p) {
        m.paths![k] = normal;
        b.warn(
          'FORMAT_VERSION',
          `_format_version ${b.doc._format_version}: this path is read as '${normal}' (Kong 3.x's migration normalizes it); write it so and set _format_version to "3.0"`,
          pp,
        );
        p = normal;
      }
      if (migrated) {
        m.paths![k] = migrated;
        b.warn(
          'FORMAT_VERSION',
          `_format_version ${b.doc._format_version}: this path is read as the regex '${migrated}' (Kong 3.x's migration rule); write it with '~' and set _format_version to "3.0"`,
          pp,
        );
        p = migrated;
      }
    }
    const problem = checkRoutePath(p);
    if (problem) b.err('SEMANTIC', problem, pp);
  });
  m.hosts?.forEach((h, k) => {
    const p = checkHost(h, { wildcard: true, port: true, bareIpv6: true });
    if (p) b.err('SEMANTIC', p, [...r.path, 'hosts', k]);
  });
  // Kong's default router (traditional_compatible) checks a route's SNIs as a certificate's
  // (typedefs.wildcard_host in routes.lua), with the same messages.
  m.snis?.forEach((h, k) => {
    const p = sniProblem(h);
    if (p) b.err('SEMANTIC', p, [...r.path, 'snis', k]);
  });
  if (r.raw.headers) checkHeaders(b, r.raw.headers as Record<string, string[]>, r.path);
}

function checkHeaders(b: Build, headers: Record<string, string[]>, path: Path): void {
  for (const [name, values] of Object.entries(headers)) {
    const hp = [...path, 'headers', name];
    if (name.toLowerCase() === 'host')
      b.err('SEMANTIC', "cannot contain 'host' header, which must be specified in the 'hosts' attribute", hp, true);
    else if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) b.err('SEMANTIC', `invalid header name '${name}'`, hp, true);
    values.forEach((v, k) => {
      if (!v.startsWith('~*')) return;
      try {
        new RegExp(headerRegexSource(v.slice(2)), REGEX_HEADER_FLAGS);
      } catch (e) {
        b.err(
          'SEMANTIC',
          `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /s, '')}`,
          [...hp, k],
        );
      }
    });
  }
}

const same = (s: string): string => s;
const lower = (s: string): string => s.toLowerCase();
const upper = (s: string): string => s.toUpperCase();
const headerValue = (v: string): string => (v.startsWith('~*') ? v : v.toLowerCase());

/**
 * `a`'s values through `f`, distinct and sorted; null when there are none. Most lists of a route
 * hold one or two values: those skip the Set and the sort (matchKey runs for every route).
 */
function normalized(a: readonly string[] | null, f: (s: string) => string): string[] | null {
  if (a === null || a.length === 0) return null;
  const x = f(a[0]!);
  if (a.length === 1) return [x];
  if (a.length === 2) {
    const y = f(a[1]!);
    return x === y ? [x] : x < y ? [x, y] : [y, x];
  }
  return [...new Set(a.map(f))].sort();
}

/**
 * What a route matches on, after the router's normalization (methods upper case, hosts, SNIs,
 * header names (`_` as `-`) and literal header values lower case, no repeated values), order-insensitive:
 * equal keys match exactly the same requests.
 */
export function matchKey(r: PendingRoute): string {
  const m = r.model;
  const headers = m.headers
    ? Object.entries(m.headers)
        .filter(([, v]) => v.length > 0)
        .map(([k, v]) => [k.toLowerCase().replaceAll('_', '-'), normalized(v, headerValue)] as const)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))
    : [];
  return JSON.stringify([
    normalized(m.protocols, same),
    normalized(m.methods, upper),
    normalized(m.hosts, lower),
    normalized(m.paths, same),
    headers.length > 0 ? headers : null,
    normalized(m.snis, lower),
  ]);
}
