/**
 * Request path normalization (RFC 3986 6.2.2 and 5.2.4), done before routing so that two spellings
 * of one resource (`/public/../admin`, `/public/%2e%2e/admin`, `//admin`) can only ever match the
 * route the canonical spelling matches, and the upstream receives that canonical spelling.
 */
import { ProxyError } from '../errors.ts';

// Per-ASCII-code classes of a raw path character.
const OK = 0; // may appear as is
const PCT = 1; // '%': starts an escape
const BSL = 2; // '\': a separator for some servers, governed by the encoded-slash policy
const CTL = 3; // control character: always rejected
const ENC = 4; // not allowed raw in a path: percent-encoded

const RAW_CLASS = new Uint8Array(128);
for (let c = 0; c < 0x20; c++) RAW_CLASS[c] = CTL;
RAW_CLASS[0x7f] = CTL;
RAW_CLASS[0x25] = PCT;
RAW_CLASS[0x5c] = BSL;
for (const ch of ' "#<>^`{|}') RAW_CLASS[ch.charCodeAt(0)] = ENC;

/** ALPHA DIGIT - . _ ~ (RFC 3986 2.3): escapes of these are decoded. */
const UNRESERVED = new Uint8Array(128);
for (let c = 0x30; c <= 0x39; c++) UNRESERVED[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) UNRESERVED[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) UNRESERVED[c] = 1;
for (const ch of '-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

/** '%XX' (upper-case) for every byte, so re-encoding never formats numbers per request. */
const PCT_HEX: string[] = [];
for (let b = 0; b < 256; b++) PCT_HEX.push(`%${b.toString(16).toUpperCase().padStart(2, '0')}`);

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const SEMICOLON = 0x3b;

/**
 * Normalizes a request path (the part before '?'): percent-decodes unreserved characters
 * (ALPHA DIGIT - . _ ~), upper-cases remaining percent-escapes, removes dot segments (RFC 3986
 * 5.2.4, including encoded `%2e` variants after decoding), merges duplicate slashes. Returns the
 * normalized path.
 *
 * Also percent-encodes characters that may not appear raw in a path (space, `"`, `#`, `<`, `>`,
 * `^`, `` ` ``, `{`, `|`, `}`, and non-ASCII; Node reads request-target bytes as latin1, so each
 * such character is one byte and becomes one `%XX`), so the raw and encoded spellings are one path.
 *
 * @throws ProxyError('BAD_PATH') for a path not starting with '/', an invalid percent-escape, a raw
 *   control character (NUL, CR, LF, ... DEL) or an encoded NUL (`%00`).
 * @throws ProxyError('ENCODED_SLASH') for `%2F`, `%5C` or a raw backslash when
 *   `encodedSlashes === 'reject'`; with `'allow'` they stay encoded (`%2F`, `%5C`; a raw backslash
 *   becomes `%5C`) and are never decoded into a separator.
 *
 * Fast path: a path without '%', '\\', '//', a '.' or '..' segment, or a character needing
 * encoding is returned as is, with no allocation.
 */
export function normalizePath(rawPath: string, encodedSlashes: 'reject' | 'allow'): string {
  const len = rawPath.length;
  if (len === 0 || rawPath.charCodeAt(0) !== SLASH) throw new ProxyError('BAD_PATH');

  // One scan, no allocation: most real paths need no rewriting at all.
  let segStart = 1;
  let i = 1;
  for (; i < len; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === SLASH) {
      if (isDotSegment(rawPath, segStart, i)) break;
      if (i === segStart) break; // '//'
      segStart = i + 1;
    } else if (c >= 0x80 || RAW_CLASS[c] !== OK) {
      break;
    } else if (c === SEMICOLON && isDotSegment(rawPath, segStart, i)) {
      break; // '.;' or '..;': refused by removeDotSegments
    }
  }
  if (i === len && !isDotSegment(rawPath, segStart, len)) return rawPath;

  return removeDotSegments(canonicalizeEscapes(rawPath, encodedSlashes));
}

function isDotSegment(s: string, start: number, end: number): boolean {
  const n = end - start;
  if (n === 1) return s.charCodeAt(start) === DOT;
  if (n === 2) return s.charCodeAt(start) === DOT && s.charCodeAt(start + 1) === DOT;
  return false;
}

