/**
 * The `session` plugin: Kong 3's session plugin with cookie storage. When an authentication
 * plugin on the route identified a consumer, the response carries an encrypted cookie naming that
 * consumer and credential; later requests with the cookie are authenticated from it (auth plugins
 * configured with `anonymous` then let them through, as in Kong). The cookie is sealed with
 * `SessionSealer` (the library module oidc uses), so every instance sharing `secret` reads it.
 * A request with `logout_query_arg` (or `logout_post_arg`) on one of `logout_methods` ends the
 * session. See docs/plugins/session.md.
 */
import { randomBytes } from 'node:crypto';
import schema from '../../../schemas/plugins/session.schema.json' with { type: 'json' };
import type {
  Consumer,
  ConsumerDirectory,
  GatewayRequest,
  GatewayResponse,
  HeaderValue,
  PluginConfigIssue,
  PluginHandlers,
} from '../../index.ts';
import {
  definePlugin,
  multipartBoundary,
  PluginConfigError,
  parseMultipart,
  partIs,
  runSecret,
  SessionSealer,
  trimAsciiSpace,
  utf8HeaderText,
} from '../../index.ts';
import { ChunkedCookie, COOKIE_PAIR_LIMIT, type CookieJar, CookieReader } from '../../lib/chunked-cookie.ts';

/** The session plugin's config, defaults applied. */
export interface SessionConfig {
  secret?: string;
  storage: 'cookie' | 'kong';
  audience: string;
  idling_timeout: number;
  rolling_timeout: number;
  absolute_timeout: number;
  cookie_name: string;
  cookie_path: string;
  cookie_domain?: string | null;
  cookie_same_site: 'Strict' | 'Lax' | 'None' | 'Default';
  cookie_http_only: boolean;
  cookie_secure: boolean;
  remember: boolean;
  remember_cookie_name: string;
  remember_rolling_timeout: number;
  remember_absolute_timeout: number;
  read_body_for_logout: boolean;
  logout_methods: string[];
  logout_query_arg: string;
  logout_post_arg: string;
  cookie_lifetime?: number;
  cookie_idletime?: number;
  cookie_samesite?: 'Strict' | 'Lax' | 'None' | 'off';
  cookie_httponly?: boolean;
  cookie_persistent?: boolean;
  request_headers?: SessionHeader[] | null;
  response_headers?: SessionHeader[] | null;
}

/** What Kong 3's `request_headers` / `response_headers` can send (lua-resty-session's set_headers). */
type SessionHeader =
  | 'id'
  | 'audience'
  | 'subject'
  | 'timeout'
  | 'idling-timeout'
  | 'rolling-timeout'
  | 'absolute-timeout';

/** lua-resty-session's header names. */
const HEADER_NAMES: Readonly<Record<SessionHeader, string>> = {
  id: 'Session-Id',
  audience: 'Session-Audience',
  subject: 'Session-Subject',
  timeout: 'Session-Timeout',
  'idling-timeout': 'Session-Idling-Timeout',
  'rolling-timeout': 'Session-Rolling-Timeout',
  'absolute-timeout': 'Session-Absolute-Timeout',
};

/** Kong's priority for session: before the authentication plugins. */
export const SESSION_PRIORITY = 1900;

/** The largest body read for a logout argument (Kong reads the body the client sent). */
const LOGOUT_BODY_LIMIT = 64 * 1024;
/**
 * The cookies a session is split over. lua-resty-session 4 (Kong 3) stores a session whose
 * `name=value` would pass 4096 bytes in `name`, `name2`, `name3`, ... (up to `name9`), each
 * `name=value` filled to 4096 bytes. The gateway reads at most 32 KiB of request headers, so six
 * here (24 KiB): a bigger session, sent on every request, would be refused with 431 until the
 * browser dropped it, logout included.
 */
const MAX_CHUNKS = 6;
/**
 * With `remember`, both cookies come back on every request, so they share those six: three each
 * (12 KiB). Six of each would be a 48 KiB Cookie header, answered 431 on every request, logout
 * included, until the remember cookie expired (a week by default).
 */
const REMEMBER_CHUNKS = MAX_CHUNKS / 2;
const CTX = 'session';
/**
 * lua-resty-session 4 (Kong 3's session plugin sets no other) deflates a session's JSON longer
 * than its `compression_threshold`, 1024 bytes, before encrypting it, and keeps it deflated when
 * that is shorter: a session of many groups reaches a second chunk later than it would as it is.
 */
