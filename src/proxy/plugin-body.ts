// A request body stream a plugin gave setUpstreamBody is the plugin's code, running while the
// upstream is sent the request. Its failure is the plugin's, not the upstream's: undici ends the
// exchange with the stream's own error, which without this reached the client as the upstream's
// 502 (`UPSTREAM_BAD_RESPONSE`, `source: kong`) and charged the target's health with it. Kong has
// no streamed replacement body (`kong.service.request.set_raw_body` takes a string), so the rule is
// the one for any plugin failure (phases.ts): a 500 `PLUGIN_FAILED` under the plugin's name while
// nothing was sent, else the client's transfer is cut.
import { ProxyError } from '../errors.ts';
import { bodyFailure, keepBodyError } from '../lib/request-body.ts';
import { clientWentAway, type ProxyRequest } from './context.ts';
import { endIfBodyUnread } from './linger.ts';
import { pluginFailed } from './phases.ts';
import { sendError } from './reply.ts';
import { UPSTREAM_WRITE_TIMEOUT } from './request-checks.ts';

const kRequest = Symbol('tollgate.pluginBody');
type PluginBody = NodeJS.ReadableStream & { [kRequest]?: ProxyRequest };

/** The plugin's replacement body stream of `rc`, or null (none, a Buffer, or the client's own body). */
export function pluginBodyStream(rc: ProxyRequest): PluginBody | null {
  const body = rc.upstreamBody;
  return body === null || Buffer.isBuffer(body) || body === rc.raw ? null : (body as PluginBody);
}

/**
 * Notes the stream's failure on its request as it happens (before undici ends the exchange with
 * it), and bounds its silences by the service's write_timeout, as nginx's proxy_send_timeout
 * bounds the time between two writes of a request body to the upstream: without it a stream that
 * never ends held the client, the upstream connection and the request for good.
 */
export function watchPluginBody(rc: ProxyRequest, body: PluginBody, writeTimeout: number): void {
  if (body[kRequest] !== undefined || writeTimeout <= 0) return;
  body[kRequest] = rc;
  rc.pluginBodyTimeout = writeTimeout;
  // No 'data' listener: it would set the stream flowing before undici reads it, its bytes lost.
  body.once('end', onBodyDone);
  body.once('close', onBodyDone);
  body.once('error', onBodyDone);
}

/**
 * The exchange took a connection (undici writes the request next; the wait for one is
 * connect_timeout's) or wrote a chunk of the stream: write_timeout starts again.
 */
export function pluginBodyMoved(rc: ProxyRequest): void {
  const body = pluginBodyStream(rc);
  if (body === null || rc.pluginBodyTimeout === 0) return;
  if (rc.pluginBodyTimer === null) rc.pluginBodyTimer = setTimeout(onBodyStall, rc.pluginBodyTimeout, body);
  else rc.pluginBodyTimer.refresh();
}

/**
 * The same bounds for the in-process echo upstream, which reads the stream itself (no undici
 * exchange reports its writes): each chunk it takes starts write_timeout again. Called in the tick
 * the echo starts reading, so that no chunk flows before its reader listens.
 */
export function watchEchoBody(rc: ProxyRequest, body: PluginBody, writeTimeout: number): void {
  watchPluginBody(rc, body, writeTimeout);
  if (rc.pluginBodyTimeout === 0) return;
  pluginBodyMoved(rc);
  body.on('data', onEchoChunk);
}

// Shared by every request (no per-request closures): the request hangs on its stream.
function onEchoChunk(this: PluginBody): void {
  this[kRequest]?.pluginBodyTimer?.refresh();
}

function onBodyDone(this: PluginBody): void {
  const rc = this[kRequest];
  if (rc === undefined) return;
  rc.pluginBodyTimeout = 0;
  if (rc.pluginBodyTimer !== null) clearTimeout(rc.pluginBodyTimer);
  rc.pluginBodyTimer = null;
}

/**
 * write_timeout passed without a byte of the stream going out. Paused, the upstream's connection
 * took none of it: the upstream's 504, as for the client's own body. Flowing while the client's
 * body it may be reading still comes, the client's pace (client_body_timeout's 408 bounds it).
 * Otherwise the plugin's stream gave nothing: the plugin's 504 PLUGIN_TIMEOUT.
 */
function onBodyStall(body: PluginBody): void {
  const rc = body[kRequest];
  if (rc === undefined || rc.pluginBodyTimer === null || rc.finished) return;
  const raw = rc.raw;
  if (!body.isPaused() && raw.readableFlowing === true && !raw.complete) return void rc.pluginBodyTimer.refresh();
  rc.pluginBodyTimer = null;
  rc.pluginBodyTimeout = 0;
  const abort = rc.abortUpstream;
  rc.abortUpstream = null;
  if (body.isPaused()) {
    const why = 'upstream write timeout: the upstream took none of the request body for write_timeout';
    rc.error = { code: 'UPSTREAM_TIMEOUT', message: why };
    sendError(rc, 'UPSTREAM_TIMEOUT');
    abort?.(Object.assign(new Error(why), { code: UPSTREAM_WRITE_TIMEOUT }));
  } else {
    const err = new ProxyError(
      'PLUGIN_TIMEOUT',
      'the body stream given to setUpstreamBody sent nothing for write_timeout',
    );
    // Noted as the stream's own failure first: the exchange's end with it is then not the target's.
    keepBodyError.call(body, err);
    pluginFailed(rc, rc.upstreamBodyPlugin, 'access', err);
    abort?.(err);
    // Nobody reads it any more (the echo upstream waits on it): released with the error.
    (body as { destroy?(err: Error): void }).destroy?.(err);
  }
  endIfBodyUnread(rc);
}

/** Whether `err` is the failure of the plugin's body stream (one that failed before the exchange included). */
export function isPluginBodyError(rc: ProxyRequest, err: unknown): boolean {
  // The upstream's write timeout ends the stream with its own error: that one is the upstream's.
  if (err == null || (err as { code?: string }).code === UPSTREAM_WRITE_TIMEOUT) return false;
  const body = pluginBodyStream(rc);
  return body !== null && bodyFailure(body) === err;
}

/**
 * Answers the failure of the plugin's body stream: the catalogued error a stream may fail with on
 * purpose (request-size-limiting's 413), the client's own failure as the client's, anything else
 * as the plugin's. The client's body, when the stream was reading it, is no longer wanted.
 */
export function pluginBodyFailed(rc: ProxyRequest, err: unknown): void {
  // Already answered (the stall's 504): the exchange ends with the error the answer cancelled it with.
  if (rc.error !== null) return;
  if (err instanceof ProxyError) {
    rc.error = { code: err.code, message: err.message };
    sendError(rc, err.code);
  } else if (clientWentAway(rc, err) || rc.raw.errored != null) {
    // A stream over the client's body fails with it: the client's doing, not the plugin's.
    rc.error = { code: 'BAD_REQUEST', message: String((err as Error).message ?? err) };
    sendError(rc, 'BAD_REQUEST');
  } else {
    pluginFailed(rc, rc.upstreamBodyPlugin, 'access', err);
  }
  endIfBodyUnread(rc);
}
