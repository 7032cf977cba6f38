// The pooled HTTP client plugins get through `services.http` (JWKS, userinfo, introspection calls).
import { Agent } from 'undici';
import type { HttpClient } from '../pipeline/plugin.ts';

export function createHttpClient(
  opts: { connections?: number; rejectUnauthorized?: boolean } = {},
): HttpClient & { close(): Promise<void> } {
  const agent = new Agent({
    connections: opts.connections ?? 16,
    keepAliveTimeout: 30_000,
    connect: { timeout: 5_000, rejectUnauthorized: opts.rejectUnauthorized ?? true },
  });
  return {
    async request(url, options = {}) {
      const timeout = options.timeout ?? 10_000;
      const res = await agent.request({
        origin: new URL(url).origin,
        path: new URL(url).pathname + new URL(url).search,
        method: (options.method ?? 'GET') as 'GET',
        headers: options.headers,
        body: options.body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, headers: res.headers, body };
    },
    close: () => agent.close(),
  };
}
