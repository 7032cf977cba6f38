/**
 * The `basic-auth` plugin: Kong 3's basic-auth. Reads `Proxy-Authorization`, then `Authorization`
 * (`Basic base64(username:password)`), finds the credential by username and compares
 * sha1(password .. consumer_id), Kong's stored form, in constant time. Refusals are Kong's 401
 * with `WWW-Authenticate: Basic realm="<realm>"`. See docs/plugins/basic-auth.md.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import schema from '../../../schemas/plugins/basic-auth.schema.json' with { type: 'json' };
import type {
  Consumer,
  ConsumerEntity,
  Credential,
  GatewayRequest,
  HeaderValue,
  PluginContext,
  PluginHandlers,
  RedisConfig,
} from '../../index.ts';
import {
  anonymousConsumer,
  configHeaderValue,
  definePlugin,
  firstHeader,
  PluginConfigError,
  sharedRedisCounters,
  trimAsciiSpace,
} from '../../index.ts';
import { cloudAuthenticationIssues, HTTP_PROTOCOLS, principalsIssues } from '../../lib/kong-config.ts';
import { BLOCK_AFTER, type Counted, FailedLogins, type LoginCounter, SharedFailedLogins } from './brute-force.ts';
import { type BasicAuthCredential, basicauthCredentials } from './entities.ts';

/** The basic-auth plugin's config, defaults applied. */
export interface BasicAuthConfig {
  anonymous?: string | null;
  hide_credentials: boolean;
  realm: string;
  brute_force_protection?: { strategy: 'off' | 'memory' | 'cluster' | 'redis'; redis?: RedisConfig | null } | null;
}

/** Kong's priority for basic-auth. */
export const BASIC_AUTH_PRIORITY = 1100;

/** Longer Authorization values are not decoded (no credential is that long). */
const MAX_HEADER = 8192;

interface Entry {
  readonly consumer: Consumer;
  readonly credential: Credential;
  readonly consumerId: string;
  /** Accepted digests: SHA-1 (20 bytes) or Kong Gateway 3.14's SHA-256 (32 bytes). */
  readonly digests: readonly Buffer[];
  /** Whether any digest is SHA-256, so the given password's SHA-256 is needed. */
  readonly sha256: boolean;
}

const UNAUTHORIZED = { message: 'Unauthorized' };
/** Kong's default message for 429 (kong.response.error). */
const TOO_MANY = 'Too many requests';

/** What a request's credentials came to: the entry they match, and the username they named. */
interface Attempt {
  readonly entry: Entry | null;
  readonly username: string | null;
}
const NO_ATTEMPT: Attempt = { entry: null, username: null };
/** Compared against when the username is unknown, so timing does not tell which usernames exist. */
const DUMMY: Pick<Entry, 'consumerId' | 'digests' | 'sha256'> = {
  consumerId: '00000000-0000-0000-0000-000000000000',
  digests: [Buffer.alloc(20)],
  sha256: false,
};

class BasicAuth implements PluginHandlers {
  private readonly challenge: Readonly<Record<string, HeaderValue>>;

  constructor(
    private readonly config: BasicAuthConfig,
    private readonly anonymous: Consumer | null,
    private readonly byUsername: ReadonlyMap<string, Entry>,
    private readonly failedLogins: LoginCounter | null,
  ) {
    this.challenge = { 'WWW-Authenticate': `Basic realm="${configHeaderValue(config.realm, 'realm')}"` };
  }

  access(req: GatewayRequest): void | Promise<void> {
    // Kong: with `anonymous`, an earlier authentication plugin's success is enough (logical OR).
    if (this.anonymous && req.credential) return;
    const attempt = this.authenticate(req);
    if (this.failedLogins === null || attempt.username === null) return this.conclude(req, attempt.entry);
    const counted = this.failedLogins.attempt(attempt.username, attempt.entry === null, Date.now());
    if (!(counted instanceof Promise)) return this.conclude(req, attempt.entry, counted);
    return counted.then((c) => this.conclude(req, attempt.entry, c));
  }

  /**
   * The answer to an attempt. With brute_force_protection, a username blocked before this attempt
   * gets 429 whether its password was right or not (it was still checked, and a wrong one counted).
   */
  private conclude(req: GatewayRequest, entry: Entry | null, counted?: Counted): void {
    if (counted !== undefined && counted[0] >= BLOCK_AFTER) {
      const retryAfter = String(Math.max(1, Math.ceil(counted[1] / 1000)));
      return req.exitError(429, TOO_MANY, { 'Retry-After': retryAfter }, 'BRUTE_FORCE_BLOCKED');
    }
    if (entry !== null) return req.authenticate(entry.consumer, entry.credential);
    if (this.anonymous) return req.authenticate(this.anonymous, null, true);
    req.exitError(401, UNAUTHORIZED.message, this.challenge, 'INVALID_CREDENTIALS');
  }

  private authenticate(req: GatewayRequest): Attempt {
    // The first line of a repeated header, as Kong's kong.request.get_header reads it (the joined
    // lines are no Basic credentials at all).
    const proxyAuth = firstHeader(req, 'proxy-authorization');
    const auth = firstHeader(req, 'authorization');
    if (proxyAuth === undefined && auth === undefined) return NO_ATTEMPT;
    // Proxy-Authorization is never forwarded (RFC 9110 11.7.2), hidden or not.
    const proxyCredentials = proxyAuth === undefined ? null : parseBasic(proxyAuth);
    let found = this.check(proxyCredentials);
    let username = proxyCredentials?.username ?? null;
    // Kong tries Proxy-Authorization first and falls back to Authorization when it names no known
    // user. Like Kong, hide_credentials removes Authorization only when it was read: when
    // Proxy-Authorization named the user, Authorization is the upstream's own (a client
    // authenticating to the gateway there keeps Authorization for the application).
    if (found === undefined) {
      const credentials = auth === undefined ? null : parseBasic(auth);
      found = this.check(credentials);
      if (credentials !== null) username = credentials.username;
      if (this.config.hide_credentials) req.removeUpstreamHeader('authorization');
    }
    return { entry: found ?? null, username };
  }

