// nginx's send_timeout: a response may wait at most `send_timeout` for the client to take more of
// it. Armed while the client's connection is full (a write returned false) and after the answer's
// end while bytes of it are still queued (an HTTP/2 client that never opens its flow-control
// window, say); a client that takes some of it in that time gets the full time again, as nginx
// counts from the last write that made progress. One that takes nothing is disconnected, and the
// upstream exchange ends with it.
import type { ServerResponse } from 'node:http';
import { RequestEndErrors } from '../errors.ts';
import { kCtx, type ProxyRequest, type TrackedResponse } from './context.ts';

/** The upstream is paused until the client's connection drains. */
export function waitForDrain(rc: ProxyRequest): void {
  rc.res.once('drain', onResponseDrain);
  armSendTimeout(rc);
}

/** After the answer's end: what is still queued must leave within send_timeout. */
export function watchUnsent(rc: ProxyRequest): void {
  if (!rc.finished && rc.res.writableLength > 0) armSendTimeout(rc);
}

function armSendTimeout(rc: ProxyRequest): void {
  if (rc.sendTimer !== null) return;
  rc.sendQueued = rc.res.writableLength;
  rc.sendTimer = setTimeout(onSendTimeout, rc.runtime.config.settings.send_timeout, rc);
}

function onResponseDrain(this: ServerResponse): void {
  const rc = (this as TrackedResponse)[kCtx];
  if (rc === undefined) return;
  if (rc.sendTimer !== null) {
    clearTimeout(rc.sendTimer);
    rc.sendTimer = null;
  }
  rc.resumeUpstream?.();
}

function onSendTimeout(rc: ProxyRequest): void {
  rc.sendTimer = null;
  if (rc.finished) return;
  const queued = rc.res.writableLength;
  if (queued > 0 && queued < rc.sendQueued) return armSendTimeout(rc);
  rc.error ??= { code: 'CLIENT_SEND_TIMEOUT', message: RequestEndErrors.CLIENT_SEND_TIMEOUT };
  // With an error: on HTTP/2 the stream is reset as failed (RST_STREAM INTERNAL_ERROR), not as done.
  rc.res.destroy(new Error(RequestEndErrors.CLIENT_SEND_TIMEOUT));
}
