/**
 * The chunks of an upstream answer that arrive in one turn, written to the client as one.
 *
 * undici's parser hands over each chunk of a chunked answer as it parses it, so an upstream that
 * sends a megabyte as one-byte chunks (in a few large socket writes) made a million writes to the
 * client: each one its own chunk framing, buffer entry and callback in node's HTTP response, about
 * 7 s of the event loop for one answer, while the upstream itself sent it in 0.3 s. The first
 * chunk of an answer is written at once (most answers have one); the later chunks of one turn (one
 * socket read's worth, at most 64 KiB) are joined and written at its end, never waiting for more.
 */
import type { ProxyRequest } from './context.ts';
import { waitForDrain } from './send-timeout.ts';

/** What a batch belongs to: the exchange relaying one answer. */
export interface Batching {
  readonly rc: ProxyRequest;
  /** Chunks of this turn not yet written; null when none. */
  batch: Buffer[] | null;
  batchBytes: number;
}

/** Adds `chunk` to this turn's batch; false when the client is behind (undici then pauses the upstream). */
export function batchChunk(b: Batching, chunk: Buffer): boolean {
  if (b.batch !== null) {
    b.batch.push(chunk);
    b.batchBytes += chunk.length;
    return true;
  }
  b.batch = [chunk];
  b.batchBytes = chunk.length;
  process.nextTick(flushBatch, b);
  // Past the high-water mark a write returned false and asked for the drain that resumes the
  // upstream (HTTP/2's compatibility response has no writableNeedDrain; both have these two).
  const res = b.rc.res;
  return res.writableLength < res.writableHighWaterMark;
}

/** Writes the batch, if any (at the turn's end, and before the answer ends). */
export function flushBatch(b: Batching): void {
  const batch = b.batch;
  if (batch === null) return;
  b.batch = null;
  const res = b.rc.res;
  if (res.writableEnded || b.rc.finished) return;
  const ok = res.write(batch.length === 1 ? batch[0]! : Buffer.concat(batch, b.batchBytes));
  if (!ok) waitForDrain(b.rc);
}
