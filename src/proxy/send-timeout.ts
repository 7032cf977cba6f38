// nginx's send_timeout: a response may wait at most `send_timeout` for the client to take more of
// it. Armed while the client's connection is full (a write returned false) and after the answer's
// end while bytes of it are still queued (an HTTP/2 client that never opens its flow-control
// window, say); a client that takes some of it in that time gets the full time again, as nginx
// counts from the last write that made progress. One that takes nothing is disconnected, and the
// upstream exchange ends with it.
//
// An HTTP/2 answer's last bytes are nearly always still queued at its end (the stream's write
// completes a moment later), so the ended ones are not given a timer each: one sweep, running only
// while some are unsent, checks them every SWEEP_MS. Their deadline is send_timeout to
// send_timeout + SWEEP_MS.
import type { ServerResponse } from 'node:http';
import { RequestEndErrors } from '../errors.ts';
import { kCtx, type ProxyRequest, type TrackedResponse } from './context.ts';

/** The upstream is paused until the client's connection drains. */
export function waitForDrain(rc: ProxyRequest): void {
  rc.res.once('drain', onResponseDrain);
  armSendTimeout(rc);
}

const SWEEP_MS = 250;
/** Ended answers with bytes still queued, and when each last made progress. */
const unsent = new Set<ProxyRequest>();
let sweeper: NodeJS.Timeout | null = null;

/** After the answer's end: what is still queued must leave within send_timeout. */
export function watchUnsent(rc: ProxyRequest): void {
  if (rc.finished || rc.sendTimer !== null) return;
  const queued = rc.res.writableLength;
  if (queued === 0) return;
  rc.sendQueued = queued;
  rc.sendSince = Date.now();
  rc.unsentWatched = true;
  unsent.add(rc);
  if (sweeper === null) {
    sweeper = setInterval(sweepUnsent, SWEEP_MS);
    sweeper.unref();
  }
}

/** The request ended: its send deadline goes with it. */
export function stopSendTimeout(rc: ProxyRequest): void {
  if (rc.sendTimer !== null) {
    clearTimeout(rc.sendTimer);
    rc.sendTimer = null;
  }
  if (rc.unsentWatched) {
    rc.unsentWatched = false;
    unsent.delete(rc);
  }
}

function sweepUnsent(): void {
  const now = Date.now();
  for (const rc of unsent) {
    const queued = rc.res.writableLength;
    if (rc.finished || queued === 0) {
      rc.unsentWatched = false;
      unsent.delete(rc);
    } else if (queued < rc.sendQueued) {
      rc.sendQueued = queued;
      rc.sendSince = now;
    } else if (now - rc.sendSince >= rc.runtime.config.settings.send_timeout) {
      rc.unsentWatched = false;
      unsent.delete(rc);
      sendTimedOut(rc);
    }
  }
  if (unsent.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
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
  sendTimedOut(rc);
}

function sendTimedOut(rc: ProxyRequest): void {
  rc.error ??= { code: 'CLIENT_SEND_TIMEOUT', message: RequestEndErrors.CLIENT_SEND_TIMEOUT };
  // With an error: on HTTP/2 the stream is reset as failed (RST_STREAM INTERNAL_ERROR), not as done.
  rc.res.destroy(new Error(RequestEndErrors.CLIENT_SEND_TIMEOUT));
}
