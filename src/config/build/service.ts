/**
 * Services: Kong's `url` shorthand or protocol/host/port/path, checked and turned into the model.
 */
import { isIP } from 'node:net';
import { pathProblem } from '../../lib/kong-config.ts';
import type { ServiceModel } from '../model.ts';
import { checkHost } from '../paths.ts';
import { REQUIRED_FIELD_MISSING, WEBSOCKET_HINT } from '../schema-messages.ts';
import { type Err, type Obj, orNull, type Path, tags, type Warn } from './state.ts';

/** A host that never resolves (RFC 6761 `.invalid`), for a service whose url could not be read. */
const UNRESOLVED_HOST = 'unresolved.invalid';

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443, grpc: 80, grpcs: 443, echo: 0 };

export function buildService(raw: Obj, path: Path, err: Err, warn: Warn): ServiceModel {
  let protocol: ServiceModel['protocol'] = raw.protocol ?? 'http';
  let host: string = raw.host ?? '';
  let port: number | undefined = raw.port;
  let svcPath: string | null = raw.path ?? null;
  if (raw.url !== undefined) {
    const parsed = parseServiceUrl(raw.url);
    if (typeof parsed === 'string') {
      err('SCHEMA', parsed, [...path, 'url']);
      // The error stands, unless the url is a placeholder for an unset variable (validate
      // --allow-unset-env skips its checks): the rest of the config is still compiled and
      // checked. A url that is one whole placeholder (a valid host name) stays in the host, so
      // `gateway diff` tells `url: ${A}` from `url: ${B}`.
      host = /^[a-z0-9-]+$/.test(raw.url) ? raw.url : UNRESOLVED_HOST;
    } else {
      ({ protocol, host, port, path: svcPath } = parsed);
      urlAgreement(raw, parsed, path, warn);
      if (parsed.dropped.length > 0) warn('SEMANTIC', droppedMessage(parsed.dropped), [...path, 'url']);
    }
  } else if (protocol === 'echo') {
    host = raw.host ?? 'echo';
  } else if (raw.host === undefined) {
    err('SCHEMA', `${REQUIRED_FIELD_MISSING} (or give 'url')`, [...path, 'host']);
  }
  if (host && protocol !== 'echo') {
    const p = serviceHostProblem(host);
    if (p) err('SCHEMA', p, [...path, raw.url !== undefined ? 'url' : 'host']);
  }
  if (svcPath !== null) {
    // The in-process echo sends no request line: its path only needs its leading '/'.
    const p = !svcPath.startsWith('/')
      ? 'should start with: /'
      : protocol === 'echo'
        ? null
        : pathProblem(svcPath, false);
    if (p) err('SCHEMA', p, [...path, raw.url !== undefined ? 'url' : 'path']);
  }
  // Kong's port type runs from 0, so a service on port 0 loads; no connection can be made to it.
  if (port === 0 && protocol !== 'echo')
    warn(
      'SEMANTIC',
      'port 0: no upstream can be connected on port 0, so every request this service is sent answers 502 (Kong loads it too)',
      [...path, raw.url !== undefined ? 'url' : 'port'],
    );
  // Kong's entity check: a gRPC call's path is its method (/package.Service/Method), which a
  // service path would prefix into one the upstream does not serve. A bare `/` (grpc://host:port/)
  // changes no call and is let through.
  if (svcPath !== null && svcPath !== '/' && (protocol === 'grpc' || protocol === 'grpcs'))
    err(
      'SCHEMA',
      `value must be null: a ${protocol} service has no path (a gRPC call's path is its /package.Service/Method), as in Kong`,
      [...path, raw.path !== undefined && raw.path !== null ? 'path' : 'url'],
    );
  return {
    id: '',
    name: orNull(raw.name),
    protocol,
    host,
    port: port ?? DEFAULT_PORTS[protocol] ?? 80,
    path: svcPath,
    connect_timeout: raw.connect_timeout,
    write_timeout: raw.write_timeout,
    read_timeout: raw.read_timeout,
    retries: raw.retries,
    enabled: raw.enabled,
    tags: tags(raw.tags),
    tls_verify: orNull(raw.tls_verify),
    tls_verify_depth: orNull(raw.tls_verify_depth),
    ca_certificates: null,
    ca_certificate_refs: null,
    client_certificate: null,
    yaml_path: path,
  };
}

