/**
 * Config text sent in a header (a response header value, a content type, a redirect location).
 * Node holds header values as latin1 strings, one char per byte, and throws when it sends one with
 * a control character or a char past U+00FF: that would fail every request of the route, and the
 * failure surfaced as an aborted upstream or a 500. Kong sends the config's UTF-8 bytes. So such
 * text is checked and converted once, at load.
 */
import { PluginConfigError } from '../errors.ts';
import type { Consumer, Credential, GatewayRequest, HeaderValue } from '../pipeline/plugin.ts';

/** Control characters that cannot be in a header value (tab can). */
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;
const ASCII = /^[\u0000-\u007f]*$/;

/** Whether `text` holds a character no header value may carry. */
export function hasHeaderControlChar(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * An identity value (a consumer's id, username or custom id, a credential's identifier) as its
 * header: the latin1 string of its UTF-8 bytes, as utf8HeaderText; null for no value; undefined
 * when it holds a control character no header may carry. One scan: this runs on every
 * authenticated request.
 */
function identityHeaderText(text: string | null | undefined): string | null | undefined {
  if (typeof text !== 'string') return null;
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return undefined;
    if (c > 0x7f) ascii = false;
  }
  return ascii ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * `text` as a header value (the latin1 string of its UTF-8 bytes); throws a PluginConfigError at
 * `at` for a control character.
 */
export function configHeaderValue(text: string, at: string): string {
  if (CONTROL.test(text))
    throw new PluginConfigError(at, 'a header value cannot contain control characters (tab aside)');
  return ASCII.test(text) ? text : Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * Text from the config or a credential (a consumer's username, an ACL group, an LDAP user name) as
 * a header value: the latin1 string of its UTF-8 bytes, which is what Kong sends. Node and undici
 * refuse a char past U+00FF in a header, so a consumer named `日本` failed every request.
 */
export function utf8HeaderText(text: string): string {
  // Called per authenticated request on short names: a loop costs less than a regex call here.
  for (let i = 0; i < text.length; i++)
    if (text.charCodeAt(i) > 0x7f) return Buffer.from(text, 'utf8').toString('latin1');
  return text;
}

/**
 * The first value of a request header, as Kong's `kong.request.get_header` returns it. Node joins
 * a repeated header's lines with ", " (`Date` and most others; on HTTP/2 too), which would make a
 * repeated signed header sign differently from Kong, and a repeated `Date` no date at all.
 */
export function firstHeader(req: Pick<GatewayRequest, 'headers' | 'raw'>, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v[0];
  if (v.includes(',')) {
    const distinct = req.raw?.headersDistinct?.[name];
    if (distinct && distinct.length > 0) return distinct[0];
    // An HTTP/2 request has no headersDistinct and joins repeated fields the same way: its first
    // field is read from the raw list (lower-case names on HTTP/2).
    const fields = distinct === undefined ? req.raw?.rawHeaders : undefined;
    if (fields !== undefined)
      for (let i = 0; i < fields.length - 1; i += 2) if (fields[i] === name) return fields[i + 1];
  }
  return v;
}

/**
 * `value` without the whitespace around it: space and tab (HTTP's optional whitespace, RFC 9110
 * 5.6.3, which is all nginx strips from a header value) and the other ASCII spaces (Lua's `%s`,
 * which Kong's `strip` removes). Unlike String.prototype.trim it keeps U+00A0: node reads a header
 * byte 0xA0 as that character, and it is part of the value, not space around it. The same string
 * when there is nothing to cut.
 */
export function trimAsciiSpace(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isAsciiSpace(value.charCodeAt(start))) start++;
  while (end > start && isAsciiSpace(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isAsciiSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Every line of a request header, as Kong's `kong.request.get_headers()` gives a repeated one (a
 * list, one item per line): the value itself when it came once. Node joins repeated lines with
 * ", ", which would run two lines into one item.
 */
export function headerLines(
  req: Pick<GatewayRequest, 'headers' | 'raw'>,
  name: string,
): string | readonly string[] | undefined {
  const v = req.headers[name];
  if (v === undefined || Array.isArray(v) || !v.includes(',')) return v;
  const distinct = req.raw?.headersDistinct?.[name];
  if (distinct !== undefined) return distinct.length === 1 ? distinct[0] : distinct;
  // HTTP/2: no headersDistinct; the raw list has lower-case names.
  const fields = req.raw?.rawHeaders;
  if (fields === undefined) return v;
  const out: string[] = [];
  for (let i = 0; i < fields.length - 1; i += 2) if (fields[i] === name) out.push(fields[i + 1]!);
  return out.length > 1 ? out : v;
}

/** No identity: what an unauthenticated request sends as its identity headers. */
export const NO_IDENTITY: readonly null[] = [null, null, null, null];

/**
 * The identity headers of a consumer and credential, made once per pair of objects: consumers and
 * credentials are config entities, the same objects on every request, and the scan that checks and
 * converts their text cost about 1,200 instructions per authenticated request. Null when a value
 * holds a control character.
 */
const identityCache = new WeakMap<
  Consumer | typeof NO_IDENTITY,
  WeakMap<Credential | typeof NO_IDENTITY, readonly (string | null)[] | null>
>();

export function identityHeaders(
  consumer: Consumer | null,
  credential: Credential | null,
): readonly (string | null)[] | null {
  const byConsumer = consumer ?? NO_IDENTITY;
  const byCredential = credential ?? NO_IDENTITY;
  let inner = identityCache.get(byConsumer);
  if (inner === undefined) {
    inner = new WeakMap();
    identityCache.set(byConsumer, inner);
  }
  let headers = inner.get(byCredential);
  if (headers === undefined) {
    const id = identityHeaderText(consumer?.id);
    const customId = identityHeaderText(consumer?.custom_id);
    const username = identityHeaderText(consumer?.username);
    const identifier = identityHeaderText(credential?.identifier);
    headers =
      id === undefined || customId === undefined || username === undefined || identifier === undefined
        ? null
        : [id, customId, username, identifier];
    inner.set(byCredential, headers);
  }
  return headers;
}

/**
 * Headers that frame or manage an outgoing request's connection (RFC 9110 7.6.1, 8.6, 10.1.1):
 * undici sets them itself and refuses a request that carries them, so one configured in a log or
 * trace exporter's `headers` would fail every delivery.
 */
const CLIENT_MANAGED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'expect',
]);

/**
 * `headers` from a plugin's config without the ones the HTTP client sets itself, each left out
 * with a warning located at `headers.<name>`.
 */
export function configuredRequestHeaders(
  headers: Readonly<Record<string, string>> | null | undefined,
  warn: (message: string, field: string) => void,
): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (CLIENT_MANAGED_HEADERS.has(name.toLowerCase())) {
      warn(`the ${name} header is set by the HTTP client itself: it is not sent from headers`, `headers.${name}`);
    } else kept[name] = value;
  }
  return kept;
}

/** Hop-by-hop headers (RFC 9110 7.6.1 and the usual non-standard ones): never forwarded in either direction. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** Tokens of a Connection header other than keep-alive/close, lower-cased. */
export function connectionTokens(value: HeaderValue | undefined): string[] {
  if (value === undefined) return [];
  // Nearly every upstream answer says just `keep-alive` (or `close`): nothing to split.
  if (value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return [];
  const joined = typeof value === 'string' ? value : value.join(',');
  const out: string[] = [];
  for (const part of joined.split(',')) {
    const t = trimAsciiSpace(part).toLowerCase();
    if (t !== '' && t !== 'keep-alive' && t !== 'close' && !NEVER_CONNECTION_OPTION.has(t)) out.push(t);
  }
  return out;
}

/**
 * Headers a Connection option never removes: they frame or address the message (node has read
 * the body by them already), so `Connection: content-length` must not make the body vanish
 * upstream. nginx does not remove Connection-listed request headers at all.
 */
const NEVER_CONNECTION_OPTION: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'host']);
