// Request checks before routing: protocol version, header scan (counts, duplicates, smuggling shapes),
// client address and request id, absolute-form targets, path normalization, the route match, and the
// client body timer. Each refusal is a catalogued error code; the caller answers it.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2 } from 'node:http2';
import { isIP, type Socket } from 'node:net';
import type { ProxyErrorCode } from '../errors.ts';
import { trimAsciiSpace } from '../lib/header-value.ts';
import { type IpList, ipListHas } from '../lib/ip-list.ts';
import { readIp } from '../lib/ip-text.ts';
import { hasH2Body } from '../lib/request-body.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { RequestContext } from '../pipeline/request.ts';
import type { Runtime } from '../pipeline/runtime.ts';
import { normalizePath } from '../router/normalize.ts';
import { type ClientBody, clientBodyHeldBack } from './client-body.ts';
import {
  kCtx,
  kTls,
  kTrusted,
  kTrustRuntime,
  type ProxyRequest,
  peerAddress,
  serverName,
  type TrackedMessage,
} from './context.ts';
import { connectionTokens, HeaderScan, sameAuthority, scanRequestHeaders } from './headers.ts';
import { endIfBodyUnread } from './linger.ts';
import { sendError } from './reply.ts';

// Request ids: UUID-shaped, a random per-process part and a counter, so they are unique across
// processes and instances without drawing entropy for every request.
const ID_PREFIX = (() => {
  const h = randomBytes(10).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-`;
})();
let idCounter = 0;
export function nextRequestId(): string {
  idCounter = (idCounter + 1) % 0x1000000000000;
  const c = idCounter.toString(16);
  return ID_PREFIX + '000000000000'.slice(c.length) + c;
}

/** Largest request head, in bytes as HTTP/1.1 would carry it (`name: value\r\n` per field). */
export const MAX_HEAD_BYTES = 32 * 1024;

function headListBytes(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i++) n += raw[i]!.length + 2;
  return n;
}

/** Request checks, header scan, normalization and routing. Returns an error code, or null to go on. */
export function prepare(rc: ProxyRequest, req: IncomingMessage): ProxyErrorCode | null {
  const rt = rc.runtime;
  const settings = rt.config.settings;
  // Every answer carries a request id and every log line the peer, refusals included.
  const socket = rc.conn;
  const peer = peerAddress(socket);
  rc.clientIp = peer;
  rc.peerIp = peer;
  rc.id = nextRequestId();
  // HTTP/2 arrives through node:http2; its pseudo-headers are not counted.
  // A real HTTP/2 request comes through node:http2's compatibility layer (it has a stream); an 'HTTP/2.0' request line on HTTP/1 does not.
  const h2 = req.httpVersionMajor === 2 && (req as { stream?: unknown }).stream !== undefined;
  if (!h2 && (req.httpVersionMajor !== 1 || (req.httpVersionMinor !== 0 && req.httpVersionMinor !== 1)))
    return 'BAD_VERSION';
  const headers: Record<string, HeaderValue> = {};
  const refused = readClientHeaders(req, h2, settings, headers);
  if (refused !== null) return refused;
  // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400 (HTTP/2 has :authority).
  if (!h2 && req.httpVersionMinor === 1 && headers.host === undefined) return 'MISSING_HOST';
  // nginx answers TRACE 405 before any location runs (so Kong's routes never see one): passed on,
  // an upstream that echoes it (Apache's TraceEnable defaults to on) would show the client the
  // headers the gateway added, credentials a plugin injected among them.
  if (rc.method === 'TRACE') return 'METHOD_NOT_ALLOWED';
  const te = headers['transfer-encoding'];
  rc.headers = headers as RequestContext['headers'];
  // A chunked body's length is what the socket reads from here on ($request_length, request-end.ts).
  // Read only then: node's bytesRead getter is a cost every other request would pay.
  if (te !== undefined && !rc.onSession) rc.bytesReceivedAtStart = socket.bytesRead;

  if (rt.trusted !== null) {
    if (socket[kTrustRuntime] !== rt) {
      socket[kTrustRuntime] = rt;
      socket[kTrusted] = ipListHas(rt.trusted, peer, isIP(peer));
    }
    rc.trustedPeer = socket[kTrusted] === true;
  }
  // HTTP/2 is TLS (h2), or cleartext (h2c) on a plain listener with the http2 flag.
  rc.scheme = (h2 ? socket[kTls] === true : (socket as { encrypted?: boolean }).encrypted === true) ? 'https' : 'http';
  const clientRid = headers[settings.request_id_header];
  if (rc.trustedPeer && typeof clientRid === 'string' && clientRid !== '') {
    rc.id = clientRid;
    rc.idFromClient = true;
  }
  const xff = headers['x-forwarded-for'];
  if (xff !== undefined) rc.forwardedFor = forwardedForList(xff);
  if (rc.trustedPeer) applyTrustedForwarding(rc, headers);

  let url = req.url ?? '/';
  let hostHeader = typeof headers.host === 'string' ? headers.host : '';
  // Whether the request names a host at all (HTTP/1.0 may not).
  let named = headers.host !== undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (RFC 9112 3.2.2): its authority must agree with Host
    const span = absoluteFormAuthority(url);
    // `*` (OPTIONS *) or another target that is neither a path nor a URL: no path to route.
    if (span === null) return url.includes('://') ? 'BAD_REQUEST' : 'BAD_PATH';
    const authority = url.slice(span[0], span[1]);
    // Compared as RFC 3986 6.2 normalizes them: the name in any case, the scheme's default port
    // written or not (`http://t:80/` with `Host: t` names one host).
    const scheme = span[0] === 7 ? 'http' : 'https';
    if (hostHeader !== '' && !sameAuthority(authority, hostHeader, scheme)) return 'AMBIGUOUS_HOST';
    hostHeader = authority;
    named = true;
    url = span[1] === url.length ? '/' : url.slice(span[1]);
    if (url.charCodeAt(0) !== 47) url = `/${url}`;
  }
  // RFC 9112 3.2: a Host that is no valid authority is answered 400, as nginx does ("client sent
  // invalid host header"); it would otherwise reach the upstream as X-Forwarded-Host.
  const portStart = hostPortStart(hostHeader);
  if (portStart === -1) return 'BAD_REQUEST';
  // A host named empty (`Host:`, `Host: :80`, `Host: .`, `http:///`) is no host: an http URI with
  // an empty host is invalid (RFC 9110 4.2.1), and nginx refuses it the same way.
  if (named && (portStart === 0 || (portStart === 1 && hostHeader.charCodeAt(0) === 0x2e))) return 'BAD_REQUEST';
  rc.hostHeader = hostHeader;
  // nginx's $host falls back to the server's name when the request names no host (HTTP/1.0
  // without Host), and Kong's proxy server is `server_name kong` (templates/nginx_kong.lua): its
  // X-Forwarded-Host, kong.request.get_host() and logged URL then say `kong`.
  rc.host =
    hostHeader === ''
      ? SERVER_NAME
      : hostVariable(portStart === hostHeader.length ? hostHeader : hostHeader.slice(0, portStart));

  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  rc.rawQuery = q < 0 ? '' : url.slice(q + 1);
  rc.path = normalizePath(rawPath, settings.encoded_slashes);

  const router = rt.router;
  const match = router.match(rc.method, hostHeader, rc.path, rc.headers, router.usesSnis ? serverName(rc) : null);
  if (match === null) return 'ROUTE_NOT_FOUND';
  rc.compiled = match.route;
  rc.matchedPath = match.matchedPath;
  rc.captures = match.captures;

  if (headers['content-length'] !== undefined || te !== undefined || (h2 && hasH2Body(req))) startBodyTimer(rc);
  return null;
}

