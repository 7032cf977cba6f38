// How the exchanges with an upstream (HTTP and WebSocket) read what went wrong: interim responses
// without end, what an answer or a failure tells the passive health checks, which failures are
// retried, and the gateway's error for each.
import { performance } from 'node:perf_hooks';
import type { ProxyErrorCode } from '../errors.ts';
import type { CompiledService } from '../pipeline/runtime.ts';
import type { Outcome } from '../upstream/balancer.ts';
import { POOL_FULL, POOL_QUEUE_TIMEOUT } from '../upstream/pool.ts';

/**
 * Interim (1xx) responses before an answer. undici restarts its head timer on each, so an upstream
 * sending them without end (a 103 flood, or one every few seconds) would hold the request, and with
 * a fast flood a core, for as long as it likes. The final head must follow the first interim
 * response within read_timeout (checked as each arrives; undici's timer bounds the wait for the
 * next), and at most MAX_INTERIM_RESPONSES may come.
 */
export class InterimCount {
  private count = 0;
  private firstAt = 0;

  /** Null when one more is accepted, else the error the exchange ends with (502 or 504). */
  next(svc: CompiledService): 'UPSTREAM_BAD_RESPONSE' | 'UPSTREAM_TIMEOUT' | null {
    const now = performance.now();
    if (this.count++ === 0) this.firstAt = now;
    if (this.count > MAX_INTERIM_RESPONSES) return 'UPSTREAM_BAD_RESPONSE';
    if (now - this.firstAt > svc.readTimeout) return 'UPSTREAM_TIMEOUT';
    return null;
  }
}

/** Real servers send one or two (a 100 Continue, an Early Hints); a few dozen leaves room. */
export const MAX_INTERIM_RESPONSES = 32;

export const INTERIM_MESSAGES = {
  UPSTREAM_BAD_RESPONSE: `upstream sent more than ${MAX_INTERIM_RESPONSES} interim (1xx) responses`,
  UPSTREAM_TIMEOUT: 'no final response within read_timeout of the first interim (1xx) response',
} as const;

/**
 * What an upstream's answer tells the passive health checks of its target. Kong reports a 504 as a
 * timeout (`report_timeout`, whether nginx or the upstream said it), every other status as itself:
 * an upstream that answers 504 counts against `unhealthy.timeouts`, not `http_failures`.
 */
export function passiveAnswer(status: number): Outcome {
  return status === 504 ? { failure: 'timeout' } : { status };
}

/**
 * What a failed attempt tells the passive health checks of its target: a timeout, a tcp failure, or
 * nothing (null) when the failure was the gateway's own. A request head the HTTP client refused to
 * send (UND_ERR_INVALID_ARG) never reached the target; a request that found the target's
 * `upstream_max_connections` queue full, or waited its connect_timeout in that queue, met the
 * gateway's limit, not the target (nginx does not count `max_conns` against a server either).
 * Counted, a burst past the limit marked a healthy target down, for good with passive checks only.
 * A target name that did not resolve (ENOTFOUND, EAI_AGAIN) is not a failure of the target either:
 * Kong's ring leaves a target without addresses out until DNS answers again, without marking its
 * health; counted, a DNS outage kept a target down after DNS recovered.
 */
export function passiveFailure(code: string): Outcome | null {
  if (code === 'UND_ERR_INVALID_ARG' || code === POOL_FULL || code === POOL_QUEUE_TIMEOUT) return null;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return null;
  return code.includes('TIMEOUT') ? { failure: 'timeout' } : { failure: 'tcp', cause: code };
}

/**
 * Failures nginx's `proxy_next_upstream error` (Kong's retries) tries the next attempt on, before
 * any of the response came: the connect failed, or the connection failed while the request went
 * out or its head was awaited (typically a kept-alive connection the upstream closed just then).
 * Timeouts are not retried: a slow upstream would get the same request `retries` more times.
 */
export function isRetryableFailure(code: string, err: Error): boolean {
  if (answeredUnreadably(err)) return false;
  return (
    code === 'ECONNREFUSED' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'UND_ERR_SOCKET'
  );
}

/**
 * undici ends the connection with a plain socket error (UND_ERR_SOCKET, as for a connection the
 * upstream closed) when the upstream answered with a head it does not take: a `100 Continue` (the
 * gateway never sends `Expect` upstream, and undici's HTTP/1.1 client refuses an unasked one) or a
 * `101` to a request that asked for no upgrade. The upstream got the request and answered it: that
 * is nginx's `invalid_header`, which Kong's default `proxy_next_upstream error timeout` does not
 * retry. Retried, each attempt ran the request again on the upstream.
 */
function answeredUnreadably(err: Error): boolean {
  return (
    (err as { code?: string }).code === 'UND_ERR_SOCKET' &&
    (err.message === 'bad response' || err.message === 'bad upgrade')
  );
}

/**
 * Failures to make the connection: the request was not written, so no upstream saw any of it. A
 * target of an upstream whose name does not resolve is one too: Kong's balancer leaves a target
 * without addresses out of the ring, so its share goes to the others. (A plain service's name has
 * nowhere else to go: its 503 comes at once.)
 */
export function isConnectFailure(code: string, svc: CompiledService): boolean {
  return (
    code === 'ECONNREFUSED' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'EHOSTUNREACH' ||
    code === 'ENETUNREACH' ||
    ((code === 'ENOTFOUND' || code === 'EAI_AGAIN') && svc.balancer?.fromUpstream === true)
  );
}

export function upstreamErrorCode(code: string): ProxyErrorCode {
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === POOL_QUEUE_TIMEOUT
  ) {
    return 'UPSTREAM_TIMEOUT';
  }
  if (code === POOL_FULL) return 'UPSTREAM_QUEUE_FULL';
  // The upstream's name did not resolve (the lookup reports ENOTFOUND or EAI_AGAIN): Kong's 503.
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'UPSTREAM_NAME_RESOLUTION';
  return 'UPSTREAM_BAD_RESPONSE';
}
