/**
 * Stateless sessions for the oidc plugin: a payload sealed by `SessionSealer` (the library module
 * shared with the session plugin) in a cookie, split into numbered cookies when it would not fit
 * in one.
 */
import { type Credential, SessionSealer, trimAsciiSpace } from '../../index.ts';
import { idTokenClaims, idTokenHeader, userinfoHeader } from './urls.ts';

export { SessionSealer };

/** The session cookie's payload. Short keys: it travels on every request. */
export interface SessionPayload {
  v: 1;
  /** Absolute end of the session, epoch seconds. */
  exp: number;
  /** Last activity, epoch seconds (for the idle timeout). */
  seen: number;
  sub: string;
  /** ID token (for X-ID-Token and logout's id_token_hint). */
  it: string;
  /** Access token. */
  at: string;
  /** Access token expiry, epoch seconds; null when the IdP did not say. */
  ate: number | null;
  /** Refresh token. */
  rt?: string;
  /** The userinfo (or ID token claims): X-Userinfo is computed from it once per cookie value. */
  user: Record<string, unknown>;
}

/** An opened session as the request path uses it: the upstream headers computed once per cookie value. */
export interface SessionEntry {
  readonly payload: SessionPayload;
  readonly stale: boolean;
  readonly userHeader: string;
  readonly idHeader: string;
  readonly credential: Credential;
  /** The ID token's claims, verified at login: what `req.claims` carries for a browser session. */
  readonly claims: Readonly<Record<string, unknown>> | null;
}

export function sessionEntry(payload: SessionPayload, stale: boolean): SessionEntry {
  return {
    payload,
    stale,
    userHeader: userinfoHeader(payload.user),
    idHeader: idTokenHeader(payload.it),
    credential: { id: payload.sub, type: 'oidc', identifier: payload.sub, consumer_id: null },
    claims: idTokenClaims(payload.it),
  };
}

/** Whether a session is within its lifetime and its idle timeout (0: none) at `now`, epoch seconds. */
export function sessionLive(p: SessionPayload, now: number, idleTimeout: number): boolean {
  return p.exp > now && !(idleTimeout > 0 && now - p.seen >= idleTimeout);
}

/**
 * Whether a session is due for a reissue (opened with an older secret, or `seen` `reissueAfter`
 * seconds ago) or its access token for a refresh, at `now`.
 */
export function sessionDue(
  p: SessionPayload,
  stale: boolean,
  now: number,
  refreshLeeway: number,
  reissueAfter: number,
): boolean {
  return stale || (p.ate !== null && p.ate - refreshLeeway <= now) || now - p.seen >= reissueAfter;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** The pending-login cookie's payload: what the callback must find again. */
export interface LoginPayload {
  v: 1;
  state: string;
  nonce: string;
  /** PKCE code verifier. */
  cv: string;
  /** The redirect_uri sent in the authorization request. */
  ru: string;
  /** Where to send the browser after login (same-origin path). */
  rt: string;
  exp: number;
  /** Older logins of the same browser still pending (other tabs), newest first; see pending-logins.ts. */
  others?: LoginPayload[];
}

/** Longest cookie value written in one cookie; browsers cap name + value + attributes near 4096 bytes. */
export const CHUNK_SIZE = 3800;
/** Upper bound of chunks read, so a hostile Cookie header cannot make us concatenate forever. */
const MAX_CHUNKS = 16;
/**
 * The largest sealed session written (6 chunks). The gateway reads at most 32 KiB of request
 * headers: a bigger set of cookies, which the browser would send on every request (logout
 * included), would be refused with 431 until it expired, locking the user out.
 */
export const MAX_SESSION_BYTES = 6 * CHUNK_SIZE;

/** Log fields when a sealed session is too big to store (the IdP's claims or tokens are to blame), else null. */
export function oversized(sealed: string, sub: string): Record<string, unknown> | null {
  if (sealed.length <= MAX_SESSION_BYTES) return null;
  const hint = 'ask the IdP for fewer claims (scopes, custom claims such as groups), or set userinfo: false';
  return { sub, bytes: sealed.length, limit: MAX_SESSION_BYTES, hint };
}

/** The pending-login cookie's name is the session cookie's with this suffix. */
export const LOGIN_SUFFIX = '_login';

/**
 * Parses a Cookie header, keeping only the cookies of session `name`: `name`, its chunks
 * `name.<digits>` and its login cookie `name_login`. Also returns the header without those
 * cookies (null when none of ours were present), for the upstream request: the app's own cookies,
 * `name…` look-alikes such as `oidc_sessionid` included, pass unchanged.
 */
export function readCookies(
  header: string | undefined,
  name: string,
): { ours: Map<string, string>; rest: string | null } {
  const ours = new Map<string, string>();
  if (header === undefined || !header.includes(name)) return { ours, rest: null };
  const kept: string[] = [];
  const login = name + LOGIN_SUFFIX;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const cookie = trimAsciiSpace(eq < 0 ? part : part.slice(0, eq));
    if (cookie === login || isPartOf(cookie, name)) {
      if (eq >= 0 && !ours.has(cookie)) ours.set(cookie, trimAsciiSpace(part.slice(eq + 1)));
    } else {
      const other = trimAsciiSpace(part);
      if (other !== '') kept.push(other);
    }
  }
  return { ours, rest: ours.size === 0 ? null : kept.join('; ') };
}

