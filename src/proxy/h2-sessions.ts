// HTTP/2 sessions get HTTP/1.1's header and idle timeouts. Node's http2 has neither: its session
// timeout counts any frame as activity (a client sending a SETTINGS or a PING now and then keeps a
// session without streams forever) and nothing bounds the time a header block takes to complete.
// One listener-wide interval (as node:http's connectionsCheckingInterval) checks every session:
//
// - a header block that has begun (nghttp2 counts its stream as processed, `lastProcStreamID`)
//   but has not completed (node has not emitted the stream) for `client_header_timeout` closes the
//   session: HTTP/2 forbids any other frame while a header block is open (RFC 9113 section 6.10),
//   so nothing else can arrive on it. The close is a GOAWAY at once: streams already open finish.
// - a session without open streams for `keepalive_timeout` (nginx's keepalive_timeout on HTTP/2)
//   is closed the same way; a fresh session must open its first stream within the shorter of
//   `client_header_timeout` and `keepalive_timeout`, as a fresh HTTP/1.1 connection must send its
//   first request head.
//
// - a session with frames waiting to be written whose socket has taken nothing for `send_timeout`
//   is cut, socket included, whatever its streams are doing: nginx's send_timeout on an HTTP/2
//   connection (a write that makes no progress for it closes the connection, "client timed out").
//   Without it, a stream waiting on its upstream kept a connection whose client reads nothing
//   open as long as that stream lived; and node can leave a TLS session whose client has gone
//   with a write that never completes, reading nothing more (so it never sees the reset), its
//   streams reset but never closed: held for ever, with every request of it in flight.
//
// Per-stream body stalls are the request's own timer (client_body_timeout, request-checks.ts).
//
// A closing session (ended here, or closed by node: the client's GOAWAY, an error, shutdown)
// without streams is cut, socket included, a second after node ended its side of the connection
// (the peer does not close its own), or `send_timeout` after its last stream when node is still
// waiting to write: node's close and destroy both wait for the socket's pending writes before they
// close it, and a peer that reads nothing (a zero window on the TCP side) never lets them finish,
// so such a connection, with the kernel's send buffer full of what it never read, was held for as
// long as the peer kept it. A peer that reads has had send_timeout to take the last of its answers
// (nginx's bound on a write without progress): cutting sooner could reset one still reading them.