/**
 * The client header set plugins see (`req.headers`), built from the raw header list: counts,
 * smuggling shapes, hop-by-hop and client-sent identity headers, the underscore policy and
 * Connection-listed headers. Returns an error code, or null with `out` filled. The test kit's
 * synthetic requests go through it too, so they see exactly what the proxy sees.
 */
export function readClientHeaders(
  req: IncomingMessage,
  h2: boolean,
  settings: Runtime['config']['settings'],
  out: Record<string, HeaderValue>,
): ProxyErrorCode | null {
  const raw = req.rawHeaders;
  if (raw.length > settings.max_request_headers * 2 + (h2 ? 8 : 0)) return 'TOO_MANY_HEADERS';
  // node:http's parser caps an HTTP/1.1 head at 32 KiB; nghttp2 applies the SETTINGS cap only once the
  // client acknowledged it, so streams sent before the ACK get here with larger lists: the same cap, here.
  if (h2 && headListBytes(raw) > MAX_HEAD_BYTES) return 'TOO_MANY_HEADERS';
  const scan = scanRequestHeaders(raw, settings.headers_with_underscores, out);
  if (scan.status !== HeaderScan.OK) {
    return scan.status === HeaderScan.DUPLICATE_HOST
      ? 'AMBIGUOUS_HOST'
      : scan.status === HeaderScan.UNDERSCORE
        ? 'HEADER_UNDERSCORE'
        : 'BAD_REQUEST';
  }
  const te = out['transfer-encoding'];
  if (te !== undefined) {
    const refused = transferEncodingRefusal(te, !h2 && req.httpVersionMinor === 0, out['content-length'] !== undefined);
    if (refused !== null) return refused;
  }
  if (scan.connection !== undefined) {
    for (const token of connectionTokens(scan.connection)) delete out[token];
  }
  return null;
}

