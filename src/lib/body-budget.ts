/**
 * One budget for the bodies requests hold in memory at once: a request body a plugin reads whole
 * (request-transformer, hmac-auth's digest, key-auth's body keys, request-termination's echo, the
 * echo service) and a response body held for a rewrite or for the cache. Each is capped per
 * request (16 MiB at most), but connections are not counted, so without a budget for the sum a
 * few hundred slow uploads would hold gigabytes (nginx would spool them to disk). Past the budget
 * a request that needs more is answered 503 BODY_MEMORY_FULL; what a request counted is given
 * back when it ends.
 */
import type { EventEmitter } from 'node:events';
import { ProxyError } from '../errors.ts';

/** Bytes of bodies held in memory by all the requests of one process (one worker). */
export const MAX_BUFFERED_BODY_BYTES = 256 * 1024 * 1024;

let max = MAX_BUFFERED_BODY_BYTES;

/** Another budget (tests); returns the one it replaced. */
export function setBufferedBodyBudget(bytes: number): number {
  const previous = max;
  max = bytes;
  return previous;
}

const kHeld = Symbol('tollgate.heldBodyBytes');
type Holder = EventEmitter & { [kHeld]?: number };

let held = 0;

/** Bytes counted now, over all requests (for tests and /status). */
export function bufferedBodyBytes(): number {
  return held;
}

/**
 * Counts `bytes` more of a body held in memory for the request answered by `response`; throws
 * ProxyError BODY_MEMORY_FULL (nothing counted) when the process's budget cannot take them. The
 * request's bytes are given back when its response closes: sent, or its connection gone. (Not the
 * request message's own 'close': node emits it as soon as the body has been read, while the
 * buffer is still on its way upstream.)
 */
export function holdBodyBytes(response: EventEmitter, bytes: number): void {
  // The request is over (a log handler, a plugin's work that outlived it): its 'close' has gone, so
  // bytes counted now would never be given back, and each such request would shrink the budget of
  // the whole process for good. Nothing is counted, as if given back at once.
  if (ended(response)) return;
  if (held + bytes > max) throw new ProxyError('BODY_MEMORY_FULL');
  held += bytes;
  const h = response as Holder;
  if (h[kHeld] === undefined) {
    h[kHeld] = 0;
    response.once('close', release);
  }
  h[kHeld] += bytes;
}

function release(this: Holder): void {
  held -= this[kHeld] ?? 0;
  this[kHeld] = 0;
}

/** The response has closed: HTTP/1's `closed`, or on HTTP/2 its stream's. */
function ended(response: EventEmitter): boolean {
  const r = response as { closed?: boolean; stream?: { closed?: boolean } };
  return r.closed === true || r.stream?.closed === true;
}