/** Decodes unreserved escapes, upper-cases the others, encodes raw characters that need it. */
function canonicalizeEscapes(raw: string, encodedSlashes: 'reject' | 'allow'): string {
  const len = raw.length;
  let out = '';
  let last = 0;
  for (let i = 0; i < len; i++) {
    const c = raw.charCodeAt(i);
    const cls = c >= 0x80 ? ENC : RAW_CLASS[c];
    if (cls === OK) continue;
    let rep: string;
    let skip = 0;
    if (cls === PCT) {
      const hi = i + 2 < len ? hexValue(raw.charCodeAt(i + 1)) : -1;
      const lo = hi >= 0 ? hexValue(raw.charCodeAt(i + 2)) : -1;
      if (lo < 0) throw new ProxyError('BAD_PATH');
      const v = hi * 16 + lo;
      if (v === 0) throw new ProxyError('BAD_PATH');
      if (v === 0x2f || v === 0x5c) {
        if (encodedSlashes === 'reject') throw new ProxyError('ENCODED_SLASH');
        rep = PCT_HEX[v]!;
      } else if (v < 0x80 && UNRESERVED[v] === 1) {
        rep = String.fromCharCode(v);
      } else {
        rep = PCT_HEX[v]!;
      }
      skip = 2;
    } else if (cls === BSL) {
      if (encodedSlashes === 'reject') throw new ProxyError('ENCODED_SLASH');
      rep = PCT_HEX[0x5c]!;
    } else if (cls === CTL) {
      throw new ProxyError('BAD_PATH');
    } else if (c <= 0xff) {
      rep = PCT_HEX[c]!;
    } else {
      // Only reachable for strings that did not come from Node's latin1 request line (route paths
      // from the config): encode the code point as UTF-8, as a client would have sent it.
      const cp = raw.codePointAt(i)!;
      if (cp > 0xffff) skip = 1;
      rep = '';
      for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) rep += PCT_HEX[b]!;
    }
    out += raw.slice(last, i) + rep;
    i += skip;
    last = i + 1;
  }
  return last === 0 ? raw : out + raw.slice(last);
}

/** RFC 3986 5.2.4 on an absolute path, with duplicate slashes merged first (as nginx and Kong do). */
function removeDotSegments(path: string): string {
  const parts = path.split('/');
  const stack: string[] = [];
  let trailingSlash = false;
  // parts[0] is the empty string before the leading '/'.
  for (let j = 1; j < parts.length; j++) {
    const p = parts[j]!;
    // A dot segment with path parameters (`..;x`, `.;`): Tomcat, Jetty and Spring drop the `;...`
    // and then resolve the dots, so `/public/..;/admin` routed here as under /public would reach
    // the upstream's /admin. No resource is named so: refused rather than forwarded.
    if (
      p.charCodeAt(0) === DOT &&
      (p.charCodeAt(1) === SEMICOLON || (p.charCodeAt(1) === DOT && p.charCodeAt(2) === SEMICOLON))
    )
      throw new ProxyError('BAD_PATH');
    const isLast = j === parts.length - 1;
    if (p === '' || p === '.') {
      if (isLast) trailingSlash = true;
    } else if (p === '..') {
      stack.pop();
      if (isLast) trailingSlash = true;
    } else {
      stack.push(p);
    }
  }
  if (stack.length === 0) return '/';
  return `/${stack.join('/')}${trailingSlash ? '/' : ''}`;
}

/**
 * Whether the bytes a normalized path names (each `%XX` one byte, every other character its ASCII
 * byte) are valid UTF-8 (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF).
 * Kong's default router decodes every escape of a non-reserved character (kong/tools/uri.lua)
 * and its matcher takes only UTF-8, answering `/hello%FC` 404 whatever its routes
 * (spec/01-unit/08-router_spec.lua, "gracefully handles invalid utf-8 sequences"). One scan, no
 * allocation, skipping from escape to escape; a path without `%` is ASCII and answered at once.
 */
export function escapesAreUtf8(path: string): boolean {
  let i = path.indexOf('%');
  if (i === -1) return true;
  let need = 0;
  let lower = 0x80;
  let upper = 0xbf;
  const len = path.length;
  for (; i < len; i++) {
    let b = path.charCodeAt(i);
    if (need === 0 && b !== 0x25) {
      // ASCII between sequences: on to the next escape.
      i = path.indexOf('%', i);
      if (i === -1) return true;
      b = 0x25;
    }
    if (b === 0x25 && i + 2 < len) {
      b = hexValue(path.charCodeAt(i + 1)) * 16 + hexValue(path.charCodeAt(i + 2));
      i += 2;
    }
    if (need > 0) {
      if (b < lower || b > upper) return false;
      lower = 0x80;
      upper = 0xbf;
      need--;
    } else if (b >= 0x80) {
      // The first byte's class (Unicode Table 3-7): it sets the count and the second byte's range.
      if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b === 0xe0) lower = 0xa0;
        else if (b === 0xed) upper = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b === 0xf0) lower = 0x90;
        else if (b === 0xf4) upper = 0x8f;
      } else return false;
    }
  }
  return need === 0;
}
