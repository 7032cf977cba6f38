/**
 * Query strings edited as written: a parameter removed or its value replaced without decoding and
 * re-encoding the others (URLSearchParams would turn `/` into `%2F` and `%20` into `+`, and an
 * upstream that signs or compares the raw query would see another one). Names are compared as
 * URLSearchParams reads them.
 */

/** A parameter name as URLSearchParams reads it (`+` is a space); an undecodable one as written. */
export function queryParamName(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw;
  }
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