const DEFLATE_ABOVE = 1024;
/**
 * How far a sealed session may inflate when it is read. A session's JSON longer than this is
 * sealed as it is (SessionSealer never deflates past the bound it reads with), and its cookie
 * would then be longer than the chunks hold: not stored, as any session too large for them.
 */
const MAX_INFLATED = 64 * 1024;
const SEALER_OPTIONS = { deflateAbove: DEFLATE_ABOVE, maxInflated: MAX_INFLATED } as const;

/** What the cookie holds. Times are seconds since the epoch. */
interface Payload {
  /** session id (random, kept when the session is renewed); absent in cookies of older versions */
  i?: string;
  /** consumer id */
  c: string;
  /** credential id and the plugin that verified it */
  r: string;
  t: string;
  /** the groups an authentication plugin set (`authenticated_groups`) at sign-in, when it set any */
  g?: string[];
  /** audience */
  a: string;
  /** created, renewed (rolling), last used (idling) */
  iat: number;
  rat: number;
  uat: number;
}

interface State {
  payload: Payload | null;
  /** The cookies of ours the client sent, by name: what a new cookie replaces or a logout expires. */
  jar: CookieJar;
  /** The client sent a session cookie or chunk (valid or not). */
  present: boolean;
  /** The client sent a remember cookie or chunk (valid or not), and the valid one's content. */
  rememberPresent: boolean;
  remembered: Payload | null;
  /** `payload` was restored from the remember cookie: a new session cookie is due. */
  restored: boolean;
}

/** The longest Max-Age browsers keep (400 days); lua-resty-session's cap, and what 0 means. */
const MAX_TTL = 34_560_000;

/**
 * How lua-resty-session 4 removes a cookie: an Expires in the past beside Max-Age=0, for clients
 * that know only Expires (RFC 6265 5.3: Max-Age wins where both are understood).
 */
const EXPIRED = '; Expires=Thu, 01 Jan 1970 00:00:01 GMT; Max-Age=0';

/** lua-resty-session 4's cookies of `name`: `name`, `name2`, ..., each `name=value` at most 4096 bytes. */
function chunkedCookie(name: string, chunks = MAX_CHUNKS): ChunkedCookie {
  const names = [name];
  for (let i = 2; i <= chunks; i++) names.push(`${name}${i}`);
  return new ChunkedCookie(name, names, (n) => COOKIE_PAIR_LIMIT - n.length - 1, SessionSealer.whole);
}

/** Whether the session's and the remember cookie's chunks would overwrite each other (`session` and `session2`). */
function chunksOverlap(a: string, b: string): boolean {
  const names = new Set(chunkedCookie(a, REMEMBER_CHUNKS).names);
  return chunkedCookie(b, REMEMBER_CHUNKS).names.some((n) => names.has(n));
}

/** Folds Kong 2's field names into Kong 3's, as Kong 3 does. */
function shorthands(c: SessionConfig): void {
  if (c.cookie_lifetime !== undefined) c.rolling_timeout = c.cookie_lifetime;
  if (c.cookie_idletime !== undefined) c.idling_timeout = c.cookie_idletime;
  // Kong 3's shorthand turns Kong 2's 'off' into Lax (what browsers assumed of Kong 2's missing attribute).
  if (c.cookie_samesite !== undefined) c.cookie_same_site = c.cookie_samesite === 'off' ? 'Lax' : c.cookie_samesite;
  if (c.cookie_httponly !== undefined) c.cookie_http_only = c.cookie_httponly;
  if (c.cookie_persistent !== undefined) c.remember = c.cookie_persistent;
}

class Session implements PluginHandlers {
  private readonly attributes: string;
  /** What follows `name=` in a Set-Cookie that removes a cookie. */
  private readonly expired: string;
  private readonly logoutMethods: ReadonlySet<string>;
  private readonly session: ChunkedCookie;
  /** The remember cookie, when `remember` is on (else it is neither read nor written). */
  private readonly rememberCookie: ChunkedCookie | null;
  private readonly reader: CookieReader;
  private readonly rememberMaxAge: number;
  private readonly requestHeaders: readonly SessionHeader[];
  /** Lower-case names of the `request_headers` the route sends upstream, removed from what the client sent. */
  private readonly strippedHeaders: readonly string[];
  private readonly responseHeaders: readonly SessionHeader[];

