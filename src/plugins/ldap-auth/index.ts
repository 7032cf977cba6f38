/**
 * The `ldap-auth` plugin: Kong 3's ldap-auth. A request carries
 * `Authorization: <header_type> base64(user:password)` (or `Proxy-Authorization`); the gateway binds
 * to the LDAP server as `<attribute>=<user>,<base_dn>` with the password, and a successful bind
 * authenticates the request (credential: the user name). Bind results are remembered for
 * `cache_ttl` seconds (0: until evicted) in a bounded LRU keyed by a digest of user and password. ldapjs is loaded
 * the first time a bind is needed. See docs/plugins/ldap-auth.md.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import schema from '../../../schemas/plugins/ldap-auth.schema.json' with { type: 'json' };
import type { Consumer, GatewayRequest, HeaderValue, PluginHandlers, PluginLogger } from '../../index.ts';
import {
  anonymousConsumer,
  configHeaderValue,
  definePlugin,
  firstHeader,
  hasHeaderControlChar,
  PluginConfigError,
  trimAsciiSpace,
  utf8HeaderText,
} from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';
import { bind, escapeDnValue } from './bind.ts';

/** The ldap-auth plugin's config, defaults applied. */
export interface LdapAuthConfig {
  ldap_host: string;
  ldap_port: number;
  ldaps: boolean;
  start_tls: boolean;
  verify_ldap_host: boolean;
  base_dn: string;
  attribute: string;
  cache_ttl: number;
  hide_credentials: boolean;
  timeout: number;
  keepalive: number;
  anonymous?: string | null;
  header_type: string;
  realm?: string | null;
}

/** Kong's priority for ldap-auth. */
export const LDAP_AUTH_PRIORITY = 1200;

/**
 * What `timeout: 0` means: Kong's `sock:settimeout(0)` leaves the cosocket on nginx's
 * lua_socket_connect/send/read_timeout, 60 s each by default (lua-nginx-module). Taken as given, 0
 * failed every bind by a host name at once and waited without end on a silent directory.
 */
export const SOCKET_DEFAULT_TIMEOUT_MS = 60_000;

/** Bind results remembered per plugin instance. */
export const LDAP_CACHE_ENTRIES = 10_000;
/** Longest credential header looked at; longer ones are not credentials Kong would accept either. */
const MAX_HEADER = 4096;

const UNAUTHORIZED = { message: 'Unauthorized' };
const UNEXPECTED = { message: 'An unexpected error occurred' };

interface Given {
  readonly user: string;
  readonly password: string;
}

/**
 * Binds waiting on the directory at once, per plugin instance. Each distinct pair of credentials
 * not cached opens a connection held up to `timeout`: without a cap, a client sending new
 * credentials faster than a slow directory answers would open sockets without end. Past it a
 * request that needs a bind gets 503 at once (a bind already under way for the same credentials
 * is shared, and cached results need none).
 */
export const MAX_CONCURRENT_BINDS = 64;

/** The bind was not attempted: MAX_CONCURRENT_BINDS are waiting on the directory. */
class DirectoryBusy extends Error {}

class LdapAuth implements PluginHandlers {
  /**
   * Bind results by the credentials' digest, made at the first bind: lru-cache allocates its
   * index for every entry up front, which 1,000 routes with ldap-auth would pay at load.
   */
  private cache: LRUCache<string, boolean> | null = null;
  /** Binds in flight, so concurrent requests with the same credentials bind once. */
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly scheme: RegExp;
  private readonly challenge: Readonly<Record<string, HeaderValue>>;
  /**
   * A directory that is down fails every bind (nothing is cached for it): one error line a second,
   * with the count since the last one, not a line per request.
   */
  private readonly bindFailed: RepeatedWarning;
  /** The config as bind reads it, `timeout` resolved. */
  private readonly settings: LdapAuthConfig;

  constructor(
    private readonly config: LdapAuthConfig,
    private readonly anonymous: Consumer | null,
    logger: PluginLogger,
  ) {
    this.bindFailed = new RepeatedWarning(logger, 'LDAP bind failed', 1000, 'error');
    this.settings = config.timeout > 0 ? config : { ...config, timeout: SOCKET_DEFAULT_TIMEOUT_MS };
    const type = config.header_type.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    this.scheme = new RegExp(`^\\s*${type}\\s+`, 'i');
    // Kong writes the default scheme capitalized in the challenge, with a realm only when one is
    // set (3.8, which added the field). Both go into a header: checked at load, as the other
    // plugins' realms are (a line break made every refusal a 500).
    const scheme = configHeaderValue(config.header_type === 'ldap' ? 'LDAP' : config.header_type, 'header_type');
    const realm = config.realm == null ? null : configHeaderValue(config.realm, 'realm');
    this.challenge = { 'WWW-Authenticate': realm === null ? scheme : `${scheme} realm="${realm}"` };
  }

