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
  // The calls in flight, cut when closing (undici's destroy() after close() does not). One
  // controller per call: a signal derived from one long-lived signal per call would be kept by it.
  const inFlight = new Set<AbortController>();
  return {
    async request(url, options = {}) {
      const timeout = options.timeout ?? 10_000;
      // One deadline for the whole exchange: undici's own timeouts only bound idle gaps, so a
      // peer trickling bytes would otherwise hold the call forever.
      const deadline = AbortSignal.timeout(timeout);
      const cut = new AbortController();
      const signal = AbortSignal.any([deadline, cut.signal]);
      const u = new URL(url);
      inFlight.add(cut);
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
        if (deadline.aborted) throw new DeadlineError(timeout);
        throw err;
      } finally {
        inFlight.delete(cut);
      }
    },
    async close() {
      // A call in flight to a peer that hangs (a JWKS fetch at the open step) would hold close(),
      // and with it the gateway's exit, for its whole deadline (up to 60 s): it gets CLOSE_WAIT_MS
      // to end, then is cut.
      let timer: NodeJS.Timeout | undefined;
      const closed = agent.close();
      await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
      clearTimeout(timer);
      for (const cut of inFlight) cut.abort(new Error('the HTTP client was closed'));
      await closed;
    },
  };
}

/** How long closing the client waits for the calls in flight. */
const CLOSE_WAIT_MS = 1000;
