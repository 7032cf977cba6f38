/**
 * Query strings edited as written: a parameter removed or its value replaced without decoding and
 * re-encoding the others (URLSearchParams would turn `/` into `%2F` and `%20` into `+`, and an
 * upstream that signs or compares the raw query would see another one). Names are compared as
 * URLSearchParams reads them.
 */

import { setOwnField } from './json.ts';

/** A parameter name as URLSearchParams reads it (`+` is a space); an undecodable one as written. */
export function queryParamName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
}

/** Whether `query` (without `?`) holds `name` written without `=` (`?name`: Kong's `true`). */
export function hasQueryFlag(query: string, name: string): boolean {
  for (const part of query.split('&')) if (part.indexOf('=') < 0 && queryParamName(part) === name) return true;
  return false;
}

/** `query` (without `?`) with every parameter named `name` removed, the others as written. */
export function withoutQueryParam(query: string, name: string): string {
  if (query === '') return query;
  const parts = query.split('&');
  const kept = parts.filter((part) => {
    const eq = part.indexOf('=');
    return queryParamName(eq < 0 ? part : part.slice(0, eq)) !== name;
  });
  return kept.length === parts.length ? query : kept.join('&');
}

/** `query` with the value of every parameter named in `names` replaced by `replacement`. */
export function replaceQueryValues(query: string, names: ReadonlySet<string>, replacement: string): string {
  if (names.size === 0 || query === '') return query;
  const parts = query.split('&');
  let changed = false;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq);
    if (names.has(queryParamName(name))) {
      parts[i] = `${name}=${replacement}`;
      changed = true;
    }
  }
  return changed ? parts.join('&') : query;
}

/** An argument as Kong's `kong.request.get_query()` gives it: `true` when written without `=`. */
export type QueryArg = string | true;

/**
 * Kong reads the first 100 arguments (lua_max_uri_args). Every argument is a property of its own
 * in the object made, about 100 bytes of heap for a few characters of query: without the cap a
 * client's 1,500-argument query made a log queue's 16 MiB hold over 300 MB behind a receiver that hangs.
 */
const MAX_QUERY_ARGS = 100;

const NO_SECRETS: ReadonlySet<string> = new Set();

/**
 * Kong's `kong.request.get_query()` (ngx.req.get_uri_args, and ngx.decode_args for a form body):
 * `?zzz` is `true`, `?blo=` is `""`, a repeated argument an array, the first 100 arguments only.
 * `parsed` is `raw` as URLSearchParams read it; the values of the arguments named in `secret` are
 * written `replacement` (the log serializer's redaction).
 */
export function kongQueryArgs(
  raw: string,
  parsed: URLSearchParams,
  secret: ReadonlySet<string> = NO_SECRETS,
  replacement = '',
): Record<string, QueryArg | QueryArg[]> {
  const out: Record<string, QueryArg | QueryArg[]> = {};
  // `parsed` came from `raw`: its n-th argument is raw's n-th non-empty `&`-separated part, which
  // says whether it had a `=`.
  let at = 0;
  let n = 0;
  for (const [k, value] of parsed) {
    if (n++ === MAX_QUERY_ARGS) break;
    while (raw.charCodeAt(at) === 0x26) at++;
    let end = raw.indexOf('&', at);
    if (end < 0) end = raw.length;
    const eq = raw.indexOf('=', at);
    const flag = eq < 0 || eq > end;
    at = end;
    const v = secret.has(k) ? replacement : flag ? true : value;
    // Own properties only: `?constructor=x` would otherwise find Object.prototype.constructor.
    const prev = Object.hasOwn(out, k) ? out[k] : undefined;
    // Pushed, not copied: `?a&a&a...` (thousands of repeats fit in one request line) made the copy
    // quadratic, seconds of CPU for a 30 KB query with the event loop blocked.
    if (prev === undefined) {
      // Assigning `__proto__` would set the prototype: that argument is defined as a key like any other.
      if (k === '__proto__') setOwnField(out, k, v);
      else out[k] = v;
    } else if (Array.isArray(prev)) prev.push(v);
    else out[k] = [prev, v];
  }
  return out;
}
