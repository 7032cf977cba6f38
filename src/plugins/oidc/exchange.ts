/**
 * The end of a login: the authorization code exchanged for tokens (PKCE verifier, state and nonce
 * checked by openid-client), the userinfo fetched, the session sealed. Concurrent callbacks of one
 * login share one exchange.
 */
import type * as OpenIdClient from 'openid-client';
import { cacheKey } from '../../index.ts';
import { type Discovered, describe, unreachable } from './provider.ts';
import { type LoginPayload, nowSeconds, oversized, type SessionPayload, type SessionSealer } from './session.ts';

/**
 * A completed exchange (the sealed session), or why the login failed, with the fields logged and
 * whether the IdP could not be asked (a 503, not a 401).
 */
export type Exchanged =
  | { readonly ok: true; readonly session: SessionPayload; readonly sealed: string }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly fields: Record<string, unknown>;
      readonly unavailable?: boolean;
    };

export interface ExchangeOptions {
  readonly userinfo: boolean;
  /** Seconds. */
  readonly sessionLifetime: number;
  readonly sealer: SessionSealer;
}

/**
 * The exchanges under way, by state and code. A browser can send one callback twice at once (a
 * navigation repeated before the first answer came): a second use of a code fails at the token
 * endpoint, and the IdP then revokes the tokens the first use got (RFC 6749 4.1.2), so both
 * requests would fail. Only while one is under way: a callback sent after it is a replay.
 */
export class CodeExchanges {
  readonly #pending = new Map<string, Promise<Exchanged>>();
  readonly #options: ExchangeOptions;

  constructor(options: ExchangeOptions) {
    this.#options = options;
  }

  /** The exchange of the code of `callbackUrl` (its state already checked against `login`'s). */
  run(d: Discovered, login: LoginPayload, callbackUrl: URL): Promise<Exchanged> {
    // Each key is a request waiting on the IdP with a login cookie this gateway sealed. The code is
    // the client's text: past 256 characters the key is a digest (V8 hashes a string over 16 KiB
    // by its length alone, so long codes of one length would share a bucket).
    const key = cacheKey(`${login.state}\n${callbackUrl.searchParams.get('code')}`);
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = exchange(d, login, callbackUrl, this.#options).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    return pending;
  }
}

/** A request to the IdP failed: why, and whether the IdP could not be reached at all (a 503, not a 401). */
function failedAt(reason: string, err: unknown): Exchanged {
  return { ok: false, reason, fields: { error: describe(err) }, unavailable: unreachable(err) };
}

async function exchange(d: Discovered, login: LoginPayload, url: URL, o: ExchangeOptions): Promise<Exchanged> {
  let tokens: OpenIdClient.TokenEndpointResponse & OpenIdClient.TokenEndpointResponseHelpers;
  try {
    tokens = await d.client.authorizationCodeGrant(d.config, url, {
      pkceCodeVerifier: login.cv,
      expectedState: login.state,
      expectedNonce: login.nonce,
      idTokenExpected: true,
    });
  } catch (err) {
    return failedAt('code exchange failed', err);
  }
  const claims = tokens.claims();
  if (claims === undefined || tokens.id_token === undefined) return { ok: false, reason: 'no ID token', fields: {} };
  let user: Record<string, unknown> = { ...claims };
  if (o.userinfo && d.config.serverMetadata().userinfo_endpoint !== undefined) {
    try {
      user = { ...(await d.client.fetchUserInfo(d.config, tokens.access_token, claims.sub)) };
    } catch (err) {
      return failedAt('userinfo request failed', err);
    }
  }
  const now = nowSeconds();
  const session: SessionPayload = {
    v: 1,
    exp: now + o.sessionLifetime,
    seen: now,
    sub: claims.sub,
    it: tokens.id_token,
    at: tokens.access_token,
    ate: typeof tokens.expires_in === 'number' ? now + tokens.expires_in : null,
    user,
  };
  if (tokens.refresh_token !== undefined) session.rt = tokens.refresh_token;
  const sealed = await o.sealer.seal(session);
  const big = oversized(sealed, claims.sub);
  if (big !== null) return { ok: false, reason: 'session too large', fields: big };
  return { ok: true, session, sealed };
}
