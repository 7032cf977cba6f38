// The keys consistent hashing reads from a request, as Kong's balancer computes them
// (kong/runloop/balancer/init.lua's get_value_to_hash), and the hash that places them on the ring.

// FNV-1a, 32 bits: enough spread for a ring, and cheap per request.
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche so that near-identical keys land far apart on the ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Query arguments read for a hash key: Kong reads the first 100 (lua_max_uri_args). */
const MAX_QUERY_ARGS = 100;

/**
 * The value of query argument `name` as Kong hashes it: one value as it is, several sorted and
 * joined with commas, an argument without `=` as `true`; null when absent.
 */
export function queryArgKey(rawQuery: string, name: string): string | null {
  if (rawQuery === '') return null;
  let values: string[] | null = null;
  let start = 0;
  for (let n = 0; n < MAX_QUERY_ARGS && start <= rawQuery.length; n++) {
    let end = rawQuery.indexOf('&', start);
    if (end < 0) end = rawQuery.length;
    const eq = rawQuery.indexOf('=', start);
    const hasValue = eq >= 0 && eq < end;
    if (decodeArg(rawQuery.slice(start, hasValue ? eq : end)) === name)
      (values ??= []).push(hasValue ? decodeArg(rawQuery.slice(eq + 1, end)) : 'true');
    start = end + 1;
  }
  if (values === null) return null;
  return values.length === 1 ? values[0]! : values.sort().join(',');
}

/** A query component decoded (`+` as a space); a malformed escape is kept as it is. */
function decodeArg(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  try {
    return decodeURIComponent(s.replaceAll('+', ' '));
  } catch {
    return s;
  }
}

/** A percent-escape in a normalized path (normalizePath leaves those of reserved characters). */
const ESCAPE = /%([0-9A-Fa-f]{2})/g;

function unescapeByte(_escape: string, hex: string): string {
  return String.fromCharCode(Number.parseInt(hex, 16));
}

/**
 * The key of `hash_on: path`: the normalized path with its escapes decoded, one byte each. Kong
 * hashes nginx's `$uri`, which is decoded, so `/a()` and `/a%28%29` are one key there and stay on
 * one target; the router's path keeps reserved characters escaped. Each escape becomes the byte it
 * stands for, as nginx decodes (raw bytes beyond ASCII are already escaped by the normalizer, so
 * both spellings of such a path give the same key); one pass, so `%2541` is `%41`.
 */
export function pathKey(path: string): string {
  return path.indexOf('%') < 0 ? path : path.replace(ESCAPE, unescapeByte);
}

export type HashOn = 'none' | 'consumer' | 'ip' | 'header' | 'cookie' | 'path' | 'query_arg' | 'uri_capture';

/**
 * The name a kind of hash key is read by: the header (lower-case, `_` as `-`: Kong reads
 * `$http_NAME`, which nginx matches to a header spelled with `-` or `_` alike), the query argument
 * or the capture.
 */
export function hashName(
  on: HashOn,
  header: string | null | undefined,
  queryArg: string | null | undefined,
  capture: string | null | undefined,
): string {
  if (on === 'header') return (header ?? '').toLowerCase().replaceAll('_', '-');
  if (on === 'query_arg') return queryArg ?? '';
  if (on === 'uri_capture') return capture ?? '';
  return '';
}
