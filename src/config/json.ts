/**
 * A `.json` config file is read as JSON, as Kong reads it: kong/db/declarative/init.lua decodes a
 * file whose name ends in `json` with its JSON decoder (cjson), never with the YAML parser. The
 * yaml package read such a file as YAML, which took comments, single-quoted strings, unquoted
 * keys, trailing commas, anchors and multi-line strings that no JSON decoder takes: a file that
 * passed here failed in Kong and in every JSON tool in the pipeline that feeds it.
 *
 * The text is checked against RFC 8259's grammar in one pass that reports the first departure at
 * its line and column, with what to write instead; the data then comes from JSON.parse (the same
 * grammar). A repeated key keeps its last value, as cjson and JSON.parse do, with the warning the
 * YAML reader gives. Positions are recorded only when a location is first asked for (a valid file
 * needs none): the map rescans the text then.
 */
import { LineCounter } from 'yaml';
import { forbiddenKeyIssue } from './forbidden-keys.ts';
import type { YamlPath } from './model.ts';
import { lineStartsOf, Position, SourceMap } from './source-map.ts';
import type { ParsedYaml, RawIssue } from './yaml.ts';
import { MAX_FLOW_DEPTH } from './yaml-depth.ts';

/** Whether `file` is read as JSON: a name ending in `.json` (Kong: `filename:match("json$")`). */
export function isJsonFile(file: string): boolean {
  return /\.json$/i.test(file);
}

/** Thrown at the first departure from the grammar. */
class JsonSyntax extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;
const NUMBER_LIKE = /[-+0-9.a-zA-Z]+/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
/** A first word no JSON text starts with (YAML's `key: value`, most likely). */
const NOT_JSON_START = /^(?!(?:true|false|null)(?![A-Za-z0-9_]))[A-Za-z_]/;

/** One pass over the text: the grammar, repeated and forbidden keys, and (when `root` is given) positions. */
class Scan {
  at = 0;
  constructor(
    readonly text: string,
    readonly issues: RawIssue[],
    readonly root: Position | null,
  ) {}

  run(): void {
    this.space();
    if (this.at >= this.text.length)
      throw new JsonSyntax('the file is empty; it needs at least {"_format_version": "3.0"}', 0);
    if (NOT_JSON_START.test(this.text.slice(this.at, this.at + 6)))
      throw new JsonSyntax(
        'the file is not JSON: a .json config is one JSON object, {"_format_version": "3.0", ...} (name a YAML file .yaml)',
        this.at,
      );
    this.value([], this.root, 0);
    this.space();
    if (this.at < this.text.length)
      throw new JsonSyntax('more after the JSON value: a JSON config file holds exactly one object', this.at);
  }

  /** JSON's four whitespace characters; a comment is named as what it is. */
  space(): void {
    const t = this.text;
    for (;;) {
      const c = t.charCodeAt(this.at);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.at++;
      else if (c === 47 && (t[this.at + 1] === '/' || t[this.at + 1] === '*'))
        throw new JsonSyntax(
          'comments are not JSON: a .json config holds none (write the file as YAML to keep them)',
          this.at,
        );
      else if (c === 35)
        throw new JsonSyntax(
          'comments are not JSON: a .json config holds none (write the file as YAML to keep them)',
          this.at,
        );
      else return;
    }
  }

