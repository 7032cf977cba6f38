/**
 * Stateless sessions for the oidc plugin: a payload sealed by `SessionSealer` (the library module
 * shared with the session plugin) in a cookie, split into numbered cookies when it would not fit
 * in one.
 */
import { type Credential, SessionSealer } from '../../index.ts';
import { ChunkedCookie, type CookieJar, CookieReader } from '../../lib/chunked-cookie.ts';
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
/** The chunks read: a hostile Cookie header cannot make us concatenate (or expire) more. */
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

/** Attributes every cookie of the plugin carries. */
export interface CookieAttributes {
  readonly secure: boolean;
  /** Seconds; undefined for a browser-session cookie. */
  readonly maxAge?: number;
}

function attributes(attrs: CookieAttributes): string {
  let s = '; Path=/; HttpOnly; SameSite=Lax';
  if (attrs.maxAge !== undefined) s += `; Max-Age=${attrs.maxAge}`;
  if (attrs.secure) s += '; Secure';
  return s;
}

const EXPIRED = '; Path=/; HttpOnly; SameSite=Lax; Max-Age=0';
const EXPIRED_SECURE = `${EXPIRED}; Secure`;

/** A Set-Cookie value that deletes `name`. */
export function clearCookie(name: string, secure: boolean): string {
  return `${name}=${secure ? EXPIRED_SECURE : EXPIRED}`;
}

/**
 * The cookies of session `name`, named at load: `name`, its chunks `name.0` to `name.15` (a value
 * longer than CHUNK_SIZE), and its login cookie `name_login`.
 */
export class SessionCookies {
  readonly #session: ChunkedCookie;
  readonly #reader: CookieReader;

  constructor(name: string) {
    const chunks = Array.from({ length: MAX_CHUNKS }, (_, i) => `${name}.${i}`);
    // The joined chunks stop at a whole sealed value: a later chunk the browser kept from a longer
    // session (its expiry lost) is no part of it, and joined it would make the session not open.
    this.#session = new ChunkedCookie(name, chunks, () => CHUNK_SIZE, SessionSealer.whole);
    this.#reader = new CookieReader([...this.#session.names, name + LOGIN_SUFFIX]);
  }

  /**
   * Our cookies in a Cookie header (the first of each name), and the header without them (null
   * when none of ours were present), for the upstream: the app's own cookies, `name…` look-alikes
   * such as `oidc_sessionid` included, pass unchanged.
   */
  read(header: string | undefined): { ours: CookieJar; rest: string | null } {
    const { jar, rest } = this.#reader.read(header);
    return { ours: jar, rest };
  }

  /** The sealed session the cookies carry: `name`, or `name.0`, `name.1`, ... joined in order up to a whole sealed value. */
  join(ours: CookieJar): string | null {
    return this.#session.join(ours);
  }

  /**
   * Set-Cookie values that store `value`, chunked when too long, and delete whatever other chunk
   * (or the unchunked cookie) the client currently holds. A value past every chunk (the caller
   * refuses one past MAX_SESSION_BYTES first) deletes them all.
   */
  write(value: string, attrs: CookieAttributes, ours: CookieJar): string[] {
    const expired = attrs.secure ? EXPIRED_SECURE : EXPIRED;
    return this.#session.write(value, attributes(attrs), expired, ours) ?? this.#session.clear(ours, expired);
  }

  /** Set-Cookie values deleting the session cookie and all of its chunks the client holds. */
  clear(secure: boolean, ours: CookieJar): string[] {
    return this.#session.clear(ours, secure ? EXPIRED_SECURE : EXPIRED);
  }
}
