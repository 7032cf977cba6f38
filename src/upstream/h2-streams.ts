// undici's HTTP/2 client as the gateway's gRPC upstreams need it (its graceful GOAWAY handling:
// see guardH2Streams), and under the gateway's backpressure. When the client is slower than the
// upstream, the exchange pauses the upstream stream (undici's `stream.pause()`); two things undici
// gets wrong then, both on every gRPC route:
//
// - It completes the response at the trailers' HEADERS frame and drops its 'data' listeners, though
//   DATA received before that frame may still sit in the paused stream's buffer: the tail of the
//   answer (up to a flow-control window) was lost and the answer ended with the upstream's
//   `grpc-status: 0`, a truncated message passed off as complete. The trailers are held here until
//   the buffered DATA went out, as they came after it on the wire.
// - Its body timeout is the stream's idle timer, which runs while the gateway itself is not
//   reading: a client that paused longer than read_timeout had its call cut as the upstream's
//   timeout. nginx's read timeout waits only for an upstream it wants to read from (undici's
//   HTTP/1.1 client does not count a paused response either); the wait for the client is
//   send_timeout's. The timer stops while the stream is paused and starts again on resume.
import { type ClientHttp2Session, type ClientHttp2Stream, constants } from 'node:http2';
import type { Dispatcher } from 'undici';

const kGuarded = Symbol('tollgate.h2Guarded');
const { NGHTTP2_NO_ERROR } = constants;

/** undici keeps a client's HTTP/2 session under a symbol of its own (`http2Session`). */
function sessionOf(client: Dispatcher): ClientHttp2Session | null {
  for (const s of Object.getOwnPropertySymbols(client)) {
    if (s.description !== 'http2Session') continue;
    const session = (client as unknown as Record<symbol, unknown>)[s];
    if (session !== null && typeof session === 'object' && 'request' in session) return session as ClientHttp2Session;
  }
  return null;
}

/**
 * Makes the streams of `client`'s HTTP/2 session (once it connected) keep their trailers behind
 * their DATA, and stop their idle timer while paused (restarted at `readTimeout` on resume). A
 * graceful GOAWAY (NO_ERROR) calls `goneAway` instead of reaching undici, which destroyed the
 * session with the streams the upstream had promised to finish (a gRPC server's graceful stop,
 * at every rolling deploy); node closes the session once they are done, as RFC 9113 6.8 and nginx
 * do, and the pool must not give the connection another request. False when the client holds no
 * HTTP/2 session (an HTTP/1.1 connection).
 */
export function guardH2Streams(client: Dispatcher, readTimeout: number, goneAway: () => void): boolean {
  const session = sessionOf(client) as (ClientHttp2Session & { [kGuarded]?: true }) | null;
  if (session === null) return false;
  if (session[kGuarded]) return true;
  session[kGuarded] = true;
  const emit = session.emit;
  session.emit = function guardedSessionEmit(this: ClientHttp2Session, event: string | symbol, ...args: unknown[]) {
    if (event === 'goaway' && args[0] === NGHTTP2_NO_ERROR) {
      goneAway();
      return true;
    }
    return emit.call(this, event, ...args);
  } as typeof session.emit;
  const request = session.request;
  session.request = function guardedRequest(this: ClientHttp2Session, ...args: Parameters<typeof request>) {
    const stream = request.apply(this, args);
    guardStream(stream, readTimeout);
    return stream;
  } as typeof request;
  return true;
}

function guardStream(stream: ClientHttp2Stream, readTimeout: number): void {
  const emit = stream.emit;
  let heldTrailers: unknown[] | null = null;
  stream.emit = function guardedEmit(this: ClientHttp2Stream, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'trailers' && this.readableLength > 0) {
      heldTrailers = args;
      return true;
    }
    const handled = emit.call(this, event, ...args);
    if (event === 'data' && heldTrailers !== null && this.readableLength === 0) {
      const trailers = heldTrailers;
      heldTrailers = null;
      emit.call(this, 'trailers', ...trailers);
      // The answer is complete: what is left to read is the end, which closes the stream.
      this.resume();
    }
    return handled;
  } as typeof stream.emit;

  let timerStopped = false;
  const pause = stream.pause;
  stream.pause = function guardedPause(this: ClientHttp2Stream) {
    this.setTimeout(0);
    timerStopped = true;
    return pause.call(this);
  };
  const resume = stream.resume;
  stream.resume = function guardedResume(this: ClientHttp2Stream) {
    if (timerStopped && !this.destroyed) {
      timerStopped = false;
      this.setTimeout(readTimeout);
    }
    return resume.call(this);
  };
}
