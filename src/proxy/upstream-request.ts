// What the upstream is sent: the request target and the header set (the client's, minus hop-by-hop,
// plus plugins' changes and the X-Forwarded-* family). Shared by the undici exchange, the echo
// upstream and WebSocket.
import type { HeaderValue } from '../pipeline/plugin.ts';
import { AUTHENTICATION_HEADERS, type RequestContext } from '../pipeline/request.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import { neverForwarded, sentForPlugin } from '../pipeline/upstream-checks.ts';
import { upstreamPath } from '../router/router.ts';
import { registerHeaderNames } from '../upstream/header-names.ts';
import { localPort, type ProxyRequest, peerAddress } from './context.ts';
import { IDENTITY_HEADER_NAMES } from './headers.ts';
import { forwardedFor } from './request-checks.ts';

/**
 * Via's received-protocol is the version of the request the gateway received (RFC 9110 7.6.3:
 * `1.0`, `1.1`, `2`), as Kong writes `<http_version> kong/<version>`.
 */
const VIA_1_0 = '1.0 tollgate';
const VIA_1_1 = '1.1 tollgate';
const VIA_2 = '2 tollgate';

function viaEntry(rc: ProxyRequest): string {
  const m = rc.raw;
  return m.httpVersionMajor === 2 ? VIA_2 : m.httpVersionMinor === 0 ? VIA_1_0 : VIA_1_1;
}

/** The Host sent upstream: a plugin's, else the client's under preserve_host, else `defaultHost`. */
export function upstreamHost(rc: RequestContext, defaultHost: string): string {
  const hostOverride = rc.headerOverrides?.get('host');
  return typeof hostOverride === 'string'
    ? hostOverride
    : rc.compiled!.preserve_host && rc.hostHeader !== ''
      ? rc.hostHeader
      : defaultHost;
}

/** X-Forwarded-* headers a trusted peer may set: its copy passes, else the gateway's own. */
const FORWARDED_BITS: Readonly<Record<string, number>> = Object.assign(Object.create(null), {
  'x-forwarded-proto': 1,
  'x-forwarded-host': 2,
  'x-forwarded-port': 4,
  'x-forwarded-path': 8,
  'x-forwarded-prefix': 16,
});
const ALL_FORWARDED = 31;
registerHeaderNames([...Object.keys(FORWARDED_BITS), 'x-forwarded-for', 'x-real-ip', ...IDENTITY_HEADER_NAMES]);

/** Headers the gateway always writes itself (or never forwards): a client's or plugin's copy is dropped. */
const GATEWAY_OWNED: ReadonlySet<string> = new Set([
  'x-forwarded-for',
  'x-real-ip',
  'via',
  'host',
  'transfer-encoding',
  // The client's is the gateway's credential (RFC 9110 11.7.2). One a plugin sets is sent, as Kong
  // sends the one its request-transformer adds: an upstream that is itself a proxy asks for it.
  'proxy-authorization',
  // httpoxy (CVE-2016-5385): a CGI-style upstream turns `Proxy` into HTTP_PROXY and sends its own
  // outbound calls through the client's host. Kong clears it before proxying (runloop/handler.lua).
  'proxy',
]);

const DROP = -1;
const VIA_NAME = -2;

/**
 * What becomes of a client's or a plugin's header: DROP (the gateway writes its own, or never
 * forwards it), VIA_NAME (the gateway appends to it), or kept, as its X-Forwarded-* bit (0 for
 * any other header).
 */
function disposition(name: string, trusted: boolean, requestIdHeader: string): number {
  if (GATEWAY_OWNED.has(name) || name === requestIdHeader) return name === 'via' ? VIA_NAME : DROP;
  if (neverForwarded(name)) return DROP;
  const bit = FORWARDED_BITS[name];
  if (bit === undefined) return 0;
  return trusted ? bit : DROP;
}

/**
 * The upstream request head as flat name/value pairs, undici's array form (no intermediate object):
 * the client's headers with the plugins' changes, then X-Forwarded-*, X-Real-IP, Via, the request id
 * and Host. `defaultHost`: the Host sent unless preserve_host or a plugin says otherwise (a balancer
 * target's, or the service's); left out when it is and `defaultIsImplicit` (the dispatcher sends
 * it for a request without one). Names are unique and lower-case.
 */
