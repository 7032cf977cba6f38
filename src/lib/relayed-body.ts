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
    this.push(null);
  }

  /** Passes bytes on; the source waits while the consumer is full. */
  protected relay(bytes: Buffer): void {
    if (bytes.length > 0 && !this.push(bytes)) this.source.pause();
  }

  /**
   * Fails the body with `err`. The rest of the source is read and dropped, never held, so a
   * keep-alive client connection stays usable after the answer.
   */
  protected refuse(err: Error): void {
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
