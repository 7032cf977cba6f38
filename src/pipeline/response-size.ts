// The bytes of a response as nginx's $bytes_sent counts them (Kong's `response.size` and the egress
// of `kong_bandwidth_bytes`): the head and the body, not the body alone.
import type { RequestContext } from './request.ts';

/**
 * The head's bytes. On HTTP/1.1, node keeps the head it wrote (status line, headers, the Date,
 * Connection and Transfer-Encoding it added) as one latin1 string. On HTTP/2 the head is HPACK
 * compressed by nghttp2, out of sight: counted as the literal names and values, an upper bound.
 */
export function responseHeadBytes(rc: RequestContext): number {
  const h2 = rc.streamResponseHeaders;
  if (h2 !== null) {
    let n = 9; // the HEADERS frame's header
    for (const name in h2) {
      const v = h2[name]!;
      if (Array.isArray(v)) for (const x of v) n += name.length + x.length + 2;
      else n += name.length + String(v).length + 2;
    }
    return n;
  }
  const head = (rc.res as { _header?: unknown })._header;
  return typeof head === 'string' ? head.length : 0;
}
