/**
 * Random trace and span ids, as lower-case hex. Random bytes are drawn from the CSPRNG in blocks
 * (one system call per 512 ids, not one per id), so a sampled or propagated request costs a slice.
 */
import { randomFillSync } from 'node:crypto';

const POOL = Buffer.alloc(4096);
let offset = POOL.length;
const ALL_ZERO = /^0+$/;

function take(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  // An all-zero id is invalid in every format (W3C, B3, Jaeger); the odds are 2^-64, but cheap to rule out.
  return ALL_ZERO.test(hex) ? take(bytes) : hex;
}

/** A 16-byte trace id (32 hex), or 8 bytes (16 hex) for Zipkin's `traceid_byte_count: 8`. */
export function newTraceId(bytes: 8 | 16 = 16): string {
  return take(bytes);
}

/** An 8-byte span id (16 hex). */
export function newSpanId(): string {
  return take(8);
}

/** A trace id widened to 16 bytes (W3C and OTLP need 128 bits; B3, OT and Jaeger may carry 64). */
export function traceId128(id: string): string {
  return id.length === 32 ? id : id.padStart(32, '0');
}