export function upstreamHeaderList(rc: ProxyRequest, defaultHost: string, defaultIsImplicit = false): HeaderValue[] {
  const src = rc.headers as Record<string, HeaderValue | undefined>;
  const overrides = rc.headerOverrides;
  const trusted = rc.trustedPeer;
  const requestIdHeader = rc.runtime.config.settings.request_id_header;
  const out: HeaderValue[] = [];
  let via: HeaderValue | undefined;
  /** Which trusted X-Forwarded-* headers are already in `out`. */
  let present = 0;
  for (const name in src) {
    const v = src[name];
    if (v === undefined || overrides?.has(name) === true) continue;
    // Only addresses flow onward: a Forwarded header whose `for=` is not an address is dropped.
    if (name === 'forwarded' && forwardedFor(v, true) === null) continue;
    const d = disposition(name, trusted, requestIdHeader);
    if (d === VIA_NAME) via = v;
    else if (d !== DROP) {
      present |= d;
      out.push(name, v);
    }
  }
  if (overrides !== null) {
    for (const [name, v] of overrides) {
      if (v === null) continue;
      const d = sentForPlugin(name, v) ? 0 : disposition(name, trusted, requestIdHeader);
      if (d === VIA_NAME) via = v;
      else if (d !== DROP) {
        present |= d;
        out.push(name, v);
      }
    }
  }
  if (rc.authenticated) {
    for (let i = 0; i < AUTHENTICATION_HEADERS.length; i++) {
      const v = rc.authenticationHeader(i);
      if (v !== null) out.push(AUTHENTICATION_HEADERS[i]!, v);
    }
  }
  // Only addresses flow onward: the client's X-Forwarded-For entries from the last one that is
  // not an address (the ones the realip walk reads, canonical), then the peer.
  const peer = peerAddress(rc.conn);
  const xff = rc.forwardedFor;
  out.push('x-forwarded-for', xff === null ? peer : `${xff.join(', ')}, ${peer}`);
  if (present !== ALL_FORWARDED) {
    if ((present & 1) === 0) out.push('x-forwarded-proto', rc.scheme);
    if ((present & 2) === 0) out.push('x-forwarded-host', rc.host);
    if ((present & 4) === 0) out.push('x-forwarded-port', forwardedPort(rc));
    if ((present & 8) === 0) out.push('x-forwarded-path', rc.path);
  }
  // X-Forwarded-Prefix: the stripped prefix; an untrusted client's copy never passes. As in Kong,
  // none when the stripped prefix is `/` (runloop/handler.lua: `match_t.prefix ~= "/"`).
  const route = rc.compiled!;
  const prefix = rc.matchedPath;
  if ((present & 16) === 0 && route.strip_path && prefix !== '' && prefix !== '/')
    out.push('x-forwarded-prefix', prefix);
  const ownVia = viaEntry(rc);
  out.push(
    'x-real-ip',
    rc.clientIp,
    'via',
    via === undefined ? ownVia : `${typeof via === 'string' ? via : via.join(', ')}, ${ownVia}`,
    requestIdHeader,
    rc.id,
  );
  const host = upstreamHost(rc, defaultHost);
  if (host !== defaultHost || !defaultIsImplicit) out.push('host', host);
  return out;
}

/** The port the client connected to: the listener's, or the one `port_maps` maps it to (Kong's `ctx.host_port`). */
function forwardedPort(rc: ProxyRequest): string {
  const port = localPort(rc.conn);
  const maps = rc.runtime.hostPorts;
  return maps === null ? port : (maps.get(port) ?? port);
}

/** The same head as an object (the echo upstream's answer, the WebSocket handshake). */
export function upstreamHeaderObject(rc: ProxyRequest, defaultHost: string): Record<string, HeaderValue> {
  const list = upstreamHeaderList(rc, defaultHost);
  // Null prototype: a client's `__proto__` header is a key like any other.
  const out: Record<string, HeaderValue> = Object.create(null);
  for (let i = 0; i < list.length; i += 2) out[list[i] as string] = list[i + 1]!;
  return out;
}

/**
 * The path sent upstream: a plugin's; else, to a gRPC service, the request's own path (Kong hands
 * gRPC services to nginx's grpc_pass, which sends the request URI and never reads the
 * `upstream_uri` its router made: strip_path does not apply), normalized as every upstream gets
 * it, so the service sees the path the routes and plugins judged; else the request path joined to
 * the service path (strip_path applied).
 */
export function upstreamPathOf(rc: RequestContext, svc: CompiledService): string {
  if (rc.upstreamPath !== null) return rc.upstreamPath;
  if (svc.grpc) return rc.path;
  return upstreamPath(svc.model.path, rc.compiled!, rc.path, rc.matchedPath);
}

export function upstreamTarget(rc: RequestContext, svc: CompiledService): string {
  const path = upstreamPathOf(rc, svc);
  const query = rc.upstreamQuery ?? rc.rawQuery;
  if (query !== '') return `${path}?${query}`;
  // An empty query the client sent (`/a?`) is kept, as Kong keeps it: `/a?` and `/a` are two URIs
  // (RFC 3986 6.2.3), and a signed request covers the one the client signed.
  const url = rc.raw.url;
  return rc.upstreamQuery === null && url !== undefined && url.charCodeAt(url.length - 1) === 63 /* ? */
    ? `${path}?`
    : path;
}