/** nginx's `$host` for a request that names no host: the name of Kong's proxy server block. */
export const SERVER_NAME = 'kong';

/**
 * The answer to a request whose Transfer-Encoding is `te`, or null when its framing is sound; for
 * both listeners.
 */
export function transferEncodingRefusal(te: unknown, http10: boolean, contentLength: boolean): ProxyErrorCode | null {
  // RFC 9112 section 6.1: Transfer-Encoding in an HTTP/1.0 message means its framing is faulty
  // (1.0 has no chunked coding; a 1.0 hop may have passed it on unread). Refused, connection closed.
  if (http10) return 'BAD_REQUEST';
  // Only plain chunked framing can be re-framed safely. A coding the gateway does not know is
  // 501, as RFC 9112 section 6.1 says and nginx answers (it asks before it looks at a
  // Content-Length); chunked beside Content-Length is a smuggling shape, 400.
  if (String(te).trim().toLowerCase() !== 'chunked') return 'UNKNOWN_TRANSFER_ENCODING';
  return contentLength ? 'BAD_REQUEST' : null;
}

/**
 * nginx's `$host` from a Host's name (its port removed): lower-cased, without the trailing dot of a
 * fully qualified name (ngx_http_validate_host). Kong names the request's host with it: the
 * upstream's X-Forwarded-Host, `kong.request.get_host()`, the https redirect's Location.
 */
export function hostVariable(name: string): string {
  const end = name.length > 1 && name.charCodeAt(name.length - 1) === 0x2e /* . */ ? name.length - 1 : name.length;
  return (end === name.length ? name : name.slice(0, end)).toLowerCase();
}

/** reg-name characters (RFC 3986 3.2.2: unreserved, sub-delims, `%`), by code point below 128. */
const REG_NAME = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%")
  REG_NAME[c.charCodeAt(0)] = 1;

/** `host[:port]` as RFC 3986 spells an authority without user info: reg-name or IP literal, digits after ':'. */
export function validHost(h: string): boolean {
  return hostPortStart(h) !== -1;
}

/**
 * Where the port part of a Host value starts (its `:`), `h.length` when it has none, or -1 when
 * `h` is no valid authority. One scan serves both the check and the split.
 */
export function hostPortStart(h: string): number {
  let i = 0;
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf(']');
    if (close < 0) return -1;
    for (i = 1; i < close; i++) {
      const c = h.charCodeAt(i);
      if (!(c === 0x3a || c === 0x2e || (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)))
        return -1;
    }
    i = close + 1;
  } else {
    for (; i < h.length; i++) {
      const c = h.charCodeAt(i);
      if (c === 0x3a /* : */) break;
      if (c >= 128 || REG_NAME[c] === 0) return -1;
    }
  }
  if (i === h.length) return i;
  if (h.charCodeAt(i) !== 0x3a) return -1;
  for (let j = i + 1; j < h.length; j++) {
    const c = h.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return -1;
  }
  return i;
}

