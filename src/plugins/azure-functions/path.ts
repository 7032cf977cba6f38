/** The path azure-functions calls, as Kong's handler builds it. */

/** Kong's `^/*(.-)/*$`: the text without the slashes around it. */
function trimSlashes(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text.charCodeAt(start) === 0x2f) start++;
  while (end > start && text.charCodeAt(end - 1) === 0x2f) end--;
  return text.slice(start, end);
}

/** Characters a request target's path may hold as they are (RFC 3986 pchar, `/`, and `%`). */
const PATH_SAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/g;

function escape(c: string): string {
  let out = '';
  for (const b of Buffer.from(c, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * `/{routeprefix}/{functionname}`, each without the slashes around it, no prefix part when the
 * prefix is empty (Kong 3.6+: the client's path is not appended). A character a request line may
 * not carry (a space, `?`, `#`, non-ASCII) is percent-encoded, so it stays part of the path.
 */
export function functionPath(routeprefix: string | null | undefined, functionname: string): string {
  const prefix = trimSlashes(routeprefix ?? '');
  const path = `${prefix === '' ? '' : `/${prefix}`}/${trimSlashes(functionname)}`;
  return path.replace(PATH_SAFE, escape);
}