  constructor(
    private readonly config: SessionConfig,
    private readonly sealer: SessionSealer,
    /** Seals the remember cookie: another key, so neither cookie passes for the other. */
    private readonly rememberSealer: SessionSealer,
    private readonly consumers: ConsumerDirectory,
  ) {
    // In lua-resty-session 4's order (Domain, Path, SameSite, Secure, HttpOnly): Kong's own tests,
    // and tests users ported from them, read the attributes by position.
    // lua-resty-session 4 leaves out Domain=localhost (not every browser keeps a cookie that names
    // it): a host-only cookie reaches localhost all the same.
    const domain = config.cookie_domain;
    let attrs = domain != null && domain !== 'localhost' ? `; Domain=${domain}` : '';
    attrs += `; Path=${config.cookie_path}`;
    if (config.cookie_same_site !== 'Default') attrs += `; SameSite=${config.cookie_same_site}`;
    // Browsers drop a SameSite=None cookie without Secure, so the session would never come back:
    // lua-resty-session 4 (Kong 3) sets Secure whenever SameSite is None, whatever cookie_secure says.
    if (config.cookie_secure || config.cookie_same_site === 'None') attrs += '; Secure';
    if (config.cookie_http_only) attrs += '; HttpOnly';
    this.attributes = attrs;
    this.expired = `${attrs}${EXPIRED}`;
    this.logoutMethods = new Set(config.logout_methods);
    const chunks = config.remember ? REMEMBER_CHUNKS : MAX_CHUNKS;
    this.session = chunkedCookie(config.cookie_name, chunks);
    this.rememberCookie = config.remember ? chunkedCookie(config.remember_cookie_name, chunks) : null;
    this.reader = new CookieReader([...this.session.names, ...(this.rememberCookie?.names ?? [])]);
    const ttl = config.remember_rolling_timeout;
    this.rememberMaxAge = ttl === 0 || ttl > MAX_TTL ? MAX_TTL : Math.floor(ttl);
    const requested = [...new Set(config.request_headers ?? [])];
    this.requestHeaders = requested;
    this.strippedHeaders = requested.map((h) => HEADER_NAMES[h].toLowerCase());
    this.responseHeaders = [...new Set(config.response_headers ?? [])];
  }

  /** A header's value for a session, or null when it has none (a timeout that is off). */
  private headerValue(h: SessionHeader, p: Payload, consumer: Consumer, now: number): string | null {
    const c = this.config;
    const left = (timeout: number, since: number): number | null =>
      timeout > 0 ? Math.max(0, timeout - (now - since)) : null;
    switch (h) {
      case 'id':
        return p.i ?? null;
      case 'audience':
        return p.a;
      case 'subject':
        // Kong 3 (since 3.2) names the session's subject after its consumer: username, else custom_id, else id.
        return consumer.username ?? consumer.custom_id ?? consumer.id;
      case 'idling-timeout':
        return str(left(c.idling_timeout, p.uat));
      case 'rolling-timeout':
        return str(left(c.rolling_timeout, p.rat));
      case 'absolute-timeout':
        return str(left(c.absolute_timeout, p.iat));
      case 'timeout': {
        const all = [left(c.idling_timeout, p.uat), left(c.rolling_timeout, p.rat), left(c.absolute_timeout, p.iat)];
        const set = all.filter((x): x is number => x !== null);
        return set.length === 0 ? null : String(Math.min(...set));
      }
      default:
        return null;
    }
  }

