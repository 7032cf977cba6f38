// A request body relayed to the upstream from a source stream (the client's body, or the stream an
// earlier plugin set) through a plugin's own handling of each chunk: request-size-limiting counts
// it, grpc-web decodes its base64. Made for `req.setUpstreamBody()`.
import { Readable } from 'node:stream';

const kBody = Symbol('tollgate.relayedBody');
type Source = NodeJS.ReadableStream & { [kBody]?: RelayedBody };

/**
 * It reads its source only once its consumer (undici, or the echo upstream) reads it: an error
 * raised before anyone listens would be lost, and the upstream exchange would wait for a body that
 * never comes. A subclass handles each chunk in `received`, passing bytes on with `relay` or
 * failing the body with `refuse`; the source's end ends the body (`ended`, which a subclass may
 * extend to flush what it holds). The listeners on the source are functions every request shares.
 */
export abstract class RelayedBody extends Readable {
  protected readonly source: NodeJS.ReadableStream;
  private started = false;
  /** Bytes relayed this turn, not yet pushed. */
  private pending: Buffer[] | null = null;
  private pendingBytes = 0;

  constructor(source: NodeJS.ReadableStream) {
    super();
    this.source = source;
  }

  override _read(): void {
    if (this.started) {
      this.source.resume();
      return;
    }
    this.started = true;
    const s = this.source as Source;
    s[kBody] = this;
    s.on('data', onSourceData);
    s.once('end', onSourceEnd);
    s.on('error', onSourceError);
    s.once('aborted', onSourceAborted);
    s.resume();
  }

  /** A chunk of the source. */
  abstract received(chunk: Buffer | string): void;

  /** The source ended: so does the body. */
  ended(): void {
    this.detach();
    this.flush();
    this.push(null);
  }

  /**
   * Passes bytes on; the source waits while the consumer is full. What one turn of the loop relays
   * goes on as one piece, at the turn's end (the check phase, after the poll phase parsed what the
   * sockets brought): undici writes each piece of a stream body on its own, and node's parser
   * hands over a client's chunked body one chunk at a time, so a body of one-byte chunks was one
   * upstream write per byte. Nothing waits for more than has arrived.
   */
  protected relay(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.pending === null) {
      this.pending = [bytes];
      this.pendingBytes = bytes.length;
      setImmediate(flushRelayed, this);
    } else {
      this.pending.push(bytes);
      this.pendingBytes += bytes.length;
      if (this.pendingBytes >= MAX_PENDING_BYTES) this.flush();
    }
  }

  /** Pushes what was relayed and not yet passed on. */
  flush(): void {
    const pending = this.pending;
    if (pending === null) return;
    this.pending = null;
    if (this.destroyed) return;
    const bytes = pending.length === 1 ? pending[0]! : Buffer.concat(pending, this.pendingBytes);
    if (!this.push(bytes)) this.source.pause();
  }

  /**
   * Fails the body with `err`. The rest of the source is read and dropped, never held, so a
   * keep-alive client connection stays usable after the answer.
   */
  protected refuse(err: Error): void {
    // What was passed on before goes on first, as it would have unbatched: the upstream gets the
    // head and the bytes within the limit, then the cut (not no request at all).
    this.flush();
    this.detach();
    this.source.resume();
    this.destroy(err);
  }

  /** Stops listening to the source; the error listener stays, as a late socket error must not go unhandled. */
  detach(): void {
    const s = this.source as Source;
    s.off('data', onSourceData);
    s.off('end', onSourceEnd);
    s.off('aborted', onSourceAborted);
    s[kBody] = undefined;
  }
}

/** A turn's relayed bytes past this go on at once: one socket read is at most 64 KiB. */
const MAX_PENDING_BYTES = 64 * 1024;

function flushRelayed(body: RelayedBody): void {
  body.flush();
}

function onSourceData(this: Source, chunk: Buffer | string): void {
  this[kBody]?.received(chunk);
}
function onSourceEnd(this: Source): void {
  this[kBody]?.ended();
}
// A client that fails or goes away mid-body fails the relayed body, so the upstream is not left
// waiting for the rest.
function onSourceError(this: Source, err: Error): void {
  const body = this[kBody];
  body?.detach();
  body?.destroy(err);
}
function onSourceAborted(this: Source): void {
  const body = this[kBody];
  body?.detach();
  body?.destroy(new Error('client aborted the request body'));
}
