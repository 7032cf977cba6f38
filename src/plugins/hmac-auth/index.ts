/**
 * The `hmac-auth` plugin: Kong 3's hmac-auth. The client signs a string built from the headers it
 * names (`request-line` for `METHOD /path?query HTTP/1.1`) with its credential's secret, and sends
 * `Authorization: hmac username="...", algorithm="hmac-sha256", headers="date request-line",
 * signature="<base64>"`. The Date (or X-Date) header must be within `clock_skew` seconds;
 * `validate_request_body` also checks `Digest: SHA-256=<base64>` against the body. Kong's statuses
 * and messages. See docs/plugins/hmac-auth.md.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import schema from '../../../schemas/plugins/hmac-auth.schema.json' with { type: 'json' };
import type { Consumer, ConsumerEntity, Credential, GatewayRequest, HeaderValue, PluginHandlers } from '../../index.ts';
import { anonymousConsumer, configHeaderValue, definePlugin, firstHeader } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';
import { type HmacAuthCredential, hmacauthCredentials } from './entities.ts';
import { parseHmacAuthorization, parseHttpDate, signingString } from './signature.ts';

/** The hmac-auth plugin's config, defaults applied. */
export interface HmacAuthConfig {
  hide_credentials: boolean;
  clock_skew: number;
  anonymous?: string | null;
  validate_request_body: boolean;
  enforce_headers: string[];
  algorithms: string[];
  realm?: string | null;
}

/** Kong's priority for hmac-auth. */
export const HMAC_AUTH_PRIORITY = 1030;

/** Bodies larger than this cannot be checked against their Digest (the request is refused). */
export const MAX_DIGEST_BODY_BYTES = 8 * 1024 * 1024;

