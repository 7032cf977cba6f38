// Kong's `$(...)` value templates, compiled once into tokens. Kong evaluates arbitrary Lua in them;
// Tollgate accepts the lookups people use: headers / query_params / uri_captures by `.name` or
// `["name"]`, string literals, and `or` fallbacks between them.
import type { GatewayRequest, HeaderValue } from '../../index.ts';

const enum Source {
  Header,
  Query,
  Capture,
  Literal,
}

interface Atom {
  readonly source: Source;
  /** Header name (lower-case, `_` as `-`), query or capture name, or the literal text. */
  readonly key: string;
}

/** A compiled template: literal text and lookups, in order. */
export type Template = readonly (string | readonly Atom[])[];

/** Thrown for a template Tollgate cannot evaluate; the caller turns it into a PluginConfigError. */
export class TemplateError extends Error {}

const SOURCES: Record<string, Source> = {
  headers: Source.Header,
  query_params: Source.Query,
  uri_captures: Source.Capture,
};
const ATOM =
  /^\s*(?:(headers|query_params|uri_captures)\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\d+))\s*\])|"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)')\s*$/;

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function compileExpression(expr: string, whole: string): Atom[] {
  const atoms: Atom[] = [];
  for (const part of expr.split(/\s+or\s+/)) {
    const m = ATOM.exec(part);
    if (m === null) {
      // Kong's schema message for a template pl.template cannot compile (check_for_value), saying why.
      throw new TemplateError(
        `value '${whole}' is not in supported format, error: unsupported expression '${expr}' (Tollgate accepts headers.x, query_params.x, uri_captures.x, ["name"], 'literal' and 'or')`,
      );
    }
    if (m[1] !== undefined) {
      const source = SOURCES[m[1]]!;
      let key = m[2] ?? (m[3] !== undefined ? unescape(m[3]) : m[4] !== undefined ? unescape(m[4]) : m[5]!);
      // Nginx's header table: case-insensitive, and `_` in a Lua field name stands for `-`.
      if (source === Source.Header) key = key.toLowerCase().replace(/_/g, '-');
      atoms.push({ source, key });
    } else {
      atoms.push({ source: Source.Literal, key: unescape(m[6] ?? m[7]!) });
    }
  }
  return atoms;
}

/** Whether rendering `t` may read a request header. */
export function readsHeaders(t: Template | string): boolean {
  return (
    typeof t !== 'string' && t.some((part) => typeof part !== 'string' && part.some((a) => a.source === Source.Header))
  );
}

/** Compiles `text`; a text without `$(` compiles to itself. */
export function compileTemplate(text: string): Template | string {
  if (!text.includes('$(')) return text;
  const out: (string | Atom[])[] = [];
  let i = 0;
  let literal = '';
  while (i < text.length) {
    const at = text.indexOf('$(', i);
    if (at < 0) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, at);
    // Find the matching parenthesis, skipping quoted strings.
    let depth = 1;
    let j = at + 2;
    let quote = '';
    for (; j < text.length && depth > 0; j++) {
      const c = text[j]!;
      if (quote !== '') {
        if (c === '\\') j++;
        else if (c === quote) quote = '';
      } else if (c === '"' || c === "'") quote = c;
      else if (c === '(') depth++;
      else if (c === ')') depth--;
    }
    if (depth !== 0)
      throw new TemplateError(`value '${text}' is not in supported format, error: unbalanced parenthesis`);
    if (literal !== '') out.push(literal);
    literal = '';
    out.push(compileExpression(text.slice(at + 2, j - 1), text));
    i = j;
  }
  if (literal !== '') out.push(literal);
  return out;
}

/**
 * What one run of the plugin renders its templates from: Kong's template environment, whose
 * `headers` and `query_params` are read at their first use (kong.request.get_headers() and
 * get_query()), so they hold what the plugins before this one left (a request-transformer header,
 * key-auth's X-Consumer-* headers, a query without the key hide_credentials took out), and, read
 * before this plugin applies its own header changes, not those.
 */
export class TemplateEnv {
  #headers: Readonly<Record<string, HeaderValue>> | null = null;
  #query: URLSearchParams | null = null;
  constructor(readonly req: GatewayRequest) {}

  /**
   * Reads the headers now if they were not read yet: Kong's transform_headers changes a copy and
   * sets it at its end, so its header templates read the headers as they were before it.
   */
  readHeaders(): void {
    this.#headers ??= this.req.getUpstreamHeaders();
  }