  access(req: GatewayRequest): void | Promise<void> {
    if (this.anonymous !== null && req.credential !== null) return;
    // The first line of a repeated header, as Kong's kong.request.get_header reads it.
    const proxyAuth = firstHeader(req, 'proxy-authorization');
    const auth = firstHeader(req, 'authorization');
    if (proxyAuth === undefined && auth === undefined) return this.fail(req);
    // Kong tries Proxy-Authorization, then Authorization when that one does not authenticate
    // (malformed, or refused by the directory).
    const candidates = [this.parse(proxyAuth), this.parse(auth)].filter((g): g is Given => g !== null);
    if (candidates.length === 0) return this.fail(req);
    return this.first(candidates).then(
      (given) => (given !== null ? this.pass(req, given) : this.fail(req)),
      (err: unknown) => {
        if (err instanceof DirectoryBusy)
          return req.exitError(503, 'Service Temporarily Unavailable', null, 'LDAP_BUSY');
        this.bindFailed.report({ error: err instanceof Error ? err.message : String(err) });
        req.exitError(500, UNEXPECTED.message, null, 'LDAP_UNAVAILABLE');
      },
    );
  }

  /** The first of `candidates` the directory accepts, or null. */
  private async first(candidates: readonly Given[]): Promise<Given | null> {
    for (const given of candidates) if (await this.check(given)) return given;
    return null;
  }

  /**
   * `user:password` from the header. The user is everything before the first colon and the
   * password may hold colons: RFC 7617 keeps `:` out of user-ids, and Kong splits so since 2.7
   * (`(.-):(.+)`, then `^(.*?):(.+)$`), when it stopped binding `user:pass` with `word`.
   */
  private parse(value: string | undefined): Given | null {
    if (value === undefined || value.length > MAX_HEADER) return null;
    const m = this.scheme.exec(value);
    if (m === null) return null;
    const decoded = Buffer.from(trimAsciiSpace(value.slice(m[0].length)), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0 || colon === decoded.length - 1) return null;
    // The user name is sent upstream in a header, which cannot carry CR, LF or NUL: such a name is
    // no credential (it is not bound either).
    if (hasHeaderControlChar(decoded.slice(0, colon))) return null;
    return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }

  private check(given: Given): Promise<boolean> {
    const key = createHash('sha256').update(given.user).update('\0').update(given.password).digest('base64');
    const cached = this.cache?.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let p = this.pending.get(key);
    if (p === undefined) {
      if (this.pending.size >= MAX_CONCURRENT_BINDS) return Promise.reject(new DirectoryBusy());
      const dn = `${this.config.attribute}=${escapeDnValue(given.user)},${this.config.base_dn}`;
      p = bind(this.settings, dn, given.password).then(
        (ok) => {
          this.pending.delete(key);
          this.cache ??= new LRUCache<string, boolean>({
            max: LDAP_CACHE_ENTRIES,
            // Kong hands cache_ttl to its mlcache as ttl and neg_ttl, where 0 means "never expire";
            // so does lru-cache's 0. Its TTL is whole milliseconds: a fraction of one is rounded up.
            ttl: Math.ceil(this.config.cache_ttl * 1000),
          });
          this.cache.set(key, ok);
          return ok;
        },
        (err: unknown) => {
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, p);
    }
    return p;
  }

  private pass(req: GatewayRequest, given: Given): void {
    if (this.config.hide_credentials) {
      req.removeUpstreamHeader('authorization');
      req.removeUpstreamHeader('proxy-authorization');
    }
    req.authenticate(null, { id: given.user, type: 'ldap-auth', identifier: given.user, consumer_id: null });
    // Any UTF-8 text (`日本`), sent as its bytes as Kong does; past U+00FF the header threw (500).
    req.setUpstreamHeader('x-credential-username', utf8HeaderText(given.user));
  }

  private fail(req: GatewayRequest): void {
    if (this.anonymous !== null) {
      req.authenticate(this.anonymous, null, true);
      return;
    }
    req.exitError(401, UNAUTHORIZED.message, this.challenge, 'INVALID_CREDENTIALS');
  }
}

export default definePlugin<LdapAuthConfig>({
  name: 'ldap-auth',
  version: '1.0.0',
  priority: LDAP_AUTH_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  create(config, context) {
    if (config.ldaps && config.start_tls)
      throw new PluginConfigError('start_tls', "'ldaps' and 'start_tls' cannot be enabled simultaneously");
    // Kong's default is false, and decK dumps write it: say so wherever a password goes over TLS.
    if ((config.ldaps || config.start_tls) && !config.verify_ldap_host)
      context.warn(
        `verify_ldap_host is off: the certificate of ${config.ldap_host} is not verified before passwords are sent to it; anyone on the path can impersonate it`,
        'verify_ldap_host',
      );
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    return new LdapAuth(config, anonymous, context.log);
  },
});