const HASHES: Record<string, string> = {
  'hmac-sha1': 'sha1',
  // Kong Gateway 3.14 added hmac-sha224 (and dropped hmac-sha1 from its default list).
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

interface Entry {
  readonly consumer: Consumer;
  readonly credential: Credential;
  readonly secret: string;
}

const UNAUTHORIZED = 'Unauthorized';
const NO_DATE = 'HMAC signature cannot be verified, a valid date or x-date header is required for HMAC Authentication';
const NOT_VALID = 'HMAC signature cannot be verified';
const NOT_SAME = 'HMAC signature does not match';

class HmacAuth implements PluginHandlers {
  private readonly algorithms: ReadonlySet<string>;
  private readonly challenge: Readonly<Record<string, HeaderValue>> | undefined;

  constructor(
    private readonly config: HmacAuthConfig,
    private readonly anonymous: Consumer | null,
    private readonly byUsername: ReadonlyMap<string, Entry>,
    private readonly now: () => number = Date.now,
  ) {
    this.algorithms = new Set(config.algorithms);
    // Kong sends the challenge on every 401, `hmac` without a realm (RFC 9110 11.6.1 requires one).
    this.challenge = {
      'WWW-Authenticate': config.realm != null ? `hmac realm="${configHeaderValue(config.realm, 'realm')}"` : 'hmac',
    };
  }

  access(req: GatewayRequest): void | Promise<void> {
    // Kong: with `anonymous`, an earlier authentication plugin's success is enough (logical OR).
    if (this.anonymous && req.credential) return;
    const checked = this.verify(req);
    if (typeof checked === 'string') return this.fail(req, checked);
    if (!this.config.validate_request_body) return this.succeed(req, checked);
    return this.withBody(req, checked);
  }

  private async withBody(req: GatewayRequest, entry: Entry): Promise<void> {
    // Kong fails the check when the body is not in memory (larger than its client body buffer).
    const declared = Number(req.headers['content-length']);
    if (declared > MAX_DIGEST_BODY_BYTES) return this.fail(req, NOT_SAME);
    const body = await req.readBody(MAX_DIGEST_BODY_BYTES);
    if (body === null) return this.fail(req, NOT_SAME);
    const digest = firstHeader(req, 'digest');
    const ok =
      digest === undefined
        ? body.length === 0
        : digest === `SHA-256=${createHash('sha256').update(body).digest('base64')}`;
    if (!ok) return this.fail(req, NOT_SAME);
    this.succeed(req, entry);
  }

  /** The credential whose signature matches, or the failure message (Kong's order of checks). */
  private verify(req: GatewayRequest): Entry | string {
    const auth = firstHeader(req, 'authorization');
    const proxyAuth = firstHeader(req, 'proxy-authorization');
    if (auth === undefined && proxyAuth === undefined) return UNAUTHORIZED;
    if (!this.dateWithinSkew(firstHeader(req, 'x-date')) && !this.dateWithinSkew(firstHeader(req, 'date')))
      return NO_DATE;
    let params = proxyAuth === undefined ? null : parseHmacAuthorization(proxyAuth);
    if (params === null) {
      params = auth === undefined ? null : parseHmacAuthorization(auth);
      if (params !== null && this.config.hide_credentials) req.removeUpstreamHeader('authorization');
    }
    if (params === null) return NOT_VALID;
    // As Kong compares them: exactly as written in the config and by the client.
    for (const h of this.config.enforce_headers) if (!params.headers.includes(h)) return NOT_VALID;
    if (!this.algorithms.has(params.algorithm)) return NOT_VALID;
    const entry = this.byUsername.get(params.username);
    if (entry === undefined) return NOT_VALID;
    const given = Buffer.from(params.signature, 'base64');
    const hash = HASHES[params.algorithm]!;
    // Kong signs the request line with the path and query as received (kong.request.get_path_with_query).
    // Kong's older form, the normalized path without the query, still verifies, but only for a
    // request without a query: Kong's spec requires the query in the signature (Kong PR 3339), and
    // otherwise a request signed for /path passed with any query added to it.
    const raw = req.raw.url ?? req.path;
    const mac = signature(req, hash, entry.secret, params.headers, raw);
    // A signing string past its bound is refused as unverifiable, before the HMAC is computed.
    if (mac === null) return NOT_VALID;
    if (equal(mac, given)) return entry;
    const normalized =
      req.path === raw || raw.includes('?') ? null : signature(req, hash, entry.secret, params.headers, req.path);
    if (normalized !== null && equal(normalized, given)) return entry;
    return NOT_SAME;
  }

  private dateWithinSkew(value: string | undefined): boolean {
    const t = value === undefined ? null : parseHttpDate(value);
    // In whole seconds, as Kong compares with ngx.time(): a date exactly clock_skew seconds old
    // is still within it for the rest of that second.
    return t !== null && Math.abs(Math.floor(this.now() / 1000) - t / 1000) <= this.config.clock_skew;
  }

  private succeed(req: GatewayRequest, entry: Entry): void {
    req.authenticate(entry.consumer, entry.credential);
  }

  private fail(req: GatewayRequest, message: string): void {
    if (this.anonymous) return req.authenticate(this.anonymous, null, true);
    req.exitError(401, message, this.challenge, message === UNAUTHORIZED ? 'NO_CREDENTIALS' : 'INVALID_CREDENTIALS');
  }
}

/** The HMAC of the signing string for the request line's `target`. */
function signature(
  req: GatewayRequest,
  hash: string,
  secret: string | Buffer,
  headers: readonly string[],
  target: string,
): Buffer | null {
  const text = signingString(req, headers, target);
  return text === null ? null : createHmac(hash, secret).update(wireBytes(text)).digest();
}

/**
 * The bytes a client signed. Node decodes header values and the request target as latin1, one
 * character a byte, so latin1 gives back the bytes on the wire (Kong signs those): a UTF-8 header
 * value would otherwise be encoded twice. Only text with a character past U+00FF (the normalized
 * path, decoded from percent-escapes) did not come from the wire so; it is signed as UTF-8.
 */
function wireBytes(text: string): Buffer {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return Buffer.from(text, 'utf8');
  return Buffer.from(text, 'latin1');
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export default definePlugin<HmacAuthConfig>({
  name: 'hmac-auth',
  version: '1.0.0',
  priority: HMAC_AUTH_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  consumerScoped: false,
  entities: [hmacauthCredentials],
  create(config, context) {
    const anonymous = anonymousConsumer(config.anonymous, context.services.consumers);
    const byUsername = context.services.consumers.index(hmacauthCredentials, 'hmac-auth:by-username', byUsernames);
    return new HmacAuth(config, anonymous, byUsername);
  },
});

/** The credentials by username: one map for every hmac-auth instance of a config. */
function byUsernames(credentials: readonly ConsumerEntity<HmacAuthCredential>[]): ReadonlyMap<string, Entry> {
  const byUsername = new Map<string, Entry>();
  for (const { consumer, entity } of credentials) {
    if (consumer === null || entity.secret === null) continue;
    // Keyed as the username arrives: Node decodes the Authorization header's bytes as latin1, so
    // a UTF-8 username is looked up by its bytes, as Kong compares it.
    byUsername.set(Buffer.from(entity.username, 'utf8').toString('latin1'), {
      consumer,
      secret: entity.secret,
      // Kong sends the credential's username as X-Credential-Identifier.
      credential: { id: entity.id, type: 'hmac-auth', identifier: entity.username, consumer_id: consumer.id },
    });
  }
  return byUsername;
}