/** The request target in origin form: an absolute-form one (RFC 9112 3.2.2) without its scheme and authority. */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47 /* / */) return url;
  const span = absoluteFormAuthority(url);
  if (span === null) return '/';
  const rest = url.slice(span[1]);
  return rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
}

/**
 * Start and end of the authority of an `http://` or `https://` absolute-form target (RFC 9112
 * 3.2.2), or null for anything else (another scheme, a fragment). One scan: the equivalent regex
 * backtracks quadratically on a long authority that is then refused.
 */
export function absoluteFormAuthority(url: string): [number, number] | null {
  const scheme = url.slice(0, 8).toLowerCase();
  const start = scheme.startsWith('http://') ? 7 : scheme === 'https://' ? 8 : -1;
  if (start < 0 || url.includes('#')) return null;
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */) break;
    end++;
  }
  return [start, end];
}

/**
 * From a trusted proxy: the client address is the rightmost untrusted `X-Forwarded-For` entry; without
 * that header, the `for=` of `Forwarded` (RFC 7239) the same way; without either, `X-Real-IP`. As
 * nginx's realip module walks X-Forwarded-For (ngx_http_get_forwarded_addr, recursive), the walk
 * from the right stops at the first entry that is not an address and keeps the last address it
 * read: text a client put to the left of what its proxies appended cannot undo their entries.
 */
function applyTrustedForwarding(rc: ProxyRequest, headers: Record<string, HeaderValue>): void {
  const proto = headers['x-forwarded-proto'];
  if (typeof proto === 'string' && trimAsciiSpace(proto).toLowerCase() === 'https') rc.scheme = 'https';
  const trusted = rc.runtime.trusted!;
  if (headers['x-forwarded-for'] !== undefined) {
    const list = rc.forwardedFor;
    if (list !== null) rc.clientIp = rightmostUntrusted(list, trusted);
    return;
  }
  const fwd = headers.forwarded;
  if (fwd !== undefined) {
    const list = forwardedFor(fwd);
    if (list !== null) rc.clientIp = rightmostUntrusted(list, trusted);
    return;
  }
  const real = headers['x-real-ip'];
  if (typeof real === 'string') rc.clientIp = parseForwardedIp(real) ?? rc.clientIp;
}

/** The rightmost address of a non-empty list not in `trusted`, else its leftmost. */
function rightmostUntrusted(list: readonly string[], trusted: IpList): string {
  let client = list[list.length - 1]!;
  for (let i = list.length - 1; i >= 0; i--) {
    client = list[i]!;
    if (!ipListHas(trusted, client, client.includes(':') ? 6 : 4)) break;
  }
  return client;
}

/**
 * The addresses at the end of an `X-Forwarded-For` value, in order and canonical (src/lib/ip-text.ts):
 * entries are split at commas and spaces, empty ones skipped, and read from the right up to the
 * first that is not an address, as nginx reads them. Null when the last entry is not an address.
 */
export function forwardedForList(value: HeaderValue): string[] | null {
  const text = typeof value === 'string' ? value : value.join(',');
  const out: string[] = [];
  let end = text.length;
  while (end > 0) {
    const c = text.charCodeAt(end - 1);
    if (c === 44 /* , */ || c === 32 /* space */) {
      end--;
      continue;
    }
    let start = end - 1;
    while (start > 0 && text.charCodeAt(start - 1) !== 44 && text.charCodeAt(start - 1) !== 32) start--;
    const ip = readIp(text, start, end);
    if (ip === null) break;
    out.push(ip);
    end = start;
  }
  return out.length === 0 ? null : out.reverse();
}

/**
 * The `for=` addresses of a `Forwarded` value (RFC 7239 section 4), read from the right as
 * X-Forwarded-For's entries are, up to the first element whose `for=` is missing or not an address
 * ("unknown" and obfuscated identifiers, section 6, are not addresses either); null when the last
 * element's is not. With `whole`, null unless every element's is.
 */
