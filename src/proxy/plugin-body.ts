// A request body stream a plugin gave setUpstreamBody is the plugin's code, running while the
// upstream is sent the request. Its failure is the plugin's, not the upstream's: undici ends the
// exchange with the stream's own error, which without this reached the client as the upstream's
// 502 (`UPSTREAM_BAD_RESPONSE`, `source: kong`) and charged the target's health with it. Kong has
// no streamed replacement body (`kong.service.request.set_raw_body` takes a string), so the rule is
// the one for any plugin failure (phases.ts): a 500 `PLUGIN_FAILED` under the plugin's name while
// nothing was sent, else the client's transfer is cut.
import { ProxyError } from '../errors.ts';
import { clientWentAway, type ProxyRequest } from './context.ts';
import { endIfBodyUnread } from './linger.ts';
import { pluginFailed } from './phases.ts';
import { sendError } from './reply.ts';

const kRequest = Symbol('tollgate.pluginBody');
type PluginBody = NodeJS.ReadableStream & { [kRequest]?: ProxyRequest };

/** The plugin's replacement body stream of `rc`, or null (none, a Buffer, or the client's own body). */
export function pluginBodyStream(rc: ProxyRequest): PluginBody | null {
  const body = rc.upstreamBody;
  return body === null || Buffer.isBuffer(body) || body === rc.raw ? null : (body as PluginBody);
}

/** Notes the stream's failure on its request as it happens (before undici ends the exchange with it). */
export function watchPluginBody(rc: ProxyRequest, body: PluginBody): void {
  if (body[kRequest] !== undefined) return;
  body[kRequest] = rc;
  body.on('error', onBodyError);
}

// Shared by every request (no per-request closure): the request hangs on its stream.
function onBodyError(this: PluginBody, err: Error): void {
  const rc = this[kRequest];
  if (rc !== undefined) rc.pluginBodyError ??= err;
}

/** Whether `err` is the failure of the plugin's body stream (one that failed before the exchange included). */
export function isPluginBodyError(rc: ProxyRequest, err: unknown): boolean {
  if (err == null) return false;
  if (rc.pluginBodyError === err) return true;
  const body = pluginBodyStream(rc) as { errored?: unknown } | null;
  return body !== null && body.errored === err;
}

/**
 * Answers the failure of the plugin's body stream: the catalogued error a stream may fail with on
 * purpose (request-size-limiting's 413), the client's own failure as the client's, anything else
 * as the plugin's. The client's body, when the stream was reading it, is no longer wanted.
 */
export function pluginBodyFailed(rc: ProxyRequest, err: unknown): void {
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
