/**
 * Where each value of a parsed config came from (FILE:LINE:COL), for located issues. The map is a
 * tree of positions that follows the YAML paths: building it formats no path string, and locating
 * a path walks as many levels as it has. A valid file never needs a location, so a map can be
 * lazy: the tree and the line table are built on the first lookup (a 10,000-route file has a few
 * hundred thousand nodes, which a load that reports nothing would build and collect for nothing).
 */
import { LineCounter } from 'yaml';
import type { SourceLocation, YamlPath } from './model.ts';

/** Offsets of one node of the document (-1: not in the source), and of its children by key or index. */
export class Position {
  value = -1;
  key = -1;
  children: Map<string | number, Position> | null = null;

  child(seg: string | number): Position {
    this.children ??= new Map();
    let c = this.children.get(seg);
    if (c === undefined) this.children.set(seg, (c = new Position()));
    return c;
  }
}

/** Start offsets of the lines of `text`, as the yaml package's LineCounter records them. */
export function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return starts;
}

export class SourceMap {
  #root: Position | null;
  #lines: LineCounter | null;
  /** Builds the tree and the line table on first use (a lazy map); null once built. */
  #build: (() => { root: Position; lineStarts: number[] }) | null = null;
  readonly file: string;

  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.#lines = lines;
    this.#root = new Position();
  }

  /** A map whose positions `build` computes when a location is first asked for. */
  static lazy(file: string, build: () => { root: Position; lineStarts: number[] }): SourceMap {
    const map = new SourceMap(file, new LineCounter());
    map.#root = null;
    map.#lines = null;
    map.#build = build;
    return map;
  }

  #ensure(): { root: Position; lines: LineCounter } {
    if (this.#build !== null) {
      const built = this.#build();
      this.#build = null;
      this.#root = built.root;
      this.#lines = new LineCounter();
      this.#lines.lineStarts = built.lineStarts;
    }
    return { root: this.#root!, lines: this.#lines! };
  }

  /** The position node of `path`, created on the way. */
  node(path: YamlPath): Position {
    let n = this.#ensure().root;
    for (const seg of path) n = n.child(seg);
    return n;
  }

  setValue(path: YamlPath, offset: number): void {
    const n = this.node(path);
    if (n.value === -1) n.value = offset;
  }

  setKey(path: YamlPath, offset: number): void {
    const n = this.node(path);
    if (n.key === -1) n.key = offset;
  }

  at(offset: number): SourceLocation {
    const { line, col } = this.#ensure().lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /**
   * Location of the node at `path`, or of its nearest ancestor that exists in the source (a
   * default-applied field has no node of its own; its enclosing entity has).
   */
  locate(path: YamlPath, atKey = false): SourceLocation {
    const root = this.#ensure().root;
    const along: Position[] = [root];
    let n: Position | undefined = root;
    for (const seg of path) {
      n = n.children?.get(seg);
      if (n === undefined) break;
      along.push(n);
    }
    for (let k = along.length - 1; k >= 0; k--) {
      const p = along[k]!;
      if (atKey && k === path.length && p.key !== -1) return this.at(p.key);
      if (p.value !== -1) return this.at(p.value);
    }
    return { file: this.file, line: 1, col: 1 };
  }

  has(path: YamlPath): boolean {
    return this.valueOffset(path) !== -1;
  }

  /** Offset in the text of the value at `path` itself (not an ancestor's); -1 when it has none. */
  valueOffset(path: YamlPath): number {
    let n: Position | undefined = this.#ensure().root;
    for (const seg of path) {
      n = n.children?.get(seg);
      if (n === undefined) return -1;
    }
    return n.value;
  }

  /**
   * Plain data (structured-clonable): a map parsed on a worker thread travels back this way. A lazy
   * map not yet built travels as nothing: the receiver rebuilds it from the text it already has.
   */
  dump(): SourceMapDump {
    if (this.#build !== null) return { file: this.file, root: null, lineStarts: null };
    return { file: this.file, root: this.#root, lineStarts: this.#lines!.lineStarts };
  }

  /** `lazy` rebuilds a dumped lazy map (its `root` is null). */
  static fromDump(d: SourceMapDump, lazy: () => SourceMap): SourceMap {
    if (d.root === null || d.lineStarts === null) return lazy();
    // The cloned tree and line table are adopted as they are: no second pass over a large file's
    // nodes. The clone's nodes are plain objects with Position's fields, which is all that reading needs.
    const lines = new LineCounter();
    lines.lineStarts = d.lineStarts;
    const map = new SourceMap(d.file, lines);
    map.#root = d.root as Position;
    return map;
  }
}

export interface SourceMapDump {
  file: string;
  /** The root Position, as structured clone leaves it (fields without methods); null for a lazy map. */
  root: unknown;
  lineStarts: number[] | null;
}
