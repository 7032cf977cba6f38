/**
 * Outbound calls to dependencies (JWKS, OIDC discovery, userinfo, introspection) with a total
 * deadline that covers the response body as well as its head, and a cap on the body's size.
 *
 * undici's `headersTimeout`/`bodyTimeout` are idle timeouts: a peer that sends one byte every few
 * seconds never trips them, and nothing stops an endless body. Here one AbortSignal bounds the
 * whole exchange and the body is counted as it arrives, so a slow or hostile peer costs at most
 * `timeoutMs` and `maxBytes`, and the caller gets a clean error.
 */

/** Default cap of a dependency's answer: far above any real JWKS or discovery document. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The answer was larger than the cap; the connection is dropped without reading the rest. */
export class ResponseTooLargeError extends Error {
  readonly code = 'RESPONSE_TOO_LARGE';
  constructor(limit: number) {
    super(`the response is larger than ${limit} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

/** No complete answer (head and body) within the deadline. */
export class DeadlineError extends Error {
  readonly code = 'DEADLINE';
  constructor(ms: number) {
    super(`no complete response within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

type Body = AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>;

/**
 * Reads a whole body, rejecting with `ResponseTooLargeError` past `maxBytes` and with the signal's
 * reason when it aborts. The stream is cancelled in both cases.
 */
export async function readCapped(
  body: Body | null | undefined,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  if (body == null) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  if (isWebStream(body)) {
    const reader = body.getReader();
    const onAbort = (): void => void reader.cancel(signal?.reason).catch(() => undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted) throw signal.reason;
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          void reader.cancel().catch(() => undefined);
          throw new ResponseTooLargeError(maxBytes);
        }
        chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw signal.reason;
    return Buffer.concat(chunks, size);
  }
  const stream = body as AsyncIterable<Uint8Array> & { destroy?(err?: Error): void };
  try {
    for await (const chunk of stream) {
      if (signal?.aborted) throw signal.reason;
      size += chunk.byteLength;
      if (size > maxBytes) throw new ResponseTooLargeError(maxBytes);
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    }
  } catch (err) {
    stream.destroy?.();
    throw signal?.aborted ? signal.reason : err;
  }
  return Buffer.concat(chunks, size);
}

function isWebStream(b: Body): b is ReadableStream<Uint8Array> {
  return typeof (b as ReadableStream<Uint8Array>).getReader === 'function';
}

/** Options of `boundedFetch`. */
export interface BoundedFetchOptions {
  /** Milliseconds for the whole exchange: connect, head and body. */
  readonly timeoutMs: number;
  /** Largest body accepted, in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** The fetch to wrap (e.g. undici's with a custom dispatcher). Default the global fetch. */
  readonly fetch?: typeof fetch;
}

// Statuses whose Response may not carry a body (the Fetch standard's null body statuses).
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A fetch whose answer is complete (body read into memory) within `timeoutMs` and at most
 * `maxBytes` long, or a rejection. Usable as openid-client's `customFetch` and anywhere a fetch is
 * expected; an AbortSignal the caller passes is honoured as well.
 */
export function boundedFetch(options: BoundedFetchOptions): typeof fetch {
  const inner = options.fetch ?? globalThis.fetch;
  const max = options.maxBytes ?? MAX_RESPONSE_BYTES;
  const ms = options.timeoutMs;
  return async (input, init = {}) => {
    const deadline = AbortSignal.timeout(ms);
    const signal = init.signal ? AbortSignal.any([deadline, init.signal]) : deadline;
    try {
      const res = await inner(input, { ...init, signal });
      const declared = Number(res.headers.get('content-length') ?? 0);
      if (declared > max) {
        void res.body?.cancel().catch(() => undefined);
        throw new ResponseTooLargeError(max);
      }
      const body = await readCapped(res.body, max, signal);
      return new Response(NULL_BODY.has(res.status) ? null : body, {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
      });
    } catch (err) {
      if (deadline.aborted && !(err instanceof ResponseTooLargeError)) throw new DeadlineError(ms);
      throw err;
    }
  };
}
