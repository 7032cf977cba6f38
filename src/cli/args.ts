/**
 * One option parser for every command: `--name value`, `--name=value`, short aliases, repeated
 * options, `--` ending options, and `-` as a positional (standard input). An unknown option is a
 * usage error that names the nearest known one, the way git and npm do.
 */

export interface OptionSpec {
  /** Long name without the dashes. */
  name: string;
  /** One-letter alias without the dash. */
  short?: string;
  /** 'flag' takes no value; 'value' takes one; 'list' takes one and may repeat. */
  kind: 'flag' | 'value' | 'list';
  /** Placeholder shown in help, e.g. FILE. */
  arg?: string;
  /** One line of help. */
  help: string;
  /** Allowed values, checked by the parser. */
  choices?: readonly string[];
}

export interface ParsedArgs {
  flags: Set<string>;
  values: Map<string, string>;
  lists: Map<string, string[]>;
  positionals: string[];
  help: boolean;
}

/** A usage problem; the CLI prints it with the command's usage and exits 2. */
export class UsageError extends Error {}

/** Levenshtein distance, for "did you mean" (both strings are short option names). */
export function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** The candidate nearest to `word`, or null when none is close enough to be a likely typo. */
export function nearest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = c.startsWith(word) || word.startsWith(c) ? Math.min(1, distance(word, c)) : distance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): ParsedArgs {
  const out: ParsedArgs = { flags: new Set(), values: new Map(), lists: new Map(), positionals: [], help: false };
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short !== undefined).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a === '--help' || a === '-h') {
      out.help = true;
      continue;
    }
    if (a === '-' || !a.startsWith('-')) {
      out.positionals.push(a);
      continue;
    }
    let spec: OptionSpec | undefined;
    let inline: string | undefined;
    let shown: string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
      inline = eq === -1 ? undefined : a.slice(eq + 1);
      shown = `--${name}`;
      spec = byName.get(name);
      if (spec === undefined) {
        const near = nearest(
          name,
          specs.map((s) => s.name),
        );
        throw new UsageError(`unknown option '${shown}'${near === null ? '' : ` (did you mean '--${near}'?)`}`);
      }
    } else {
      shown = a.slice(0, 2);
      spec = byShort.get(a.slice(1, 2));
      if (a.length > 2) inline = a.slice(2).replace(/^=/, '');
      if (spec === undefined) {
        const near = nearest(
          a.slice(1),
          specs.map((s) => s.name),
        );
        throw new UsageError(`unknown option '${a}'${near === null ? '' : ` (did you mean '--${near}'?)`}`);
      }
    }
    if (spec.kind === 'flag') {
      if (inline !== undefined) throw new UsageError(`${shown} takes no value`);
      out.flags.add(spec.name);
      continue;
    }
    let value = inline;
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`${shown} needs a value${spec.arg ? ` (${spec.arg})` : ''}`);
    }
    if (spec.choices !== undefined && !spec.choices.includes(value)) {
      throw new UsageError(`${shown} must be one of ${spec.choices.join(', ')}, not '${value}'`);
    }
    if (spec.kind === 'list') {
      let list = out.lists.get(spec.name);
      if (list === undefined) out.lists.set(spec.name, (list = []));
      list.push(value);
    } else {
      if (out.values.has(spec.name)) throw new UsageError(`${shown} given twice`);
      out.values.set(spec.name, value);
    }
  }
  return out;
}
