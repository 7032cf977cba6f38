/**
 * A check of the BER framing of the LDAP messages a directory sends (RFC 4511 section 5.1: each
 * LDAPMessage is one BER element): every constructed element's content must be exactly its
 * children, each within it. ldapjs reads a bind response whose protocolOp claims more bytes than
 * its message holds (Kong's decode spec: `61 09` with 7 bytes left) as the success its first
 * field says; Kong's decoder refuses it ("der with error encoding"), and so does this check, so
 * such an answer is an error, not a bind. Linear in the bytes read; bounded in bytes and depth.
 */

/** More than any bind or StartTLS answer: a directory sending more has broken its framing. */
const MAX_BUFFERED = 64 * 1024;
const MAX_DEPTH = 16;

/** The element at `at`: its content's start and end, or null when `buf` does not hold its header. */
function header(buf: Buffer, at: number, end: number): { start: number; stop: number } | null {
  if (at + 2 > end) return null;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Indefinite lengths are not BER's for LDAP (RFC 4511 section 5.1), nor lengths past 4 bytes.
    if (n === 0 || n > 4) return { start: -1, stop: -1 };
    if (start + n > end) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  return { start, stop: start + len };
}

/** True when the content [start, stop) is exactly a run of whole elements, recursively. */
function tiles(buf: Buffer, start: number, stop: number, depth: number): boolean {
  if (depth > MAX_DEPTH) return false;
  let at = start;
  while (at < stop) {
    const h = header(buf, at, stop);
    if (h === null || h.start < 0 || h.stop > stop) return false;
    // Bit 6 of the identifier marks a constructed element (X.690 section 8.1.2.5).
    if (buf[at]! & 0x20 && !tiles(buf, h.start, h.stop, depth + 1)) return false;
    at = h.stop;
  }
  return at === stop;
}

/** Fed the bytes of one connection in order; `broken` once a message is not well framed. */
export class BerFraming {
  #buf: Buffer = Buffer.alloc(0);
  broken = false;

  write(chunk: Buffer): void {
    if (this.broken) return;
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const h = header(this.#buf, 0, this.#buf.length);
      if (h === null) break;
      if (h.start < 0 || this.#buf[0] !== 0x30) return void (this.broken = true);
      if (h.stop > this.#buf.length) break;
      if (!tiles(this.#buf, h.start, h.stop, 1)) return void (this.broken = true);
      this.#buf = this.#buf.subarray(h.stop);
    }
    if (this.#buf.length > MAX_BUFFERED) this.broken = true;
  }
}