/** Reassembles a possibly chunked cookie value: `name`, or `name.0`, `name.1`, ... in order. */
export function joinChunks(cookies: ReadonlyMap<string, string>, name: string): string | null {
  const whole = cookies.get(name);
  if (whole !== undefined && whole !== '') return whole;
  let out = '';
  for (let i = 0; i < MAX_CHUNKS; i++) {
    const part = cookies.get(`${name}.${i}`);
    if (part === undefined || part === '') break;
    out += part;
  }
  return out === '' ? null : out;
}

/** Attributes every cookie of the plugin carries. */
export interface CookieAttributes {
  readonly secure: boolean;
  /** Seconds; undefined for a browser-session cookie. */
  readonly maxAge?: number;
}

function serialize(name: string, value: string, attrs: CookieAttributes): string {
  let s = `${name}=${value}; Path=/; HttpOnly; SameSite=Lax`;
  if (attrs.maxAge !== undefined) s += `; Max-Age=${attrs.maxAge}`;
  if (attrs.secure) s += '; Secure';
  return s;
}

/** A Set-Cookie value that deletes `name`. */
export function clearCookie(name: string, secure: boolean): string {
  return `${name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? '; Secure' : ''}`;
}

/**
 * Set-Cookie values that store `value` under `name`, chunked when too long, and delete whatever
 * other chunk (or the unchunked cookie) the client currently holds.
 */
export function writeChunks(
  name: string,
  value: string,
  attrs: CookieAttributes,
  present: ReadonlyMap<string, string>,
): string[] {
  const out: string[] = [];
  const written = new Set<string>();
  if (value.length <= CHUNK_SIZE) {
    out.push(serialize(name, value, attrs));
    written.add(name);
  } else {
    for (let i = 0, off = 0; off < value.length; i++, off += CHUNK_SIZE) {
      const chunkName = `${name}.${i}`;
      out.push(serialize(chunkName, value.slice(off, off + CHUNK_SIZE), attrs));
      written.add(chunkName);
    }
  }
  for (const existing of present.keys()) {
    if (!written.has(existing) && isPartOf(existing, name)) out.push(clearCookie(existing, attrs.secure));
  }
  return out;
}

/** Set-Cookie values deleting `name` and all of its chunks the client holds. */
export function clearChunks(name: string, secure: boolean, present: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const existing of present.keys()) {
    if (isPartOf(existing, name)) out.push(clearCookie(existing, secure));
  }
  return out;
}

function isPartOf(cookieName: string, name: string): boolean {
  if (cookieName === name) return true;
  if (!cookieName.startsWith(name) || cookieName.charCodeAt(name.length) !== 46 /* . */) return false;
  const rest = cookieName.slice(name.length + 1);
  return rest !== '' && /^\d+$/.test(rest);
}
