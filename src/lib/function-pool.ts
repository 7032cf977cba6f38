/**
 * Connections to a serverless function endpoint (`tollgate/function-pool`): what aws-lambda and
 * azure-functions call instead of an upstream. Not the gateway's `services.http`, whose pool keeps
 * 16 connections per origin for the occasional JWKS or userinfo call: an invocation holds its
 * connection for as long as the function runs (seconds), so a route served by a function needs as
 * many as it has calls in flight, as Kong's cosocket pool gives it, and Kong's `keepalive` sets how
 * long an idle one is kept.
 */
import { Agent, type Dispatcher, Pool, ProxyAgent, request } from 'undici';
import type { GatewayRequest, HeaderValue } from '../pipeline/plugin.ts';
import { latestLookup } from '../upstream/dns.ts';
import { DeadlineError } from './bounded-fetch.ts';

/** Connections to one endpoint at most: a bound on what a burst of clients can open. */
export const MAX_CONNECTIONS = 512;

export interface FunctionAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface FunctionPoolOptions {
  /** Milliseconds an idle connection is kept (Kong's `keepalive`). */
  keepaliveMs: number;
  /** The most answer bytes read; a longer answer fails the call. */
  maxAnswerBytes: number;
  /** Verify the endpoint's TLS certificate and name (default true). */
  verify?: boolean;
  /**
   * An HTTP proxy the calls go through (`http://[user:password@]host:port`, Kong's `proxy_url`): an
   * https endpoint through a CONNECT tunnel (TLS end to end, the endpoint's certificate verified),
   * an http one as an absolute-form request, as Kong's lua-resty-http sends them. The user info
   * goes as `Proxy-Authorization: Basic`.
   */
  proxy?: string;
}

/** One call's request: the method, the headers as sent, the body (none for null). */
export interface FunctionCall {
  method: string;
  headers: Record<string, HeaderValue>;
  body: string | Buffer | null;
}

/** Thrown when the function's answer is longer than the pool's `maxAnswerBytes`. */
export class AnswerTooLargeError extends Error {
  constructor(max: number) {
    super(`the function's answer is larger than ${max} bytes`);
    this.name = 'AnswerTooLargeError';
  }
}

/** Lazily opened connections to one endpoint, shared by the instances (and reloads) that call it. */
export class FunctionPool {
  private agent: Dispatcher | null = null;

  constructor(private readonly options: FunctionPoolOptions) {}

  /**
   * One call, whole within `timeoutMs` (connect, send, the answer's last byte): undici's own
   * timeouts bound idle gaps only, so a peer trickling bytes would hold the request otherwise.
   * The answer's bytes count against the gateway's budget of held bodies.
   */
  async call(url: string, call: FunctionCall, timeoutMs: number, req: GatewayRequest): Promise<FunctionAnswer> {
    this.agent ??= this.open();
    const max = this.options.maxAnswerBytes;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const res = await request(url, {
        method: call.method as 'GET',
        headers: call.headers as Record<string, string | string[]>,
        body: call.body,
        dispatcher: this.agent,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > max) {
          res.body.destroy();
          throw new AnswerTooLargeError(max);
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

  private open(): Dispatcher {
    const keepAliveTimeout = Math.max(1, this.options.keepaliveMs);
    const rejectUnauthorized = this.options.verify !== false;
    const proxy = this.options.proxy;
    if (proxy === undefined) {
      return new Agent({
        connections: MAX_CONNECTIONS,
        keepAliveTimeout,
        connect: { lookup: latestLookup, rejectUnauthorized },
      });
    }
    return new ProxyAgent({
      uri: proxy,
      // Plain http goes to the proxy in absolute form (no CONNECT), as Kong's client sends it.
      proxyTunnel: false,
      connections: MAX_CONNECTIONS,
      keepAliveTimeout,
      requestTls: { rejectUnauthorized },
      proxyTls: { lookup: latestLookup },
      // Tunnels (https) and connections to the proxy (http) both bounded as direct connections are.
      factory: (origin, opts) => new Pool(origin, { ...opts, connections: MAX_CONNECTIONS, keepAliveTimeout }),
    });
  }

  close(): Promise<void> {
    return this.agent?.close() ?? Promise.resolve();
  }
}
