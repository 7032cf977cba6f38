// The charset Kong's nginx adds to answers: kong_defaults.lua sets `nginx_http_charset = UTF-8`,
// nginx's `charset UTF-8` for every server, proxy included.
import type { HeaderValue } from '../pipeline/plugin.ts';

/** nginx's default `charset_types`: the media types its charset filter labels. */
const CHARSET_TYPES: ReadonlySet<string> = new Set([
  'text/html',
  'text/xml',
  'text/plain',
  'text/vnd.wap.wml',
  'application/javascript',
  'application/rss+xml',
]);

/**
 * Whether `type` has the first letter and the length of one of CHARSET_TYPES: `text/` ones are 8,
 * 9, 10 or 16 long, `application/` ones 19 or 22. Most answers (`application/json`, any value
 * with a parameter) stop here, before a lookup that reads the whole value.
 */
function mayBeCharsetType(type: string): boolean {
  const n = type.length;
  const first = type.charCodeAt(0) | 0x20;
  return first === 116 /* t */
    ? n === 8 || n === 9 || n === 10 || n === 16
    : first === 97 /* a */ && (n === 19 || n === 22);
}

/**
 * `type` with `; charset=<charset>` appended when it is one of nginx's `charset_types` with no
 * parameter, as nginx's charset filter labels an answer naming no charset
 * (ngx_http_charset_filter_module): a browser then decodes an upstream's unlabelled UTF-8
 * text/html as Kong's clients see it, not as windows-1252. nginx looks the whole value up, so one
 * with a parameter (`text/plain; format=flowed`) or its own charset is left as it is, and so is a
 * 301 or 302 (ngx_http_set_charset). `charset` is `nginx_http_charset`; `off` adds none, as
 * nginx's `charset off`.
 */
export function withCharset(type: string, status: number, charset: string): string {
  if (!mayBeCharsetType(type)) return type;
  if (status === 301 || status === 302 || charset === 'off') return type;
  return CHARSET_TYPES.has(type) || CHARSET_TYPES.has(type.toLowerCase()) ? `${type}; charset=${charset}` : type;
}

/** An answer's header object, its Content-Type labelled by `withCharset`. */
export function addCharset(headers: Record<string, HeaderValue | undefined>, status: number, charset: string): void {
  const type = headers['content-type'];
  if (typeof type === 'string') headers['content-type'] = withCharset(type, status, charset);
}

/** A header line of an upstream head as it is relayed: a Content-Type labelled by `withCharset`. */
export function relayedValue(name: string, value: string, status: number, charset: string): string {
  return name.length === 12 && (name.charCodeAt(0) | 0x20) === 99 /* c */ && name.toLowerCase() === 'content-type'
    ? withCharset(value, status, charset)
    : value;
}
