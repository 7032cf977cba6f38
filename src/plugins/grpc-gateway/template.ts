/**
 * Path templates of `google.api.http` rules (google/api/http.proto, "Path template syntax"):
 *
 *     Template = "/" Segments [ Verb ] ;
 *     Segments = Segment { "/" Segment } ;
 *     Segment  = "*" | "**" | LITERAL | Variable ;
 *     Variable = "{" FieldPath [ "=" Segments ] "}" ;
 *     Verb     = ":" LITERAL ;
 *
 * compiled once per proto into a list of segment matchers, and matched against a request path
 * segment by segment: one pass over the path, no regular expression (Kong builds a regex from
 * each template and runs it per request).
 */

const LITERAL = 0;
/** `*`: one non-empty segment. */
const ONE = 1;
/** `**`: the rest of the path, one segment or more (the last segment of a template, as http.proto requires). */
const REST = 2;

interface Segment {
  readonly kind: number;
  readonly text: string;
}

/** A variable: the field path it sets and the segments it covers, `[start, end)` (end -1: to the end). */
export interface TemplateVariable {
  readonly field: readonly string[];
  readonly start: number;
  readonly end: number;
}

export interface PathTemplate {
  readonly segments: readonly Segment[];
  readonly variables: readonly TemplateVariable[];
  /** The `:verb` the last segment ends with, or ''. */
  readonly verb: string;
  /** Whether the last segment is `**`. */
  readonly rest: boolean;
}

/** A field path or literal segment as http.proto allows: letters, digits and `-_.~` (and a few more a literal may carry). */
function validLiteral(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2f || c === 0x7b || c === 0x7d || c === 0x3d || c === 0x2a || c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

function segmentOf(text: string): Segment {
  if (text === '*') return { kind: ONE, text };
  if (text === '**') return { kind: REST, text };
  if (!validLiteral(text)) throw new Error(`invalid segment "${text}"`);
  return { kind: LITERAL, text };
}

/** Compiles a template; throws an Error saying what is wrong with it. */
export function compileTemplate(template: string): PathTemplate {
  if (!template.startsWith('/')) throw new Error('a path template starts with "/"');
  let body = template.slice(1);
  // The verb: a ':' after the last '/' and outside a variable.
  let verb = '';
  const lastSlash = body.lastIndexOf('/');
  const colon = body.indexOf(':', lastSlash + 1);
  if (colon >= 0 && body.indexOf('}', colon) < 0) {
    verb = body.slice(colon + 1);
    body = body.slice(0, colon);
    if (!validLiteral(verb)) throw new Error(`invalid verb "${verb}"`);
  }
  const segments: Segment[] = [];
  const variables: TemplateVariable[] = [];
  let i = 0;
  while (i <= body.length) {
    if (body.charCodeAt(i) === 0x7b /* { */) {
      const close = body.indexOf('}', i);
      if (close < 0) throw new Error('unclosed variable');
      const inner = body.slice(i + 1, close);
      const eq = inner.indexOf('=');
      const path = eq < 0 ? inner : inner.slice(0, eq);
      const field = path.split('.');
      if (!field.every((f) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(f))) throw new Error(`invalid field path "${path}"`);
      const start = segments.length;
      if (eq < 0) segments.push({ kind: ONE, text: '*' });
      else for (const s of inner.slice(eq + 1).split('/')) segments.push(segmentOf(s));
      variables.push({ field, start, end: segments.length });
      i = close + 1;
    } else {
      let next = body.indexOf('/', i);
      if (next < 0) next = body.length;
      segments.push(segmentOf(body.slice(i, next)));
      i = next;
    }
    if (i >= body.length) break;
    if (body.charCodeAt(i) !== 0x2f) throw new Error('a variable ends a segment');
    i++;
  }
  for (let s = 0; s < segments.length - 1; s++)
    if (segments[s]!.kind === REST) throw new Error('"**" must be the last segment');
  const rest = segments.length > 0 && segments[segments.length - 1]!.kind === REST;
  const ends = variables.map((v) => (rest && v.end === segments.length ? { ...v, end: -1 } : v));
  return { segments, variables: ends, verb, rest };
}

/**
 * The request path's segments (the leading '/' dropped) and verb, as `matchTemplate` takes them;
 * null for a path that does not start with '/'.
 */
export function splitPath(path: string): string[] | null {
  if (path.charCodeAt(0) !== 0x2f) return null;
  return path.slice(1).split('/');
}

/**
 * Whether `parts` (a request path's segments) match the template; on a match, the variables'
 * values (the segments they cover, joined by '/', still percent-encoded) in `values`.
 */
export function matchTemplate(t: PathTemplate, parts: readonly string[], values: string[]): boolean {
  const n = t.segments.length;
  if (t.rest ? parts.length < n : parts.length !== n) return false;
  let last = parts[parts.length - 1]!;
  if (t.verb !== '') {
    // The verb is on the last path segment: `/v1/things/1:cancel`.
    if (!last.endsWith(t.verb) || last.charCodeAt(last.length - t.verb.length - 1) !== 0x3a) return false;
    last = last.slice(0, last.length - t.verb.length - 1);
  }
  for (let i = 0; i < n; i++) {
    const seg = t.segments[i]!;
    const part = i === parts.length - 1 ? last : parts[i]!;
    if (seg.kind === LITERAL) {
      if (part !== seg.text) return false;
    } else if (seg.kind === ONE) {
      if (part.length === 0) return false;
    } else {
      // `**`: this segment and every one after it; Kong's `.+` wants at least one character.
      if (i === parts.length - 1 && part.length === 0) return false;
    }
  }
  values.length = 0;
  for (const v of t.variables) {
    if (v.end === v.start + 1 && v.end !== parts.length) values.push(parts[v.start]!);
    else {
      const end = v.end < 0 ? parts.length : v.end;
      let s = '';
      for (let i = v.start; i < end; i++) s += (i > v.start ? '/' : '') + (i === parts.length - 1 ? last : parts[i]);
      values.push(s);
    }
  }
  return true;
}
