/**
 * Refreshes of browser sessions' tokens at the IdP's token endpoint (the refresh_token grant,
 * RFC 6749 section 6): one at a time per session, remembered when they just succeeded or failed,
 * and told apart by why they failed. An IdP that refused the refresh token (`invalid_grant`, any
 * other OAuth error) ends the session; an IdP that could not answer (no connection, `timeout`, a
 * 5xx or 429, an answer that is not OAuth's such as a WAF's HTML page, discovery not done) says
 * nothing about the token, so the session is kept.
 */
import { BoundedCache, cacheKey, type PluginLogger } from '../../index.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { type Discovered, describe, unreachable } from './provider.ts';
import { nowSeconds, type SessionPayload } from './session.ts';

/** The IdP refused the refresh: the session is over. */
export const REJECTED = 'rejected';
/** The IdP could not be asked or did not answer: the session stays, the refresh is tried again later. */
export const UNAVAILABLE = 'unavailable';
/** A refresh's outcome: the refreshed session, or why there is none. */
export type Refreshed = SessionPayload | typeof REJECTED | typeof UNAVAILABLE;

/**
 * Refresh tokens that just failed, by why: a refused one is not sent again for 30 s (it stays
 * refused), one the IdP could not answer for is tried again after 5 s, so an outage costs each
 * session one token request per 5 s (not one per request) and ends for it soon after the IdP is back.
 */
const FAILED_CACHE = { maxEntries: 1000, maxBytes: 1024 * 1024, ttlMs: 30_000 };
const RETRY_UNAVAILABLE_MS = 5_000;
/**
 * Refreshes that just succeeded, by the tokens they replaced: a request still carrying the old cookie
 * gets their tokens, not a second use of a rotated refresh token (IdPs revoke the grant for it).
 */
const REFRESHED_CACHE = { maxEntries: 1000, maxBytes: 16 * 1024 * 1024, ttlMs: 60_000 };
/** Each refresh in flight is a request waiting on the IdP; past this, refreshes are not started. */
const MAX_REFRESHING = 1000;

export interface RefreshOptions {
  /** The discovered IdP, or null while it cannot be reached. */
  readonly ensure: () => Promise<Discovered | null>;
  readonly log: PluginLogger;
}

/** The refreshes of one plugin instance. */
export class SessionRefreshes {
  readonly #options: RefreshOptions;
  /** Refreshes in flight, by (hashed) refresh token. */
  readonly #refreshing = new Map<string, Promise<Refreshed>>();
  readonly #failed = new BoundedCache<typeof REJECTED | typeof UNAVAILABLE>(FAILED_CACHE);
  /** Sessions a refresh just produced, by (hashed) refresh and access token of the session refreshed. */
  readonly #refreshed = new BoundedCache<SessionPayload>({
    ...REFRESHED_CACHE,
    sizeOf: (s) => JSON.stringify(s).length * 2,
  });
  /** During an outage every due session fails its refresh: one error line a second, not one per session. */
  readonly #unavailable: RepeatedWarning;

  constructor(options: RefreshOptions) {
    this.#options = options;
    this.#unavailable = new RepeatedWarning(
      options.log,
      'oidc token refresh failed: IdP unreachable; the session is kept',
      1000,
      'error',
    );
  }

  /** The refresh of `s` (which holds a refresh token). */
  run(s: SessionPayload): Promise<Refreshed> {
    const rt = cacheKey(s.rt!);
    // Keyed by the access token too: where refresh tokens are not rotated, the refreshed session
    // holds the same refresh token, and its own refresh later must reach the IdP.
    const state = cacheKey(`${s.rt}\n${s.at}`);
    const done = this.#refreshed.get(state);
    if (done !== undefined && (done.ate === null || done.ate > nowSeconds())) return Promise.resolve(done);
    const failed = this.#failed.get(rt);
    if (failed !== undefined) return Promise.resolve(failed);
    // Concurrent requests of one browser share one refresh: IdPs that rotate refresh tokens
    // (Auth0) treat a second use of the old one as token theft.
    let pending = this.#refreshing.get(rt);
    if (pending === undefined) {
      // Past the cap the gateway, not the IdP or the token, is the limit: the session stays.
      if (this.#refreshing.size >= MAX_REFRESHING) return Promise.resolve(UNAVAILABLE);
      pending = this.#refresh(s).then((next) => {
        this.#refreshing.delete(rt);
        if (next === REJECTED) this.#failed.set(rt, next);
        else if (next === UNAVAILABLE) this.#failed.set(rt, next, RETRY_UNAVAILABLE_MS);
        else this.#refreshed.set(state, next);
        return next;
      });
      this.#refreshing.set(rt, pending);
    }
    return pending;
  }

  async #refresh(s: SessionPayload): Promise<Refreshed> {
    const d = await this.#options.ensure();
    if (d === null) {
      this.#unavailable.report({ sub: s.sub, error: 'the IdP is not discovered' });
      return UNAVAILABLE;
    }
    try {
      // Within `timeout` (the provider's bounded fetch), head and body.
      const tokens = await d.client.refreshTokenGrant(d.config, s.rt!);
      const now = nowSeconds();
      const next: SessionPayload = {
        ...s,
        seen: now,
        at: tokens.access_token,
        ate: typeof tokens.expires_in === 'number' ? now + tokens.expires_in : null,
        it: tokens.id_token ?? s.it,
      };
      if (tokens.refresh_token !== undefined) next.rt = tokens.refresh_token;
      this.#options.log.debug('oidc tokens refreshed', { sub: s.sub });
      return next;
    } catch (err) {
      if (unreachable(err)) {
        this.#unavailable.report({ sub: s.sub, error: describe(err) });
        return UNAVAILABLE;
      }
      this.#options.log.info('oidc token refresh failed', { sub: s.sub, error: describe(err) });
      return REJECTED;
    }
  }
}
