// Writing a response head. HTTP/1.1 goes through node's ServerResponse. HTTP/2 goes on the stream
// itself, not through the compatibility response's `writeHead`: that one always asks for trailers
// (`waitForTrailers`), so every answer with a body ended with an empty DATA frame of its own, sent
// in a second write after a round trip through JavaScript. Here the last DATA frame carries
// END_STREAM. The body still goes through the response's `write` and `end`, which see the head as
// sent.
import { type ServerHttp2Stream, sensitiveHeaders } from 'node:http2';
import type { HeaderValue } from '../pipeline/plugin.ts';
import type { ProxyRequest } from './context.ts';
import { isGrpcType } from './grpc.ts';

type StreamHead = Record<string, string | string[] | number>;

/**
 * Sends the head: `headers` as a flat name/value list or an object (undefined values skipped).
 * Null once sent (or when an HTTP/2 stream is gone already, as the compatibility layer returns
 * quietly then); otherwise why node refused it, before anything was sent: on HTTP/2, a repeated
 * header that must have one value (a second Content-Type, say), which HTTP/1.1 clients get as it came.
 */
export function writeResponseHead(
  rc: ProxyRequest,
  status: number,
  headers: readonly string[] | Readonly<Record<string, HeaderValue | undefined>>,
  reason = '',
  spelling: HeadSpelling = null,
  own: HeadSpelling = null,
): string | null {
  if (status === 204 || status === 205) headers = withoutContentLength(headers);
  const stream =
    rc.raw.httpVersionMajor === 2 ? (rc.res as unknown as { stream?: ServerHttp2Stream }).stream : undefined;
  if (stream === undefined) {
    const head = Array.isArray(headers)
      ? headers
      : spelledHead(headers as Readonly<Record<string, HeaderValue | undefined>>, spelling, own);
    try {
      if (reason === '') rc.res.writeHead(status, head as Record<string, string | string[]>);
      else rc.res.writeHead(status, reason, head as Record<string, string | string[]>);
      rc.sentResponseHead = headers;
    } catch (err) {
      // node sets the reason phrase before it checks the headers, and keeps it for the next
      // writeHead: the 500 sent instead would go out as "500 Moved Permanently".
      rc.res.statusMessage = '';
      throw err;
    }
    return null;
  }
  if (stream.destroyed || stream.closed) return null;
  const head: StreamHead = { ':status': status };
  if (Array.isArray(headers)) {
    const flat = headers as readonly string[];
    for (let i = 0; i < flat.length; i += 2) add(head, flat[i]!, flat[i + 1]!);
  } else {
    const object = headers as Readonly<Record<string, HeaderValue | undefined>>;
    for (const name in object) {
      const value = object[name];
      if (value !== undefined) add(head, name, value);
    }
  }
  rc.streamResponseHeaders = head;
  // The request id is new in every answer: in HPACK's dynamic table it would only push out entries
  // that do repeat, and indexing it cost nghttp2 about 4 % of the process. It goes as a literal
  // never indexed (RFC 7541 6.2.3), the one literal form node lets a server choose.
  (head as Record<symbol, unknown>)[sensitiveHeaders] = neverIndexed(rc.runtime.config.settings.request_id_header);
  // gRPC: the status comes in trailers, sent after the body (the response's addTrailers); an
  // answer whose head already holds it is gRPC's Trailers-Only form, the head ending the stream.
  // Not when a response plugin's body filter follows it on a route that is no gRPC one: grpc-web
  // answers a browser's HTTP/2 request with the status as the body's last frame (as Kong's
  // body_filter does over nginx, which ends a stream at its head only when no body follows).
  const trailersOnly =
    head['grpc-status'] !== undefined && (rc.grpc || (isGrpcType(rc.raw.headers['content-type']) && !bodyFiltered(rc)));
  try {
    stream.respond(head, { endStream: trailersOnly, waitForTrailers: rc.grpcCall && !trailersOnly });
  } catch (err) {
    rc.streamResponseHeaders = null;
    return (err as Error).message;
  }
  return null;
}

/** A response plugin's `filterBody` rewrites this upstream answer's body, which may then grow from nothing. */
function bodyFiltered(rc: ProxyRequest): boolean {
  const res = rc.response;
  return res !== null && res.bodyFilters !== null && !res.fromGateway;
}

/**
 * The upstream's reason phrase as an HTTP/1.1 answer can carry it, else '' (the status's own): nginx
 * relays the upstream's status line, reason included. undici decodes it as UTF-8, so obs-text
 * (RFC 9112 4) arrives as U+FFFD, which node refuses in a head; such a reason is not relayed.
 */
