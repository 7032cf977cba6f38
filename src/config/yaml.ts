/**
 * YAML → plain data, with every node's source position kept, and YAML's hazards turned into
 * located issues. We walk the yaml package's AST ourselves instead of calling `toJS()` so that
 * each value keeps its offset, dangerous keys never reach an object, and alias expansion is
 * budgeted.
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Node as YamlNode,
} from 'yaml';
import type { ConfigErrorCode } from '../errors.ts';
import { forbiddenKeyIssue } from './forbidden-keys.ts';
import { isJsonFile, parseJsonConfig } from './json.ts';
import type { YamlPath } from './model.ts';
import { Position, SourceMap } from './source-map.ts';
import { refuseDeepNesting } from './yaml-depth.ts';
import { parsePlainYaml } from './yaml-fast.ts';

export { SourceMap, type SourceMapDump } from './source-map.ts';

/**
 * Alias expansion budget, in nodes materialized through aliases. Real configs reuse a plugin
 * config or a header list a few hundred times at most; an alias bomb ("billion laughs") needs
 * millions.
 */
export const MAX_ALIAS_NODES = 100_000;

/**
 * Alias expansion budget, in characters of the strings (values and keys) materialized through
 * aliases. Aliases share a string in memory, but every later stage (the worker's copy of the tree,
 * reference resolution, hashing, redaction) handles each occurrence on its own: a 1 MB string
 * aliased 50,000 times, well within the node budget, held `gateway validate` for minutes and took
 * gigabytes. A real config aliases a PEM or a plugin config a few hundred times at most.
 */
export const MAX_ALIAS_CHARS = 16 * 1024 * 1024;

/** The yaml package's own alias guard, kept for documentation parity with its `maxAliasCount`. */
export const MAX_ALIAS_COUNT = 100;

export interface RawIssue {
  code: ConfigErrorCode;
  message: string;
  path: YamlPath;
  /** Offset of the offending node in the text (used when `path` cannot be located). */
  offset?: number;
  /** Locate the key of `path`'s last segment instead of its value. */
  atKey?: boolean;
  /**
   * Locate at `offset` even where `path` is known: `path` names the node, `offset` the spot in it
   * (a repeated key, whose `path` locates the value used).
   */
  atOffset?: boolean;
  severity?: 'error' | 'warning';
}

/**
 * The usual YAML mistake is a line indented to no level of the block it belongs to. From the line
 * the parser stopped at (or the next, which is where it went wrong when the parser blames the
 * previous value), finds the first line whose indentation matches no enclosing level.
 */