export function forwardedFor(value: HeaderValue, whole = false): string[] | null {
  const elements = (typeof value === 'string' ? value : value.join(',')).split(',');
  const out: string[] = [];
  for (let e = elements.length - 1; e >= 0; e--) {
    let ip: string | null = null;
    for (const pair of elements[e]!.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || trimAsciiSpace(pair.slice(0, eq)).toLowerCase() !== 'for') continue;
      let v = trimAsciiSpace(pair.slice(eq + 1));
      if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) v = v.slice(1, -1);
      ip = parseForwardedIp(v);
      break;
    }
    if (ip === null) {
      if (whole) return null;
      break;
    }
    out.push(ip);
  }
  return out.length === 0 ? null : out.reverse();
}

/**
 * A forwarded address (X-Real-IP, a `for=` value) in its canonical spelling: `1.2.3.4`, `010.0.0.1`
 * (10.0.0.1, as nginx reads it), any IPv6 spelling, with a port (`1.2.3.4:80`, `[2001:db8::1]:80`)
 * or bracketed; null for anything else (names, zone ids, garbage). See src/lib/ip-text.ts.
 */
export function parseForwardedIp(text: string): string | null {
  const s = trimAsciiSpace(text);
  return readIp(s, 0, s.length);
}

// ---------------------------------------------------------------------------------------------
// Client body timer: a body that stalls longer than client_body_timeout is answered 408.

const NGHTTP2_CANCEL = h2.NGHTTP2_CANCEL;

function startBodyTimer(rc: ProxyRequest): void {
  const ms = rc.runtime.config.settings.client_body_timeout;
  if (ms > 0) {
    (rc.raw as TrackedMessage)[kCtx] = rc;
    // On HTTP/2 the timer is the stream's, and the stream is what the callback gets as `this`.
    const stream = (rc.raw as { stream?: object }).stream;
    if (stream !== undefined) (stream as TrackedMessage)[kCtx] = rc;
    rc.raw.setTimeout(ms, onBodyTimeout);
    rc.raw.once('end', onBodyEnd);
  }
}

/** The HTTP/2 stream under a compatibility-layer request or response. */
interface ClientStream {
  destroyed: boolean;
  close(code?: number): void;
  once(event: 'finish', listener: (this: ClientStream) => void): unknown;
}

/** The code of the error a write timeout cancels the upstream exchange with: a timeout for passive checks. */
export const UPSTREAM_WRITE_TIMEOUT = 'UPSTREAM_WRITE_TIMEOUT';

/**
 * The client's body streams to the upstream: while the upstream takes none of it (its HTTP client
 * paused the body, the upstream's connection being full), the silence is the upstream's, bounded
 * by the service's write_timeout (nginx's proxy_send_timeout, Kong's 504) instead of the
 * client's client_body_timeout; the client's own timer is back once the upstream takes more.
 */
export function watchUpstreamWrite(rc: ProxyRequest, body: ClientBody, writeTimeout: number): void {
  if (rc.upstreamWriteTimeout !== 0 || writeTimeout <= 0 || rc.raw.readableEnded) return;
  rc.upstreamWriteTimeout = writeTimeout;
  const m = rc.raw as TrackedMessage;
  if (m[kCtx] === undefined) {
    // No client body timer (client_body_timeout 0): the listener only, no timer yet.
    m[kCtx] = rc;
    const stream = (rc.raw as { stream?: object }).stream;
    if (stream !== undefined) (stream as TrackedMessage)[kCtx] = rc;
    rc.raw.setTimeout(0, onBodyTimeout);
  }
  // The exchange pauses and resumes the body it reads (client-body.ts), not the client's stream.
  body.on('pause', onBodyHeldBack);
  body.on('resume', onBodyTaken);
}

function onBodyHeldBack(this: ClientBody): void {
  const raw = this.raw as TrackedMessage;
  const rc = raw[kCtx];
  if (rc !== undefined && !raw.readableEnded) raw.setTimeout(rc.upstreamWriteTimeout);
}

function onBodyTaken(this: ClientBody): void {
  const raw = this.raw as TrackedMessage;
  const rc = raw[kCtx];
  if (rc !== undefined && !raw.readableEnded) raw.setTimeout(rc.runtime.config.settings.client_body_timeout);
}

