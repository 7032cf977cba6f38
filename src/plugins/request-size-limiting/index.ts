/**
 * The `request-size-limiting` plugin: Kong 3's request-size-limiting. A declared Content-Length
 * over the limit is answered 413 before any body byte is read; a body without one (chunked, or
 * HTTP/2 without content-length) is counted as it streams to the upstream and cut as soon as it
 * passes the limit, so the gateway never holds it. See docs/plugins/request-size-limiting.md.
 */
import type { IncomingMessage } from 'node:http';
import schema from '../../../schemas/plugins/request-size-limiting.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import { definePlugin, hasRequestBody, ProxyError, RelayedBody, trimAsciiSpace } from '../../index.ts';
import { HTTP_PROTOCOLS } from '../../lib/kong-config.ts';

/** The request-size-limiting plugin's config, defaults applied. */
export interface RequestSizeLimitingConfig {
  allowed_payload_size: number;
  size_unit: 'megabytes' | 'kilobytes' | 'bytes';
  require_content_length: boolean;
}

/** Kong's priority for request-size-limiting. */
export const REQUEST_SIZE_LIMITING_PRIORITY = 951;

const UNIT: Record<RequestSizeLimitingConfig['size_unit'], number> = { bytes: 1, kilobytes: 1024, megabytes: 1048576 };
const TOO_LARGE = { message: 'Request size limit exceeded' };
const LENGTH_REQUIRED = { message: 'A valid Content-Length header is required' };
// The rest of a refused body is never read: the connection cannot be reused.
const CLOSE = { connection: 'close' } as const;
const DIGITS = /^\d+$/;

/**
 * The client body as the upstream gets it, counted on the way. It starts reading the client only
 * once its consumer (undici, or the echo upstream) reads it: an error raised before anyone listens
 * would be lost and the upstream exchange would wait for a body that never comes. Past the limit
 * it fails with the catalogued `REQUEST_TOO_LARGE` error, which the core answers as 413 when no
 * response was sent yet, cutting the upstream request (`REQUEST_TOO_LARGE_EXPECT`, 417, when the
 * client sent `Expect: 100-continue`: Kong reads the body, then answers 417 to such a client).
 */
class CountedBody extends RelayedBody {
  private readonly limit: number;
  private readonly expectedContinue: boolean;
  private size = 0;

  constructor(source: IncomingMessage, limit: number, expectedContinue: boolean) {
    super(source);
    this.limit = limit;
    this.expectedContinue = expectedContinue;
  }

  /** Counts a client chunk and passes it on, or refuses the body past the limit. */
  received(chunk: Buffer): void {
    this.size += chunk.length;
    // The rest of the body is read and dropped (never held), so a keep-alive connection is still
    // usable after the 413, as with Kong, which reads the whole body before answering.
    if (this.size > this.limit)
      return this.refuse(new ProxyError(this.expectedContinue ? 'REQUEST_TOO_LARGE_EXPECT' : 'REQUEST_TOO_LARGE'));
    this.relay(chunk);
  }
}

function expectsContinue(req: GatewayRequest): boolean {
  // The core consumes Expect (it sends 100 Continue itself), so it is read from the raw request.
  const e = req.raw.headers.expect;
  return typeof e === 'string' && trimAsciiSpace(e).toLowerCase() === '100-continue';
}

class RequestSizeLimiting implements PluginHandlers {
  private readonly limit: number;
  private readonly requireLength: boolean;

  constructor(config: RequestSizeLimitingConfig) {
    this.limit = config.allowed_payload_size * UNIT[config.size_unit];
    this.requireLength = config.require_content_length;
  }

  access(req: GatewayRequest): void {
    // An earlier plugin read the body (key-auth's body keys, hmac-auth's digest): it is in memory.
    const held = req.upstreamBody;
    if (Buffer.isBuffer(held)) {
      if (held.length > this.limit) this.refuse(req);
      return;
    }
    const cl = req.headers['content-length'];
    if (cl !== undefined && DIGITS.test(cl)) {
      if (Number(cl) > this.limit) this.refuse(req);
      return;
    }
    const streamed = hasRequestBody(req);
    if (this.requireLength && !streamed) return req.exitError(411, LENGTH_REQUIRED.message, null, 'LENGTH_REQUIRED');
    if (streamed) this.count(req);
  }

  private refuse(req: GatewayRequest): void {
    // Kong answers 417 to a client that waits for 100 Continue, so it never sends the body.
    if (expectsContinue(req)) req.exitError(417, TOO_LARGE.message, CLOSE, 'BODY_TOO_LARGE');
    else req.exitError(413, TOO_LARGE.message, CLOSE, 'BODY_TOO_LARGE');
  }

  /** Hands the upstream the client body through a counter (same bytes: headers stay as they are). */
  private count(req: GatewayRequest): void {
    const body = new CountedBody(req.raw, this.limit, expectsContinue(req));
    // Plugins that read the body after this one (request-transformer) read the counted one.
    req.setUpstreamBody(body);
  }
}

export default definePlugin<RequestSizeLimitingConfig>({
  name: 'request-size-limiting',
  version: '1.0.0',
  priority: REQUEST_SIZE_LIMITING_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  create(config) {
    return new RequestSizeLimiting(config);
  },
});