function indentationProblem(text: string, errLine: number): { message: string; offset: number } | null {
  const all = text.split('\n');
  const indentOf = (l: string): number => {
    const m = /^( *)(- +)?/.exec(l)!;
    return m[1]!.length;
  };
  const contentOf = (l: string): number => {
    const m = /^( *)((?:- +)*)/.exec(l)!;
    return m[1]!.length + m[2]!.length;
  };
  const levels: number[] = [];
  let offset = 0;
  for (let i = 0; i < all.length && i < errLine + 1; i++) {
    const line = all[i]!;
    const lineOffset = offset;
    offset += line.length + 1;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const indent = indentOf(line);
    while (levels.length > 0 && levels[levels.length - 1]! > indent) levels.pop();
    const top = levels[levels.length - 1];
    if (
      i + 1 >= errLine &&
      top !== undefined &&
      indent > top &&
      !/:\s*(#.*)?$|^\s*- /.test(all[i - 1] ?? '') &&
      indent !== contentOf(all[i - 1] ?? '')
    ) {
      return {
        message: `bad indentation on line ${i + 1}: it is indented ${indent} spaces, but the block it continues is at ${top}; YAML nests by indentation, so align it with the keys it belongs with`,
        offset: lineOffset + indent,
      };
    }
    if (top === undefined || indent > top) levels.push(indent);
    const content = contentOf(line);
    if (content > indent) levels.push(content);
  }
  return null;
}

export interface ParsedYaml {
  data: unknown;
  map: SourceMap;
  issues: RawIssue[];
}

/**
 * Parses `text` into plain data and a source map; `issues` lists every hazard found. A file written
 * in the plain subset of YAML that configs use takes the fast path (yaml-fast.ts); any other, and
 * any file with a problem, is parsed by the yaml package, whose diagnostics it reports.
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  if (isJsonFile(file)) return parseJsonConfig(text, file);
  return refuseDeepNesting(text, file) ?? parsePlainYaml(text, file) ?? parseYamlFully(text, file);
}

/** parseYaml through the yaml package's document model. */
export function parseYamlFully(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  const map = new SourceMap(file, lines);
  const issues: RawIssue[] = [];
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    // Duplicate keys are found by the walk below, in constant time per key: the yaml package
    // compares each key with every earlier key of its mapping, and one mapping of 50,000 keys
    // (a 700 KB file) held a core for a minute at every reload.
    uniqueKeys: false,
    keepSourceTokens: false,
  });

  // After the first syntax error the parser's further errors are mostly consequences of it: one
  // located sentence about the first is what helps (hazards are each reported).
  let syntaxSeen = false;
  for (const err of doc.errors) {
    const hazard = err.code === 'MULTIPLE_DOCS' || err.code === 'TAB_AS_INDENT';
    // The lines after a tab-indented one are misread by the parser: its next syntax error is about
    // them, and blamed a correctly indented line ('bad indentation on line N') after the tab.
    if (err.code === 'TAB_AS_INDENT') syntaxSeen = true;
    if (!hazard) {
      if (syntaxSeen) continue;
      syntaxSeen = true;
      const bad = indentationProblem(text, lines.linePos(err.pos[0]).line);
      if (bad !== null) {
        issues.push({ code: 'YAML_SYNTAX', message: bad.message, path: [], offset: bad.offset });
        continue;
      }
    }
    let message = err.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, '');
    if (!hazard) message = `YAML syntax error: ${message.charAt(0).toLowerCase()}${message.slice(1)}`;
    if (err.code === 'MULTIPLE_DOCS') message = 'several YAML documents in one file; a config file holds exactly one';
    else if (err.code === 'TAB_AS_INDENT') message = 'tab character in indentation; YAML indentation must use spaces';
    issues.push({ code: hazard ? 'YAML_HAZARD' : 'YAML_SYNTAX', message, path: [], offset: err.pos[0] });
  }
  if (issues.length > 0) return { data: undefined, map, issues };

  // A warning (an unknown tag, ...) is about one node: it is located there, not at the top.
  for (const w of doc.warnings) {
    issues.push({
      code: 'YAML_SYNTAX',
      message: w.message.replace(/ at line \d+, column \d+:?[\s\S]*$/, ''),
      path: pathAtOffset(doc.contents, w.pos[0]),
      offset: w.pos[0],
      atOffset: true,
      severity: 'warning',
    });
  }

  if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) {
    issues.push({
      code: 'YAML_HAZARD',
      message: 'the file is empty; it needs at least `_format_version: "3.0"`',
      path: [],
      offset: 0,
    });
    return { data: undefined, map, issues };
  }

  const walker = new Walker(doc, map, issues);
  const data = walker.node(doc.contents, [], map.node([]));
  return { data, map, issues };
}