/** `socket`: node's HTTP/1 server passes the connection that timed out (HTTP/2 passes nothing). */
function onBodyTimeout(this: IncomingMessage, socket?: Socket): void {
  const rc = (this as TrackedMessage)[kCtx];
  if (rc === undefined) return;
  if (rc.upstreamWriteTimeout !== 0 && rc.abortUpstream !== null && clientBodyHeldBack(rc.raw)) {
    // The upstream stopped taking the body, not the client sending it: Kong's 504.
    const why = 'upstream write timeout: the upstream took none of the request body for write_timeout';
    rc.error = { code: 'UPSTREAM_TIMEOUT', message: why };
    const abort = rc.abortUpstream;
    rc.abortUpstream = null;
    const err = Object.assign(new Error(why), { code: UPSTREAM_WRITE_TIMEOUT });
    if (rc.res.headersSent) {
      abort(err);
      return endClientExchange(rc.raw, socket);
    }
    // As any upstream failure with the client's body unread: the answer, then the connection ends.
    sendError(rc, 'UPSTREAM_TIMEOUT');
    abort(err);
    return endIfBodyUnread(rc);
  }
  // Logged as the timeout also when the answer had started: the gateway, not the client, ends the exchange.
  rc.error = { code: 'REQUEST_TIMEOUT', message: 'client body timeout' };
  if (!rc.res.headersSent) return answerUnreadBody(rc, 'REQUEST_TIMEOUT', 'client body timeout');
  endClientExchange(rc.raw, socket);
}

/**
 * Answers a request whose body will not be read to its end (`code`), cancels its upstream
 * exchange, and ends the client side once the answer is written. On HTTP/2 that is the stream's
 * own 'finish' (END_STREAM sent): the response's 'finish' waits for the stream to close, which a
 * client stalling its body never does.
 */
function answerUnreadBody(rc: ProxyRequest, code: ProxyErrorCode, why: string): void {
  const abort = rc.abortUpstream;
  rc.abortUpstream = null;
  sendError(rc, code);
  abort?.(new Error(why));
  const stream = (rc.raw as { stream?: ClientStream }).stream;
  if (stream !== undefined) stream.once('finish', resetStream);
  else rc.res.once('finish', destroyClientSocket);
}

/**
 * The parser refused the body of the request being answered (a malformed chunk): a 400 with
 * Connection: close if its answer has not started, else the connection ends (its framing is
 * lost). The log names the parser's error either way, not a client that closed.
 */
export function refuseClientBody(rc: ProxyRequest, message: string, cause: string, socket: Socket): void {
  // An unknown Transfer-Encoding, already answered 501, is what the parser then fails on: the
  // log keeps the code the client got, with the parser's as its cause.
  if (rc.error?.code === 'UNKNOWN_TRANSFER_ENCODING') rc.error = { ...rc.error, cause };
  else rc.error = { code: 'BAD_REQUEST', message, cause };
  if (rc.finished || rc.res.headersSent) {
    socket.destroy();
    return;
  }
  answerUnreadBody(rc, 'BAD_REQUEST', message);
}

function destroyClientSocket(this: ServerResponse): void {
  this.socket?.destroy();
}

function resetStream(this: ClientStream): void {
  if (!this.destroyed) this.close(NGHTTP2_CANCEL);
}

/**
 * Ends the client side of a timed-out exchange: on HTTP/1.1 the connection (its framing is lost
 * with the body), on HTTP/2 only the stream (RST_STREAM CANCEL): other streams of the session go on.
 */
function endClientExchange(m: IncomingMessage, socket: Socket | undefined): void {
  const stream = (m as { stream?: ClientStream }).stream;
  if (stream !== undefined) resetStream.call(stream);
  // undici detaches a request body it stops reading (an upstream that answered in full before the
  // body was in) from its socket: the connection the timeout came from is then the one to close.
  // Left open, a client that never sends the rest would hold it for good, as the listener keeps
  // node's own keep-alive timeout from closing it.
  else (m.socket ?? socket)?.destroy();
}

function onBodyEnd(this: IncomingMessage): void {
  this.setTimeout(0);
}
