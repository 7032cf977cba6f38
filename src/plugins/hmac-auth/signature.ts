/**
 * Kong's hmac-auth wire format: the Authorization header's parameters, and the signing string
 * built from the headers the client lists. Parsed in one linear pass (no backtracking regex on a
 * client-controlled header).
 */
import type { GatewayRequest } from '../../index.ts';
import { firstHeader } from '../../index.ts';

/** Longer Authorization values are not parsed. */
const MAX_HEADER = 8192;

export interface HmacParams {
  readonly username: string;
  readonly algorithm: string;
  /** Header names as the client wrote them (they go into the signing string so), in its order. */
  readonly headers: readonly string[];
  readonly signature: string;
}

/**
 * `hmac username="u", algorithm="hmac-sha256", headers="date request-line", signature="..."`
 * (scheme `hmac` or `Hmac`, as Kong reads it); null when the header is not that.
 */
export function parseHmacAuthorization(value: string): HmacParams | null {
  if (value.length > MAX_HEADER) return null;
  let i = 0;
  const n = value.length;
  const spaces = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  spaces();
  const scheme = value.slice(i, i + 4);
  if (scheme !== 'hmac' && scheme !== 'Hmac') return null;
  i += 4;
  const params = new Map<string, string>();
  while (i < n) {
    spaces();
    const eq = value.indexOf('=', i);
    if (eq === -1 || value[eq + 1] !== '"') return null;
    const name = value.slice(i, eq).trim().toLowerCase();
    const close = value.indexOf('"', eq + 2);
    if (close === -1) return null;
    params.set(name, value.slice(eq + 2, close));
    i = close + 1;
    spaces();
    if (i < n && value[i] !== ',') return null;
    i++;
  }
  const username = params.get('username');
  const algorithm = params.get('algorithm');
  const headers = params.get('headers');
  const signature = params.get('signature');
  if (!username || !algorithm || !headers || !signature) return null;
  return {
    username,
    algorithm,
    headers: headers.split(' ').filter((h) => h !== ''),
    signature,
  };
}

/**
 * Kong's signing string (kong/plugins/hmac-auth/access.lua, create_hash): for each listed header
 * `name: value` with the name as the client wrote it and the header's first value (looked up
 * case-insensitively); when no such header exists, `@request-target` as `@request-target: method
 * target` (the method lower-cased), `request-line` as `METHOD target HTTP/x.y`, any other name as
 * `name:`; joined with newlines.
 */
export function signingString(req: GatewayRequest, headers: readonly string[], target: string): string {
  const lines: string[] = [];
  for (const name of headers) {
    const value = firstHeader(req, name.toLowerCase());
    if (value !== undefined) lines.push(`${name}: ${value}`);
    else if (name === '@request-target') lines.push(`@request-target: ${req.method.toLowerCase()} ${target}`);
    else if (name === 'request-line') lines.push(`${req.method} ${target} HTTP/${req.raw.httpVersion ?? '1.1'}`);
    else lines.push(`${name}:`);
  }
  return lines.join('\n');
}
