// Kong's proxy-cache key: sha256 of "prefix|method|path|params|headers" (kong/plugins/proxy-cache/cache_key.lua),
// with the params and headers parts percent-encoded (see fieldsKey).
import { createHash } from 'node:crypto';
import type { GatewayRequest } from '../../index.ts';
import { headerLines } from '../../index.ts';

/** One query parameter's values; `true` for a bare `?flag` (Kong's `get_query()` gives true). */
type ParamValue = true | string | readonly string[];

/**
 * Parses a raw query as Kong's `kong.request.get_query()` sees it, every parameter. Kong's reads
 * the first 100 only, so a parameter after 100 others is not in its key although the upstream
 * reads it: padded with 100 dummies, `page=666` filled the entry of the URL without `page`.
 * Linear: the request line's size bounds the work.
 */
export function parseQuery(raw: string): Map<string, ParamValue> {
  const out = new Map<string, true | string | string[]>();
  if (raw === '') return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decode(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? true : decode(part.slice(eq + 1));
    const prev = out.get(k);
    if (prev === undefined) out.set(k, v);
    else if (v === true) continue;
    else if (Array.isArray(prev)) prev.push(v);
    else out.set(k, prev === true ? v : [prev, v]);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}

/**
 * "field=value(:field=value)*" over `fields` in order; repeated values sorted and joined with ",".
 * Names and values are percent-encoded (`:`, `=`, `,`, `|`, `%` among others), unlike Kong's: raw,
 * `?a=1%3Ab%3D2` (one parameter) and `?a=1&b=2` (two) both gave `a=1:b=2`, and `?a=1,2` gave what
 * `?a=1&a=2` does, so a client could fill the entry another URL is served from (cache poisoning).
 * Plain names and values (letters, digits, `-_.!~*'()`) read as in Kong.
 */
function fieldsKey(get: (field: string) => ParamValue | undefined, fields: readonly string[]): string {
  const parts: string[] = [];
  for (const field of fields) {
    const v = get(field);
    if (v === undefined) continue;
    const name = encodeURIComponent(field);
    if (v === true) parts.push(name);
    else if (typeof v === 'string') parts.push(`${name}=${encodeURIComponent(v)}`);
    else parts.push(`${name}=${[...v].sort().map(encodeURIComponent).join(',')}`);
  }
  return parts.join(':');
}

export function paramsKey(raw: string, varyParams: readonly string[] | null): string {
  const params = parseQuery(raw);
  const fields = varyParams !== null && varyParams.length > 0 ? varyParams : [...params.keys()].sort();
  return fieldsKey((f) => params.get(f), fields);
}

/** The request's headers: as they go upstream (getUpstreamHeader), and as the client sent them. */
type KeyedRequest = Pick<GatewayRequest, 'getUpstreamHeader' | 'headers' | 'raw'>;

/**
 * A header as Kong's `kong.request.get_headers()` gives it to the key: one value per line the
 * client sent it on (fieldsKey sorts them), so `a: 2` then `a: 1` and `a: 1` then `a: 2` share an
 * entry (Kong's 05-cache_key_spec). Node joins the lines with ", " in their order, which made two
 * entries of one request. A value an earlier plugin set is taken as it set it.
 */
function keyedHeader(req: KeyedRequest, name: string): string | readonly string[] | undefined {
  const v = req.getUpstreamHeader(name);
  return v !== undefined && v === req.headers[name] ? headerLines(req, name) : v;
}

export function headersKey(req: KeyedRequest, varyHeaders: readonly string[] | null): string {
  if (varyHeaders === null || varyHeaders.length === 0) return '';
  // Kong reads kong.request.get_headers()[name], whose lookup takes any case and `_` for `-`:
  // `vary_headers: [accept_language]` keys on Accept-Language. Read literally, such a name never
  // matched (a header spelled with `_` is dropped at the edge), and every variant shared one entry.
  return fieldsKey((f) => {
    const lower = f.toLowerCase();
    return keyedHeader(req, lower) ?? keyedHeader(req, lower.replaceAll('_', '-'));
  }, varyHeaders);
}

export function cacheKey(
  consumerId: string | null,
  routeId: string | null,
  method: string,
  path: string,
  params: string,
  headers: string,
): string {
  const prefix = consumerId !== null && routeId !== null ? `${consumerId}:${routeId}` : (routeId ?? 'default');
  return createHash('sha256').update(`${prefix}|${method}|${path}|${params}|${headers}`).digest('hex');
}
