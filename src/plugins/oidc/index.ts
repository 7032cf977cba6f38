/**
 * `oidc`: an OpenID Connect relying party, with kong-oidc's config names (docs/plugins/oidc.md).
 *
 * Browsers log in with the authorization code flow (PKCE S256, state and nonce always) and then
 * carry a stateless encrypted session cookie; APIs (`bearer_only`) present an access token that
 * is verified locally against the IdP's JWKS or by introspection. The upstream gets kong-oidc's
 * X-Userinfo / X-Access-Token / X-ID-Token headers.
 */
import { createHash } from 'node:crypto';
import schema from '../../../schemas/plugins/oidc.schema.json' with { type: 'json' };
import type {
  DependencyHealth,
  GatewayRequest,
  GatewayResponse,
  HeaderValue,
  PluginContext,
  PluginHandlers,
  PluginLogger,
} from '../../index.ts';
import { assertLinearRegex, configHeaderValue, definePlugin, runSecret, TailKeyedCache } from '../../index.ts';
import { renamedFieldIssues } from '../../lib/kong-config.ts';
import { authenticateBearer, BearerTokens, bearerToken } from './bearer.ts';
import { type CheckedConfig, checkConfig, type OidcConfig, type RoutePaths, sessionBinding } from './config.ts';
import { CodeExchanges } from './exchange.ts';
import { LOGIN_TTL, loginCookie, loginForState, MAX_LOGIN_COOKIE, openPendingLogins } from './pending-logins.ts';
import { Provider, type ProviderOptions } from './provider.ts';
import { REJECTED, SessionRefreshes, UNAVAILABLE } from './refresh.ts';
import {
  clearCookie,
  LOGIN_SUFFIX,
  type LoginPayload,
  nowSeconds,
  oversized,
  SessionCookies,
  type SessionEntry,
  type SessionPayload,
  SessionSealer,
  sessionDue,
  sessionEntry,
  sessionLive,
} from './session.ts';
import { idpError, isNavigation, originFromHostHeader, originFromHosts, safeReturnPath } from './urls.ts';

export type { OidcConfig } from './config.ts';
export { sessionBinding } from './config.ts';
export type { LoginPayload, SessionPayload } from './session.ts';
export { isNavigation, safeReturnPath, userinfoHeader } from './urls.ts';

/** The cap of the opened sessions, keyed by cookies clients send (documented in docs/plugins/oidc.md). */
const SESSION_CACHE = { maxEntries: 2000, maxBytes: 32 * 1024 * 1024 };

const SET_COOKIE_CTX = 'oidc.set_cookie';
const NO_STORE = 'no-store';
const IDP_UNAVAILABLE = 'Service Temporarily Unavailable';
/** The longest return path kept in the pending-login cookie; a longer one falls back to the route's home. */
const MAX_RETURN_PATH = 1024;

