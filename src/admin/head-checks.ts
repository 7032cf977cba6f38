// What nginx refuses in a request head before any location runs, and so before Kong's admin API
// sees it: the admin listener refuses the same, with the proxy's codes and messages.
import type { IncomingMessage } from 'node:http';
import { type ProxyErrorCode, ProxyErrors } from '../errors.ts';
import { transferEncodingRefusal } from '../proxy/request-checks.ts';

/** The answer refusing request `req`'s head (its status and message), or null. */
export function adminHeadRefusal(req: IncomingMessage): { status: number; message: string } | null {
  const code = headRefusal(req);
  return code === null ? null : ProxyErrors[code];
}

function headRefusal(req: IncomingMessage): ProxyErrorCode | null {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    const refused = transferEncodingRefusal(te, req.httpVersionMinor === 0, false);
    if (refused !== null) return refused;
  }
  // RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400, as nginx answers it (node's own
  // answer was a bare 400 with an empty chunked body).
  if (req.httpVersionMinor === 1 && req.headers.host === undefined) return 'MISSING_HOST';
  // nginx: "client sent duplicate host header", 400; node kept the first.
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
  return hosts > 1 ? 'AMBIGUOUS_HOST' : null;
}
