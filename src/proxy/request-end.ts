// The end of a request, whatever ended it (a full answer, a client gone, a refused upgrade): the
// log phase, the access line, the observers (metrics), and the runtime's in-flight count.
import type { ServerResponse } from 'node:http';
import { constants, type Http2ServerResponse } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { LogEntryImpl } from '../pipeline/request.ts';
import { writeAccessLine } from './access-log.ts';
import { kCtx, type ProxyRequest, type TrackedResponse } from './context.ts';
import { runPhase } from './phases.ts';
import { stopSendTimeout } from './send-timeout.ts';
import { upstreamTarget } from './upstream-request.ts';

const { NGHTTP2_NO_ERROR } = constants;

/** The response's 'close' listener (shared, `this` is the response). */
export function onResponseClose(this: ServerResponse): void {
  const rc = (this as TrackedResponse)[kCtx];
  if (rc === undefined || rc.finished) return;
  rc.finished = true;
  stopSendTimeout(rc);
  if (!this.writableFinished || (rc.onSession && streamAborted(this))) {
    // The client went away (or we destroyed the response): cancel the upstream exchange.
    rc.abortUpstream?.(new Error('client closed the connection'));
    rc.error ??= { code: 'CLIENT_CLOSED', message: 'client closed the connection' };
    if (rc.status === 0) rc.status = 499;
  }
  rc.abortUpstream = null;
  finish(rc);
}

/**
 * Whether an HTTP/2 response ended without a complete answer. Node ends an Http2Stream's writable
 * side when it destroys the stream, so `writableFinished` is true after a RST_STREAM or a closed
 * connection too; the stream's reset code (NO_ERROR only after a clean close) and whether we ended
 * the response tell. nginx finalizes every stream of a closed connection the same way.
 */
function streamAborted(res: ServerResponse): boolean {
  const h2 = res as unknown as Http2ServerResponse;
  return !h2.writableEnded || (h2.stream.rstCode ?? 0) !== NGHTTP2_NO_ERROR;
}

export function finish(rc: ProxyRequest): void {
  const rt = rc.runtime;
  const gw = rc.gw;
  const latency = performance.now() - rc.startedAt;
  // Marked only for a chunked HTTP/1 body (see prepare), the one length the socket's count tells.
  const start = rc.bytesReceivedAtStart;
  const socketBytes = start < 0 ? 0 : Math.max(0, (rc.raw.socket?.bytesRead ?? start) - start);
  rc.bytesReceived = requestLength(rc, socketBytes);
  if (rc.pipeline.hasLog) {
    const svc = rc.compiled?.service ?? null;
    // Once the upstream was called, whether it answered or not: Kong's upstream_uri is set before
    // the balancer runs, so its log entry of a refused connection or a timeout (502, 504) has it.
    const entry = new LogEntryImpl(
      rc,
      latency,
      svc !== null && rc.upstreamStartedAt > 0 ? upstreamTarget(rc, svc) : null,
    );
    runPhase(rc, 'log', entry);
  }
  if (gw.accessLog) writeAccessLine(rc, latency);
  for (const o of gw.observers) o(rc);
  gw.requestsFinished++;
  rt.inflight--;
  if (rt.retired && rt.inflight === 0) gw.release(rt);
}

/**
 * Bytes of the request as nginx's `$request_length` counts them (request line, headers, body).
 * The socket's byte count alone cannot tell: by the time a request is handled, its head and often
 * its body have already been read. A chunked body without Content-Length counts what the socket read.
 */
function requestLength(rc: ProxyRequest, socketBytes: number): number {
  const req = rc.raw;
  const raw = req.rawHeaders;
  // `METHOD URL HTTP/1.1\r\n` and the blank line that ends the head: 14 bytes besides the two.
  let n = rc.method.length + (req.url?.length ?? 0) + 14;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 4;
  const cl = rc.headers['content-length'];
  if (typeof cl === 'string') {
    const len = Number(cl);
    if (len > 0) n += len;
  } else if (rc.headers['transfer-encoding'] !== undefined) {
    n += socketBytes;
  }
  return n;
}

/**
 * A request the HTTP parser refused: no route; the global plugins' log phase (Kong's error page for
 * nginx's 400, 414 or 494 runs its log phase with the global plugins), the access line, the observers.
 */
export function finishRefused(rc: ProxyRequest): void {
  rc.finished = true;
  const gw = rc.gw;
  const latency = performance.now() - rc.startedAt;
  if (rc.pipeline.hasLog) runPhase(rc, 'log', new LogEntryImpl(rc, latency, null));
  if (gw.accessLog) writeAccessLine(rc, latency);
  for (const o of gw.observers) o(rc);
}
