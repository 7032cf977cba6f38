// The attempts of a request at upstream targets, for the log entry's `tries` (Kong's balancer tries).
import { performance } from 'node:perf_hooks';
import { type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import type { RequestContext } from '../pipeline/request.ts';

/** The proxy picked `host:port` for the request's next attempt (Kong's `tries[n]`). */
export function recordAttempt(rc: RequestContext, host: string, port: number): void {
  // The first attempt starts when the upstream phase did (taken already); a retry reads the clock.
  const start = rc.tries === null && rc.upstreamStartedAt > 0 ? rc.upstreamStartedAt : performance.now();
  (rc.tries ??= []).push({ start, ip: host, port, state: null, code: null });
}

/**
 * The last attempt failed and the request goes on to another: nginx's get_last_failure() reports
 * it as `failed`, with 504 for a timeout and 502 for any other failure.
 */
export function attemptFailed(rc: RequestContext, timedOut: boolean): void {
  const last = rc.tries?.at(-1);
  if (last !== undefined) {
    last.state = 'failed';
    last.code = timedOut ? 504 : 502;
  }
}

/**
 * The last attempt failed and the gateway answers its failure: marked `failed` with the status of
 * that answer (502, 503, 504), as Kong's header_filter marks the last try of a request answered
 * 5xx, so a log shows the try that ended the request as failed, not as one that went well.
 */
export function lastAttemptFailed(rc: RequestContext, answer: ProxyErrorCode): void {
  const last = rc.tries?.at(-1);
  if (last !== undefined && last.state === null) {
    last.state = 'failed';
    last.code = ProxyErrors[answer].status;
  }
}
