/**
 * What the oidc plugin reads from requests and writes into URLs and headers: return paths,
 * the origin of the absolute URLs it sends to the IdP, the kong-oidc identity headers.
 */
import type { GatewayRequest } from '../../index.ts';

// Linear: one bracketed address or one run of host characters, then an optional port.
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i;
const UNSAFE_RETURN = /[\\\x00-\x1f\x7f]/;
const CONFIGURED_PORT = /^(.*[^:]):(\d+)$/;

/** A same-origin relative path, or `/`: never a redirect to another site. */
export function safeReturnPath(p: unknown): string {
  if (typeof p !== 'string' || p.charCodeAt(0) !== 47 /* / */) return '/';
  if (p.charCodeAt(1) === 47 || UNSAFE_RETURN.test(p)) return '/';
  return p;
}

/**
 * `scheme://host[:port]` for the absolute URLs sent to the IdP, built from the route's configured
 * `hosts`: the configured spelling of the host the request matched (for a wildcard entry, the
 * request's host, which the pattern checked). The port is the Host header's, digits only, unless
 * the entry names one. Null when the Host header fits no entry (or is not a host at all).
 */
export function originFromHosts(
  hosts: readonly string[],
  scheme: 'http' | 'https',
  hostHeader: string | undefined,
): string | null {
  const m = hostHeader === undefined ? null : HOST_HEADER.exec(hostHeader);
  if (m === null) return null;
  const name = m[1]!.toLowerCase();
  const port = m[2];
  for (const raw of hosts) {
    let h = raw.toLowerCase();
    let entryPort: string | undefined;
    const pm = CONFIGURED_PORT.exec(h);
    if (pm !== null) {
      h = pm[1]!;
      entryPort = pm[2];
      if (port !== undefined && port !== entryPort) continue;
    }
    let host: string | null = null;
    if (h === name) host = h;
    else if (h.startsWith('*') && name.length > h.length - 1 && name.endsWith(h.slice(1))) host = name;
    else if (h.endsWith('*') && name.length > h.length - 1 && name.startsWith(h.slice(0, -1))) host = name;
    if (host === null) continue;
    const p = entryPort ?? port;
    return `${scheme}://${host}${p === undefined ? '' : `:${p}`}`;
  }
  return null;
}

/** `scheme://host[:port]` from the Host header alone (syntax checked), or null. */
export function originFromHostHeader(scheme: 'http' | 'https', hostHeader: string | undefined): string | null {
  if (hostHeader === undefined || !HOST_HEADER.test(hostHeader)) return null;
  return `${scheme}://${hostHeader.toLowerCase()}`;
}

/**
 * The IdP's error answer at the callback as logged: `error` and `error_description` (where Auth0
 * explains), bounded, since anyone can send that URL. Null when the callback carries no error.
 */
export function idpError(q: URLSearchParams): Record<string, string> | null {
  const error = q.get('error');
  if (error === null) return null;
  const description = q.get('error_description');
  return {
    error: error.slice(0, 64),
    ...(description === null ? {} : { error_description: description.slice(0, 256) }),
  };
}

/** True for requests a browser makes to display a page; anything else gets 401, not a redirect. */
export function isNavigation(req: GatewayRequest): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const h = req.headers;
  if (h['x-requested-with'] !== undefined) return false;
  const mode = h['sec-fetch-mode'];
  if (mode !== undefined) return mode === 'navigate';
  const accept = h.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}

/** kong-oidc's X-Userinfo: base64 of the JSON with `id` (sub) and `username` (preferred_username) added. */
export function userinfoHeader(claims: Readonly<Record<string, unknown>>): string {
  const user: Record<string, unknown> = { ...claims, id: claims.sub };
  if (claims.preferred_username !== undefined) user.username = claims.preferred_username;
  return Buffer.from(JSON.stringify(user)).toString('base64');
}

function payloadOf(jwt: string): string | null {
  const first = jwt.indexOf('.');
  const second = jwt.indexOf('.', first + 1);
  if (first < 0 || second < 0) return null;
  return jwt.slice(first + 1, second);
}

/** kong-oidc's X-ID-Token: base64 (standard) of the ID token's claims JSON. */
export function idTokenHeader(idToken: string): string {
  const payload = payloadOf(idToken);
  return payload === null ? '' : Buffer.from(payload, 'base64url').toString('base64');
}

/** The claims of an ID token the session holds (checked by openid-client when it was issued). */
export function idTokenClaims(idToken: string): Record<string, unknown> | null {
  const payload = payloadOf(idToken);
  if (payload === null) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    return typeof claims === 'object' && claims !== null && !Array.isArray(claims)
      ? (claims as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}