export function relayableReason(text: string | undefined): string {
  if (text === undefined) return '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 9 && (c < 0x20 || c > 0x7e)) return '';
  }
  return text;
}

/**
 * A 204 never has a Content-Length (RFC 9110 8.6), and nginx drops an upstream's (its HTTP/1 and
 * HTTP/2 header filters clear it for 204). Relayed on HTTP/2, `content-length: 5` on a HEADERS
 * frame that ends the stream makes the answer malformed (RFC 9113 8.1.1): curl and browsers reset
 * the stream, and the client never sees the 204. A 205 has no content either (RFC 9110 15.3.6,
 * its body is dropped by the exchange), and node ends its HTTP/2 stream at the head just the same;
 * on HTTP/1.1 it then goes out with an empty chunked body, one of the forms RFC 9110 allows.
 */
function withoutContentLength(
  headers: readonly string[] | Readonly<Record<string, HeaderValue | undefined>>,
): readonly string[] | Readonly<Record<string, HeaderValue | undefined>> {
  if (Array.isArray(headers)) {
    const flat = headers as readonly string[];
    let i = 0;
    while (i < flat.length && !isContentLength(flat[i]!)) i += 2;
    if (i >= flat.length) return flat;
    const out: string[] = [];
    for (let j = 0; j < flat.length; j += 2) if (!isContentLength(flat[j]!)) out.push(flat[j]!, flat[j + 1]!);
    return out;
  }
  const object = headers as Readonly<Record<string, HeaderValue | undefined>>;
  let found = false;
  for (const name in object) if (isContentLength(name)) found = true;
  if (!found) return object;
  const out: Record<string, HeaderValue | undefined> = {};
  for (const name in object) if (!isContentLength(name)) out[name] = object[name];
  return out;
}

function isContentLength(name: string): boolean {
  return name.length === 14 && name.toLowerCase() === 'content-length';
}

/**
 * How the names of a head that are not in lower case go out on HTTP/1.1, by their lower-case name:
 * the upstream's spelling (`upstreamResponseHeaders`), an exit's, a response plugin's
 * (`ResponseContext.spelling`); null when none is.
 */
export type HeadSpelling = ReadonlyMap<string, string> | null;

/**
 * The names spelled alike on every answer, proxied or not: nginx's header filter writes
 * `Content-Type` and `Content-Length` itself whatever case the upstream used (its proxy module
 * keeps them as values, not as header lines), and the names the gateway adds (edgeHeaders): Kong's
 * debug headers as its runloop sets them (`Kong-Route-Id`, ...), and the configured HSTS header.
 */
const EDGE_NAMES: readonly (readonly [string, string])[] = [
  ['content-type', 'Content-Type'],
  ['content-length', 'Content-Length'],
  ['strict-transport-security', 'Strict-Transport-Security'],
  ['kong-route-id', 'Kong-Route-Id'],
  ['kong-route-name', 'Kong-Route-Name'],
  ['kong-service-id', 'Kong-Service-Id'],
  ['kong-service-name', 'Kong-Service-Name'],
  ['tollgate-plugins', 'Tollgate-Plugins'],
];

/**
 * The names the gateway writes into the answers it makes itself (errors, exits, redirects), as
 * Kong's answers carry them: nginx writes `Connection` itself, and Kong's exit and redirect set
 * `Location`, `Connection` and `Upgrade` so. A plugin's own spelling of one of them still wins.
 */
const GATEWAY_NAMES: readonly (readonly [string, string])[] = [
  ['connection', 'Connection'],
  ['upgrade', 'Upgrade'],
  ['location', 'Location'],
];

/**
 * An upstream's `content-type` or `content-length` line as nginx writes it (`Content-Type`), any
 * other name as it came: for the head of a proxied answer, which is relayed without a header object.
 */
export function relayedName(name: string): string {
  const len = name.length;
  if (len === 12) return name === 'Content-Type' || !sameLower(name, 'content-type') ? name : 'Content-Type';
  if (len === 14) return name === 'Content-Length' || !sameLower(name, 'content-length') ? name : 'Content-Length';
  return name;
}

