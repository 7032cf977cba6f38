/**
 * Route path, host and name rules shared by the config loader and the router, so that what
 * `gateway validate` accepts is exactly what the router compiles.
 */

import { isIP } from 'node:net';
import { EMPTY_SEGMENTS } from '../lib/kong-config.ts';
import { translatePcre } from '../router/pcre.ts';
import { REGEX_PATH_FLAGS, regexPathSource } from '../router/router.ts';

const UNRESERVED = /[A-Za-z0-9._~-]/;

/**
 * Compiles a `~` regex route path as the router uses it (src/router/router.ts regexPathSource):
 * PCRE spellings translated, anchored at the start of the normalized request path, `s` and `u` flags.
 * Named groups `(?<name>...)` are the captures plugins see.
 * @throws SyntaxError when the regex cannot be translated or does not compile
 */
export function compileRoutePathRegex(path: string): RegExp {
  return new RegExp(regexPathSource(path.slice(1)), REGEX_PATH_FLAGS);
}

/** Percent-decodes unreserved characters and removes dot segments and empty segments. */
export function normalizePath(path: string): string {
  // Most route paths have nothing to normalize (no escape, no empty or dot segment): as they are.
  if (path.charCodeAt(0) === 47 && !path.includes('%') && !path.includes('//') && !path.includes('/.')) return path;
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
    const ch = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(ch) ? ch : m;
  });
  const segs = decoded.split('/').slice(1);
  const out: string[] = [];
  let trailing = false;
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (s === '.' || s === '' || s === '..') {
      if (s === '..') out.pop();
      if (last) trailing = true;
      return;
    }
    out.push(s);
  });
  return `/${out.join('/')}${trailing && out.length > 0 ? '/' : ''}`;
}

/**
 * The PCRE2 compile error for a regex JavaScript (or the PCRE translation) refuses for the same
 * reason, so that Kong's message can be given in full: Kong dry-runs a regex path with
 * ngx.re.find (validate_path_with_regexes in typedefs.lua) and quotes PCRE2's words.
 */
const PCRE_ERRORS: ReadonlyMap<string, string> = new Map([
  ['Unterminated group', 'missing closing parenthesis'],
  ["Unmatched ')'", 'unmatched closing parenthesis'],
  ['Nothing to repeat', 'quantifier does not follow a repeatable item'],
  ['numbers out of order in {} quantifier', 'numbers out of order in {} quantifier'],
  ['Range out of order in character class', 'range out of order in character class'],
  ['Unterminated character class', 'missing terminating ] for character class'],
  ["a character class '[' is not closed", 'missing terminating ] for character class'],
  ['\\ at end of pattern', '\\ at end of pattern'],
  ["the pattern ends with a lone '\\'", '\\ at end of pattern'],
  ["the comment '(?#' is not closed", 'missing ) after (?# comment'],
  ['Duplicate capture group name', 'two named subpatterns have the same name (PCRE2_DUPNAMES not set)'],
]);

/**
 * Kong's message for a regex path that does not compile (`regex` without its `~`), with PCRE2's
 * reason when it is known, else JavaScript's.
 */
function invalidRegex(regex: string, pcre: string | undefined, reason = ''): string {
  return pcre !== undefined
    ? `invalid regex: '${regex}' (PCRE returned: pcre2_compile() failed: ${pcre} in "${regex}")`
    : `invalid regex: '${regex}' (${reason})`;
}

/** Checks a route path; returns an error message, or null when it is fine. */
export function checkRoutePath(path: string): string | null {
  if (path.includes('//'))
    return path.startsWith('/') ? `${EMPTY_SEGMENTS}: write '${normalizePath(path)}'` : EMPTY_SEGMENTS;
  // Kong's router_path (typedefs.lua) gives one message for a path without '/' and a regex without it.
  const noSlash = `should start with: / (fixed path) or ~/ (regex path)`;
  if (path.startsWith('~')) {
    if (!path.startsWith('~/')) return noSlash;
    const t = translatePcre(path.slice(1));
    if ('error' in t) {
      const pcre = PCRE_ERRORS.get(t.error);
      if (pcre !== undefined) return invalidRegex(path.slice(1), pcre);
      return `regex path uses PCRE syntax that cannot be translated: ${t.error}`;
    }
    try {
      compileRoutePathRegex(path);
    } catch (e) {
      const reason = (e as Error).message.replace(/^Invalid regular expression: \/.*\/\w*: /s, '');
      return invalidRegex(path.slice(1), PCRE_ERRORS.get(reason), reason);
    }
    return null;
  }
  if (!path.startsWith('/')) return noSlash;
  // Kong 3 accepts any other character in a prefix path (validate_path_with_regexes drops the RFC
  // 3986 check): `/café`, `/a b`, `/api/{id}` load, and match their percent-encoded requests.
  if (/[\x00-\x1f\x7f]/.test(path)) return `invalid path: '${JSON.stringify(path).slice(1, -1)}' (control characters)`;
  const bad = /%(?![0-9A-Fa-f]{2})/.exec(path);
  if (bad) return `invalid url-encoded value: '${path.slice(bad.index, bad.index + 3)}'`;
  const normal = normalizePath(path);
  if (normal !== path) {
    // Normalized request paths never contain these, so the route could never match as written.
    // Kong's message (validate_path_with_regexes, typedefs.lua), with why for an escape.
    if (/%[0-9A-Fa-f]{2}/.test(path) && normal.length !== path.length && !/\/\.\.?(\/|$)/.test(path)) {
      return `non-normalized path, consider use '${normal}' instead: percent-encoded unreserved characters never appear in a request path after normalization`;
    }
    return `non-normalized path, consider use '${normal}' instead (no '/./' or '/../' segments, no percent-encoded unreserved characters)`;
  }
  return null;
}

