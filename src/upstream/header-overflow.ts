// undici's HTTP/1.1 parser adds up the response head's size after every header name and value
// llhttp hands it, and once past the limit (16 KiB, nginx's "upstream sent too big header" in
// Kong) destroys the socket with a new HeadersOverflowError; but llhttp goes on to the end of the
// chunk it was given, and each header after that builds another error, stack trace included. An
// upstream answering a megabyte of `a:1` lines had the gateway build 200,000 errors in one go,
// holding every other client for half a second per such answer. So the parser's header callbacks
// stop the parse (a non-zero return is llhttp's "callback error") once its socket is destroyed: one
// error is built, the rest of the chunk is dropped with the socket.
//
// Every undici client needs it, not only the upstreams' pools: http-log's receiver, an OIDC
// provider's discovery document and a JWKS endpoint are answered through undici too (the package's
// Agent, or node's own copy behind the global fetch, a parser class of its own). Both copies
// announce each new connection on the `undici:client:connected` diagnostics channel, after the
// connection's parser exists and before it has read a byte: the guard is installed there, on each
// parser class's prototype the first time a connection of that class is seen. The parser classes
// are internal to undici (package-lock.json pins the package's version; node's copy comes with
// node), reached through the symbols undici keeps a socket's parser under.
import { subscribe } from 'node:diagnostics_channel';

interface Parser {
  socket: { destroyed: boolean };
}
type HeaderCallback = (this: Parser, buf: Buffer) => number;
interface ParserPrototype {
  onHeaderField: HeaderCallback;
  onHeaderValue: HeaderCallback;
}

/** The parser prototypes already guarded (the package's, node's). */
const guarded = new WeakSet<object>();

/** Makes the parser class of `socket`'s connection stop at a head past its limit (once per class). */
export function guardSocketParser(socket: object): void {
  const parser = internal(socket, 'parser');
  // An HTTP/2 connection has no such parser.
  if (parser === undefined) return;
  const proto = Object.getPrototypeOf(parser) as ParserPrototype;
  if (guarded.has(proto)) return;
  guarded.add(proto);
  if (typeof proto.onHeaderField !== 'function' || typeof proto.onHeaderValue !== 'function') return;
  proto.onHeaderField = stopWhenDestroyed(proto.onHeaderField);
  proto.onHeaderValue = stopWhenDestroyed(proto.onHeaderValue);
}

subscribe('undici:client:connected', (message) => {
  const socket = (message as { socket?: unknown }).socket;
  if (typeof socket === 'object' && socket !== null) guardSocketParser(socket);
});

function stopWhenDestroyed(callback: HeaderCallback): HeaderCallback {
  return function (this: Parser, buf: Buffer): number {
    return this.socket.destroyed ? -1 : callback.call(this, buf);
  };
}

/** The value `target` keeps under undici's symbol described `name` (`Symbol('parser')`). */
function internal(target: object, name: string): object | undefined {
  for (const s of Object.getOwnPropertySymbols(target)) {
    const v = (target as Record<symbol, unknown>)[s];
    if (s.description === name && typeof v === 'object' && v !== null) return v;
  }
  return undefined;
}
