// HTTP/1.1 pipelining as nginx serves it: one request of a connection at a time. node:http parses
// every pipelined request as it arrives and queues the responses; a request whose response waits
// behind another is handled only when its turn comes (its response gets the socket). So one client
// connection never holds more than one upstream exchange, and a client that leaves takes the
// requests not yet begun with it: node destroys them, and nothing was started for them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Pipelined requests one connection may have waiting; past it the connection is closed (abuse). */
export const MAX_PIPELINED_WAITING = 100;

/**
 * Bytes of request heads one connection may have waiting; past it the connection is closed too.
 * node parses whatever arrives, where nginx reads the next request only once the current one is
 * answered: 99 heads of 16 KiB behind a request to a slow upstream were all held, 2 MB per
 * connection for as long as the first took (400 such connections: 700 MB more). Four heads of the
 * largest size allowed (32 KiB); a hundred of 1.3 KiB.
 */
export const MAX_PIPELINED_WAITING_BYTES = 128 * 1024;

const kWaiting = Symbol('tollgate.pipelinedWaiting');
const kWaitingBytes = Symbol('tollgate.pipelinedWaitingBytes');
type CountedSocket = Socket & { [kWaiting]?: number; [kWaitingBytes]?: number };

/** The size of `req`'s head as sent, near enough: request line and header lines. */
function headBytes(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 14;
  for (let i = 0; i < raw.length; i++) n += raw[i]!.length + 2;
  return n;
}

/**
 * Defers `run` until `res` has the connection. Returns false when the connection already has
 * MAX_PIPELINED_WAITING requests, or MAX_PIPELINED_WAITING_BYTES of heads, waiting: it is closed,
 * and this one is dropped with the rest.
 */
export function waitForTurn(req: IncomingMessage, res: ServerResponse, run: () => void): boolean {
  const socket = req.socket as CountedSocket;
  const waiting = (socket[kWaiting] ?? 0) + 1;
  const size = headBytes(req);
  const bytes = (socket[kWaitingBytes] ?? 0) + size;
  if (waiting > MAX_PIPELINED_WAITING || bytes > MAX_PIPELINED_WAITING_BYTES) {
    socket.destroy();
    return false;
  }
  socket[kWaiting] = waiting;
  socket[kWaitingBytes] = bytes;
  res.once('socket', () => {
    socket[kWaiting] = (socket[kWaiting] ?? 1) - 1;
    socket[kWaitingBytes] = (socket[kWaitingBytes] ?? size) - size;
    run();
  });
  return true;
}