  async access(req: GatewayRequest): Promise<void> {
    // The upstream reads these as the gateway's word on the session: a client's copy never reaches it.
    for (const name of this.strippedHeaders) req.removeUpstreamHeader(name);
    const { jar, rest } = this.reader.read(req.headers.cookie);
    if (rest === null) return;
    // The session is the gateway's: its cookies are not sent upstream.
    if (rest === '') req.removeUpstreamHeader('cookie');
    else req.setUpstreamHeader('cookie', rest);
    const present = this.session.present(jar);
    const rememberPresent = this.rememberCookie?.present(jar) === true;
    const value = present ? this.session.join(jar) : null;
    const rememberValue = rememberPresent ? this.rememberCookie!.join(jar) : null;
    let payload = value === null ? null : await this.openCookie(value);
    const remembered = rememberValue === null ? null : await this.openRemember(rememberValue);
    let restored = false;
    if (payload === null && remembered !== null) {
      // lua-resty-session 4: without a valid session, a valid remember cookie starts a new one.
      const now = Math.floor(Date.now() / 1000);
      payload = { ...remembered, i: randomBytes(32).toString('base64url'), iat: now, rat: now, uat: now };
      restored = true;
    }
    const state: State = { payload, jar, present, rememberPresent, remembered, restored };
    req.ctx[CTX] = state;
    if (payload !== null && (await this.isLogout(req))) {
      // lua-resty-session 4's logout: the session cookie and the remember cookie removed, with every chunk.
      const cleared = this.expire(this.session, jar);
      if (this.rememberCookie !== null) cleared.push(...this.expire(this.rememberCookie, jar));
      return req.exit(200, undefined, { 'Set-Cookie': cleared });
    }
    if (payload === null) return;
    const consumer = this.consumers.find(payload.c);
    // A session naming a consumer that is gone from the config is destroyed (Kong).
    if (consumer === null || consumer.id !== payload.c) {
      state.payload = null;
      state.remembered = null;
      return;
    }
    req.authenticate(consumer, { id: payload.r, type: payload.t, identifier: payload.r, consumer_id: consumer.id });
    if (payload.g !== undefined) {
      // Kong keeps the groups of the sign-in in the session and restores them (acl reads them), with
      // X-Authenticated-Groups upstream as the authentication plugin sent it.
      req.ctx.authenticated_groups = payload.g;
      req.setUpstreamHeader('x-authenticated-groups', utf8HeaderText(payload.g.join(', ')));
    }
    if (this.requestHeaders.length > 0) {
      const now = Math.floor(Date.now() / 1000);
      for (const h of this.requestHeaders) {
        const v = this.headerValue(h, payload, consumer, now);
        if (v !== null) req.setUpstreamHeader(HEADER_NAMES[h], v);
      }
    }
  }

  /**
   * Set-Cookie values removing `cookie`: its first name whether the client sent it or not (as
   * lua-resty-session 4's destroy does), and every chunk of it the client sent.
   */
  private expire(cookie: ChunkedCookie, jar: CookieJar): string[] {
    const out = cookie.clear(jar, this.expired);
    const name = cookie.names[0]!;
    if (!jar.has(name)) out.unshift(`${name}=${this.expired}`);
    return out;
  }

  private openCookie(value: string): Promise<Payload | null> {
    const c = this.config;
    return this.openSealed(this.sealer, value, c.absolute_timeout, c.rolling_timeout, c.idling_timeout);
  }

  /** A remember cookie's content while `remember_rolling_timeout` and `remember_absolute_timeout` allow. */
  private openRemember(value: string): Promise<Payload | null> {
    const c = this.config;
    return this.openSealed(this.rememberSealer, value, c.remember_absolute_timeout, c.remember_rolling_timeout, 0);
  }

  /** A cookie's payload, if it opens with `sealer`, names this audience and is within the timeouts given (0: none). */
  private async openSealed(
    sealer: SessionSealer,
    value: string,
    absolute: number,
    rolling: number,
    idling: number,
  ): Promise<Payload | null> {
    const opened = await sealer.open<Payload>(value);
    if (opened === null) return null;
    const p = opened.payload;
    if (typeof p.c !== 'string' || typeof p.r !== 'string' || p.a !== this.config.audience) return null;
    if (p.g !== undefined && !isGroups(p.g)) return null;
    const now = Math.floor(Date.now() / 1000);
    if (absolute > 0 && now - p.iat > absolute) return null;
    if (rolling > 0 && now - p.rat > rolling) return null;
    if (idling > 0 && now - p.uat > idling) return null;
    return p;
  }

