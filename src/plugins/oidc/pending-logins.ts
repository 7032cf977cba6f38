/**
 * Logins in progress in one browser. Each tab that meets an expired session starts its own login,
 * and the IdP may send them back in any order: one cookie holding only the newest login would make
 * every other tab's callback a state mismatch (a 401 after a successful sign-in at the IdP). So the
 * login cookie holds the newest login with the older ones still pending beside it, each checked by
 * its own state, nonce and PKCE verifier at its own callback, as per-transaction cookies do in
 * Auth0's SDKs. Bounded in count and by the cookie's size: the oldest are dropped first.
 */
import type { SessionSealer } from '../../index.ts';
import { clearCookie, type LoginPayload, nowSeconds } from './session.ts';

/** Most logins one browser keeps pending at once (tabs reopened after a restart, say). */
export const MAX_PENDING_LOGINS = 8;
/** Seconds a login may take at the IdP. */
export const LOGIN_TTL = 600;
/** Browsers drop a cookie past 4096 bytes (name, value and attributes): the login cookie stays below. */
export const MAX_LOGIN_COOKIE = 4000;

/** The logins a login cookie holds that have not expired, newest first; none for anything else. */
export function pendingLogins(payload: LoginPayload | null | undefined, now: number): LoginPayload[] {
  if (payload === null || payload === undefined || payload.v !== 1) return [];
  const all: LoginPayload[] = [];
  if (payload.exp > now) all.push(withoutOthers(payload));
  const others = Array.isArray(payload.others) ? payload.others : [];
  for (let i = 0; i < others.length && all.length < MAX_PENDING_LOGINS; i++) {
    const o = others[i];
    if (o !== null && typeof o === 'object' && o.v === 1 && o.exp > now) all.push(withoutOthers(o));
  }
  return all;
}

/** The logins a browser's login cookie (`raw`) holds that have not expired, newest first. */
export async function openPendingLogins(sealer: SessionSealer, raw: string | undefined): Promise<LoginPayload[]> {
  if (raw === undefined || raw === '') return [];
  return pendingLogins((await sealer.open<LoginPayload>(raw))?.payload, nowSeconds());
}

/** The login of `logins` the IdP's `state` names, null when none does. */
export function loginForState(logins: readonly LoginPayload[], state: string | null): LoginPayload | null {
  if (state === null) return null;
  for (const login of logins) if (login.state === state) return login;
  return null;
}

/**
 * The Set-Cookie value that keeps `logins` (newest first) pending: the oldest are left out until it
 * fits in MAX_LOGIN_COOKIE; when even the newest alone does not, that too-long value is returned for
 * the caller to shorten. No logins: the cookie is deleted.
 */
export async function loginCookie(
  sealer: SessionSealer,
  name: string,
  logins: readonly LoginPayload[],
  secure: boolean,
): Promise<string> {
  if (logins.length === 0) return clearCookie(name, secure);
  let cookie = '';
  for (const payload of payloadsToSeal(logins[0]!, logins.slice(1))) {
    cookie = `${name}=${await sealer.seal(payload)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${LOGIN_TTL}${secure ? '; Secure' : ''}`;
    if (cookie.length <= MAX_LOGIN_COOKIE) break;
  }
  return cookie;
}

/** The cookie payloads to try, best first, for `newest` with `older` still pending. */
function* payloadsToSeal(newest: LoginPayload, older: readonly LoginPayload[]): Generator<LoginPayload> {
  const kept = older.slice(0, MAX_PENDING_LOGINS - 1);
  for (let n = kept.length; n > 0; n--) yield { ...newest, others: kept.slice(0, n) };
  yield withoutOthers(newest);
}

function withoutOthers(login: LoginPayload): LoginPayload {
  if (login.others === undefined) return login;
  const { others: _, ...rest } = login;
  return rest;
}