/**
 * A service's host in the words of Kong's typedefs.host (validate_host): `invalid value: <host>`,
 * or `must not have a port` for a valid host with one, whatever the port's size.
 */
function serviceHostProblem(host: string): string | null {
  return remembered(hostProblems, host, hostProblem);
}

/**
 * The answers of the two host checks by host: a file of thousands of services names a few hosts
 * (a cluster's services, one address) again and again. Config text, not request data; at most
 * HOST_MEMO entries, started afresh when full.
 */
const HOST_MEMO = 4096;
const hostProblems = new Map<string, string | null>();
const numericHostProblems = new Map<string, string | null>();

function remembered(
  memo: Map<string, string | null>,
  host: string,
  check: (host: string) => string | null,
): string | null {
  const known = memo.get(host);
  if (known !== undefined) return known;
  if (memo.size >= HOST_MEMO) memo.clear();
  const found = check(host);
  memo.set(host, found);
  return found;
}

function hostProblem(host: string): string | null {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare) !== 0) return null;
  const withPort = /^(\[[^\]]*\]|[^:]*):\d+$/.exec(host);
  if (withPort !== null) {
    const h = withPort[1]!.replace(/^\[(.*)\]$/, '$1');
    if (isIP(h) !== 0 || checkHost(h, { wildcard: false, port: false }) === null) return 'must not have a port';
  }
  const problem = checkHost(host, { wildcard: false, port: false });
  if (problem !== null)
    // A shell-style `$NAME` left by a template that was not run through envsubst.
    return host.includes('$') && !host.includes('${')
      ? `invalid value: ${host} (a \`$NAME\` is not expanded, by Kong or Tollgate: write \`\${NAME}\` to read an environment variable)`
      : `invalid value: ${host}`;
  return null;
}

/**
 * A name whose last label is a number (`example.123`, `a.0x10`) is an IPv4 address to URL parsers
 * (WHATWG URL's "ends in a number" rule, which undici's origins follow): `example.123` cannot be
 * connected to, and `a.0x7f.1` would go to 127.0.0.1. Kong resolves such names with DNS; no
 * registered top-level domain is numeric (RFC 3696 2), so they name no host on the internet.
 */
export function urlNumericHostProblem(host: string): string | null {
  return remembered(numericHostProblems, host, numericHostProblem);
}

function numericHostProblem(host: string): string | null {
  // An address, or a host already refused in Kong's words.
  if (isIP(host.replace(/^\[(.*)\]$/, '$1')) !== 0 || checkHost(host, { wildcard: false, port: false }) !== null)
    return null;
  const labels = host.replace(/\.$/, '').split('.');
  const last = labels[labels.length - 1]!;
  return /^(\d+|0x[0-9a-f]*)$/i.test(last)
    ? `invalid value: ${host}: its last label is a number, which URL parsers read as an IPv4 address; use the address, or a name whose last label is not a number`
    : null;
}

/**
 * Kong expands `url` into protocol/host/port/path, and decK dumps and hand-written files often
 * carry both: fields that say the same as the url are accepted quietly. One that says otherwise
 * loads as Kong loads it, the url's value winning (its shorthand overwrites the field,
 * kong/db/schema/init.lua), with a warning naming both values: the written field is dropped.
 */