  value(path: YamlPath, pos: Position | null, depth: number): void {
    if (pos !== null && pos.value === -1) pos.value = this.at;
    const c = this.text[this.at];
    if (c === '{') return this.object(path, pos, depth + 1);
    if (c === '[') return this.array(path, pos, depth + 1);
    if (c === '"') {
      this.string();
      return;
    }
    if (c === "'") throw new JsonSyntax('JSON strings are written in double quotes, not single quotes', this.at);
    for (const word of ['true', 'false', 'null']) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return;
      }
    }
    if (c === '-' || c === '+' || c === '.' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    if (this.text.startsWith('NaN', this.at) || this.text.startsWith('Infinity', this.at)) return this.number();
    if (c !== undefined && /[A-Za-z_]/.test(c))
      throw new JsonSyntax('JSON strings are written in double quotes: "value"', this.at);
    throw this.unexpected('a value');
  }

  number(): void {
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    NUMBER_LIKE.lastIndex = this.at;
    const written = NUMBER_LIKE.exec(this.text)![0];
    // `01`, `0x10`, `1.`, `.5`, `+1`, `1e`, `Infinity`: a number JSON does not write.
    if (m === null || m[0].length !== written.length)
      throw new JsonSyntax(
        `invalid JSON number '${written.slice(0, 40)}': JSON numbers are decimal, without leading zeros, a leading '+', hex, Infinity or NaN`,
        this.at,
      );
    this.at += m[0].length;
  }

  /** A string; returns its value (keys need it). */
  string(): string {
    const t = this.text;
    const start = this.at;
    let i = start + 1;
    let plain = true;
    for (;;) {
      const c = t.charCodeAt(i);
      if (Number.isNaN(c)) throw new JsonSyntax('a string is not closed: a double quote is missing', start);
      if (c === 34) break;
      if (c < 0x20) {
        const name =
          c === 10 ? 'a line break' : c === 9 ? 'a tab' : `the control character U+${c.toString(16).padStart(4, '0')}`;
        throw new JsonSyntax(`${name} inside a string: JSON writes it escaped (\\n, \\t, \\u00XX)`, i);
      }
      if (c === 92) {
        plain = false;
        const e = t[i + 1];
        if (e === 'u') {
          if (!HEX4.test(t.slice(i + 2, i + 6))) throw new JsonSyntax('\\u is followed by four hex digits in JSON', i);
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e))
          throw new JsonSyntax(
            `invalid escape '\\${e ?? ''}' in a JSON string (JSON's are \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)`,
            i,
          );
        i += 2;
        continue;
      }
      i++;
    }
    this.at = i + 1;
    return plain ? t.slice(start + 1, i) : (JSON.parse(t.slice(start, i + 1)) as string);
  }

  /**
   * Steps past an object's or array's opening bracket (refusing one nested past MAX_FLOW_DEPTH) and
   * the space after it; true when `close` follows at once (an empty one, stepped past too).
   */
  private opened(close: '}' | ']', depth: number): boolean {
    if (depth > MAX_FLOW_DEPTH)
      throw new JsonSyntax(
        `objects and arrays nested more than ${MAX_FLOW_DEPTH} levels deep; a config nests a few`,
        this.at,
      );
    this.at++;
    this.space();
    if (this.text[this.at] !== close) return false;
    this.at++;
    return true;
  }

  object(path: YamlPath, pos: Position | null, depth: number): void {
    if (this.opened('}', depth)) return;
    const seen = new Set<string>();
    for (;;) {
      const c = this.text[this.at];
      if (c !== '"') {
        if (c === "'") throw new JsonSyntax('JSON keys are written in double quotes, not single quotes', this.at);
        if (c === '}') throw new JsonSyntax('a trailing comma before } is not JSON: remove it', this.trailing);
        throw c !== undefined && /[A-Za-z_$]/.test(c)
          ? new JsonSyntax('JSON keys are written in double quotes: "key": value', this.at)
          : this.unexpected('a key in double quotes');
      }
      const keyAt = this.at;
      const key = this.string();
      const keyPath = [...path, key];
      const hazard = forbiddenKeyIssue(key, keyPath, keyAt);
      if (hazard !== null) this.issues.push(hazard);
      let child: Position | null = null;
      if (seen.has(key)) {
        // cjson and JSON.parse keep the last value; the warning the YAML reader gives says which.
        this.issues.push({
          code: 'YAML_HAZARD',
          message: `duplicate key '${key}': the last value is used (as Kong's JSON decoder does) and the earlier one is ignored; write the key once`,
          path: keyPath,
          offset: keyAt,
          atOffset: true,
          severity: 'warning',
        });
        if (pos !== null) pos.children!.set(key, (child = new Position()));
      } else {
        seen.add(key);
        if (pos !== null) child = pos.child(key);
      }
      if (child !== null && child.key === -1) child.key = keyAt;
      this.space();
      if (this.text[this.at] !== ':') throw this.unexpected("':' after the key");
      this.at++;
      this.space();
      this.value(keyPath, child, depth);
      if (this.after('}')) return;
    }
  }

  array(path: YamlPath, pos: Position | null, depth: number): void {
    if (this.opened(']', depth)) return;
    for (let i = 0; ; i++) {
      if (this.text[this.at] === ']')
        throw new JsonSyntax('a trailing comma before ] is not JSON: remove it', this.trailing);
      this.value([...path, i], pos === null ? null : pos.child(i), depth);
      if (this.after(']')) return;
    }
  }

  /** Offset of the last comma read (where a trailing comma is reported). */
  trailing = 0;

  /** After an item: `,` (true: more follow) or `close` (false: done). */
  after(close: string): boolean {
    this.space();
    const c = this.text[this.at];
    if (c === close) {
      this.at++;
      return true;
    }
    if (c !== ',') throw this.unexpected(`',' or '${close}'`);
    this.trailing = this.at;
    this.at++;
    this.space();
    return false;
  }

  unexpected(wanted: string): JsonSyntax {
    const c = this.text[this.at];
    return new JsonSyntax(
      c === undefined ? `the file ends where ${wanted} was expected` : `expected ${wanted}, found ${JSON.stringify(c)}`,
      this.at,
    );
  }
}

/** Parses a `.json` config into plain data and a (lazy) source map, with every issue located. */
export function parseJsonConfig(text: string, file: string): ParsedYaml {
  const issues: RawIssue[] = [];
  const lazy = (): SourceMap =>
    SourceMap.lazy(file, () => {
      const root = new Position();
      try {
        new Scan(text, [], root).run();
      } catch {
        // Positions up to the error are recorded, which is all an error's location needs.
      }
      return { root, lineStarts: lineStartsOf(text) };
    });
  try {
    new Scan(text, issues, null).run();
  } catch (e) {
    if (!(e instanceof JsonSyntax)) throw e;
    const lines = new LineCounter();
    lines.lineStarts = lineStartsOf(text);
    issues.push({ code: 'YAML_SYNTAX', message: `JSON syntax error: ${e.message}`, path: [], offset: e.offset });
    return { data: undefined, map: new SourceMap(file, lines), issues };
  }
  if (issues.some((i) => i.severity !== 'warning')) return { data: undefined, map: lazy(), issues };
  return { data: JSON.parse(text), map: lazy(), issues };
}
