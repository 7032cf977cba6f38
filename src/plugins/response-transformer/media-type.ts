/**
 * A media type as Kong's kong.tools.mime_type reads it (parse_mime_type and includes), on RFC
 * 2045's grammar: `type "/" subtype *(";" attribute "=" value)`, a value a token or a quoted
 * string, spaces and tabs around each `;` only, or a lone `*` for `*`/`*`. Anything else is no
 * media type (null): `application/json;` and `application/json; charset` among them, which Kong's
 * plugins then do not take for JSON. One pass over the text, no regular expression: it comes from
 * an upstream's header.
 */

export interface MediaType {
  /** Lower-cased, as Kong's. */
  readonly type: string;
  readonly subtype: string;
  /** Names lower-cased, values as written (a quoted one without its quotes). */
  readonly params: ReadonlyMap<string, string>;
}

/** RFC 2045 `tspecials` and space: the bytes besides controls that end a token. */
const SEPARATORS = '()<>@,;:\\"/[]?={} \t';

function isTokenChar(c: number): boolean {
  return c > 32 && c < 127 && SEPARATORS.indexOf(String.fromCharCode(c)) < 0;
}

/** The end of the token starting at `i` (i when there is none). */
function tokenEnd(s: string, i: number): number {
  while (i < s.length && isTokenChar(s.charCodeAt(i))) i++;
  return i;
}

function skipSpacing(s: string, i: number): number {
  while (i < s.length && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
  return i;
}

/** Kong's parse_mime_type: the media type, or null when the text is none. */
export function parseMediaType(s: string): MediaType | null {
  let type = '*';
  let subtype = '*';
  let i: number;
  const t = tokenEnd(s, 0);
  const st = t > 0 && s.charCodeAt(t) === 47 /* / */ ? tokenEnd(s, t + 1) : t;
  if (st > t + 1) {
    type = s.slice(0, t).toLowerCase();
    subtype = s.slice(t + 1, st).toLowerCase();
    i = st;
  } else if (s.charCodeAt(0) === 42 /* * */) {
    // Kong's second choice: `*` alone stands for `*/*`, parameters may follow (`*; q=.2`).
    i = 1;
  } else return null;
  const params = new Map<string, string>();
  while (i < s.length) {
    i = skipSpacing(s, i);
    if (s.charCodeAt(i) !== 59 /* ; */) return null;
    i = skipSpacing(s, i + 1);
    const nameEnd = tokenEnd(s, i);
    if (nameEnd === i || s.charCodeAt(nameEnd) !== 61 /* = */) return null;
    const name = s.slice(i, nameEnd).toLowerCase();
    i = nameEnd + 1;
    let value: string;
    if (s.charCodeAt(i) === 34 /* " */) {
      // Any byte but a control and the quote (Kong's qdtext; its quoted-pair is never reached).
      let j = i + 1;
      while (j < s.length && s.charCodeAt(j) !== 34 && s.charCodeAt(j) > 31 && s.charCodeAt(j) !== 127) j++;
      if (s.charCodeAt(j) !== 34) return null;
      value = s.slice(i + 1, j);
      i = j + 1;
    } else {
      const valueEnd = tokenEnd(s, i);
      if (valueEnd === i) return null;
      value = s.slice(i, valueEnd);
      i = valueEnd;
    }
    params.set(name, value);
  }
  return { type, subtype, params };
}

/**
 * Kong's includes(this, other): `*` includes everything; else the same type, and the same subtype,
 * `*`, or (for a subtype without a suffix) `other`'s structured syntax suffix (RFC 6839:
 * application/json includes application/problem+json).
 */
export function mediaTypeIncludes(range: MediaType, other: MediaType): boolean {
  if (range.type === '*') return true;
  if (range.type !== other.type) return false;
  if (range.subtype === other.subtype || range.subtype === '*') return true;
  return !range.subtype.includes('+') && other.subtype.endsWith(`+${range.subtype}`);
}
