// The pooled HTTP client plugins get through `services.http` (JWKS, userinfo, introspection calls).
import { Agent } from 'undici';
import { DeadlineError, readCapped } from '../lib/bounded-fetch.ts';
import type { HttpClient } from '../pipeline/plugin.ts';
import { latestLookup } from './dns.ts';

/** Default cap of a response body read through `services.http`. */
const DEFAULT_MAX_BYTES = 8 * 1024 * 1024;

export function createHttpClient(
  opts: { connections?: number; rejectUnauthorized?: boolean } = {},
): HttpClient & { close(): Promise<void> } {
  const agent = new Agent({
    connections: opts.connections ?? 16,
    keepAliveTimeout: 30_000,
    // Names resolve as the upstreams' do (the dns_* settings): a JWKS host's survives a DNS outage.
    connect: { timeout: 5_000, rejectUnauthorized: opts.rejectUnauthorized ?? true, lookup: latestLookup },
  });
  return {
    async request(url, options = {}) {
      const timeout = options.timeout ?? 10_000;
      // One deadline for the whole exchange: undici's own timeouts only bound idle gaps, so a
      // peer trickling bytes would otherwise hold the call forever.
      const signal = AbortSignal.timeout(timeout);
      const u = new URL(url);
      try {
        const res = await agent.request({
          origin: u.origin,
          path: u.pathname + u.search,
          method: (options.method ?? 'GET') as 'GET',
          headers: options.headers,
          body: options.body,
          headersTimeout: timeout,
          bodyTimeout: timeout,
          signal,
        });
        const body = await readCapped(res.body, options.maxBytes ?? DEFAULT_MAX_BYTES, signal);
        return { status: res.statusCode, headers: res.headers, body };
      } catch (err) {
        if (signal.aborted) throw new DeadlineError(timeout);
        throw err;
      }
    },
    close: () => agent.close(),
  };
}
