/** The headers azure-functions sends the function, and those of its answer the client gets. */
import { connectionTokens, type GatewayRequest, type HeaderValue, HOP_BY_HOP } from '../../index.ts';

/**
 * Client headers not sent on: hop-by-hop ones (RFC 9110 7.6.1), the length and `Expect` (the call
 * frames its own body), `Host` (the function app's, as Kong removes the client's), and the key
 * headers (Kong sets them from the config, or removes the client's when the config has none).
 */
const NOT_SENT: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'expect',
  'host',
  'x-functions-key',
  'x-functions-clientid',
]);

/** Headers of the function's answer the client does not get: hop-by-hop ones, and the length the gateway sets. */
const NOT_RELAYED: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length']);

/**
 * The request's headers as the function gets them: Kong's `kong.request.get_headers()`, which
 * reads nginx's request headers after the plugins before this one changed them with
 * `kong.service.request.set_header` (request-transformer, correlation-id, an auth plugin's
 * X-Consumer-* headers), so the headers as they would go upstream; `x-functions-key` and
 * `x-functions-clientid` from the config.
 */
export function functionHeaders(
  req: GatewayRequest,
  apikey: string | null | undefined,
  clientid: string | null | undefined,
): Record<string, HeaderValue> {
  const out = req.getUpstreamHeaders();
  // Hop-by-hop ones are already left out, but for a plugin's `TE: trailers` and Proxy-Authorization.
  for (const name of NOT_SENT) delete out[name];
  if (apikey != null) out['x-functions-key'] = apikey;
  if (clientid != null) out['x-functions-clientid'] = clientid;
  return out;
}

/** The function's answer headers as the client gets them. */
export function answerHeaders(headers: Record<string, string | string[] | undefined>): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = Object.create(null);
  const listed = connectionTokens(headers.connection);
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || NOT_RELAYED.has(name) || listed.includes(name)) continue;
    out[name] = v;
  }
  return out;
}