/** The path of the mapping key or item at `offset` in a parsed document (iterative: bounded by the document's depth). */
function pathAtOffset(root: unknown, offset: number): YamlPath {
  const path: (string | number)[] = [];
  let node = root;
  for (;;) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as { range?: [number, number, number] } | null;
        const v = p.value as { range?: [number, number, number] } | null;
        const start = k?.range?.[0] ?? v?.range?.[0] ?? -1;
        const end = v?.range?.[2] ?? k?.range?.[2] ?? -1;
        return start <= offset && offset <= end;
      });
      if (pair === undefined) return path;
      path.push(String(isScalar(pair.key) ? pair.key.value : pair.key));
      const k = pair.key as { range?: [number, number, number] } | null;
      if (k?.range !== undefined && offset <= k.range[1]) return path;
      node = pair.value;
    } else if (isSeq(node)) {
      const i = node.items.findIndex((item) => {
        const r = (item as { range?: [number, number, number] } | null)?.range;
        return r !== undefined && r[0] <= offset && offset <= r[2];
      });
      if (i < 0) return path;
      path.push(i);
      node = node.items[i];
    } else return path;
  }
}

class Walker {
  #aliasNodes = 0;
  #aliasChars = 0;
  #aliasDepth = 0;
  #bombReported = false;
  /** Each alias's anchored node, found in one walk at the first alias. */
  #aliasTargets: Map<unknown, unknown> | null = null;
  constructor(
    readonly doc: Document,
    readonly map: SourceMap,
    readonly issues: RawIssue[],
  ) {}

  /** `pos` is the position node of `path` (outside aliases; null inside one, where nothing is recorded). */
  node(node: unknown, path: (string | number)[], pos: Position | null): unknown {
    const n = node as YamlNode | null;
    if (n === null || n === undefined) return null;
    const offset = n.range?.[0] ?? 0;
    if (this.#aliasDepth === 0) {
      if (pos!.value === -1) pos!.value = offset;
    } else if (++this.#aliasNodes > MAX_ALIAS_NODES) {
      this.#bomb(`aliases expand to more than ${MAX_ALIAS_NODES} nodes (an alias bomb?)`, path, offset);
      return null;
    }

    if (isAlias(n)) {
      const target = this.#aliasTarget(n);
      if (!target) {
        this.issues.push({ code: 'YAML_SYNTAX', message: `unknown alias *${n.source}`, path, offset });
        return null;
      }
      // Nodes reached through an alias are located at the alias itself.
      this.#aliasDepth++;
      try {
        return this.node(target, path, null);
      } finally {
        this.#aliasDepth--;
      }
    }

    if (isScalar(n)) {
      const v = n.value;
      if (typeof v === 'string' && this.#aliasDepth > 0 && !this.#spend(v.length, path, offset)) return null;
      if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) {
          this.issues.push({ code: 'SCHEMA', message: 'must be a finite number', path, offset });
          return null;
        }
        return v;
      }
      if (typeof v === 'bigint') return Number(v);
      this.issues.push({
        code: 'YAML_HAZARD',
        message: `unsupported YAML value type${n.tag ? ` ${n.tag}` : ''}; use a string`,
        path,
        offset,
      });
      return null;
    }