  /** The entry when the credentials' user and password match, null when they do not, undefined when they name no known user. */
  private check(parsed: { username: string; password: Buffer } | null): Entry | null | undefined {
    if (parsed === null) return undefined;
    const entry = this.byUsername.get(parsed.username);
    const e = entry ?? DUMMY;
    const given = createHash('sha1').update(parsed.password).update(e.consumerId, 'utf8').digest();
    const given256 = e.sha256
      ? createHash('sha256').update(parsed.password).update(e.consumerId, 'utf8').digest()
      : given;
    let ok = false;
    for (const d of e.digests) ok = timingSafeEqual(d, d.length === 32 ? given256 : given) || ok;
    if (entry === undefined) return undefined;
    return ok ? entry : null;
  }
}

/**
 * `Basic <base64(user:password)>` (the scheme in either case Kong accepts, `Basic` or `basic`),
 * split at the first ':'; null when the header is not that. The password stays the bytes the
 * client sent: Kong hashes those bytes, and decoding them as UTF-8 first would turn every invalid
 * byte into U+FFFD, so distinct passwords (`\xff`, `\xfe`) would hash alike. A username that is
 * not UTF-8 can name no credential (the config's usernames are UTF-8), so it is no username.
 */
export function parseBasic(header: string): { username: string; password: Buffer } | null {
  if (header.length > MAX_HEADER) return null;
  let i = 0;
  while (i < header.length && (header[i] === ' ' || header[i] === '\t')) i++;
  const scheme = header.slice(i, i + 5);
  if (scheme !== 'Basic' && scheme !== 'basic') return null;
  const token = trimAsciiSpace(header.slice(i + 5));
  if (token === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return null;
  const decoded = Buffer.from(token, 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon <= 0) return null;
  const user = decoded.subarray(0, colon);
  if (!isUtf8(user)) return null;
  return { username: user.toString('utf8'), password: decoded.subarray(colon + 1) };
}

/**
 * Strategy cluster keeps Kong's counters in its database, which a DB-less gateway has not: it
 * loads, as Kong accepts it, and counts in each process. Said at the field, since a client
 * spreading its attempts over N processes gets N times as many.
 */
const CLUSTER_STRATEGY =
  "brute_force_protection: strategy cluster (Kong Gateway 3.13) shares the failed-login counters between nodes in Kong's database; Tollgate counts them in each gateway process, as strategy memory does: a client spreading its attempts over N processes gets N times as many; write strategy: redis to share them, or memory to say so";

/**
 * The failed-login counters of the plugin's scope. They outlive a reload, as the plugin stays
 * where it is: a reload must not lift a block. With strategy redis they are counted in Redis too,
 * shared by every gateway there (the key names the scope, as the memory counters are per scope).
 */
function loginCounter(config: BasicAuthConfig, context: PluginContext): LoginCounter {
  const { service, route } = context.scope;
  const scope = `${service?.id ?? '*'}:${route?.id ?? '*'}`;
  const local = context.services.shared(`basic-auth:failed-logins:${scope}`, () => new FailedLogins());
  const protection = config.brute_force_protection!;
  if (protection.strategy !== 'redis') return local;
  const redis = protection.redis;
  if (redis == null || redis.host == null || redis.host === '')
    throw new PluginConfigError('brute_force_protection.redis.host', 'required field missing (strategy is redis)');
  const { store, hooks } = sharedRedisCounters(redis, context, 'brute_force_protection.redis');
  return new SharedFailedLogins(store, `basic-auth:failed-logins:${scope}:`, local, hooks);
}

export default definePlugin<BasicAuthConfig>({
  name: 'basic-auth',
  version: '1.0.0',
  priority: BASIC_AUTH_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  entities: [basicauthCredentials],
  // Kong Identity's principals (3.15), which Tollgate does not have.
  configIssues: (config) => [
    ...principalsIssues(config),
    ...cloudAuthenticationIssues((config.brute_force_protection as { redis?: unknown } | null)?.redis, [
      'brute_force_protection',
      'redis',
    ]),
  ],
  create(config, context) {
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    const byUsername = context.services.consumers.index(basicauthCredentials, 'basic-auth:by-username', byUsernames);
    const strategy = config.brute_force_protection?.strategy ?? 'off';
    if (strategy === 'cluster') context.warn(CLUSTER_STRATEGY, 'brute_force_protection.strategy');
    const failedLogins = strategy === 'off' ? null : loginCounter(config, context);
    const hooks = failedLogins instanceof SharedFailedLogins ? failedLogins.hooks : {};
    return Object.assign(new BasicAuth(config, anonymous, byUsername, failedLogins), hooks);
  },
});

/** The credentials by username: one map for every basic-auth instance of a config. */
function byUsernames(credentials: readonly ConsumerEntity<BasicAuthCredential>[]): ReadonlyMap<string, Entry> {
  const byUsername = new Map<string, Entry>();
  for (const { consumer, entity } of credentials) {
    if (consumer === null) continue;
    const digests = entity.password.split(',').map((hex) => Buffer.from(hex, 'hex'));
    byUsername.set(entity.username, {
      consumer,
      consumerId: consumer.id,
      // Kong sends the credential's username as X-Credential-Identifier.
      credential: { id: entity.id, type: 'basic-auth', identifier: entity.username, consumer_id: consumer.id },
      digests,
      sha256: digests.some((d) => d.length === 32),
    });
  }
  return byUsername;
}
