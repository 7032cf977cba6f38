/**
 * Reading a Docker build's own files the way Docker does: the Dockerfile's instructions and the
 * .dockerignore rules that filter the build context. image-replay.ts replays what these describe.
 */
import { posix } from 'node:path';

/** One Dockerfile instruction, continuation lines joined. */
export interface Instruction {
  keyword: string;
  /** The text after the keyword, trimmed. */
  args: string;
  line: number;
}

/** Parses a Dockerfile into instructions (comments, parser directives and blank lines dropped). */
export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (/\\\s*$/.test(line) && i + 1 < lines.length) {
      line = line.replace(/\\\s*$/, ' ');
      i++;
      // Comment lines inside a continuation are dropped, as Docker does.
      if (!/^\s*#/.test(lines[i]!)) line += lines[i]!;
    }
    const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile:${start + 1}: cannot parse ${JSON.stringify(line)}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** The exec (JSON array) form of ENTRYPOINT/CMD/RUN/HEALTHCHECK CMD, or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  try {
    const v: unknown = JSON.parse(args);
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

/** Leading `--name=value` flags of COPY/HEALTHCHECK, and the rest. */
export function splitFlags(args: string): { flags: Map<string, string>; rest: string } {
  const flags = new Map<string, string>();
  let rest = args;
  for (let m; (m = /^--([a-z-]+)(?:=(\S*))?\s+/.exec(rest)); ) {
    flags.set(m[1]!, m[2] ?? 'true');
    rest = rest.slice(m[0].length);
  }
  return { flags, rest: rest.trim() };
}

// ---------------------------------------------------------------------------------------------
// .dockerignore (Docker's rules: patterns are relative to the context root, `**` spans
// directories, a pattern matching a directory excludes what is in it, `!` re-includes, last match wins)

export interface IgnoreRule {
  negate: boolean;
  re: RegExp;
  /** For `!` rules: the literal directory prefix, so that an excluded parent is still walked. */
  prefix: string;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (let raw of text.split(/\r?\n/)) {
    raw = raw.trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const negate = raw.startsWith('!');
    const pattern = posix
      .normalize(negate ? raw.slice(1).trim() : raw)
      .replace(/^\/+/, '')
      .replace(/\/+$/, '');
    let re = '';
    const segs = pattern.split('/');
    segs.forEach((seg, i) => {
      const last = i === segs.length - 1;
      if (seg === '**') {
        re += last ? '.*' : '(?:.*/)?';
        return;
      }
      for (let j = 0; j < seg.length; j++) {
        const c = seg[j]!;
        if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else if (c === '[') {
          const end = seg.indexOf(']', j);
          re += end > j ? seg.slice(j, end + 1).replace('[!', '[^') : '\\[';
          if (end > j) j = end;
        } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
      }
      if (!last) re += '/';
    });
    const literal = /^[^*?[]*/.exec(pattern)![0];
    rules.push({
      negate,
      re: new RegExp(`^${re}$`),
      prefix: literal.includes('/') ? literal.slice(0, literal.lastIndexOf('/')) : '',
    });
  }
  return rules;
}

/** Whether a context-relative path (posix separators) is left out of the build context. */
export function isIgnored(rules: readonly IgnoreRule[], rel: string): boolean {
  const parts = rel.split('/');
  let ignored = false;
  for (const r of rules) {
    let hit = false;
    for (let n = parts.length; n >= 1 && !hit; n--) hit = r.re.test(parts.slice(0, n).join('/'));
    if (hit) ignored = !r.negate;
  }
  return ignored;
}

/** Whether an ignored directory may still hold a re-included path (then it must be walked). */
export function mayReinclude(rules: readonly IgnoreRule[], rel: string): boolean {
  return rules.some((r) => r.negate && (r.prefix === rel || r.prefix.startsWith(`${rel}/`) || r.prefix === ''));
}
