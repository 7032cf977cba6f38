/** How a trace-context header is read: one value, bounded before any pattern sees it. */
import type { GatewayRequest } from '../../pipeline/plugin.ts';

/** The longest trace header value read: a W3C `traceparent` is 55 bytes, an X-Ray header about 100. */
const MAX_VALUE = 256;

/** A header's single value, or null when absent, repeated or too long to be a trace header. */
export function traceHeader(req: GatewayRequest, name: string): string | null {
  const v = req.headers[name];
  if (typeof v !== 'string' || v.length > MAX_VALUE) return null;
  return v;
}
