/**
 * Kong's hmac-auth wire format: the Authorization header's parameters, and the signing string
 * built from the headers the client lists. Parsed in one linear pass (no backtracking regex on a
 * client-controlled header).
 */
import type { GatewayRequest } from '../../index.ts';
import { firstHeader, trimAsciiSpace } from '../../index.ts';

/** Longer Authorization values are not parsed. */
const MAX_HEADER = 8192;

/**
 * The longest signing string built (characters). A header may be listed any number of times and
 * each time signs its whole value, so 4,000 `x` in `headers` with a 20 KB `X` header made an
 * 80 MB string (two seconds of event loop and 150 MB more memory, built twice when the path was normalized).
 * Listed once each, the head's headers and request line (32 KiB at most) sign well under this.
 * Kong builds any length.
 */
export const MAX_SIGNING_STRING = 64 * 1024;

export interface HmacParams {
  readonly username: string;
  readonly algorithm: string;
  /** Header names as the client wrote them (they go into the signing string so), in its order. */
  readonly headers: readonly string[];
  readonly signature: string;
}

/** The index of the first character from `i` on that is not a space or a tab. */
function skipBlanks(value: string, i: number): number {
  while (i < value.length && (value[i] === ' ' || value[i] === '\t')) i++;
  return i;
}

/**
 * `hmac username="u", algorithm="hmac-sha256", headers="date request-line", signature="..."`
 * (scheme `hmac` or `Hmac`, as Kong reads it); null when the header is not that.
 */
export function parseHmacAuthorization(value: string): HmacParams | null {
  if (value.length > MAX_HEADER) return null;
  let i = 0;
  const n = value.length;
  i = skipBlanks(value, i);
  const scheme = value.slice(i, i + 4);
  if (scheme !== 'hmac' && scheme !== 'Hmac') return null;
  i += 4;
  const params = new Map<string, string>();
  while (i < n) {
    i = skipBlanks(value, i);
    const eq = value.indexOf('=', i);
    if (eq === -1 || value[eq + 1] !== '"') return null;
    const name = trimAsciiSpace(value.slice(i, eq)).toLowerCase();
    // A value ends at the first `"` followed, past blanks, by `,` or the end: one elsewhere belongs
    // to the value, as Kong's greedy `username="(.+)",` reads it (a username may contain `"`).
    let close = value.indexOf('"', eq + 2);
    for (;;) {
      if (close === -1) return null;
      const j = skipBlanks(value, close + 1);
      if (j === n || value[j] === ',') break;
      close = value.indexOf('"', close + 1);
    }
    params.set(name, value.slice(eq + 2, close));
    i = skipBlanks(value, close + 1);
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
    // Split on each single space, as Kong's splitn(headers, " "): a doubled, leading or trailing
    // space makes an empty name, which Kong signs as the line `:` (a header it does not find).
    headers: headers.split(' '),
    signature,
  };
}

/**
 * Kong's signing string (kong/plugins/hmac-auth/access.lua, create_hash): for each listed header
 * `name: value` with the name as the client wrote it and the header's first value (looked up
 * case-insensitively, `_` standing for `-`); when no such header exists, `@request-target` as
 * `@request-target: method target` (the method lower-cased), `request-line` as `METHOD target
 * HTTP/x.y`, any other name as `name:`; joined with newlines. Null past MAX_SIGNING_STRING.
 */
export function signingString(req: GatewayRequest, headers: readonly string[], target: string): string | null {
  const lines: string[] = [];
  let length = 0;
  for (const name of headers) {
    const lower = name.toLowerCase();
    // kong.request.get_header reads nginx's $http_<name>, where `_` stands for `-`: a client that
    // lists `x_tenant` signs `x_tenant: <X-Tenant's value>`.
    const value =
      firstHeader(req, lower) ?? (lower.includes('_') ? firstHeader(req, lower.replaceAll('_', '-')) : undefined);
    if (value !== undefined) lines.push(`${name}: ${value}`);
    else if (name === '@request-target') lines.push(`@request-target: ${req.method.toLowerCase()} ${target}`);
    else if (name === 'request-line') lines.push(`${req.method} ${target} HTTP/${req.raw.httpVersion ?? '1.1'}`);
    else lines.push(`${name}:`);
    length += lines[lines.length - 1]!.length + 1;
    if (length > MAX_SIGNING_STRING) return null;
  }
  return lines.join('\n');
}

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
};

/**
 * The three HTTP-date forms (RFC 9110 5.6.7: IMF-fixdate, RFC 850, asctime) as nginx's
 * ngx_parse_http_time reads them for Kong: any weekday, and nothing checked after the time (or
 * the asctime year), so `-0000` (Python's formatdate), `+0000` (PHP's RFC 2822) or no zone at all
 * count, always read as GMT.
 */
const IMF = /^[^, ]*, *(\d{2})([ -])([A-Z][a-z]{2})\2(\d{4}|\d{2}) (\d{2}):(\d{2}):(\d{2})/;
const ASCTIME = /^[^, ]* +([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})/;

/** The date in milliseconds since the epoch, or null when it is no HTTP-date nginx would read. */
export function parseHttpDate(value: string): number | null {
  let day: string, month: string, year: number, h: string, m: string, s: string;
  const imf = IMF.exec(value);
  if (imf !== null) {
    // RFC 850's two-digit year (`-` separated) only, as nginx: 70-99 are 19xx.
    if ((imf[2] === ' ') !== (imf[4]!.length === 4)) return null;
    [, day, , month, , h, m, s] = imf as unknown as string[];
    year = Number(imf[4]);
    if (year < 100) year += year < 70 ? 2000 : 1900;
  } else {
    const asc = ASCTIME.exec(value);
    if (asc === null) return null;
    [, month, day, h, m, s] = asc as unknown as string[];
    year = Number(asc[6]);
  }
  const mon = MONTHS[month!];
  if (mon === undefined || Number(h) > 23 || Number(m) > 59 || Number(s) > 59) return null;
  const t = Date.UTC(year, mon, Number(day), Number(h), Number(m), Number(s));
  // 31 Nov is no date (nginx refuses it), not 1 Dec.
  return new Date(t).getUTCDate() === Number(day) ? t : null;
}
