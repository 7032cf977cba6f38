// undici's HTTP/1.1 parser adds up the response head's size after every header name and value
// llhttp hands it, and once past the limit (16 KiB, nginx's "upstream sent too big header" in
// Kong) destroys the socket with a new HeadersOverflowError; but llhttp goes on to the end of the
// chunk it was given, and each header after that builds another error, stack trace included. An
// upstream answering a megabyte of `a:1` lines had the gateway build 200,000 errors in one go,
// holding every other client for half a second per such answer. So the parser's header callbacks
// stop the parse (a non-zero return is llhttp's "callback error") once its socket is destroyed: one
// error is built, the rest of the chunk is dropped with the socket. The parser class is internal to
// undici (package-lock.json pins the version), reached through the symbols undici keeps a client's
// socket and a socket's parser under; its prototype is changed once, from the first HTTP/1.1
// connection's parser.
import type { Dispatcher } from 'undici';

interface Parser {
  socket: { destroyed: boolean };
}
type HeaderCallback = (this: Parser, buf: Buffer) => number;
interface ParserPrototype {
  onHeaderField: HeaderCallback;
  onHeaderValue: HeaderCallback;
}

let guarded = false;

/** Makes undici's parser stop at a head past its limit, through `client`'s connection (once per process). */
export function guardHeaderOverflow(client: Dispatcher): void {
  if (guarded) return;
  const socket = internal(client, 'socket');
  const parser = socket === undefined ? undefined : internal(socket, 'parser');
  // An HTTP/2 connection has no such parser: the next HTTP/1.1 one is used.
  if (parser === undefined) return;
  const proto = Object.getPrototypeOf(parser) as ParserPrototype;
  if (typeof proto.onHeaderField !== 'function' || typeof proto.onHeaderValue !== 'function') return;
  guarded = true;
  proto.onHeaderField = stopWhenDestroyed(proto.onHeaderField);
  proto.onHeaderValue = stopWhenDestroyed(proto.onHeaderValue);
}

function stopWhenDestroyed(callback: HeaderCallback): HeaderCallback {
  return function (this: Parser, buf: Buffer): number {
    return this.socket.destroyed ? -1 : callback.call(this, buf);
  };
}

/** The value `target` keeps under undici's symbol described `name` (`Symbol('socket')`, `Symbol('parser')`). */
function internal(target: object, name: string): object | undefined {
  for (const s of Object.getOwnPropertySymbols(target)) {
    const v = (target as Record<symbol, unknown>)[s];
    if (s.description === name && typeof v === 'object' && v !== null) return v;
  }
  return undefined;
}
