/**
 * The `standard-webhooks` plugin: Kong 3.8's standard-webhooks. A request must carry
 * `webhook-id`, `webhook-timestamp` and `webhook-signature`, a timestamp within
 * `tolerance_second` of the gateway's clock, a body, and a `v1,<base64>` signature that is
 * HMAC-SHA256 of `<id>.<timestamp>.<body>` under `secret_v1` (the Standard Webhooks
 * specification). Every refusal is Kong's 400 `Bad request`. See docs/plugins/standard-webhooks.md.
 */
import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import schema from '../../../schemas/plugins/standard-webhooks.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import { definePlugin, firstHeader, luaNumber } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';

/** The standard-webhooks plugin's config, defaults applied. */
export interface StandardWebhooksConfig {
  secret_v1: string;
  tolerance_second: number;
}

/** Kong's priority for standard-webhooks. */
export const STANDARD_WEBHOOKS_PRIORITY = 760;

/**
 * The largest body verified, held in memory to be hashed. Kong hashes only a body that fits its
 * client body buffer (8k by default: a larger one is "missing" and refused); a larger one here is
 * refused with Kong's same 400.
 */
export const MAX_WEBHOOK_BODY_BYTES = 8 * 1024 * 1024;

/** The Standard Webhooks secret serialization: `whsec_` then the key in base64. */
const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;
/** `v1,` and the base64 of a 32-byte HMAC-SHA256. */
const SIGNATURE_LENGTH = 3 + 44;

/**
 * The HMAC keys `secret_v1` stands for. Kong's handler keys the HMAC with the secret's bytes as
 * written; the specification's senders key it with the base64-decoded secret, `whsec_` prefix
 * removed (the form Kong's documentation asks for, which Kong's own handler then never matches).
 * Both are derived from the one secret, so accepting either keeps every Kong sender working and
 * lets a specification sender work too.
 */
function webhookKeys(secret: string): { keys: KeyObject[]; decoded: boolean } {
  const keys = [createSecretKey(Buffer.from(secret, 'utf8'))];
  const encoded = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  const decoded = encoded.length > 0 && BASE64.test(encoded);
  if (decoded) keys.push(createSecretKey(Buffer.from(encoded, 'base64')));
  return { keys, decoded };
}

/**
 * Whether one of the space-separated signatures in `header` is `expected` (`v1,<base64>`, an
 * ASCII string of SIGNATURE_LENGTH). The specification lists several during a key rotation (Kong
 * compares the whole header, so it takes one only). Compared in constant time; tokens of
 * another length cannot match and are skipped unread.
 */
function listed(header: string, expected: Buffer): boolean {
  let at = 0;
  while (at < header.length) {
    let end = header.indexOf(' ', at);
    if (end === -1) end = header.length;
    if (end - at === SIGNATURE_LENGTH && timingSafeEqual(Buffer.from(header.slice(at, end), 'latin1'), expected))
      return true;
    at = end + 1;
  }
  return false;
}

/**
 * Redacted by every logger: for `tolerance_second` a signature lets whoever reads it (with a body
 * they know or guess) replay the webhook. Kong's log entries show it.
 */
const SECRET_HEADERS: readonly string[] = ['webhook-signature'];

class StandardWebhooks implements PluginHandlers {
  readonly secretHeaders = SECRET_HEADERS;
  private readonly toleranceMs: number;

  constructor(
    config: StandardWebhooksConfig,
    private readonly keys: readonly KeyObject[],
  ) {
    this.toleranceMs = config.tolerance_second * 1000;
  }

  access(req: GatewayRequest): void | Promise<void> {
    // Kong reads the first of repeated headers, and refuses a request missing any of the three.
    const id = firstHeader(req, 'webhook-id');
    const signature = firstHeader(req, 'webhook-signature');
    const timestamp = firstHeader(req, 'webhook-timestamp');
    if (id === undefined || signature === undefined || timestamp === undefined)
      return req.exitError(400, undefined, null, 'NO_SIGNATURE');
    // Kong reads the timestamp as Lua's tonumber, 0 (so too old) when it is no number. A time
    // as far ahead is refused too, as the specification asks (Kong takes any later one): the
    // window a captured webhook can be replayed in is the tolerance, whatever the sender's clock.
    const skew = Date.now() - (luaNumber(timestamp) ?? 0) * 1000;
    if (!(Math.abs(skew) <= this.toleranceMs)) return req.exitError(400, undefined, null, 'STALE_TIMESTAMP');
    // A body announced too large for the bound is refused before a byte of it is read.
    if (Number(req.headers['content-length']) > MAX_WEBHOOK_BODY_BYTES)
      return req.exitError(400, undefined, null, 'BODY_TOO_LARGE');
    return this.verify(req, id, timestamp, signature);
  }

  private async verify(req: GatewayRequest, id: string, timestamp: string, signature: string): Promise<void> {
    const body = await req.readBody(MAX_WEBHOOK_BODY_BYTES);
    if (body === null) return req.exitError(400, undefined, null, 'BODY_TOO_LARGE');
    if (body.length === 0) return req.exitError(400, undefined, null, 'NO_BODY');
    for (const key of this.keys) {
      // The signed content is the headers' bytes as sent (node reads header bytes as latin1).
      const mac = createHmac('sha256', key)
        .update(id, 'latin1')
        .update('.')
        .update(timestamp, 'latin1')
        .update('.')
        .update(body)
        .digest('base64');
      if (listed(signature, Buffer.from(`v1,${mac}`, 'latin1'))) return;
    }
    return req.exitError(400, undefined, null, 'INVALID_SIGNATURE');
  }
}

export default definePlugin<StandardWebhooksConfig>({
  name: 'standard-webhooks',
  version: '1.0.0',
  priority: STANDARD_WEBHOOKS_PRIORITY,
  consumerScoped: false,
  protocols: HTTP_PROTOCOLS,
  schema,
  create(config, { warn }) {
    const { keys, decoded } = webhookKeys(config.secret_v1);
    // The message never quotes the secret: it is a credential.
    if (config.secret_v1.startsWith(SECRET_PREFIX) && !decoded)
      warn(
        'secret_v1 starts with whsec_ but the rest is not base64: it is used only as written, so webhooks signed as the Standard Webhooks specification asks (with the decoded key) will be refused',
        'secret_v1',
      );
    return new StandardWebhooks(config, keys);
  },
});
