/**
 * A fast parser for the plain subset of YAML that gateway configs are written in: block mappings
 * and sequences nested by indentation, one-line flow collections (`[a, b]`, `{ k: v }`), one-line
 * plain and quoted scalars, comments, a leading `---`. Values resolve as the yaml package's YAML
 * 1.2 core schema resolves them (null, booleans, decimal, octal and hex integers, floats).
 *
 * It returns null for anything else: anchors, aliases, tags, block scalars, multi-line scalars,
 * merge keys, duplicate or forbidden keys, empty items, tabs, CR, control characters, several
 * documents, directives, and every syntax error. The yaml package then parses the file and reports
 * what it finds, so this path never decides what is valid: it only accepts what that one accepts,
 * with the same values and the same source positions. A 10,000-route file parses several times
 * faster here, and with far less garbage: no token stream, no document model.
 *
 * Positions are not recorded on the first pass (a valid file needs none): the source map reparses
 * the text with positions when a location is first asked for.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { lineStartsOf, Position, SourceMap } from './source-map.ts';
import type { ParsedYaml } from './yaml.ts';

/** Thrown (once built, never with a stack) when the text leaves the subset. */
class NotPlain extends Error {}
const NOT_PLAIN = new NotPlain('not plain YAML');

/** Keys the full parser refuses (prototype pollution guard) or treats specially (merge key). */
const SPECIAL_KEYS = new Set(['__proto__', 'constructor', 'prototype', '<<']);

/** Characters that make the full parser take a different path: control characters, BOM, NEL, line separators. */
const UNUSUAL_CHARS = /[\u0000-\u0009\u000b-\u001f\u007f\u0085\u2028\u2029\ufeff]/;

const NL = 10;
const SPACE = 32;
const HASH = 35;
const COLON = 58;
const DASH = 45;
const COMMA = 44;
const SQUOTE = 39;
const DQUOTE = 34;
const LBRACKET = 91;
const RBRACKET = 93;
const LBRACE = 123;
const RBRACE = 125;

/** First characters a plain scalar may not have here (YAML indicators; `-` is checked apart). */
const NOT_PLAIN_START = new Set([...'[]{},#&*!|>\'"%@`?:'].map((c) => c.charCodeAt(0)));
/** Characters that end a plain scalar inside a flow collection. */
const FLOW_END = new Set([COMMA, LBRACKET, RBRACKET, LBRACE, RBRACE]);

/** The implicit key limit of YAML 1.2 (the `:` at most 1024 characters after the key's start). */
const MAX_IMPLICIT_KEY = 1024;

const INT = /^[-+]?[0-9]+$/;
const OCT = /^0o[0-7]+$/;
const HEX = /^0x[0-9a-fA-F]+$/;
const SPECIAL_FLOAT = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const EXP_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/** A plain scalar's value under the core schema, as the yaml package resolves it. */
function resolvePlain(s: string): unknown {
  switch (s) {
    case '~':
    case 'null':
    case 'Null':
    case 'NULL':
      return null;
    case 'true':
    case 'True':
    case 'TRUE':
      return true;
    case 'false':
    case 'False':
    case 'FALSE':
      return false;
  }
  const c = s.charCodeAt(0);
  // Only these can start a number: digits, sign, dot.
  if (!((c >= 48 && c <= 57) || c === 43 || c === DASH || c === 46)) return s;
  if (OCT.test(s)) return parseInt(s.substring(2), 8);
  if (INT.test(s)) return parseInt(s, 10);
  if (HEX.test(s)) return parseInt(s.substring(2), 16);
  if (SPECIAL_FLOAT.test(s)) throw NOT_PLAIN; // not finite: the full path reports it
  if (EXP_FLOAT.test(s) || FLOAT.test(s)) return parseFloat(s);
  return s;
}

