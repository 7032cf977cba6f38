/**
 * The connections to one Lambda endpoint. Not the gateway's `services.http`, whose pool keeps 16
 * connections per origin for the occasional JWKS or userinfo call: an invocation holds its
 * connection for as long as the function runs (seconds), so a route served by Lambda needs as
 * many as it has calls in flight, as Kong's cosocket pool gives it, and Kong's `keepalive` sets
 * how long an idle one is kept.
 */
import { Agent, request } from 'undici';
import type { GatewayRequest } from '../../index.ts';
import { DeadlineError, dnsLookup } from '../../index.ts';

/** Connections to one endpoint at most: a bound on what a burst of clients can open. */
export const MAX_CONNECTIONS = 512;
/** The most answer read: Lambda's synchronous answers stop at 6 MB. */
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

export interface LambdaAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Lazily opened connections to one endpoint, shared by the instances (and reloads) that call it. */
export class LambdaPool {
  private agent: Agent | null = null;

  constructor(private readonly keepaliveMs: number) {}

  /**
   * One call, whole within `timeoutMs` (connect, send, the answer's last byte): undici's own
   * timeouts bound idle gaps only, so a peer trickling bytes would hold the request otherwise.
   * The answer's bytes count against the gateway's budget of held bodies.
   */
  async call(
    url: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
    req: GatewayRequest,
  ): Promise<LambdaAnswer> {
    this.agent ??= new Agent({
      connections: MAX_CONNECTIONS,
      keepAliveTimeout: Math.max(1, this.keepaliveMs),
      connect: { lookup: dnsLookup },
    });
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(url, {
        method: 'POST',
        headers,
        body,
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          res.body.destroy();
          throw new Error(`Lambda's answer is larger than ${MAX_ANSWER_BYTES} bytes`);
        }
        req.holdBody(chunk.length);
        chunks.push(chunk);
      }
      return { status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks, size) };
    } catch (err) {
      if (signal.aborted) throw new DeadlineError(timeoutMs);
      throw err;
    }
  }

  close(): Promise<void> {
    return this.agent?.close() ?? Promise.resolve();
  }
}
