/**
 * The `request-size-limiting` plugin: Kong 3's request-size-limiting. A declared Content-Length
 * over the limit is answered 413 before any body byte is read; a chunked body is counted as it
 * arrives and refused as soon as it passes the limit, so at most `allowed_payload_size` bytes are
 * ever held. See docs/plugins/request-size-limiting.md.
 */
import { definePlugin } from '../../index.ts';
import type { GatewayRequest, PluginHandlers } from '../../index.ts';
import schema from '../../../schemas/plugins/request-size-limiting.schema.json' with { type: 'json' };

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

function expectsContinue(req: GatewayRequest): boolean {
  // The core consumes Expect (it sends 100 Continue itself), so it is read from the raw request.
  const e = req.raw.headers.expect;
  return typeof e === 'string' && e.trim().toLowerCase() === '100-continue';
}

class RequestSizeLimiting implements PluginHandlers {
  private readonly limit: number;
  private readonly requireLength: boolean;

  constructor(config: RequestSizeLimitingConfig) {
    this.limit = config.allowed_payload_size * UNIT[config.size_unit];
    this.requireLength = config.require_content_length;
  }

  access(req: GatewayRequest): void | Promise<void> {
    const cl = req.headers['content-length'];
    if (cl !== undefined && /^\d+$/.test(cl)) {
      if (Number(cl) > this.limit) this.refuse(req);
      return;
    }
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (this.requireLength && !chunked) return req.exit(411, LENGTH_REQUIRED);
    if (chunked) return this.countChunked(req);
  }

  private refuse(req: GatewayRequest): void {
    // Kong answers 417 to a client that waits for 100 Continue, so it never sends the body.
    if (expectsContinue(req)) req.exit(417, TOO_LARGE, CLOSE);
    else req.exit(413, TOO_LARGE, CLOSE);
  }

  /**
   * Reads a chunked body up to the limit. The plugin API can replace the upstream body only with
   * bytes, so an accepted chunked body is handed on buffered (never more than the limit).
   */
  private countChunked(req: GatewayRequest): Promise<void> {
    // Events, not `for await`: leaving an async iterator early destroys the socket, and the
    // client would never see the 413.
    return new Promise((resolve, reject) => {
      const raw = req.raw;
      const chunks: Buffer[] = [];
      let size = 0;
      const cleanup = (): void => {
        raw.off('data', onData);
        raw.off('end', onEnd);
        raw.off('error', onError);
        raw.off('aborted', onAborted);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > this.limit) {
          cleanup();
          raw.pause();
          this.refuse(req);
          return resolve();
        }
        chunks.push(chunk);
      };
      const onEnd = (): void => {
        cleanup();
        req.setUpstreamBody(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
        resolve();
      };
      const onError = (err: Error): void => {
        cleanup();
        reject(err);
      };
      const onAborted = (): void => {
        cleanup();
        resolve();
      };
      raw.on('data', onData);
      raw.once('end', onEnd);
      raw.once('error', onError);
      raw.once('aborted', onAborted);
    });
  }
}

export default definePlugin<RequestSizeLimitingConfig>({
  name: 'request-size-limiting',
  version: '1.0.0',
  priority: REQUEST_SIZE_LIMITING_PRIORITY,
  schema,
  create(config) {
    return new RequestSizeLimiting(config);
  },
});