function sameLower(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** How the gateway's own names go out on HTTP/1.1, for one request id header (`answerSpelling`). */
export interface AnswerSpelling {
  /** The request id header's name: `x-request-id` goes out as `X-Request-Id`, as Kong's `X-Kong-Request-Id`. */
  readonly requestId: string;
  /** The names edgeHeaders adds to every answer, the request id's among them. */
  readonly edge: ReadonlyMap<string, string>;
  /** The edge names and those of the answers the gateway makes itself. */
  readonly gateway: ReadonlyMap<string, string>;
}

let lastSpelling: AnswerSpelling | null = null;
let lastRequestIdHeader = '';

/**
 * The spellings for the configured request id header (lower case, as settings keep it), made once
 * per name: a process serves one config at a time, so this is a string comparison per answer.
 */
export function answerSpelling(requestIdHeader: string): AnswerSpelling {
  if (lastSpelling !== null && requestIdHeader === lastRequestIdHeader) return lastSpelling;
  const requestId = titleCase(requestIdHeader);
  const edge = new Map([...EDGE_NAMES, [requestIdHeader, requestId]]);
  lastSpelling = { requestId, edge, gateway: new Map([...GATEWAY_NAMES, ...edge]) };
  lastRequestIdHeader = requestIdHeader;
  return lastSpelling;
}

/** `x-kong-request-id` as `X-Kong-Request-Id`: each dash-separated word with a capital, as nginx and Kong name their headers. */
export function titleCase(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/**
 * `object` (names in lower case, as plugins see them) as node's writeHead takes it on HTTP/1.1,
 * each name as `spelling` has it, else as `own` (the gateway's, for the answers it makes): nginx
 * relays an upstream's names as they came, response plugins or not (`X-Custom-Thing`,
 * `Content-Type`), and writes a name a plugin sets as the plugin gave it
 * (`kong.response.set_header("X-RateLimit-Limit-Minute", ...)`); clients and scripts match them
 * case-sensitively. A flat name/value list then, else the object itself (an upstream's answer whose
 * names all came in lower case). HTTP/2 lower-cases every name (RFC 9113 8.2.1).
 */
export function spelledHead(
  object: Readonly<Record<string, HeaderValue | undefined>>,
  spelling: HeadSpelling,
  own: HeadSpelling = null,
): typeof object | string[] {
  if (own === null && (spelling === null || spelling.size === 0)) return object;
  const flat: string[] = [];
  for (const name in object) {
    const value = object[name];
    if (value === undefined) continue;
    const spelled = spelling?.get(name) ?? own?.get(name) ?? name;
    if (typeof value === 'string') flat.push(spelled, value);
    else for (const v of value) flat.push(spelled, v);
  }
  return flat;
}

/** Names lower-cased and repeated ones joined into an array, as the compatibility layer does. */
function add(head: StreamHead, rawName: string, value: HeaderValue): void {
  const name = rawName.toLowerCase();
  // Own properties only: a header named `constructor` must not find Object.prototype.constructor.
  const prev = Object.hasOwn(head, name) ? head[name] : undefined;
  if (prev === undefined) head[name] = typeof value === 'string' ? value : [...value];
  else if (Array.isArray(prev)) {
    if (typeof value === 'string') prev.push(value);
    else prev.push(...value);
  } else head[name] = typeof value === 'string' ? [String(prev), value] : [String(prev), ...value];
}

let neverIndexedNames: readonly string[] = [];

/** `[name]`, one array while the request id header stays the same (node only reads it). */
function neverIndexed(name: string): readonly string[] {
  if (neverIndexedNames[0] !== name) neverIndexedNames = [name];
  return neverIndexedNames;
}

/**
 * Takes back an HTTP/1.x head that has not gone out: node's writeHead only stores it, and writes it
 * with the first body bytes. An upstream that fails before any of its body was relayed (a reset
 * right after its head, a malformed first chunk) can then be answered with the gateway's error
 * instead of a connection closed with nothing. False once the head is out, and on HTTP/2, where
 * respond() sent it at once. (`_header` and `_headerSent` are node's own fields, stable since its
 * first releases.)
 */
export function takeBackHead(rc: ProxyRequest): boolean {
  if (rc.raw.httpVersionMajor === 2 || rc.bytesSent !== 0) return false;
  const res = rc.res as ProxyRequest['res'] & {
    _header?: string | null;
    _headerSent?: boolean;
    chunkedEncoding?: boolean;
  };
  if (res._headerSent !== false || typeof res._header !== 'string' || res.destroyed) return false;
  res._header = null;
  res.statusMessage = '';
  // Set from the upstream head's Transfer-Encoding; the error's head has a Content-Length.
  res.chunkedEncoding = false;
  return true;
}