    if (isSeq(n)) {
      const out: unknown[] = [];
      n.items.forEach((item, i) => {
        out.push(this.node(item, [...path, i], this.#aliasDepth === 0 ? pos!.child(i) : null));
      });
      return out;
    }

    if (isMap(n)) {
      const out: Record<string, unknown> = {};
      // Keys written in this mapping (not merged into it), by the name they get in `out`: `1` and
      // "1" are one key there. A node reached through an alias was checked where it is anchored.
      const written = this.#aliasDepth === 0 ? new Set<string>() : null;
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const k = pair.key as YamlNode | null;
        const kOffset = k?.range?.[0] ?? offset;
        const isMerge = isScalar(k) && k.value === '<<' && k.source === '<<';
        if (written !== null && (isMerge || isScalar(k) || k === null)) {
          const name = k === null ? '' : String(k.value ?? '');
          if (written.has(name)) {
            // Kong's parser (lyaml, libyaml) loads a repeated key, the last value winning: so does
            // this one, and says which value was dropped.
            this.issues.push({
              code: 'YAML_HAZARD',
              message: `duplicate key '${name}': the last value is used (as Kong's YAML parser does) and the earlier one is ignored; write the key once`,
              path: [...path, name],
              offset: kOffset,
              atOffset: true,
              severity: 'warning',
            });
            // Locations inside the key now point at the value that is used.
            pos!.children?.set(name, new Position());
          } else written.add(name);
        }
        if (isMerge && (isAlias(pair.value) || isSeq(pair.value))) {
          this.merge(out, pair.value, path, pos, kOffset);
          continue;
        }
        let name: string;
        if (k === null) name = '';
        else if (isScalar(k) && (k.value === null || ['string', 'number', 'boolean'].includes(typeof k.value)))
          name = String(k.value ?? '');
        else {
          this.issues.push({
            code: 'YAML_HAZARD',
            message: 'complex mapping keys are not supported; keys must be plain strings',
            path,
            offset: kOffset,
          });
          continue;
        }
        if (this.#aliasDepth > 0 && !this.#spend(name.length, path, kOffset)) continue;
        const childPath = [...path, name];
        const hazard = forbiddenKeyIssue(name, childPath, kOffset);
        if (hazard !== null) {
          this.issues.push(hazard);
          continue;
        }
        const childPos = this.#aliasDepth === 0 ? pos!.child(name) : null;
        if (childPos !== null && childPos.key === -1) childPos.key = kOffset;
        const value = this.node(pair.value, childPath, childPos);
        if (childPos !== null && pair.value === null && childPos.value === -1) childPos.value = kOffset;
        out[name] = value;
      }
      return out;
    }

    this.issues.push({ code: 'YAML_SYNTAX', message: 'unsupported YAML node', path, offset });
    return null;
  }

  /** Counts characters materialized through aliases; false past the budget (reported once). */
  #spend(chars: number, path: (string | number)[], offset: number): boolean {
    this.#aliasChars += chars;
    if (this.#aliasChars <= MAX_ALIAS_CHARS) return true;
    this.#bomb(
      `aliases expand to more than ${MAX_ALIAS_CHARS / 1024 / 1024} MiB of text (an alias bomb?)`,
      path,
      offset,
    );
    return false;
  }

  #bomb(message: string, path: (string | number)[], offset: number): void {
    if (this.#bombReported) return;
    this.#bombReported = true;
    this.issues.push({ code: 'YAML_HAZARD', message, path, offset });
  }

  /**
   * The node an alias names: the last node anchored with its name before it, in document order
   * (YAML 1.2). The yaml package's `Alias.resolve` walks the document from its start for each
   * alias, which made a file of many aliases quadratic (10,000 of them took 24 s); one walk
   * records every alias's target instead.
   */
  #aliasTarget(alias: YamlNode): unknown {
    if (this.#aliasTargets === null) {
      const targets = new Map<unknown, unknown>();
      const anchors = new Map<string, unknown>();
      visit(this.doc, {
        Node(_key, node) {
          if (isAlias(node)) targets.set(node, anchors.get(node.source));
          else if (node.anchor) anchors.set(node.anchor, node);
        },
      });
      this.#aliasTargets = targets;
    }
    return this.#aliasTargets.get(alias);
  }

  /** YAML 1.1 merge keys (`<<: *base`), which Kong's YAML parser accepts: earlier keys win. */
  merge(
    out: Record<string, unknown>,
    value: unknown,
    path: (string | number)[],
    pos: Position | null,
    offset: number,
  ): void {
    const sources = isSeq(value) ? value.items : [value];
    for (const src of sources) {
      const merged = this.node(src, path, pos);
      if (merged === null || typeof merged !== 'object' || Array.isArray(merged)) {
        // Past the alias budget every merge comes back empty: the bomb is the one problem to report.
        if (this.#bombReported) continue;
        this.issues.push({ code: 'YAML_SYNTAX', message: 'a merge key (<<) must refer to a mapping', path, offset });
        continue;
      }
      for (const [k, v] of Object.entries(merged)) {
        if (!Object.hasOwn(out, k)) out[k] = v;
      }
    }
  }
}
