// The end of a connection whose request body was still coming when its answer ended: the upstream
// answered before reading it all (an early 401, 413 or 200), or the gateway answered with an
// error. The body was handed to the upstream exchange, which dropped it; node's server then neither
// reads the rest nor lets the connection carry another request, so a keep-alive answer left the
// client waiting for client_body_timeout. nginx discards the rest or closes with a "lingering
// close". Here the answer is followed by our FIN at once (HTTP/1.1 lets a server close a kept-alive
// connection after any response), and the connection is destroyed once the client closes too or
// LINGER_MS later. Closing outright with the client's bytes unread would make the kernel send a
// reset, which may discard the answer before the client reads it.
// On HTTP/2 the stream is reset with NO_ERROR after the answer (RFC 9113 8.1: a server may ask a
// client to stop sending a request it no longer needs); the session goes on. A gRPC answer ends
// with trailers, sent only once its last DATA is out: the reset waits for them, or the client (a
// bidi or client-streaming call the upstream ended first) lost the call's status.
import { constants as h2 } from 'node:http2';
import type { Socket } from 'node:net';
import { hasRequestBody } from '../lib/request-body.ts';
import type { ProxyRequest } from './context.ts';

/** nginx's lingering_timeout: how long the client gets to close after our FIN. */
export const LINGER_MS = 5000;

const { NGHTTP2_NO_ERROR } = h2;

interface ClientStream {
  destroyed: boolean;
  close(code?: number): void;
  once(event: 'wantTrailers', listener: () => void): void;
}

/** After `rc.res.end()`: ends the connection (or stream) when the client's body is still unread. */
export function endIfBodyUnread(rc: ProxyRequest): void {
  if (rc.raw.complete || !hasRequestBody(rc)) return;
  const stream = (rc.res as { stream?: ClientStream }).stream;
  if (stream !== undefined) {
    if (stream.destroyed) return;
    // The head asked for trailers (a gRPC answer not in Trailers-Only form): the response sends
    // them on 'wantTrailers', in a listener added before this one. A reset submitted in the same
    // tick drops them from nghttp2's queue; after the session's pending frames went out (its
    // write runs as a native immediate, before ours) it follows them.
    const head = rc.streamResponseHeaders;
    if (rc.grpcCall && head !== null && head['grpc-status'] === undefined)
      stream.once('wantTrailers', () => setImmediate(closeStream, stream));
    else stream.close(NGHTTP2_NO_ERROR);
    return;
  }
  const socket = rc.res.socket;
  if (socket === null || socket.destroyed) return;
  endLingering(socket);
}

function closeStream(stream: ClientStream): void {
  if (!stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
}

/**
 * Sends `last` (if any) and our FIN, and destroys the socket LINGER_MS later unless the client
 * closed first: a client that never closes its side (a slowloris after its 408) holds no
 * descriptor beyond that.
 */
export function endLingering(socket: Socket, last?: string): void {
  if (last === undefined) socket.end();
  else socket.end(last);
  setTimeout(destroyLingering, LINGER_MS, socket).unref();
}

function destroyLingering(socket: Socket): void {
  socket.destroy();
}