/** One configured instance of the plugin. */
class OidcInstance {
  readonly #cfg: OidcConfig;
  readonly #log: PluginLogger;
  readonly #provider: Provider;
  readonly #sealer: SessionSealer;
  readonly #cookies: SessionCookies;
  readonly #loginCookie: string;
  readonly #filter: RegExp | null;
  /** Each filter as it is matched, with its config path; the whole alternation is linear when each is. */
  readonly #filterChecks: readonly (readonly [RegExp, string])[];
  readonly #bearerOnly: boolean;
  readonly #send: CheckedConfig['send'];
  readonly #postLogout: string;
  readonly #logoutPath: string;
  readonly #fixedRoute: RoutePaths | null;
  /** The configured `redirect_uri`'s origin: the origin of every absolute URL sent to the IdP. */
  readonly #redirectOrigin: string | null;
  readonly #routePaths = new Map<string, RoutePaths>();
  /** Opened sessions by sealed cookie: a compact JWE ends with its authentication tag, keying it. */
  readonly #sessions = new TailKeyedCache<SessionEntry>({
    ...SESSION_CACHE,
    sizeOf: (e) => e.userHeader.length * 2 + e.idHeader.length * 2 + 4096,
  });
  readonly #refreshes: SessionRefreshes;
  readonly #reissueAfter: number;
  readonly #tokens: BearerTokens;
  readonly #exchanges: CodeExchanges;

  constructor(cfg: OidcConfig, context: PluginContext) {
    // The realm is sent in WWW-Authenticate: checked and encoded once.
    this.#cfg = { ...cfg, realm: configHeaderValue(cfg.realm, 'realm') };
    this.#log = context.log;
    const checked = checkConfig(cfg, context.warn, context.scope.route, context.scope.routes, context.instances);
    const discovery = checked.discovery;
    const sslVerify = checked.sslVerify;
    this.#fixedRoute = checked.fixedRoute;
    this.#redirectOrigin = checked.redirectOrigin;
    this.#postLogout = checked.postLogout;
    this.#logoutPath = checked.logoutPath;
    this.#filter = checked.filter;
    this.#filterChecks = checked.filterChecks;
    this.#bearerOnly = checked.bearerOnly;
    this.#send = checked.send;
    this.#tokens = new BearerTokens({
      introspection: cfg.introspection_endpoint !== undefined,
      introspectionCacheTtl: cfg.introspection_cache_ttl,
      audiences: checked.audiences,
      algorithms: cfg.bearer_jwt_auth_signing_algs,
      timeout: cfg.timeout,
      services: context.services,
      ensure: () => this.#provider.ensure(),
      log: context.log,
    });

    this.#cookies = new SessionCookies(cfg.session_cookie_name);
    this.#loginCookie = cfg.session_cookie_name + LOGIN_SUFFIX;
    const binding = sessionBinding(cfg.client_id, discovery.href, cfg.session_cookie_name);
    let secrets: string[];
    if (cfg.session_secret === undefined) {
      // kong-oidc generates one when none is set; ours is the same in every worker of this run and
      // every reload (src/lib/run-secret.ts), but a restart or another instance cannot read it.
      secrets = [runSecret(`oidc session_secret\u0000${binding}`)];
      context.warn(
        'no session_secret: sessions are sealed with a random secret generated at start, so they will not survive a restart and are not shared between instances (users log in again); set session_secret (32+ characters, e.g. ${SESSION_SECRET}) to keep them',
        'session_secret',
      );
    } else secrets = typeof cfg.session_secret === 'string' ? [cfg.session_secret] : cfg.session_secret;
    // Bound to the client and the cookie: a session issued for another client id (or another
    // instance using another cookie name) derives another key and does not open.
    this.#sealer = new SessionSealer(secrets, binding);
    this.#exchanges = new CodeExchanges({
      userinfo: cfg.userinfo,
      sessionLifetime: cfg.session_lifetime,
      sealer: this.#sealer,
    });
    this.#refreshes = new SessionRefreshes({ ensure: () => this.#provider.ensure(), log: context.log });
    this.#reissueAfter =
      cfg.session_idle_timeout === 0 ? Infinity : Math.max(1, Math.min(60, Math.floor(cfg.session_idle_timeout / 4)));

    const options: ProviderOptions = {
      discovery,
      clientId: cfg.client_id,
      clientSecret: cfg.client_secret,
      tokenEndpointAuthMethod: cfg.token_endpoint_auth_method,
      allowInsecureHttp: cfg.allow_insecure_http,
      sslVerify,
      timeout: cfg.timeout,
      introspectionEndpoint: cfg.introspection_endpoint,
      introspectionAuthMethod: cfg.introspection_endpoint_auth_method,
    };
    const key = `oidc:provider:${createHash('sha256').update(JSON.stringify(options)).digest('hex')}`;
    // Nothing is contacted here: discovery starts at the gateway's open step or the first request.
    this.#provider = context.services.shared(
      key,
      () => new Provider(options, context.log),
      (p) => p.close(),
    );
  }

  /** Filters run on every request path: refused when their matching time is super-linear. */
  async checkFilters(log: PluginLogger): Promise<void> {
    for (const [regex, at] of this.#filterChecks) await assertLinearRegex(regex, at, log);
  }

  readonly handlers: PluginHandlers = {
    access: (req) => this.#access(req),
    response: (req, res) => this.#response(req, res),
    open: () => this.#provider.start(),
    health: () => this.#health(),
    // Never logged: the callback's code (RFC 6749 1.3: a grant is a credential), logout's ID token.
    secretQueryParams: ['code', 'id_token_hint'],
  };

  #health(): DependencyHealth[] {
    return [this.#provider.health(), ...this.#tokens.health()];
  }

  #access(req: GatewayRequest): void | Promise<void> {
    // The core strips these already; an oidc route must never forward a client's copy.
    req.removeUpstreamHeader('x-userinfo');
    req.removeUpstreamHeader('x-access-token');
    req.removeUpstreamHeader('x-id-token');

    const { ours, rest } = this.#cookies.read(req.headers.cookie);
    if (rest !== null) {
      // The upstream has no use for the encrypted session; keep its own cookies only.
      if (rest === '') req.removeUpstreamHeader('cookie');
      else req.setUpstreamHeader('cookie', rest);
    }

    const path = req.path;
    // bearer_only has no sessions, hence no callback or logout to answer.
    if (this.#bearerOnly) {
      if (this.#filter?.test(path)) return;
      return this.#bearer(req);
    }
    if (path === this.#logoutPath) return this.#logout(req, ours);
    const paths = this.#pathsFor(req);
    if (path === paths.callback) return this.#callback(req, ours, paths);
    if (this.#filter?.test(path)) return;
    const bearer = this.#cfg.introspection_endpoint === undefined ? null : bearerToken(req);
    if (bearer !== null) return this.#bearerOrSession(req, ours, bearer);

    // A known session due for neither a refresh nor a reissue is answered without a promise.
    const raw = this.#cookies.join(ours);
    const known = raw === null ? undefined : this.#sessions.get(raw);
    const now = nowSeconds();
    const cfg = this.#cfg;
    const p = known?.payload;
    if (p !== undefined && sessionLive(p, now, cfg.session_idle_timeout)) {
      if (!sessionDue(p, known!.stale, now, cfg.refresh_leeway, this.#reissueAfter)) return this.#inject(req, known!);
    }
    return this.#session(req, ours);
  }

  /** The session path that may wait: opening a cookie not seen before, a refresh, a reissue. */
  async #session(req: GatewayRequest, ours: ReadonlyMap<string, string>): Promise<void> {
    const entry = await this.#readSession(ours);
    if (entry === null) return this.#unauthenticated(req, ours);
    const now = nowSeconds();
    let s = entry.payload;
    let current = entry;
    let reseal = entry.stale;
    let unavailable = false;
    if (s.ate !== null && s.ate - this.#cfg.refresh_leeway <= now) {
      const refreshed = s.rt !== undefined ? await this.#refreshes.run(s) : REJECTED;
      if (typeof refreshed === 'object') {
        s = refreshed;
        reseal = true;
      } else if (s.ate <= now) {
        if (refreshed !== UNAVAILABLE) return this.#unauthenticated(req, ours);
        // The IdP did not answer: the refresh token is likely still good, so the session stays and
        // the client may retry (kong-oidc would send the user to log in at the same down IdP). The
        // user is active, so the idle deadline moves on as on any request (an idle timeout measures
        // the user's inactivity, not the IdP's); the lifetime (`exp`) and the tokens stay.
        unavailable = true;
      }
    }
    if (now - s.seen >= this.#reissueAfter) {
      s = { ...s, seen: now };
      reseal = true;
    }
    if (reseal) {
      const sealed = await this.#sealer.seal(s);
      const big = oversized(sealed, s.sub);
      if (big !== null) {
        this.#log.warn('oidc session too large to store; the session ends', big);
        return this.#unauthenticated(req, ours);
      }
      current = sessionEntry(s, false);
      this.#sessions.set(sealed, current);
      req.ctx[SET_COOKIE_CTX] = this.#cookies.write(sealed, this.#cookieAttrs(req, s), ours);
    }
    // The response phase adds the re-sealed cookie to this answer too.
    if (unavailable) return req.exitError(503, IDP_UNAVAILABLE, null, 'IDP_UNAVAILABLE');
    this.#inject(req, current);
  }

  #response(req: GatewayRequest, res: GatewayResponse): void {
    const add = req.ctx[SET_COOKIE_CTX] as string[] | undefined;
    if (add === undefined) return;
    const prev = res.headers['set-cookie'];
    res.setHeader(
      'Set-Cookie',
      prev === undefined ? add : typeof prev === 'string' ? [prev, ...add] : [...prev, ...add],
    );
  }

  #inject(req: GatewayRequest, e: SessionEntry): void {
    const send = this.#send;
    if (send.userinfo) req.setUpstreamHeader('x-userinfo', e.userHeader);
    if (send.accessToken) req.setUpstreamHeader('x-access-token', e.payload.at);
    if (send.idToken && e.idHeader !== '') req.setUpstreamHeader('x-id-token', e.idHeader);
    req.authenticate(null, e.credential, { claims: e.claims });
  }

  /** The valid session the cookies carry, or null (absent, tampered, foreign, expired, idle). */
  async #readSession(ours: ReadonlyMap<string, string>): Promise<SessionEntry | null> {
    const raw = this.#cookies.join(ours);
    if (raw === null) return null;
    let entry = this.#sessions.get(raw) ?? null;
    if (entry === null) {
      const opened = await this.#sealer.open<SessionPayload>(raw);
      const p = opened?.payload;
      if (p?.v !== 1 || typeof p.sub !== 'string' || typeof p.user !== 'object' || p.user === null) return null;
      entry = sessionEntry(p, opened!.stale);
      this.#sessions.set(raw, entry);
    }
    return sessionLive(entry.payload, nowSeconds(), this.#cfg.session_idle_timeout) ? entry : null;
  }

  #cookieAttrs(req: GatewayRequest, s: SessionPayload): { secure: boolean; maxAge: number } {
    return { secure: req.scheme === 'https', maxAge: Math.max(0, s.exp - nowSeconds()) };
  }

  #pathsFor(req: GatewayRequest): RoutePaths {
    if (this.#fixedRoute !== null) return this.#fixedRoute;
    // Access phase: a route matched.
    const route = req.route!;
    let paths = this.#routePaths.get(route.id);
    if (paths === undefined) {
      // kong-oidc derives the callback from each request's URI; an IdP can allow-list `<route path>/cb`.
      const first = route.paths?.[0];
      if (first === undefined || first.startsWith('~')) paths = { callback: '/cb', home: '/' };
      else {
        const base = first.replace(/\/+$/, '');
        paths = { callback: `${base}/cb`, home: `${base}/` };
      }
      this.#routePaths.set(route.id, paths);
    }
    return paths;
  }

  /**
   * `scheme://host[:port]` of the absolute URLs sent to the IdP: the configured `redirect_uri`'s
   * origin, else the route's configured `hosts` (checked against the Host header), else (only
   * when neither is configured, which `validate` warns about) the Host header itself.
   */
  #origin(req: GatewayRequest): string | null {
    if (this.#redirectOrigin !== null) return this.#redirectOrigin;
    const host = req.headers.host;
    const hosts = req.route!.hosts;
    if (hosts !== null && hosts.length > 0) return originFromHosts(hosts, req.scheme, host);
    return originFromHostHeader(req.scheme, host);
  }

  async #unauthenticated(req: GatewayRequest, ours: ReadonlyMap<string, string>): Promise<void> {
    const clear = this.#cookies.clear(req.scheme === 'https', ours);
    if (this.#cfg.unauth_action === 'deny' || !isNavigation(req)) {
      return req.exitError(401, 'Unauthorized', clear.length > 0 ? { 'Set-Cookie': clear } : null, 'NO_CREDENTIALS');
    }
    const returnTo = req.rawQuery === '' ? req.path : `${req.path}?${req.rawQuery}`;
    return this.#startLogin(req, returnTo, clear, await openPendingLogins(this.#sealer, ours.get(this.#loginCookie)));
  }

  /** `older`: the logins other tabs have in progress, kept pending beside this one. */
  async #startLogin(
    req: GatewayRequest,
    returnTo: string,
    setCookies: string[],
    older: LoginPayload[] = [],
  ): Promise<void> {
    const d = await this.#provider.ensure();
    if (d === null) return req.exitError(503, IDP_UNAVAILABLE, null, 'IDP_UNAVAILABLE');
    const origin = this.#origin(req);
    if (origin === null && this.#cfg.redirect_uri === undefined) {
      return req.exitError(400, 'Bad request', null, 'BAD_REQUEST');
    }
    const paths = this.#pathsFor(req);
    const redirectUri = this.#cfg.redirect_uri ?? origin + paths.callback;
    const client = d.client;
    const state = client.randomState();
    const nonce = client.randomNonce();
    const verifier = client.randomPKCECodeVerifier();
    const challenge = await client.calculatePKCECodeChallenge(verifier);
    const url = client.buildAuthorizationUrl(d.config, {
      ...this.#cfg.authorization_params,
      response_type: 'code',
      redirect_uri: redirectUri,
      scope: this.#cfg.scope,
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    // The return path is the client's URL: a long one would make the cookie too big for browsers
    // to keep (and the login would fail at the callback), so past a bound the route's home it is.
    let rt = safeReturnPath(returnTo);
    if (rt.length > MAX_RETURN_PATH) rt = paths.home;
    const login: LoginPayload = {
      v: 1,
      state,
      nonce,
      cv: verifier,
      ru: redirectUri,
      rt,
      exp: nowSeconds() + LOGIN_TTL,
    };
    const secure = req.scheme === 'https';
    let cookie = await loginCookie(this.#sealer, this.#loginCookie, [login, ...older], secure);
    if (cookie.length > MAX_LOGIN_COOKIE && login.rt !== paths.home) {
      login.rt = paths.home;
      cookie = await loginCookie(this.#sealer, this.#loginCookie, [login], secure);
    }
    setCookies.push(cookie);
    this.#log.debug('oidc login started', { return_to: login.rt });
    return req.exit(302, '', { location: url.href, 'Set-Cookie': setCookies, 'Cache-Control': NO_STORE });
  }

  async #callback(req: GatewayRequest, ours: ReadonlyMap<string, string>, paths: RoutePaths): Promise<void> {
    const secure = req.scheme === 'https';
    const rawLogin = ours.get(this.#loginCookie);
    const pending = await openPendingLogins(this.#sealer, ours.get(this.#loginCookie));
    if (pending.length === 0) {
      // No login in progress here (bookmarked callback, expired or foreign login cookie): a
      // browser with a valid session goes home, any other starts over (unless unauth_action is
      // deny: this route never sends a browser to the IdP); nothing is exchanged.
      if (isNavigation(req)) {
        if ((await this.#readSession(ours)) !== null) {
          return req.exit(302, '', { location: paths.home, 'Cache-Control': NO_STORE });
        }
        const clear = rawLogin === undefined ? [] : [clearCookie(this.#loginCookie, secure)];
        if (this.#cfg.unauth_action !== 'deny') return this.#startLogin(req, paths.home, clear);
        const headers = clear.length > 0 ? { 'Set-Cookie': clear } : null;
        return req.exitError(401, 'Unauthorized', headers, 'INVALID_CREDENTIALS');
      }
      return req.exitError(401, 'Unauthorized', null, 'INVALID_CREDENTIALS');
    }
    const q = req.query;
    const login = loginForState(pending, q.get('state'));
    // This login ends here either way; other tabs' logins stay pending. A state no login of this
    // browser has is no callback of ours: every pending login goes, as before a forged callback.
    const clearLogin =
      login === null
        ? clearCookie(this.#loginCookie, secure)
        : await loginCookie(
            this.#sealer,
            this.#loginCookie,
            pending.filter((l) => l !== login),
            secure,
          );
    const error = idpError(q);
    if (error !== null) return this.#loginFailed(req, clearLogin, 'the IdP answered an error', error);
    if (login === null) return this.#loginFailed(req, clearLogin, 'state mismatch');
    if (q.get('code') === null) return this.#loginFailed(req, clearLogin, 'no code');

    const d = await this.#provider.ensure();
    if (d === null) return req.exitError(503, IDP_UNAVAILABLE, null, 'IDP_UNAVAILABLE');
    const done = await this.#exchanges.run(d, login, new URL(`${login.ru}?${req.rawQuery}`));
    if (!done.ok) return this.#loginFailed(req, clearLogin, done.reason, done.fields, done.unavailable);
    const { session, sealed } = done;
    this.#sessions.set(sealed, sessionEntry(session, false));
    const setCookies = this.#cookies.write(sealed, { secure, maxAge: this.#cfg.session_lifetime }, ours);
    setCookies.push(clearLogin);
    this.#log.debug('oidc login completed', { sub: session.sub });
    return req.exit(302, '', {
      location: safeReturnPath(login.rt),
      'Set-Cookie': setCookies,
      'Cache-Control': NO_STORE,
    });
  }

  /** `unavailable`: the IdP could not be asked, which the user's answer should not blame on them. */
  #loginFailed(
    req: GatewayRequest,
    clearLogin: string,
    reason: string,
    fields: Record<string, unknown> = {},
    unavailable = false,
  ): void {
    this.#log.info('oidc login failed', { reason, ...fields });
    const headers: Record<string, HeaderValue> = { 'Set-Cookie': [clearLogin], 'Cache-Control': NO_STORE };
    if (this.#cfg.recovery_page_path !== undefined) {
      return req.exit(302, '', { ...headers, location: this.#cfg.recovery_page_path });
    }
    if (unavailable) return req.exitError(503, IDP_UNAVAILABLE, headers, 'IDP_UNAVAILABLE');
    return req.exitError(401, 'Unauthorized', headers, 'INVALID_CREDENTIALS');
  }

  async #logout(req: GatewayRequest, ours: ReadonlyMap<string, string>): Promise<void> {
    const secure = req.scheme === 'https';
    const raw = this.#cookies.join(ours);
    // An expired session still names the user to the IdP: id_token_hint may be expired.
    const opened = raw === null ? null : await this.#sealer.open<SessionPayload>(raw);
    const setCookies = this.#cookies.clear(secure, ours);
    if (ours.has(this.#loginCookie)) setCookies.push(clearCookie(this.#loginCookie, secure));
    const origin = this.#origin(req);
    let post = this.#postLogout;
    if (post.startsWith('/') && origin !== null) post = origin + post;

    let endpoint = this.#cfg.end_session_endpoint;
    if (endpoint === undefined) {
      const d = this.#provider.current ?? (await this.#provider.ensure());
      endpoint = d?.config.serverMetadata().end_session_endpoint;
    }
    let location = this.#postLogout;
    // The IdP's metadata is not checked by discovery: an endpoint that is not a URL is none.
    const url = endpoint === undefined || !URL.canParse(endpoint) ? null : new URL(endpoint);
    if (url !== null) {
      if (url.pathname.endsWith('/v2/logout')) {
        // Auth0's legacy logout endpoint speaks its own parameter names.
        url.searchParams.set('client_id', this.#cfg.client_id);
        url.searchParams.set('returnTo', post);
      } else {
        if (opened !== null && typeof opened.payload.it === 'string')
          url.searchParams.set('id_token_hint', opened.payload.it);
        url.searchParams.set('client_id', this.#cfg.client_id);
        url.searchParams.set('post_logout_redirect_uri', post);
      }
      location = url.href;
    }
    this.#log.debug('oidc logout', { idp: url !== null });
    return req.exit(302, '', { location, 'Set-Cookie': setCookies, 'Cache-Control': NO_STORE });
  }

  /** bearer_only: the token's identity, or the answer that refuses it (never a redirect). */
  async #bearer(req: GatewayRequest): Promise<void> {
    const challenge = `Bearer realm="${this.#cfg.realm}"`;
    const token = bearerToken(req);
    if (token === null) return req.exitError(401, 'Unauthorized', { 'WWW-Authenticate': challenge }, 'NO_CREDENTIALS');
    const claims = await this.#tokens.verify(token);
    if (claims === undefined) return req.exitError(503, IDP_UNAVAILABLE, null, 'IDP_UNAVAILABLE');
    const invalid = { 'WWW-Authenticate': `${challenge}, error="invalid_token"` };
    if (claims === null) return req.exitError(401, 'Unauthorized', invalid, 'INVALID_CREDENTIALS');
    authenticateBearer(req, claims, this.#send.userinfo);
  }

  /**
   * kong-oidc: with an introspection_endpoint and no bearer_only, a bearer token is introspected
   * first; a token that is not active (or cannot be checked) falls through to the session.
   */
  async #bearerOrSession(req: GatewayRequest, ours: ReadonlyMap<string, string>, token: string): Promise<void> {
    const claims = await this.#tokens.verify(token);
    if (claims === null || claims === undefined) return this.#session(req, ours);
    authenticateBearer(req, claims, this.#send.userinfo);
  }
}

/** Fields of kong-oidc forks that Tollgate's `oidc` names differently, refused with the way out. */
const FORK_FIELDS: Readonly<Record<string, string>> = {
  cookie_name: 'a kong-oidc fork field: Tollgate calls it `session_cookie_name`',
  encryption_secret: 'a kong-oidc fork field: Tollgate encrypts sessions with `session_secret`',
  session_secret_key: 'a kong-oidc fork field: Tollgate calls it `session_secret`',
  redirect_after_logout_with_id_token_hint:
    'a kong-oidc fork field: Tollgate always sends id_token_hint to the end_session_endpoint; set `redirect_after_logout_uri`',
  logout_redirect_uri: 'a kong-oidc fork field: Tollgate calls it `redirect_after_logout_uri`',
  session_lifetime_seconds: 'a kong-oidc fork field: Tollgate calls it `session_lifetime`',
  validate_scope: 'a kong-oidc fork field: check scopes with the `jwt-claims` plugin',
  header_names: 'a kong-oidc fork field: map claims to headers with `jwt-claims` forward_claims',
  header_claims: 'a kong-oidc fork field: map claims to headers with `jwt-claims` forward_claims',
  use_jwks:
    "a kong-oidc fork field: bearer tokens are verified against the discovery document's JWKS with `bearer_only`",
  groups_claim: 'a kong-oidc fork field: check groups with the `jwt-claims` plugin',
  skip_already_auth_requests: 'a kong-oidc fork field: not supported',
  ignore_auth_filters: 'a kong-oidc fork field: Tollgate calls it `filters`',
};

export default definePlugin<OidcConfig>({
  name: 'oidc',
  version: '1.0.0',
  // kong-oidc's priority: after jwt (1450) and key-auth (1250), before acl (950).
  priority: 1000,
  schema,
  configIssues: (config) => renamedFieldIssues(config, FORK_FIELDS),
  consumerScoped: false,
  async create(config, context) {
    const instance = new OidcInstance(config, context);
    await instance.checkFilters(context.log);
    return instance.handlers;
  },
});
