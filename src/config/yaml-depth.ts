/**
 * A bound on nesting, checked in one linear pass before any parser sees the text: flow nesting
 * (`[` and `{`) and block nesting (deeper indentation, and compact `- - -` sequences). Both
 * parsers, and the walks over the parsed document, descend recursively: a few kilobytes of
 * `[[[[...`, or a few thousand ever more indented keys, overflow the stack, and the yaml package
 * can then overflow it inside V8's regular expression compiler, which aborts the process rather
 * than throwing (a hot reload of such a file would end the gateway). Real configs nest a handful
 * of levels.
 */
import { LineCounter } from 'yaml';
import { SourceMap } from './source-map.ts';
import type { ParsedYaml } from './yaml.ts';

/** Flow collections nested deeper than this are refused. */
export const MAX_FLOW_DEPTH = 256;
/**
 * Block collections nested deeper than this are refused. Counted by distinct indentations, so a
 * block scalar's own indented lines count too (a pretty-printed JSON document in a `|` block): the
 * bound leaves room for them.
 */
export const MAX_BLOCK_DEPTH = 512;

/**
 * The offset of the first line whose block nesting passes MAX_BLOCK_DEPTH, or -1. Each line's
 * indentation closes the levels at or past it and opens one; each `- ` that starts its content
 * opens one more (a compact nested sequence). Blank and comment-only lines are skipped.
 */
export function excessiveBlockDepth(text: string): number {
  const stack = new Int32Array(MAX_BLOCK_DEPTH + 2);
  let depth = 0;
  const n = text.length;
  for (let start = 0; start < n; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = n;
    let col = start;
    while (col < end && text.charCodeAt(col) === 0x20) col++;
    const first = col < end ? text.charCodeAt(col) : -1;
    if (first !== -1 && first !== 0x23 /* # */ && first !== 0x0d) {
      let indent = col - start;
      while (depth > 0 && stack[depth - 1]! >= indent) depth--;
      stack[depth++] = indent;
      // `- - x`: a sequence in a sequence on one line, each entry one level deeper.
      while (col + 1 < end && text.charCodeAt(col) === 0x2d /* - */ && text.charCodeAt(col + 1) === 0x20) {
        col += 2;
        while (col < end && text.charCodeAt(col) === 0x20) col++;
        indent = col - start;
        if (depth > 0 && stack[depth - 1]! >= indent) continue;
        stack[depth++] = indent;
        if (depth > MAX_BLOCK_DEPTH) return start;
      }
      if (depth > MAX_BLOCK_DEPTH) return start;
    }
    start = end + 1;
  }
  return -1;
}

/**
 * The offset where flow nesting passes MAX_FLOW_DEPTH, or -1. Quoted scalars and comments are
 * skipped; brackets inside plain scalars count, which only errs towards deeper (a regex path's
 * `[a-z]{2}` is balanced).
 */
export function excessiveFlowDepth(text: string): number {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > MAX_FLOW_DEPTH) return i;
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
      if (depth > 0) depth--;
    } else if (c === 0x22 /* " */) {
      // A double-quoted scalar: backslash escapes the next character.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x27 /* ' */) {
      // A single-quoted scalar (only after a separator: `it's` in a plain scalar is no quote).
      const prev = i === 0 ? 0x20 : text.charCodeAt(i - 1);
      if (prev !== 0x20 && prev !== 0x0a && prev !== 0x5b && prev !== 0x7b && prev !== 0x2c && prev !== 0x3a) continue;
      // '' is an escaped quote: the scan simply leaves and re-enters.
      for (i++; i < n && text.charCodeAt(i) !== 0x27; i++);
    } else if (c === 0x23 /* # */) {
      const prev = i === 0 ? 0x20 : text.charCodeAt(i - 1);
      if (prev === 0x20 || prev === 0x0a || prev === 0x09) for (; i < n && text.charCodeAt(i) !== 0x0a; i++);
    }
  }
  return -1;
}

/** The located refusal of a text nested too deeply, or null. */
export function refuseDeepNesting(text: string, file: string): ParsedYaml | null {
  const flowAt = excessiveFlowDepth(text);
  const blockAt = flowAt === -1 ? excessiveBlockDepth(text) : -1;
  if (flowAt === -1 && blockAt === -1) return null;
  const at = flowAt === -1 ? blockAt : flowAt;
  const lines = new LineCounter();
  lines.addNewLine(0);
  for (let i = text.indexOf('\n'); i !== -1 && i < at; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
  return {
    data: undefined,
    map: new SourceMap(file, lines),
    issues: [
      {
        code: 'YAML_SYNTAX',
        message:
          flowAt === -1
            ? `block collections (indentation) nested more than ${MAX_BLOCK_DEPTH} levels deep; a config nests a few`
            : `flow collections ([ ] or { }) nested more than ${MAX_FLOW_DEPTH} levels deep; a config nests a few`,
        path: [],
        offset: at,
      },
    ],
  };
}
