/**
 * What a plugin may put in the upstream request or its response, checked where it puts it. The HTTP client refuses
 * a head with a header, path or method HTTP does not allow (CR, LF, a space in a path, a name that
 * is no token) before anything is sent; caught only then, the refusal looked like the upstream's
 * failure (502, and a tcp failure against the target's passive health). Thrown from the setter,
 * it is the plugin's failure: a 500 logged under the plugin's name, as any exception in a phase.
 */
import { HOP_BY_HOP } from '../lib/header-value.ts';
import type { HeaderValue } from './plugin.ts';

/** RFC 9110 5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 5.5: visible characters, obs-text, space and tab; never CR, LF or NUL (undici's rule too). */
const BAD_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
/** undici's rule for a request target: no control characters, no space, nothing above U+00FF. */
const BAD_TARGET_CHAR = /[^\u0021-\u00ff]/;

export function checkHeader(fn: string, name: string, value: HeaderValue): void {
  if (typeof name !== 'string' || !TOKEN.test(name))
    throw new TypeError(`${fn}: ${JSON.stringify(name)} is not a valid header name`);
  if (typeof value === 'string') {
    if (BAD_VALUE_CHAR.test(value)) throw badValue(fn, name);
  } else if (Array.isArray(value)) {
    for (const v of value) if (typeof v !== 'string' || BAD_VALUE_CHAR.test(v)) throw badValue(fn, name);
  } else throw new TypeError(`${fn}: the value of '${name}' must be a string or a list of strings`);
}

function badValue(fn: string, name: string): TypeError {
  // The value itself is left out: it may be a credential.
  return new TypeError(`${fn}: the value of '${name}' has a character a header cannot carry (CR, LF, NUL, ...)`);
}

export function checkPath(path: string): void {
  if (typeof path !== 'string' || path.charCodeAt(0) !== 47 /* / */ || BAD_TARGET_CHAR.test(path))
    throw new TypeError(
      'setUpstreamPath: the path must start with / and be percent-encoded (no space or control character)',
    );
}

export function checkQuery(query: string): void {
  if (typeof query !== 'string' || BAD_TARGET_CHAR.test(query))
    throw new TypeError('setUpstreamQuery: the query must be percent-encoded (no space or control character)');
}

export function checkMethod(method: string): void {
  if (typeof method !== 'string' || !TOKEN.test(method))
    throw new TypeError(`setUpstreamMethod: ${JSON.stringify(method)} is not a method`);
  // A tunnel is not a request the HTTP client can proxy (it refuses it).
  if (method.toUpperCase() === 'CONNECT') throw new TypeError('setUpstreamMethod: CONNECT cannot be sent upstream');
}

/** A response status a plugin sets: Node refuses one outside 100-999, and 1xx is no final answer. */
export function checkStatus(fn: string, status: number): void {
  if (!Number.isInteger(status) || status < 200 || status > 599)
    throw new TypeError(`${fn}: the status must be an integer from 200 to 599, not ${String(status)}`);
}

/**
 * Hop-by-hop headers and Expect: a client's are never forwarded (src/proxy/headers.ts), and a
 * plugin's are not either. The HTTP client frames the request itself and refuses Upgrade,
 * Keep-Alive and Expect outright: sent on, a plugin's copy failed the request as a 502 counted
 * against the target's health.
 */
export function neverForwarded(name: string): boolean {
  return HOP_BY_HOP.has(name) || name === 'expect';
}

/**
 * Headers a plugin's setting sends though a client's copy never goes: `Proxy-Authorization` (the
 * client's is the gateway's credential, RFC 9110 11.7.2, but Kong sends one its request-transformer
 * sets), and `TE: trailers`, which says the gateway reads the upstream's trailers (a
 * response plugin's `filterBody` gets them), the one TE value HTTP/2 allows (RFC 9113 8.2.2), as
 * Kong's grpc-web plugin sets it for a gRPC upstream.
 */
export function sentForPlugin(name: string, v: HeaderValue): boolean {
  return name === 'proxy-authorization' || (name === 'te' && v === 'trailers');
}
