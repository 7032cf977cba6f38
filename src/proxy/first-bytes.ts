// A listener that must see a connection's first bytes before it knows what to do with it (the TLS
// ClientHello's server name; the HTTP/2 preface on a cleartext listener): the bytes are read and
// given back to the socket, within a deadline, so a client that says nothing holds nothing.
import type { Socket } from 'node:net';

/**
 * Reads `raw` until `decide` returns a decision for the bytes so far, then puts them back
 * (`unshift`) and calls `then` with the bytes and the decision. A connection that ends, fails, or
 * has not been decided within `timeoutMs` is destroyed.
 */
export function onFirstBytes<T>(
  raw: Socket,
  timeoutMs: number,
  decide: (buf: Buffer) => T | null,
  then: (buf: Buffer, decision: T) => void,
): void {
  let buf: Buffer = Buffer.alloc(0);
  const onReadable = (): void => {
    let chunk: Buffer | null;
    while ((chunk = raw.read() as Buffer | null) !== null) buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const decision = decide(buf);
    if (decision === null) return;
    cleanup();
    if (buf.length > 0) raw.unshift(buf);
    then(buf, decision);
  };
  const abandon = (): void => {
    cleanup();
    raw.destroy();
  };
  const timer = setTimeout(abandon, timeoutMs);
  const cleanup = (): void => {
    clearTimeout(timer);
    raw.off('readable', onReadable);
    raw.off('end', abandon);
    raw.off('error', abandon);
  };
  raw.on('readable', onReadable);
  raw.once('end', abandon);
  raw.once('error', abandon);
}
