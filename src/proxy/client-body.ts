// The client's request body as undici gets it. undici writes a stream body one 'data' event at a
// time (client-h1's writeStream: a cork, a write and an uncork, so one writev and, re-framed
// chunked, one upstream chunk each), and node's HTTP/1.1 parser pushes one chunk per chunk of the
// client's chunked framing (HTTP/2: one per DATA frame). A client sending its body in 1-byte
// chunks made one upstream write per byte: a 1 MiB body took 16 s and held the event loop for most
// of a second at a time. Read in paused mode, a Readable hands out everything it holds joined
// (`read()` without a size), and the read is made in the loop's check phase (setImmediate), after
// the poll phase ran the parser over everything the sockets brought: node runs the tick queue after
// each chunk the parser pushes (each is a callback from native code), so a read on 'readable' would
// still take one chunk at a time. What one socket read brought so reaches undici as one write.
// Nothing waits for more data: what is buffered goes in the same turn of the loop (gRPC messages
// are not held back), and nothing is read while undici is paused (backpressure holds the client).
import { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

const kBody = Symbol('tollgate.clientBody');
type Source = IncomingMessage & { [kBody]?: ClientBody; _readableState?: { ended?: boolean } };

/**
 * The body of `raw` for undici: one per request, so a retried attempt (one whose connection could
 * not be made, its body unread) reads the same stream again from its start.
 */
export function clientBody(raw: IncomingMessage): ClientBody {
  return ((raw as Source)[kBody] ??= new ClientBody(raw));
}

/** The upstream exchange paused the client's body: the upstream's connection takes none of it now. */
export function clientBodyHeldBack(raw: IncomingMessage): boolean {
  return (raw as Source)[kBody]?.isPaused() === true;
}

export class ClientBody extends Readable {
  readonly raw: IncomingMessage;
  /** undici asked for more since the last push it refused. */
  wanting = false;
  /** Reading `raw` in paused mode: its 'readable' and 'end' listeners are on. */
  private reading = false;
  /** The whole body was passed on (its end pushed). */
  done = false;
  /** A read of what the client's stream holds is due in the loop's check phase. */
  due = false;

  constructor(raw: IncomingMessage) {
    // No buffer of its own beyond the read it passes on: the client's stream holds the rest.
    super({ highWaterMark: 0 });
    this.raw = raw;
    (raw as Source)[kBody] = this;
    // From the start, as undici's own listeners on the client's stream were: a failure before the
    // exchange reads the body fails it when it does.
    raw.on('error', onRawError);
    raw.on('close', onRawClose);
  }

  override _read(): void {
    this.wanting = true;
    if (!this.reading) {
      // Only once undici reads it (writeH1's read(0), on a connection): an attempt that never got
      // one leaves the client's stream untouched for the next.
      this.reading = true;
      this.raw.on('readable', onRawReadable);
      this.raw.once('end', onRawEnd);
    }
    pull(this);
  }

  /** The client's body ended: so does this one (once, whichever of read() and 'end' saw it first). */
  finish(): void {
    if (this.done || this.destroyed) return;
    this.done = true;
    this.push(null);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const raw = this.raw as Source;
    // As undici destroys a request stream it stops writing (util.destroy): an IncomingMessage is
    // first detached from its socket, so that the client's connection stays up for the answer.
    if (!this.done && !raw.destroyed) {
      if (Object.getPrototypeOf(raw).constructor === IncomingMessage) (raw as { socket: unknown }).socket = null;
      raw.destroy(err ?? undefined);
    }
    // As IncomingMessage: an error nobody listens for (the exchange already over) is not thrown.
    cb(err !== null && this.listenerCount('error') > 0 ? err : null);
  }
}

/** Passes on everything the client's stream holds, as one chunk per read, while undici wants more. */
function pull(body: ClientBody): void {
  const raw = body.raw as Source;
  for (;;) {
    const chunk = raw.read() as Buffer | null;
    if (chunk === null) break;
    if (!body.push(chunk)) {
      body.wanting = false;
      break;
    }
  }
  // Ended with nothing left: ended now, so that undici's read(0) sees the body's whole length (a
  // chunked body already in is sent with a Content-Length, as when undici read the client's stream).
  if (raw.readableLength === 0 && raw._readableState?.ended === true) body.finish();
}

// Listeners shared by every request (no per-request closures): the body hangs on its stream.
function onRawReadable(this: Source): void {
  const body = this[kBody];
  if (body === undefined || !body.wanting || body.due) return;
  body.due = true;
  setImmediate(pullDue, body);
}

function pullDue(body: ClientBody): void {
  body.due = false;
  if (body.wanting && !body.destroyed) pull(body);
}

function onRawEnd(this: Source): void {
  this[kBody]?.finish();
}

function onRawError(this: Source, err: Error): void {
  this[kBody]?.destroy(err);
}

/** Closed before its end (an HTTP/2 stream reset: node ends the request without an error): cut short. */
function onRawClose(this: Source): void {
  const body = this[kBody];
  if (body === undefined || body.destroyed || body.done) return;
  body.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
}
