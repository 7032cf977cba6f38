// HTTP/1.1 pipelining as nginx serves it: one request of a connection at a time. node:http parses
// every pipelined request as it arrives and queues the responses; a request whose response waits
// behind another is handled only when its turn comes (its response gets the socket). So one client
// connection never holds more than one upstream exchange, and a client that leaves takes the
// requests not yet begun with it: node destroys them, and nothing was started for them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** Pipelined requests one connection may have waiting; past it the connection is closed (abuse). */
export const MAX_PIPELINED_WAITING = 100;

const kWaiting = Symbol('tollgate.pipelinedWaiting');
type CountedSocket = Socket & { [kWaiting]?: number };

/**
 * Defers `run` until `res` has the connection. Returns false when the connection already has
 * MAX_PIPELINED_WAITING requests waiting: it is closed, and this one is dropped with the rest.
 */
export function waitForTurn(req: IncomingMessage, res: ServerResponse, run: () => void): boolean {
  const socket = req.socket as CountedSocket;
  const waiting = (socket[kWaiting] ?? 0) + 1;
  if (waiting > MAX_PIPELINED_WAITING) {
    socket.destroy();
    return false;
  }
  socket[kWaiting] = waiting;
  res.once('socket', () => {
    socket[kWaiting] = (socket[kWaiting] ?? 1) - 1;
    run();
  });
  return true;
}