/** The regex source a 1.1/2.1 path becomes in 3.0 (Kong's own migration rule), or null for a plain path. */
export function migrateLegacyPath(path: string): string | null {
  if (/^[A-Za-z0-9.\-_~/%]*$/.test(path)) return null;
  return `~${path}`;
}

// Kong's check_hostname (kong/tools/ip.lua): letters, digits, `-` and `_`, no label ending in `-`,
// and no length limit (DNS's 63 and 253 bind names that are resolved, not an upstream's name,
// and decK's sanitized dumps write 64-character labels).
const LABEL = /^[a-z0-9_-]*[a-z0-9_]$/;

/** Checks a hostname, optionally with one leading `*.` or trailing `.*` wildcard and a port. */
export function checkHost(raw: string, opts: { wildcard: boolean; port: boolean; bareIpv6?: boolean }): string | null {
  let host = raw.toLowerCase();
  // Kong's hostname_type and normalize_ipv6 (kong/tools/ip.lua): more than one colon is an IPv6
  // address, and one without brackets is the whole text, with no port (a route's `::1`, which
  // the router matches as `[::1]`).
  if (opts.bareIpv6 === true && !host.startsWith('[') && host.indexOf(':') !== host.lastIndexOf(':'))
    return isIP(host) === 6 && !host.includes('%') ? null : `invalid ipv6 address: ${raw}`;
  if (opts.port) {
    // `[\s\S]`, not `.`: a host with a line break in it must reach the label check, not fail to match.
    // Any number of digits: Kong's normalize_ip (kong/tools/ip.lua) calls `example.com:1000000`
    // an invalid port number, not an invalid host name.
    const m = /^([\s\S]*?)(?::(\d+))?$/.exec(host)!;
    if (m[2] !== undefined && !host.startsWith('[')) {
      if (Number(m[2]) > 65535) return `invalid port number`;
      host = m[1]!;
    }
    const v6 = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(host);
    if (v6) return v6[2] !== undefined && Number(v6[2]) > 65535 ? 'invalid port number' : null;
  }
  // Kong's hostname_type (kong/tools/ip.lua): digits and dots only is an IPv4 address, so `1234`
  // or `1.2.3.4.5` is an invalid one, never a name.
  if (/^[\d.]+$/.test(host))
    return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) && host.split('.').every((o) => Number(o) <= 255)
      ? null
      : 'invalid IPv4 address';
  const stars = host.split('*').length - 1;
  if (stars > 0) {
    if (!opts.wildcard) return 'wildcards are not allowed here';
    if (stars > 1) return 'invalid wildcard: must have at most one wildcard';
    if (!(host.startsWith('*.') || host.endsWith('.*')))
      return 'invalid wildcard: must be placed at leftmost or rightmost label';
    host = host.startsWith('*.') ? host.slice(2) : host.slice(0, -2);
  }
  // A fully qualified name's trailing dot (RFC 1034 section 3.1), which Kong's check_hostname
  // allows: Kubernetes users write `svc.ns.svc.cluster.local.` so that no search domain is tried.
  if (host.length > 1 && host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0) return 'invalid hostname';
  if (!host.split('.').every((l) => LABEL.test(l)))
    // A shell-style `$NAME` left by a template that was not run through envsubst: neither Kong
    // nor Tollgate expands it.
    return raw.includes('$') && !raw.includes('${')
      ? `invalid hostname: '${raw}' (a \`$NAME\` is not expanded, by Kong or Tollgate: write \`\${NAME}\` to read an environment variable)`
      : `invalid hostname: '${raw}'`;
  return null;
}

/**
 * Kong's utf8_name rule (typedefs.lua), which services, routes and plugins' instance_name use:
 * ASCII letters, digits and `.-_~`, and any character past ASCII (Kong takes every UTF-8 byte
 * from 128: `café`, `日本`, an en dash, a non-breaking space).
 */
const UTF8_NAME = /^[A-Za-z0-9._~\u0080-\uD7FF\uE000-\u{10FFFF}-]+$/u;

/** Kong's rule for entity names, with its message. */
export function checkName(name: string): string | null {
  return UTF8_NAME.test(name)
    ? null
    : `invalid value '${name}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`;
}