import {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';

const { NGHTTP2_NO_ERROR } = constants;

interface Watch {
  /** Highest stream id node emitted (its header block completed). */
  seen: number;
  open: number;
  /** When the session last had no open stream (ms, performance.now()). */
  idleSince: number;
  /** A header block in progress: its stream id, and since when it was first seen. */
  pendingId: number;
  pendingSince: number;
  /** When the session was seen closing (ms), 0 before. */
  closingSince: number;
  /** The session's own socket (`session.socket` is a Proxy that refuses destroy()). */
  socket: Socket;
  /** The socket's bytesWritten at the last check, and since when (ms) frames wait without it moving. */
  written: number;
  writeSince: number;
}

/** The least time a closing session without streams is given to finish its writes. */
const CUT_MS = 1000;

const noop = (): void => undefined;

const kWatch = Symbol('tollgate.h2.watch');
type WatchedSession = ServerHttp2Session & { [kWatch]?: Watch };
type WatchedStream = ServerHttp2Stream & { [kWatch]?: Watch };

// Shared listeners (`this` is the session or the stream): no closures per stream.
function onStream(this: ServerHttp2Session, stream: ServerHttp2Stream): void {
  const w = (this as WatchedSession)[kWatch]!;
  const id = stream.id ?? 0;
  if (id > w.seen) w.seen = id;
  w.open++;
  // The stream's own reference: node unlinks a stream from its session before 'close'.
  (stream as WatchedStream)[kWatch] = w;
  stream.on('close', onStreamClose); // 'close' comes once; `on` spares the once-wrapper
}

function onStreamClose(this: ServerHttp2Stream): void {
  const w = (this as WatchedStream)[kWatch]!;
  w.open--;
  if (w.open === 0) w.idleSince = performance.now();
}

export interface SessionLimits {
  headerTimeoutMs: number;
  idleTimeoutMs: number;
  /** The serving config's send_timeout (it may change with a reload). */
  sendTimeoutMs: () => number;
}

/** Watches the sessions of `server`; returns a function that stops watching. */
export function watchSessions(server: Http2SecureServer | Http2Server, limits: SessionLimits): () => void {
  const watched = new Map<ServerHttp2Session, Watch>();
  const header = limits.headerTimeoutMs > 0 ? limits.headerTimeoutMs : Number.POSITIVE_INFINITY;
  // keepalive_timeout 0 (nginx: no keep-alive) closes a session at the first check after its last
  // stream ends; a fresh session still gets the header timeout to open its first one.
  const idle = limits.idleTimeoutMs;
  const firstIdle = idle > 0 ? Math.min(header, idle) : header;
  if (firstIdle === Number.POSITIVE_INFINITY) return () => undefined;

  server.on('session', (session: ServerHttp2Session) => {
    // node routes the proxy's EventEmitter methods to the socket, and they return it.
    const socket = session.socket.removeListener('close', noop) as Socket;
    const w: Watch = {
      seen: 0,
      open: 0,
      idleSince: performance.now(),
      pendingId: 0,
      pendingSince: 0,
      closingSince: 0,
      socket,
      written: 0,
      writeSince: 0,
    };
    watched.set(session, w);
    (session as WatchedSession)[kWatch] = w;
    session.once('close', () => watched.delete(session));
    session.on('stream', onStream);
  });

  const check = (): void => {
    const now = performance.now();
    for (const [session, w] of watched) {
      // A destroyed session has no state left to read; what holds it is its socket (below).
      const state = session.destroyed ? null : session.state;
      if (
        state !== null &&
        writeStalled(w, (state.outboundQueueSize ?? 0) + unflushed(w.socket), now, limits.sendTimeoutMs())
      ) {
        cut(session, w);
        continue;
      }
      if (state === null || session.closed) {
        if (w.closingSince === 0) w.closingSince = now;
        // Once node has ended its side, everything has been written and only the peer's close is
        // missing; until then, what is left is an answer the peer may still be reading.
        const grace = w.socket.writableEnded ? CUT_MS : Math.max(CUT_MS, limits.sendTimeoutMs());
        if (w.open === 0 && now - Math.max(w.closingSince, w.idleSince) >= grace) cut(session, w);
        continue;
      }
      const begun = state.lastProcStreamID ?? 0;
      if (begun > w.seen) {
        if (w.pendingId !== begun) {
          w.pendingId = begun;
          w.pendingSince = now;
        } else if (now - w.pendingSince >= header) {
          endSession(session, w);
        }
        continue;
      }
      w.pendingId = 0;
      if (w.open === 0 && now - w.idleSince >= (w.seen === 0 ? firstIdle : idle)) endSession(session, w);
    }
  };
  const timer = setInterval(check, Math.max(50, Math.min(1000, Math.floor(firstIdle / 4))));
  timer.unref();
  const stop = (): void => clearInterval(timer);
  server.once('close', stop);
  return stop;
}

/**
 * Bytes the socket's handle holds that have not reached the kernel: a TLS socket's encrypted
 * output, a TCP socket's queued writes. nghttp2 hands its frames to the handle, not to the socket's
 * JS writable side, so `writableLength` does not see them.
 */
function unflushed(socket: Socket): number {
  return (socket as Socket & { _handle?: { writeQueueSize?: number } | null })._handle?.writeQueueSize ?? 0;
}

/**
 * Whether frames have waited `ms` with the socket taking none of them: bytes written, or nothing
 * queued, start the count again (nginx counts send_timeout from the last write that made progress).
 */
function writeStalled(w: Watch, queued: number, now: number, ms: number): boolean {
  const written = w.socket.bytesWritten;
  if (queued === 0 || written !== w.written || w.writeSince === 0) {
    w.written = written;
    w.writeSince = now;
    return false;
  }
  return ms > 0 && now - w.writeSince >= ms;
}

/**
 * GOAWAY; the socket closes once the streams still open are done (each bounded by its own
 * timeouts) and what they sent has left; the check cuts it when that does not happen.
 */
function endSession(session: ServerHttp2Session, w: Watch): void {
  // close() alone sends its GOAWAY only once the open streams are done: say it now, naming the
  // last stream that will be answered (a stream whose header block never completed is not, and
  // the client may retry it elsewhere).
  session.goaway(NGHTTP2_NO_ERROR, w.seen);
  session.close();
  w.closingSince = performance.now();
}

/** Ends a closing session that has not finished: its socket too, whatever it still has to write. */
function cut(session: ServerHttp2Session, w: Watch): void {
  if (!session.destroyed) session.destroy();
  w.socket.destroy();
}