  header(name: string): string | undefined {
    const v = (this.#headers ??= this.req.getUpstreamHeaders())[name];
    return v === undefined ? undefined : typeof v === 'string' ? v : v.join(', ');
  }

  query(name: string): string | undefined {
    const changed = this.req.upstreamQuery;
    this.#query ??= changed === null ? this.req.query : new URLSearchParams(changed);
    return this.#query.get(name) ?? undefined;
  }
}

function lookup(env: TemplateEnv, atom: Atom): string | undefined {
  switch (atom.source) {
    case Source.Header:
      return env.header(atom.key);
    case Source.Query:
      return env.query(atom.key);
    case Source.Capture:
      return env.req.captures[atom.key];
    default:
      return atom.key;
  }
}

/**
 * Where a rendered value goes. Node keeps header values as latin1 strings (one char per byte),
 * everything else (query values, captures, config text) as Unicode text. Kong copies bytes: a
 * UTF-8 `é` from a query parameter reaches a header as the two bytes C3 A9, and a header's bytes
 * reach a JSON body or the querystring as they are. Converting at the boundary keeps that.
 */
export const enum Target {
  /** A header value: a latin1 string whose chars are the bytes to send. */
  Header,
  /** The querystring or the body: Unicode text, UTF-8 encoded when serialized. */
  Text,
}

const ASCII = /^[\x00-\x7f]*$/;

/** Text as the latin1 string of its UTF-8 bytes (what a header value carries). */
function utf8Bytes(s: string): string {
  return ASCII.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** A header value's bytes read as UTF-8 text (invalid sequences become U+FFFD). */
function headerText(s: string): string {
  return ASCII.test(s) ? s : Buffer.from(s, 'latin1').toString('utf8');
}

/**
 * Renders a compiled template; `env` is null only for a plugin without templates (a string renders
 * as itself).
 */
export function render(t: Template | string, env: TemplateEnv | null, target: Target): string {
  const header = target === Target.Header;
  if (typeof t === 'string') return header ? utf8Bytes(t) : t;
  let s = '';
  for (const part of t) {
    if (typeof part === 'string') {
      s += header ? utf8Bytes(part) : part;
      continue;
    }
    for (const atom of part) {
      const v = lookup(env!, atom);
      if (v !== undefined) {
        if (atom.source === Source.Header) s += header ? v : headerText(v);
        else s += header ? utf8Bytes(v) : v;
        break;
      }
    }
  }
  return s;
}

/** RFC 3986 unreserved bytes stay as they are in a path; every other byte is percent-encoded. */
const KEEP = new Uint8Array(256);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') KEEP[ch.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

function encodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += KEEP[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  // A value that is a whole dot segment would climb out of the template's path.
  return out === '.' ? '%2E' : out === '..' ? '%2E%2E' : out;
}

/**
 * Kong's set_path escape (kong/tools/uri.lua `escape`): every byte of the UTF-8 text but the
 * RFC 3986 reserved and unreserved characters and `%` is percent-encoded, so the path a config
 * writes (`/requests/tést`, `/a b`) reaches the upstream as `/requests/t%C3%A9st`, `/a%20b`.
 */
const PATH_KEEP = new Uint8Array(256);
for (const ch of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!#$&'()*+,/:;=?@[]%")
  PATH_KEEP[ch.charCodeAt(0)] = 1;
const PATH_TEXT = /^[A-Za-z0-9\-._~!#$&'()*+,/:;=?@[\]%]*$/;

function escapePathText(text: string): string {
  if (PATH_TEXT.test(text)) return text;
  let out = '';
  for (const b of Buffer.from(text, 'utf8'))
    out += PATH_KEEP[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  return out;
}

/**
 * Compiles a `replace.uri` template: as compileTemplate, with its own text and `'literal'`
 * fallbacks escaped once, here, as Kong's set_path escapes the path it is given.
 */
export function compilePathTemplate(text: string): Template | string {
  const t = compileTemplate(text);
  if (typeof t === 'string') return escapePathText(t);
  return t.map((part) =>
    typeof part === 'string'
      ? escapePathText(part)
      : part.map((a) => (a.source === Source.Literal ? { source: a.source, key: escapePathText(a.key) } : a)),
  );
}

/**
 * Renders a path template made by compilePathTemplate: its own text as compiled; header and query
 * values are percent-encoded (all but unreserved characters), so they cannot add segments, a query or a
 * fragment, nor be a `.`/`..` segment. A uri capture is already path text (normalized, escaped, no
 * dot segments, no `?` or `#`) and goes in as it is: it spans segments only where the route's own
 * regex let it (Kong's `~/v1/(?<rest>.*)` → `/v2/$(uri_captures.rest)` rewrite).
 */
export function renderPath(t: Template | string, env: TemplateEnv | null): string {
  if (typeof t === 'string') return t;
  let s = '';
  for (const part of t) {
    if (typeof part === 'string') {
      s += part;
      continue;
    }
    for (const atom of part) {
      const v = lookup(env!, atom);
      if (v !== undefined) {
        if (atom.source === Source.Header) s += encodeBytes(Buffer.from(v, 'latin1'));
        else if (atom.source === Source.Query) s += encodeBytes(Buffer.from(v, 'utf8'));
        else s += v;
        break;
      }
    }
  }
  return s;
}

/** Whether `v` (rendered for `Target.Header`) can be sent as a header value: no control characters but tab. */
export function isValidHeaderValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}