  private async isLogout(req: GatewayRequest): Promise<boolean> {
    if (!this.logoutMethods.has(req.method)) return false;
    if (req.rawQuery !== '' && req.query.has(this.config.logout_query_arg)) return true;
    // Kong reads a body for logout on POST and DELETE only (of the logout methods), as a form, a
    // multipart form or JSON (kong.request.get_body); a media type is case-insensitive.
    if (!this.config.read_body_for_logout || req.method === 'GET') return false;
    const ct = req.headers['content-type'];
    const len = Number(req.headers['content-length']);
    if (typeof ct !== 'string') return false;
    const type = trimAsciiSpace(ct.split(';')[0]!).toLowerCase();
    const form = type === 'application/x-www-form-urlencoded';
    const boundary = type === 'multipart/form-data' ? multipartBoundary(ct) : null;
    if (!form && boundary === null && type !== 'application/json' && !type.endsWith('+json')) return false;
    if (!Number.isInteger(len) || len <= 0 || len > LOGOUT_BODY_LIMIT) return false;
    // Read once, and kept as the body the upstream gets.
    const body = await req.readBody(LOGOUT_BODY_LIMIT);
    if (body === null) return false;
    const arg = this.config.logout_post_arg;
    if (form) return new URLSearchParams(body.toString('utf8')).has(arg);
    if (boundary !== null) return parseMultipart(body, boundary)?.some((part) => partIs(part, arg)) === true;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return false;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Object.hasOwn(parsed, arg))
      return false;
    // Lua's truth: any value but false (JSON null decodes to cjson.null, which is true).
    return (parsed as Record<string, unknown>)[arg] !== false;
  }

  async response(req: GatewayRequest, res: GatewayResponse): Promise<void> {
    const state = req.ctx[CTX] as State | undefined;
    const credential = req.credential;
    const consumer = req.consumer;
    if (credential === null || consumer === null) {
      // An invalid or expired cookie is removed, every chunk of it; anonymous requests never open sessions.
      if (state === undefined) return;
      if (state.present && (state.payload === null || state.restored))
        append(res, this.session.clear(state.jar, this.expired));
      if (this.rememberCookie !== null && state.rememberPresent && state.remembered === null)
        append(res, this.rememberCookie.clear(state.jar, this.expired));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const p = state?.payload ?? null;
    const jar = state?.jar ?? NO_COOKIES;
    const same = p !== null && p.c === consumer.id && p.r === credential.id;
    if (same && state?.restored) {
      // A session restored from the remember cookie: a new session cookie, the remember one renewed.
      await this.issue(res, p, consumer, now, jar);
      return this.remember(res, { ...state.remembered!, rat: now }, jar);
    }
    if (same) {
      // Renew while in use: the idling clock at most once a minute, the rolling one near its end.
      const idle = this.config.idling_timeout > 0 && now - p.uat >= Math.min(60, this.config.idling_timeout / 2);
      const rolling = this.config.rolling_timeout > 0 && now - p.rat >= this.config.rolling_timeout / 2;
      if (!idle && !rolling) return this.describe(res, p, consumer, now);
      await this.issue(res, { ...p, uat: now, rat: rolling ? now : p.rat }, consumer, now, jar);
      // A valid remember cookie's rolling window follows the session's renewals; its absolute one
      // stays (a new remember cookie is only minted at sign-in, or remember_absolute_timeout would not bound it).
      if (rolling && state?.remembered) await this.remember(res, { ...state.remembered, rat: now }, jar);
      return;
    }
    const fresh: Payload = {
      i: randomBytes(32).toString('base64url'),
      c: consumer.id,
      r: credential.id,
      t: credential.type,
      a: this.config.audience,
      iat: now,
      rat: now,
      uat: now,
    };
    const groups = req.ctx.authenticated_groups;
    if (isGroups(groups) && groups.length > 0) fresh.g = [...groups];
    if (await this.issue(res, fresh, consumer, now, jar)) await this.remember(res, fresh, jar);
  }

  /**
   * The session cookie: a browser-session cookie, as lua-resty-session 4 sets it (remember or not),
   * split into chunks past 4096 bytes; the chunks of a longer session the client holds are removed.
   * None when it would be longer than MAX_CHUNKS hold (only groups can make it so): the client then
   * signs in again, and its authentication plugin sets the groups again (a session without some
   * of them could pass an acl deny list); the session cookies it holds are removed.
   */
  private async issue(
    res: GatewayResponse,
    payload: Payload,
    consumer: Consumer,
    now: number,
    jar: CookieJar,
  ): Promise<boolean> {
    const sealed = await this.sealer.seal(payload);
    const cookies = this.session.write(sealed, this.attributes, this.expired, jar);
    if (cookies === null) {
      append(res, this.session.clear(jar, this.expired));
      return false;
    }
    append(res, cookies);
    this.describe(res, payload, consumer, now);
    return true;
  }

  /** With `remember`, the persistent cookie that starts a new session once the session cookie is gone or expired. */
  private async remember(res: GatewayResponse, payload: Payload, jar: CookieJar): Promise<void> {
    const cookie = this.rememberCookie;
    if (cookie === null) return;
    const { i: _, ...kept } = payload;
    const sealed = await this.rememberSealer.seal(kept);
    // Expires beside Max-Age, as lua-resty-session 4 writes a persistent cookie (on every chunk):
    // clients that know only Expires (RFC 6265 5.3) would otherwise drop it when the browser closes.
    const expires = new Date(Date.now() + this.rememberMaxAge * 1000).toUTCString();
    const attributes = `${this.attributes}; Expires=${expires}; Max-Age=${this.rememberMaxAge}`;
    append(res, cookie.write(sealed, attributes, this.expired, jar) ?? cookie.clear(jar, this.expired));
  }

  /** Kong 3's `response_headers`: what the client may know of its session. */
  private describe(res: GatewayResponse, p: Payload, consumer: Consumer, now: number): void {
    for (const h of this.responseHeaders) {
      const v = this.headerValue(h, p, consumer, now);
      if (v !== null) res.setHeader(HEADER_NAMES[h], v);
    }
  }
}

