/**
 * The `basic-auth` plugin: Kong 3's basic-auth. Reads `Proxy-Authorization`, then `Authorization`
 * (`Basic base64(username:password)`), finds the credential by username and compares
 * sha1(password .. consumer_id), Kong's stored form, in constant time. Refusals are Kong's 401
 * with `WWW-Authenticate: Basic realm="<realm>"`. See docs/plugins/basic-auth.md.
 */
import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import schema from '../../../schemas/plugins/basic-auth.schema.json' with { type: 'json' };
import type { Consumer, Credential, GatewayRequest, HeaderValue, PluginHandlers } from '../../index.ts';
import { anonymousConsumer, configHeaderValue, definePlugin, firstHeader, trimAsciiSpace } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { basicauthCredentials } from './entities.ts';

/** The basic-auth plugin's config, defaults applied. */
export interface BasicAuthConfig {
  anonymous?: string | null;
  hide_credentials: boolean;
  realm: string;
}

/** Kong's priority for basic-auth. */
export const BASIC_AUTH_PRIORITY = 1100;

/** Longer Authorization values are not decoded (no credential is that long). */
const MAX_HEADER = 8192;

interface Entry {
  readonly consumer: Consumer;
  readonly credential: Credential;
  readonly consumerId: string;
  /** Accepted sha1 digests (20 bytes each). */
  readonly digests: readonly Buffer[];
}

const UNAUTHORIZED = { message: 'Unauthorized' };
/** Compared against when the username is unknown, so timing does not tell which usernames exist. */
const DUMMY: Pick<Entry, 'consumerId' | 'digests'> = {
  consumerId: '00000000-0000-0000-0000-000000000000',
  digests: [Buffer.alloc(20)],
};

class BasicAuth implements PluginHandlers {
  private readonly challenge: Readonly<Record<string, HeaderValue>>;

  constructor(
    private readonly config: BasicAuthConfig,
    private readonly anonymous: Consumer | null,
    private readonly byUsername: ReadonlyMap<string, Entry>,
  ) {
    this.challenge = { 'WWW-Authenticate': `Basic realm="${configHeaderValue(config.realm, 'realm')}"` };
  }

  access(req: GatewayRequest): void {
    // Kong: with `anonymous`, an earlier authentication plugin's success is enough (logical OR).
    if (this.anonymous && req.credential) return;
    const entry = this.authenticate(req);
    if (entry !== null) {
      req.authenticate(entry.consumer, entry.credential);
      return;
    }
    if (this.anonymous) return req.authenticate(this.anonymous, null, true);
    req.exitError(401, UNAUTHORIZED.message, this.challenge, 'INVALID_CREDENTIALS');
  }

  private authenticate(req: GatewayRequest): Entry | null {
    // The first line of a repeated header, as Kong's kong.request.get_header reads it (the joined
    // lines are no Basic credentials at all).
    const proxyAuth = firstHeader(req, 'proxy-authorization');
    const auth = firstHeader(req, 'authorization');
    if (proxyAuth === undefined && auth === undefined) return null;
    // Proxy-Authorization is never forwarded (RFC 9110 11.7.2), hidden or not.
    let found = this.check(proxyAuth);
    // Kong tries Proxy-Authorization first and falls back to Authorization when it names no known
    // user. Like Kong, hide_credentials removes Authorization only when it was read: when
    // Proxy-Authorization named the user, Authorization is the upstream's own (a client
    // authenticating to the gateway there keeps Authorization for the application).
    if (found === undefined) {
      found = this.check(auth);
      if (this.config.hide_credentials) req.removeUpstreamHeader('authorization');
    }
    return found ?? null;
  }

  /** The entry when the header's user and password match, null when they do not, undefined when it names no known user. */
  private check(header: string | undefined): Entry | null | undefined {
    const parsed = header === undefined ? null : parseBasic(header);
    if (parsed === null) return undefined;
    const entry = this.byUsername.get(parsed.username);
    const e = entry ?? DUMMY;
    const given = createHash('sha1').update(parsed.password).update(e.consumerId, 'utf8').digest();
    let ok = false;
    for (const d of e.digests) ok = timingSafeEqual(d, given) || ok;
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

export default definePlugin<BasicAuthConfig>({
  name: 'basic-auth',
  version: '1.0.0',
  priority: BASIC_AUTH_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  entities: [basicauthCredentials],
  create(config, context) {
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    const byUsername = new Map<string, Entry>();
    for (const { consumer, entity } of context.services.consumers.entities(basicauthCredentials)) {
      if (consumer === null) continue;
      byUsername.set(entity.username, {
        consumer,
        consumerId: consumer.id,
        // Kong sends the credential's username as X-Credential-Identifier.
        credential: { id: entity.id, type: 'basic-auth', identifier: entity.username, consumer_id: consumer.id },
        digests: entity.password.split(',').map((hex) => Buffer.from(hex, 'hex')),
      });
    }
    return new BasicAuth(config, anonymous, byUsername);
  },
});