const ESCAPES: Record<string, string> = {
  '\\': '\\',
  '"': '"',
  '/': '/',
  n: '\n',
  t: '\t',
  r: '\r',
  b: '\b',
  f: '\f',
  '0': '\0',
  a: '\x07',
  v: '\v',
  e: '\x1b',
};
const HEX_ESCAPE_LENGTH: Record<string, number> = { x: 2, u: 4, U: 8 };

class PlainParser {
  #i = -1;
  /** Indentation of the current content line; -1 at the end of the text. */
  #ind = -1;
  readonly #text: string;
  readonly #len: number;
  /** The position tree being recorded, or null on a pass that records none. */
  readonly #root: Position | null;

  constructor(text: string, root: Position | null) {
    this.#text = text;
    this.#len = text.length;
    this.#root = root;
  }

  document(): unknown {
    if (this.#i === -1) this.#start();
    const value = this.#block(this.#ind, this.#root);
    if (this.#ind !== -1) throw NOT_PLAIN;
    return value;
  }

  /** To the first content line, past a leading `---`. */
  #start(): void {
    const t = this.#text;
    this.#nextLine(true);
    if (this.#ind === -1) throw NOT_PLAIN; // empty: the full path explains
    if (this.#ind === 0 && this.#isMarker('---')) {
      this.#i += 3;
      this.#endOfLine();
      this.#nextLine(false);
    }
    if (this.#atEnd()) throw NOT_PLAIN;
    if (t.charCodeAt(this.#i) === 37 /* % */) throw NOT_PLAIN;
  }

  #atEnd(): boolean {
    return this.#ind === -1;
  }

  #isMarker(m: string): boolean {
    const t = this.#text;
    const after = this.#i + 3;
    return (
      t.startsWith(m, this.#i) && (after >= this.#len || t.charCodeAt(after) === SPACE || t.charCodeAt(after) === NL)
    );
  }

  /** From the end of a line (or the start of the text) to the next content line: sets #i and #ind. */
  #nextLine(first: boolean): void {
    const t = this.#text;
    const len = this.#len;
    let i = this.#i;
    for (;;) {
      if (i >= len) {
        this.#i = len;
        this.#ind = -1;
        return;
      }
      i++; // past the newline
      const lineStart = i;
      while (i < len && t.charCodeAt(i) === SPACE) i++;
      if (i >= len) continue;
      const c = t.charCodeAt(i);
      if (c === NL) continue;
      if (c === HASH) {
        i = t.indexOf('\n', i);
        if (i === -1) i = len;
        continue;
      }
      this.#i = i;
      this.#ind = i - lineStart;
      // A document marker after the first line: a second document, or an end marker.
      if (this.#ind === 0 && !first && (this.#isMarker('---') || this.#isMarker('...'))) throw NOT_PLAIN;
      return;
    }
  }

  /** After a value: spaces, then the end of the line or a comment. Leaves #i at the newline. */
  #endOfLine(): void {
    const t = this.#text;
    const start = this.#i;
    let i = start;
    while (i < this.#len && t.charCodeAt(i) === SPACE) i++;
    if (i < this.#len && t.charCodeAt(i) !== NL) {
      if (t.charCodeAt(i) !== HASH || i === start) throw NOT_PLAIN;
      i = t.indexOf('\n', i);
      if (i === -1) i = this.#len;
    }
    this.#i = i;
  }

  #isSeqItem(i: number): boolean {
    const t = this.#text;
    if (t.charCodeAt(i) !== DASH) return false;
    const n = t.charCodeAt(i + 1);
    return i + 1 >= this.#len || n === SPACE || n === NL;
  }

  /** A block node starting at the current content line (indentation `ind`). */
  #block(ind: number, pos: Position | null): unknown {
    return this.#isSeqItem(this.#i) ? this.#seq(ind, pos) : this.#map(ind, pos);
  }

  #seq(ind: number, pos: Position | null): unknown[] {
    const out: unknown[] = [];
    if (pos !== null && pos.value === -1) pos.value = this.#i;
    while (this.#seqItem(ind, pos, out));
    return out;
  }

  /** One `- item` of a block sequence; true when another item follows. */
  #seqItem(ind: number, pos: Position | null, out: unknown[]): boolean {
    const t = this.#text;
    let j = this.#i + 1;
    while (j < this.#len && t.charCodeAt(j) === SPACE) j++;
    // An empty item, a nested `- - x` or a value on the next lines: the full path.
    if (j >= this.#len || t.charCodeAt(j) === NL || t.charCodeAt(j) === HASH || this.#isSeqItem(j)) throw NOT_PLAIN;
    const itemPos = pos === null ? null : pos.child(out.length);
    const col = ind + (j - this.#i);
    this.#i = j;
    if (this.#plainKeyColon(j) !== -1) out.push(this.#map(col, itemPos));
    else {
      out.push(this.#inline(itemPos));
      this.#endOfLine();
      this.#nextLine(false);
    }
    if (this.#ind === ind && this.#isSeqItem(this.#i)) return true;
    if (this.#ind > ind) throw NOT_PLAIN;
    return false;
  }

  #map(ind: number, pos: Position | null): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (pos !== null && pos.value === -1) pos.value = this.#i;
    for (;;) {
      const pending = this.#entry(ind, pos, out);
      if (pending !== null) out[pending.key] = this.#block(this.#ind, pending.pos);
      if (!this.#moreEntries(ind)) return out;
    }
  }

  /**
   * One `key: value` of a block mapping, stored in `out`; when the value is a block on the next
   * lines, returns its key and position instead, with the current line its first.
   */
  #entry(
    ind: number,
    pos: Position | null,
    out: Record<string, unknown>,
  ): { key: string; pos: Position | null } | null {
    const t = this.#text;
    const keyStart = this.#i;
    const key = this.#key();
    if (SPECIAL_KEYS.has(key) || Object.hasOwn(out, key)) throw NOT_PLAIN;
    const childPos = pos === null ? null : pos.child(key);
    if (childPos !== null && childPos.key === -1) childPos.key = keyStart;
    let i = this.#i;
    while (i < this.#len && t.charCodeAt(i) === SPACE) i++;
    if (i < this.#len && t.charCodeAt(i) !== NL && t.charCodeAt(i) !== HASH) {
      this.#i = i;
      out[key] = this.#inline(childPos);
      this.#endOfLine();
      this.#nextLine(false);
      return null;
    }
    this.#endOfLine(); // from the colon: a comment needs the space before it
    this.#nextLine(false);
    // A nested block, or a sequence at the key's own indentation (`key:` then `- item`).
    if (this.#ind > ind || (this.#ind === ind && this.#isSeqItem(this.#i))) return { key, pos: childPos };
    out[key] = null;
    if (childPos !== null && childPos.value === -1) childPos.value = i;
    return null;
  }

  /** After an entry of a mapping at `ind`: true when another entry follows. */
  #moreEntries(ind: number): boolean {
    if (this.#ind === ind) {
      if (this.#isSeqItem(this.#i)) throw NOT_PLAIN;
      return true;
    }
    if (this.#ind > ind) throw NOT_PLAIN;
    return false;
  }

  /**
   * document(), pausing between the entries of the root mapping and between the items of its
   * block sequences (the entity lists) whenever `pause` asks to.
   */
  async documentSliced(pause: () => Promise<void> | null): Promise<unknown> {
    this.#start();
    const ind = this.#ind;
    if (this.#isSeqItem(this.#i) || this.#root !== null) return this.document();
    const out: Record<string, unknown> = {};
    for (;;) {
      const pending = this.#entry(ind, null, out);
      if (pending !== null) {
        if (this.#isSeqItem(this.#i)) {
          const list: unknown[] = [];
          const at = this.#ind;
          for (;;) {
            const more = this.#seqItem(at, null, list);
            await pause();
            if (!more) break;
          }
          out[pending.key] = list;
        } else out[pending.key] = this.#block(this.#ind, null);
      }
      await pause();
      if (!this.#moreEntries(ind)) break;
    }
    if (this.#ind !== -1) throw NOT_PLAIN;
    return out;
  }

  /**
   * The `:` that ends a plain implicit key starting at `i` on this line, or -1 when the line is
   * not `key: ...` with a plain key.
   */
  #plainKeyColon(i: number): number {
    const t = this.#text;
    const c = t.charCodeAt(i);
    if (NOT_PLAIN_START.has(c) || (c === DASH && this.#isSeqItem(i))) return -1;
    for (let k = i; k < this.#len; k++) {
      const d = t.charCodeAt(k);
      if (d === NL || (d === SPACE && t.charCodeAt(k + 1) === HASH)) return -1;
      if (d === COLON) {
        const n = t.charCodeAt(k + 1);
        if (k + 1 >= this.#len || n === SPACE || n === NL) return k;
      }
    }
    return -1;
  }

  /** A block mapping key and its `:`; leaves #i after the colon. */
  #key(): string {
    const t = this.#text;
    const start = this.#i;
    const c = t.charCodeAt(start);
    let key: string;
    if (c === SQUOTE || c === DQUOTE) {
      key = c === SQUOTE ? this.#singleQuoted() : this.#doubleQuoted();
      const n = t.charCodeAt(this.#i + 1);
      if (t.charCodeAt(this.#i) !== COLON || !(this.#i + 1 >= this.#len || n === SPACE || n === NL)) throw NOT_PLAIN;
    } else {
      const colon = this.#plainKeyColon(start);
      if (colon === -1 || t.charCodeAt(colon - 1) === SPACE) throw NOT_PLAIN;
      const v = resolvePlain(t.slice(start, colon));
      key = v === null ? '' : String(v);
      this.#i = colon;
    }
    if (this.#i - start > MAX_IMPLICIT_KEY) throw NOT_PLAIN;
    this.#i++;
    return key;
  }

  /**
   * The value at #i if it is a flow collection or a quoted scalar; undefined (no parsed value is)
   * where a plain scalar starts. Throws at an indicator or a `- ` that no plain scalar starts with.
   */
  #collectionOrQuoted(pos: Position | null): unknown {
    const i = this.#i;
    const c = this.#text.charCodeAt(i);
    if (pos !== null && pos.value === -1) pos.value = i;
    if (c === LBRACKET) return this.#flowSeq(pos);
    if (c === LBRACE) return this.#flowMap(pos);
    if (c === SQUOTE) return this.#singleQuoted();
    if (c === DQUOTE) return this.#doubleQuoted();
    if (NOT_PLAIN_START.has(c) || (c === DASH && this.#isSeqItem(i))) throw NOT_PLAIN;
    return undefined;
  }

  /** A value that starts on this line and ends on it: a flow collection or a scalar. */
  #inline(pos: Position | null): unknown {
    const value = this.#collectionOrQuoted(pos);
    if (value !== undefined) return value;
    const t = this.#text;
    const i = this.#i;
    let end = i;
    for (; end < this.#len; end++) {
      const d = t.charCodeAt(end);
      if (d === NL || (d === SPACE && t.charCodeAt(end + 1) === HASH)) break;
    }
    while (t.charCodeAt(end - 1) === SPACE) end--;
    const raw = t.slice(i, end);
    // `a: b: c` and `a: b:` are errors (or keys) for the full parser.
    if (raw.includes(': ') || raw.charCodeAt(raw.length - 1) === COLON) throw NOT_PLAIN;
    this.#i = end;
    return resolvePlain(raw);
  }

  #skipSpaces(): number {
    const t = this.#text;
    let i = this.#i;
    while (i < this.#len && t.charCodeAt(i) === SPACE) i++;
    this.#i = i;
    return i < this.#len ? t.charCodeAt(i) : -1;
  }

  /** A value inside a flow collection (a `-` before a newline or the end is refused either way). */
  #flowValue(pos: Position | null): unknown {
    const value = this.#collectionOrQuoted(pos);
    if (value !== undefined) return value;
    const t = this.#text;
    const i = this.#i;
    let j = i;
    for (; j < this.#len; j++) {
      const d = t.charCodeAt(j);
      if (FLOW_END.has(d)) break;
      if (d === NL) throw NOT_PLAIN;
      // `a: b` (an implicit pair) and `a #b` (a comment) inside a flow collection: the full path.
      if (d === SPACE && t.charCodeAt(j + 1) === HASH) throw NOT_PLAIN;
      if (d === COLON) {
        const n = t.charCodeAt(j + 1);
        if (n === SPACE || n === NL || FLOW_END.has(n) || j + 1 >= this.#len) throw NOT_PLAIN;
      }
    }
    if (t.charCodeAt(j) === LBRACKET || t.charCodeAt(j) === LBRACE) throw NOT_PLAIN;
    let end = j;
    while (t.charCodeAt(end - 1) === SPACE) end--;
    this.#i = j;
    return resolvePlain(t.slice(i, end));
  }

  #flowSeq(pos: Position | null): unknown[] {
    const out: unknown[] = [];
    this.#i++;
    if (this.#skipSpaces() === RBRACKET) {
      this.#i++;
      return out;
    }
    for (;;) {
      out.push(this.#flowValue(pos === null ? null : pos.child(out.length)));
      const c = this.#skipSpaces();
      this.#i++;
      if (c === RBRACKET) return out;
      if (c !== COMMA) throw NOT_PLAIN;
      const n = this.#skipSpaces();
      if (n === RBRACKET || n === COMMA || n === -1 || n === NL) throw NOT_PLAIN;
    }
  }

  #flowMap(pos: Position | null): Record<string, unknown> {
    const t = this.#text;
    const out: Record<string, unknown> = {};
    this.#i++;
    if (this.#skipSpaces() === RBRACE) {
      this.#i++;
      return out;
    }
    for (;;) {
      const keyStart = this.#i;
      const key = this.#flowKey();
      if (SPECIAL_KEYS.has(key) || Object.hasOwn(out, key)) throw NOT_PLAIN;
      const childPos = pos === null ? null : pos.child(key);
      if (childPos !== null && childPos.key === -1) childPos.key = keyStart;
      const v = this.#skipSpaces();
      if (v === COMMA || v === RBRACE || v === NL || v === -1) throw NOT_PLAIN; // an empty value
      out[key] = this.#flowValue(childPos);
      const c = this.#skipSpaces();
      this.#i++;
      if (c === RBRACE) return out;
      if (c !== COMMA) throw NOT_PLAIN;
      const n = this.#skipSpaces();
      if (n === RBRACE || n === COMMA || n === -1 || n === NL) throw NOT_PLAIN;
      if (t.charCodeAt(this.#i) === NL) throw NOT_PLAIN;
    }
  }

  /** A flow mapping key followed by `: `; leaves #i after the colon. */
  #flowKey(): string {
    const t = this.#text;
    const start = this.#i;
    const c = t.charCodeAt(start);
    let key: string;
    if (c === SQUOTE || c === DQUOTE) key = c === SQUOTE ? this.#singleQuoted() : this.#doubleQuoted();
    else {
      if (NOT_PLAIN_START.has(c) || c === DASH) throw NOT_PLAIN;
      let j = start;
      for (; j < this.#len; j++) {
        const d = t.charCodeAt(j);
        if (d === COLON && t.charCodeAt(j + 1) === SPACE) break;
        if (FLOW_END.has(d) || d === NL || d === HASH || d === COLON) throw NOT_PLAIN;
      }
      if (j >= this.#len || t.charCodeAt(j - 1) === SPACE) throw NOT_PLAIN;
      const v = resolvePlain(t.slice(start, j));
      key = v === null ? '' : String(v);
      this.#i = j;
    }
    if (t.charCodeAt(this.#i) !== COLON || t.charCodeAt(this.#i + 1) !== SPACE) throw NOT_PLAIN;
    if (this.#i - start > MAX_IMPLICIT_KEY) throw NOT_PLAIN;
    this.#i++;
    return key;
  }

  /** 'text' on one line, '' for a quote; leaves #i after the closing quote. */
  #singleQuoted(): string {
    const t = this.#text;
    let out = '';
    let from = this.#i + 1;
    for (;;) {
      const q = t.indexOf("'", from);
      const nl = t.indexOf('\n', from);
      if (q === -1 || (nl !== -1 && nl < q)) throw NOT_PLAIN;
      out += t.slice(from, q);
      if (t.charCodeAt(q + 1) === SQUOTE) {
        out += "'";
        from = q + 2;
        continue;
      }
      this.#i = q + 1;
      return out;
    }
  }

  /** "text" on one line with the usual escapes; leaves #i after the closing quote. */
  #doubleQuoted(): string {
    const t = this.#text;
    let out = '';
    let from = this.#i + 1;
    for (let j = from; ; j++) {
      if (j >= this.#len) throw NOT_PLAIN;
      const c = t.charCodeAt(j);
      if (c === NL) throw NOT_PLAIN;
      if (c === DQUOTE) {
        this.#i = j + 1;
        return out + t.slice(from, j);
      }
      if (c !== 92 /* \ */) continue;
      out += t.slice(from, j);
      const e = t[j + 1] ?? '';
      const simple = ESCAPES[e];
      if (simple !== undefined) {
        out += simple;
        j++;
      } else {
        const n = HEX_ESCAPE_LENGTH[e];
        const hex = n === undefined ? '' : t.slice(j + 2, j + 2 + n);
        if (n === undefined || !/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) throw NOT_PLAIN;
        const code = parseInt(hex, 16);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) throw NOT_PLAIN;
        out += String.fromCodePoint(code);
        j += 1 + n;
      }
      from = j + 1;
    }
  }
}

/**
 * Parses `text` when it is written in the plain subset (see above); null when it is not, and the
 * yaml package must parse it. The source map is lazy: built by a second pass on first use.
 */
export function parsePlainYaml(text: string, file: string): ParsedYaml | null {
  if (UNUSUAL_CHARS.test(text)) return null;
  let data: unknown;
  try {
    data = new PlainParser(text, null).document();
  } catch (e) {
    if (e === NOT_PLAIN) return null;
    throw e;
  }
  return { data, map: lazyMap(text, file), issues: [] };
}

/**
 * parsePlainYaml in slices: it yields to the event loop whenever it has run for `sliceMs` since the
 * last yield (between entities), so that parsing a file of tens of MB never holds the requests
 * being served for longer than that.
 */
export async function parsePlainYamlSliced(text: string, file: string, sliceMs: number): Promise<ParsedYaml | null> {
  if (UNUSUAL_CHARS.test(text)) return null;
  let since = performance.now();
  const pause = (): Promise<void> | null => {
    if (performance.now() - since < sliceMs) return null;
    return yieldToLoop().then(() => {
      since = performance.now();
    });
  };
  let data: unknown;
  try {
    data = await new PlainParser(text, null).documentSliced(pause);
  } catch (e) {
    if (e === NOT_PLAIN) return null;
    throw e;
  }
  return { data, map: lazyMap(text, file), issues: [] };
}

/** A source map built on first use by a second pass that records positions. */
function lazyMap(text: string, file: string): SourceMap {
  return SourceMap.lazy(file, () => {
    const root = new Position();
    new PlainParser(text, root).document();
    return { root, lineStarts: lineStartsOf(text) };
  });
}