/** `authenticated_groups` as Kong's acl reads them: a list of strings. */
function isGroups(g: unknown): g is string[] {
  return Array.isArray(g) && g.every((x) => typeof x === 'string');
}

function str(n: number | null): string | null {
  return n === null ? null : String(n);
}

const NO_COOKIES: CookieJar = new Map();

/** Adds Set-Cookie values after those already on the response (the upstream's are kept). */
function append(res: GatewayResponse, cookies: readonly string[]): void {
  if (cookies.length === 0) return;
  const prev: HeaderValue | undefined = res.headers['set-cookie'];
  res.setHeader(
    'Set-Cookie',
    prev === undefined ? [...cookies] : [...(typeof prev === 'string' ? [prev] : prev), ...cookies],
  );
}

/**
 * Kong Gateway's bind: without it a session cookie is honoured from any client, as in Kong when
 * bind is unset, so only an empty list loads.
 */
function configIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  if (!Array.isArray(config.bind) || config.bind.length === 0) return [];
  return [
    {
      at: ['bind'],
      message:
        "bind: binding a session to the client's ip, scheme or user-agent (Kong Gateway 3.12, Enterprise) is not implemented, and ignoring it would honour a stolen session cookie from any client: remove bind (or set it to []) to run sessions unbound, as Kong OSS does",
      severity: 'error',
    },
  ];
}

export default definePlugin<SessionConfig>({
  name: 'session',
  version: '1.0.0',
  priority: SESSION_PRIORITY,
  schema,
  configIssues,
  consumerScoped: false,
  create(config, context) {
    shorthands(config);
    if (config.storage === 'kong')
      throw new PluginConfigError(
        'storage',
        "storage 'kong' keeps sessions in Kong's database, which DB-less Kong has not either; use storage: cookie (sessions stay encrypted in the cookie)",
      );
    const binding = `session|${config.cookie_name}|${config.audience}`;
    let secret = config.secret;
    if (secret === undefined) {
      // Kong's default is random too; ours stays the same across reloads and workers of this run.
      secret = runSecret(`session secret\u0000${binding}`);
      context.warn(
        'no secret: sessions are sealed with a random secret generated at start, so they will not survive a restart and are not shared between instances; set secret (e.g. ${SESSION_SECRET}) to keep them',
        'secret',
      );
    }
    if (config.remember && config.remember_cookie_name === config.cookie_name)
      throw new PluginConfigError('remember_cookie_name', 'must differ from cookie_name: they are two cookies');
    if (config.remember && chunksOverlap(config.cookie_name, config.remember_cookie_name))
      throw new PluginConfigError(
        'remember_cookie_name',
        `must not name a chunk of cookie_name, nor cookie_name one of it: a cookie past 4096 bytes is split into ${config.cookie_name}, ${config.cookie_name}2, ... ${config.cookie_name}${REMEMBER_CHUNKS} (and ${config.remember_cookie_name}, ${config.remember_cookie_name}2, ...)`,
      );
    const sealer = new SessionSealer([secret], binding, SEALER_OPTIONS);
    // NUL cannot be in a cookie name or an audience, so this binding is never a session cookie's.
    const rememberSealer = new SessionSealer(
      [secret],
      `session remember\u0000${config.remember_cookie_name}\u0000${config.audience}`,
      SEALER_OPTIONS,
    );
    return new Session(config, sealer, rememberSealer, context.services.consumers);
  },
});
