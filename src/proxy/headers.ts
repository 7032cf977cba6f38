// Header rules of the data path: hop-by-hop removal, client-sent identity headers, Connection-listed headers.

import { connectionTokens, HOP_BY_HOP } from '../lib/header-value.ts';
import { setOwnField } from '../lib/json.ts';
import type { HeaderValue } from '../pipeline/plugin.ts';

export { connectionTokens, HOP_BY_HOP };

/** HOP_BY_HOP grouped by name length, for `hopByHopName`. */
const HOP_BY_LENGTH: readonly (readonly string[] | undefined)[] = (() => {
  const out: string[][] = [];
  for (const name of HOP_BY_HOP) (out[name.length] ??= []).push(name);
  return out;
})();

/**
 * The lower-case hop-by-hop name `name` spells in any case, else null: without lower-casing it or
 * hashing it (an upstream's response head arrives in its own case). Header names are tokens
 * (RFC 9110 5.6.2): setting the 0x20 bit maps only the upper-case letters onto the lower-case
 * letters and `-` of these names.
 */
export function hopByHopName(name: string): string | null {
  const candidates = HOP_BY_LENGTH[name.length];
  if (candidates === undefined) return null;
  next: for (const c of candidates) {
    for (let i = 0; i < c.length; i++) if ((name.charCodeAt(i) | 0x20) !== c.charCodeAt(i)) continue next;
    return c;
  }
  return null;
}

/** Headers only a gateway plugin may set: a client's copy never reaches the upstream. */
const IDENTITY_EXACT: ReadonlySet<string> = new Set([
  'x-credential-identifier',
  // ldap-auth's (as Kong 2.x's ldap-auth set it).
  'x-credential-username',
  'x-anonymous-consumer',
  'x-userinfo',
  'x-access-token',
  'x-id-token',
  'x-authenticated-scope',
  'x-authenticated-userid',
  'x-authenticated-groups',
]);

/** Headers HTTP/2 forbids (RFC 9113 8.2.2): node refuses to send them, and they mean nothing there. */
const CONNECTION_SPECIFIC = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
] as const;

/** Removes connection-specific headers from a response head bound for an HTTP/2 client. */
export function stripConnectionSpecific(headers: Record<string, unknown>): void {
  for (const name of CONNECTION_SPECIFIC) if (headers[name] !== undefined) delete headers[name];
}

/**
 * The identity headers the built-in plugins set on upstream requests (consumer, credential, groups,
 * tokens): lower-case and valid, so they can go into undici's table of known names.
 */
export const IDENTITY_HEADER_NAMES: readonly string[] = [
  'x-consumer-id',
  'x-consumer-custom-id',
  'x-consumer-username',
  'x-consumer-groups',
  ...IDENTITY_EXACT,
];

export function isIdentityHeader(lower: string): boolean {
  return lower.charCodeAt(0) === 120 /* x */ && (lower.startsWith('x-consumer-') || IDENTITY_EXACT.has(lower));
}

/** Joins a repeated request header as Node does: cookies with '; ', others with ', '. */
export function appendHeader(headers: Record<string, HeaderValue>, name: string, value: string): void {
  // Own properties only: a client's `Constructor: x` would otherwise find Object.prototype.constructor.
  const prev = Object.hasOwn(headers, name) ? headers[name] : undefined;
  // A client's `__proto__` header is a header like any other (Kong forwards it): assigned, it
  // would set the object's prototype instead. Once own, later assignments update the value.
  if (prev === undefined && name === '__proto__') setOwnField(headers, name, value);
  else if (prev === undefined) headers[name] = value;
  else if (name === 'set-cookie') headers[name] = typeof prev === 'string' ? [prev, value] : [...prev, value];
  else headers[name] = `${typeof prev === 'string' ? prev : prev.join(', ')}${name === 'cookie' ? '; ' : ', '}${value}`;
}

export const enum HeaderScan {
  OK = 0,
  DUPLICATE_HOST = 1,
  UNDERSCORE = 2,
  BAD_CONTENT_LENGTH = 3,
}

/**
 * Builds the client header object from Node's rawHeaders in one pass: lower-cases names, drops
 * hop-by-hop and identity headers, applies the underscore policy, and detects a repeated Host.
 * The Connection header is returned separately (its tokens name more headers to drop).
 */
export function scanRequestHeaders(
  raw: readonly string[],
  underscores: 'drop' | 'reject' | 'allow',
  out: Record<string, HeaderValue>,
): { status: HeaderScan; connection: string | undefined; upgrade: string | undefined; expect: string | undefined } {
  let connection: string | undefined;
  let upgrade: string | undefined;
  let expect: string | undefined;
  let status = HeaderScan.OK;
  let authority: string | undefined;
  let scheme: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers: method, path and scheme reach us through the request; :authority is the host.
      if (name === ':authority') authority = value;
      else if (name === ':scheme') scheme = value;
      continue;
    }
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      else if (name === 'upgrade') upgrade = value;
      // Kept for the framing checks, every line of it (two lines `gzip` and `chunked` are the
      // codings `gzip, chunked`); removed before forwarding.
      else if (name === 'transfer-encoding') appendHeader(out, name, value);
      // Kept for authentication plugins (Kong's basic-auth reads it first); never forwarded (RFC 9110 11.7.2).
      else if (name === 'proxy-authorization') appendHeader(out, name, value);
      continue;
    }
    if (name === 'expect') {
      expect = value;
      continue;
    }
    if (isIdentityHeader(name)) continue;
    if (name.includes('_')) {
      if (underscores === 'reject') status = HeaderScan.UNDERSCORE;
      // CGI-style upstreams (PHP, WSGI, Rack, nginx's $http_) read X_Consumer_ID as X-Consumer-ID:
      // a client's copy of an identity header spelled with `_` must not pass either.
      if (underscores !== 'allow' || isIdentityHeader(name.replaceAll('_', '-'))) continue;
    }
    if (name === 'host' && out.host !== undefined) {
      status = HeaderScan.DUPLICATE_HOST;
      continue;
    }
    if (name === 'content-length' && out[name] !== undefined) {
      if (out[name] !== value) status = HeaderScan.BAD_CONTENT_LENGTH;
      continue;
    }
    appendHeader(out, name, value);
  }
  if (authority !== undefined) {
    // RFC 9113 8.3.1: a Host header next to :authority must name the same host, compared once both
    // are normalized (RFC 3986 section 6.2): the name case-insensitively (3.2.2), and without the
    // scheme's default port (6.2.3: `a.test:443` is `a.test` in an https request).
    if (out.host === undefined) out.host = authority;
    else if (typeof out.host !== 'string' || !sameAuthority(out.host, authority, scheme))
      status = HeaderScan.DUPLICATE_HOST;
  }
  return { status, connection, upgrade, expect };
}