function urlAgreement(
  raw: Obj,
  parsed: Exclude<ReturnType<typeof parseServiceUrl>, string>,
  path: Path,
  warn: Warn,
): void {
  const given: Record<string, unknown> = { protocol: raw.protocol, host: raw.host, port: raw.port, path: raw.path };
  const fromUrl: Record<string, unknown> = { ...parsed };
  for (const field of ['protocol', 'host', 'port', 'path']) {
    const v = given[field];
    if (v === undefined || v === null) continue;
    const u = fromUrl[field];
    // Schemes and host names are case-insensitive (RFC 3986 6.2.2.1); paths are not.
    // `path: /` beside a url without one (Kong's own spec writes `url: http://konghq.com` with
    // `path: /`): Kong's url wins and leaves no path, which joins request paths as `/` does.
    const same =
      field !== 'path' && typeof v === 'string' && typeof u === 'string'
        ? v.toLowerCase() === u.toLowerCase()
        : v === u || (field === 'path' && u === null && v === '/');
    if (same) continue;
    const shown = u === null ? 'no path' : `${field} ${JSON.stringify(u)}`;
    warn(
      'SEMANTIC',
      // Never the url's credentials, which are not part of what it gives.
      `'${field}: ${JSON.stringify(v)}' conflicts with 'url: ${String(raw.url).replace(/^([^:/?#]*:\/\/)[^/?#]*@/, '$1')}' (which gives ${shown}): the url's value is used, as Kong's url shorthand overwrites the field; remove one, or make them agree`,
      [...path, field],
    );
  }
}

/** The parts of a service url Kong's shorthand drops, and how to send them instead. */
function droppedMessage(dropped: readonly string[]): string {
  const parts = dropped.length === 1 ? dropped[0] : `${dropped.slice(0, -1).join(', ')} and ${dropped.at(-1)}`;
  const how = [
    ...(dropped.includes('credentials') ? ['add.headers'] : []),
    ...(dropped.includes('query string') ? ['add.querystring'] : []),
  ];
  const via = how.length > 0 ? ` with request-transformer (${how.join(', ')})` : '';
  const one = dropped.length === 1 && dropped[0] !== 'credentials';
  return `the url's ${parts} ${one ? 'is' : 'are'} not sent upstream: Kong's url shorthand keeps its protocol, host, port and path only; send ${one ? 'it' : 'them'}${via} instead`;
}

/**
 * Kong's `url` shorthand: `http(s)://` or `grpc(s)://host[:port][/path]`, plus `echo://` for the
 * built-in echo upstream. As Kong's (services.lua, socket.url's parse), it keeps protocol, host,
 * port and path: credentials, query string and fragment are dropped, and listed in `dropped`.
 */
export function parseServiceUrl(
  url: string,
): { protocol: ServiceModel['protocol']; host: string; port: number; path: string | null; dropped: string[] } | string {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url);
  if (!m) return `invalid url: expected scheme://host[:port][/path]`;
  const scheme = m[1]!.toLowerCase();
  const at = m[2]!.lastIndexOf('@');
  const dropped = [
    ...(at !== -1 ? ['credentials'] : []),
    ...(m[4] !== undefined ? ['query string'] : []),
    ...(m[5] !== undefined ? ['fragment'] : []),
  ];
  if (scheme === 'echo') return { protocol: 'echo', host: 'echo', port: 0, path: m[3] ? m[3] : null, dropped };
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'grpc' && scheme !== 'grpcs') {
    const hint = scheme === 'ws' || scheme === 'wss' ? WEBSOCKET_HINT : '';
    return `unsupported url scheme '${scheme}': Tollgate services speak http, https, grpc, grpcs (and echo:// for the built-in echo upstream)${hint}`;
  }
  const authority = m[2]!.slice(at + 1);
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:]*)(?::(\d*))?$/.exec(authority);
  if (!hp?.[1]) return 'the url has no host';
  let port = DEFAULT_PORTS[scheme]!;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (hp[2] === '' || port > 65535) return 'invalid port in url';
  }
  return {
    protocol: scheme as 'http' | 'https' | 'grpc' | 'grpcs',
    host: hp[1].toLowerCase(),
    port,
    path: m[3] ? m[3] : null,
    dropped,
  };
}
