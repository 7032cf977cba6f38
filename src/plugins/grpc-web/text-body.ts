// gRPC-Web's text mode (`application/grpc-web-text`): the request body is the gRPC frames in
// base64. Decoded as it streams, four characters at a time, so the gateway never holds more of it
// than a chunk and the up to three characters of a quantum that chunk cut. A padded quantum may
// come mid-body, as the gRPC-Web protocol lets a sender flush base64 chunks with their padding
// (PROTOCOL-WEB.md, "text-encoded (base64) ... may contain padding in the middle").
import { ProxyError, RelayedBody } from '../../index.ts';

/** The value of each base64 character (RFC 4648 table 1), 255 for any other byte. */
const SEXTET = new Uint8Array(256).fill(255);
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;
const PAD = 0x3d; // '='

/** A streaming base64 decoder: the state of the quantum a chunk ended in. */
export class Base64Decoder {
  /** The quantum's sextets so far, as bits. */
  private bits = 0;
  /** How many characters of the current quantum were read (0-3). */
  private count = 0;
  /** Whether the current quantum met its padding: only `=` may end it. */
  private padded = false;

  /** The bytes `chunk` completes, or null when it is not base64. */
  decode(chunk: Buffer): Buffer | null {
    const out = Buffer.allocUnsafe(Math.floor((this.count + chunk.length) / 4) * 3 + 3);
    let o = 0;
    let bits = this.bits;
    let count = this.count;
    let padded = this.padded;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === PAD) {
        // `=` stands for a missing sextet: never for one of the two a byte needs at least.
        if (count < 2) return null;
        if (!padded) {
          if (count === 2) out[o++] = (bits >> 4) & 0xff;
          else {
            out[o++] = (bits >> 10) & 0xff;
            out[o++] = (bits >> 2) & 0xff;
          }
          padded = true;
        }
        if (++count === 4) {
          count = 0;
          bits = 0;
          padded = false;
        }
        continue;
      }
      const v = SEXTET[c]!;
      if (v === 255 || padded) return null;
      bits = (bits << 6) | v;
      if (++count === 4) {
        out[o++] = (bits >> 16) & 0xff;
        out[o++] = (bits >> 8) & 0xff;
        out[o++] = bits & 0xff;
        count = 0;
        bits = 0;
      }
    }
    this.bits = bits;
    this.count = count;
    this.padded = padded;
    return out.subarray(0, o);
  }

  /** The bytes of an unpadded last quantum (RFC 4648 3.2 lets padding go), or null for one a character short of a byte. */
  end(): Buffer | null {
    if (this.padded || this.count === 0) return EMPTY;
    if (this.count === 1) return null;
    const bits = this.bits;
    return this.count === 2 ? Buffer.of((bits >> 4) & 0xff) : Buffer.of((bits >> 10) & 0xff, (bits >> 2) & 0xff);
  }
}

const EMPTY = Buffer.alloc(0);

/** The body sent upstream for a text-mode request: `source` (the client's body, or an earlier plugin's) decoded. */
export class TextBody extends RelayedBody {
  private readonly decoder = new Base64Decoder();

  received(chunk: Buffer | string): void {
    const bytes = this.decoder.decode(typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk);
    if (bytes === null) return this.refuse(new ProxyError('BAD_REQUEST'));
    this.relay(bytes);
  }

  override ended(): void {
    this.detach();
    const last = this.decoder.end();
    // Not base64: the client's 400; the rest of its body is read and dropped.
    if (last === null) return this.refuse(new ProxyError('BAD_REQUEST'));
    this.flush();
    if (last.length > 0) this.push(last);
    this.push(null);
  }
}

/** A text body an earlier plugin read whole: decoded whole (it is in memory already); null when it is not base64. */
export function decodeWhole(body: Buffer): Buffer | null {
  const decoder = new Base64Decoder();
  const bytes = decoder.decode(body);
  const last = bytes === null ? null : decoder.end();
  if (bytes === null || last === null) return null;
  return last.length === 0 ? bytes : Buffer.concat([bytes, last]);
}