/** Whether two authorities name the same host and port for `scheme` (its default port may be left out). */
export function sameAuthority(a: string, b: string, scheme: string | undefined): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  const port = scheme === 'https' ? ':443' : scheme === 'http' ? ':80' : null;
  if (port === null) return false;
  const bare = (h: string): string => (h.endsWith(port) ? h.slice(0, -port.length) : h);
  return bare(x) === bare(y);
}

/**
 * An upstream response head from undici's raw header list: lower-cased names, repeated headers as
 * lists, hop-by-hop headers and those the upstream's Connection header names removed (RFC 9110 7.6.1).
 * `spelling`, when given, gets the upstream's spelling of each name it did not send in lower case
 * (its first), for the head that goes out (`spelledHead`).
 */
export function upstreamResponseHeaders(
  raw: readonly Buffer[],
  spelling: Map<string, string> | null = null,
): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {};
  const text = rawHeaderStrings(raw);
  let connection: string | undefined;
  for (let i = 0; i < text.length; i += 2) {
    const name = text[i]!.toLowerCase();
    const value = text[i + 1]!;
    if (spelling !== null && name !== text[i] && !spelling.has(name)) spelling.set(name, text[i]!);
    if (HOP_BY_HOP.has(name)) {
      // Every line counts: two Connection lines are one list (RFC 9110 5.3).
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    // Own properties only: an upstream's `Constructor: x` would otherwise find Object.prototype.constructor.
    const prev = Object.hasOwn(headers, name) ? headers[name] : undefined;
    // An upstream's `__proto__` header is relayed as Kong relays it: assigned, it would set the
    // object's prototype instead. Once own, later assignments update the value.
    if (prev === undefined && name === '__proto__') setOwnField(headers, name, value);
    else headers[name] = prev === undefined ? value : typeof prev === 'string' ? [prev, value] : [...prev, value];
  }
  if (connection !== undefined) for (const t of connectionTokens(connection)) delete headers[t];
  return headers;
}

/**
 * An upstream response head's Transfer-Encoding when it is anything but one `chunked` (`gzip`,
 * `gzip, chunked`, two `chunked` lines), else null. Transfer-Encoding is hop-by-hop and the gateway
 * decodes only chunked: relayed without it, the other codings would reach the client as the content
 * itself. nginx (since 1.23, so Kong 3) refuses such an answer, "upstream sent unknown
 * Transfer-Encoding", with a 502; RFC 9112 section 6.1 forbids chunked applied twice. Only names
 * of the header's length are decoded.
 */
export function unrelayedCoding(raw: readonly Buffer[]): string | null {
  let coding: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 17 || name.toString('latin1').toLowerCase() !== 'transfer-encoding') continue;
    const value = raw[i + 1]!.toString('latin1');
    coding = coding === null ? value : `${coding}, ${value}`;
  }
  return coding === null || coding.toLowerCase() === 'chunked' ? null : coding;
}

/** Beyond this span a head's views are decoded one by one (it cannot be one head's bytes). */
const MAX_SHARED_SPAN = 256 * 1024;

/**
 * undici's raw header list as latin1 strings, names and values alternating. Each Buffer is a view
 * into the socket chunk the head arrived in, and decoding one is a call into C++ (about 900
 * instructions, ten of them for a five-header answer). When the views share one ArrayBuffer its
 * span is decoded once and cut with `String#slice`, each string from its view's own offset, so the
 * bytes between them never show. A header undici joined across chunks is a copy elsewhere: then
 * each view is decoded alone.
 */
export function rawHeaderStrings(raw: readonly Buffer[]): string[] {
  const n = raw.length;
  const out = new Array<string>(n);
  if (n === 0) return out;
  const first = raw[0]!;
  const memory = first.buffer;
  let lo = first.byteOffset;
  let hi = lo + first.length;
  for (let i = 1; i < n; i++) {
    const b = raw[i]!;
    if (b.buffer !== memory) return decodeEach(raw, out);
    const start = b.byteOffset;
    const end = start + b.length;
    if (start < lo) lo = start;
    if (end > hi) hi = end;
  }
  if (hi - lo > MAX_SHARED_SPAN) return decodeEach(raw, out);
  const text = Buffer.from(memory, lo, hi - lo).toString('latin1');
  for (let i = 0; i < n; i++) {
    const b = raw[i]!;
    const start = b.byteOffset - lo;
    out[i] = text.slice(start, start + b.length);
  }
  return out;
}

function decodeEach(raw: readonly Buffer[], out: string[]): string[] {
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]!.toString('latin1');
  return out;
}
