/**
 * `${NAME}`, `${NAME:-default}` and `${file:path}` references in string values, resolved at load.
 * `$${` writes a literal `${`. Kong's env vault references, a whole value `{vault://env/name}`,
 * are resolved too (vault-refs.ts). Every resolved value is recorded as a secret so that the
 * gateway can redact it wherever it prints.
 */
import { createHash } from 'node:crypto';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { MAX_REFERENCED_BYTES, type ReadOutcome, readRegularFile } from './read.ts';
import { envVaults, isVaultReference, parseVaultReference, type VaultToken, vaultValue } from './vault-refs.ts';
import type { RawIssue } from './yaml.ts';

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The body of decK's `${{ env "NAME" }}` up to its first `}`, with its optional conversion. */
const DECK_ENV = /^\{\s*env\s+"([A-Za-z_][A-Za-z0-9_]*)"\s*(?:\|\s*(toInt|toFloat|toBool)\s*)?$/;

export interface RefResult {
  secrets: Set<string>;
  /** Absolute path → contents, in first-reference order. */
  files: Map<string, string>;
  issues: RawIssue[];
  /** Unset variables (no value, no default) → the paths of the values that use them, in document order. */
  unset: Map<string, (string | number)[][]>;
  /**
   * Paths of values that hold a placeholder instead of a reference that could not be resolved
   * (an unset variable, an unreadable file): checks of those values are meaningless and skipped.
   */
  unknown: (string | number)[][];
}

/**
 * What an unresolved reference is replaced with, so that the rest of the config is still checked
 * without a cascade of errors about the literal `${...}`: long enough for length checks on secrets,
 * and made of characters that are valid in a host name, a URL path and a header value.
 */
export function placeholder(name: string): string {
  const base = `tollgate-unset-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`.slice(0, 60).replace(/-+$/, '');
  return base.length >= 40 ? base : `${base}-${'x'.repeat(39 - base.length)}`;
}

type Token = { literal: string } | { env: string; fallback: string | null } | { file: string } | VaultToken;

/** Splits a string into literal parts and references; returns an error message for a malformed one. */
export function tokenize(s: string): Token[] | string {
  const out: Token[] = [];
  let lit = '';
  let i = 0;
  while (i < s.length) {
    const at = s.indexOf('$', i);
    if (at === -1) {
      lit += s.slice(i);
      break;
    }
    lit += s.slice(i, at);
    if (s.startsWith('$${', at)) {
      lit += '${';
      i = at + 3;
      continue;
    }
    if (s[at + 1] !== '{') {
      lit += '$';
      i = at + 1;
      continue;
    }
    const end = s.indexOf('}', at + 2);
    if (end === -1) return 'unterminated reference: `${` without `}` (write `$${` for a literal `${`)';
    const body = s.slice(at + 2, end);
    if (lit) out.push({ literal: lit });
    lit = '';
    if (body.startsWith('file:')) {
      const file = body.slice(5).trim();
      if (!file) return 'empty file reference: write `${file:path/to/file}`';
      out.push({ file });
    } else {
      const sep = body.indexOf(':-');
      const name = sep === -1 ? body : body.slice(0, sep);
      if (!NAME.test(name)) {
        // decK's own placeholder, which neither Kong nor Tollgate expands, with or without one of
        // decK's conversions (`| toInt`, `| toFloat`, `| toBool`), which a `${NAME}` (a string) cannot do.
        const deck = DECK_ENV.exec(body);
        if (deck !== null && deck[2] === undefined)
          return `decK's \`\${{ env "${deck[1]}" }}\` is expanded by decK, not by Kong or Tollgate: write \`\${${deck[1]}}\` to read the environment variable`;
        if (deck !== null)
          return `decK's \`\${{ env "${deck[1]}" | ${deck[2]} }}\` is expanded by decK, not by Kong or Tollgate: write the value itself (a \`\${${deck[1]}}\` reference gives a string), or write the file with \`deck file render\``;
        return `invalid reference \`\${${name.length > 40 ? `${name.slice(0, 40)}…` : name}}\`: use \${NAME}, \${NAME:-default} or \${file:path} (write \`$\${\` for a literal \`\${\`)`;
      }
      const fallback = sep === -1 ? null : body.slice(sep + 2);
      // `${A:-${B}}` ends at the first `}`: its default would be the text `${B`, and the value the
      // literal `${B}` (shells and docker compose expand it). Refused, as any other `${...}` that
      // would be sent as written.
      if (fallback?.includes('${'))
        return `a default cannot hold a reference: \`\${${name}:-\${...}}\` is not expanded; give the default as text, or set ${name}`;
      out.push({ env: name, fallback });
    }
    i = end + 1;
  }
  if (lit) out.push({ literal: lit });
  return out;
}

interface Site {
  container: Record<string, unknown> | unknown[];
  key: string | number;
  path: (string | number)[];
  tokens: Token[];
}

/**
 * Resolves references in place in `data` (the plain tree from the YAML walker).
 * @param dir directory relative file references resolve against
 */
export async function resolveRefs(
  data: unknown,
  dir: string,
  env: Record<string, string | undefined>,
): Promise<RefResult> {
  const result: RefResult = { secrets: new Set(), files: new Map(), issues: [], unset: new Map(), unknown: [] };
  const sites: Site[] = [];
  const declared = envVaults((data as { vaults?: unknown } | null)?.vaults);
  result.issues.push(...declared.issues);

  // One path stack for the whole walk, copied only where a reference is found: a large file has
  // hundreds of thousands of values, and a copied path per value was most of this pass's time.
  const path: (string | number)[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) visit(node, i);
    } else if (node !== null && typeof node === 'object') {
      for (const k of Object.keys(node)) visit(node as Record<string, unknown>, k);
    }
  };
  const visit = (container: Record<string, unknown> | unknown[], key: string | number): void => {
    const v = (container as Record<string | number, unknown>)[key];
    if (typeof v === 'string') {
      if (isVaultReference(v)) {
        const vault = parseVaultReference(v, declared.vaults);
        if (typeof vault === 'string') {
          result.issues.push({ code: 'SECRET_REF', message: vault, path: [...path, key] });
          result.unknown.push([...path, key]);
        } else sites.push({ container, key, path: [...path, key], tokens: [vault] });
        return;
      }
      if (!v.includes('$')) return;
      const tokens = tokenize(v);
      if (typeof tokens === 'string') {
        result.issues.push({ code: 'SECRET_REF', message: tokens, path: [...path, key] });
        // The value's own checks would only repeat the problem ("invalid url" of a `${...}`).
        result.unknown.push([...path, key]);
        return;
      }
      if (tokens.length === 1 && 'literal' in tokens[0]!) {
        (container as Record<string | number, unknown>)[key] = tokens[0].literal;
        return;
      }
      sites.push({ container, key, path: [...path, key], tokens });
    } else if (v !== null && typeof v === 'object') {
      path.push(key);
      walk(v);
      path.pop();
    }
  };
  walk(data);

  // Only regular files, capped and with a deadline: a FIFO or a device is an error, never a wait.
  const reads = new Map<string, Promise<ReadOutcome>>();
  for (const site of sites) {
    for (const t of site.tokens) {
      if ('file' in t) {
        const abs = isAbsolute(t.file) ? t.file : resolvePath(dir, t.file);
        if (!reads.has(abs)) reads.set(abs, readRegularFile(abs, MAX_REFERENCED_BYTES));
      }
    }
  }
  const contents = new Map<string, ReadOutcome>();
  for (const [abs, p] of reads) contents.set(abs, await p);

  for (const site of sites) {
    let out = '';
    let ok = true;
    const unset = (name: string): void => {
      let paths = result.unset.get(name);
      if (paths === undefined) result.unset.set(name, (paths = []));
      paths.push(site.path);
      out += placeholder(name);
      ok = false;
    };
    for (const t of site.tokens) {
      if ('literal' in t) out += t.literal;
      else if ('vault' in t) {
        const raw = env[t.env];
        if (raw === undefined) {
          unset(t.env);
          continue;
        }
        const value = vaultValue(t, raw);
        if (typeof value !== 'string') {
          result.issues.push({ code: 'SECRET_REF', message: value.error, path: site.path });
          out += placeholder(t.env);
          ok = false;
          continue;
        }
        if (raw !== '') result.secrets.add(raw);
        if (value !== '') result.secrets.add(value);
        out += value;
      } else if ('env' in t) {
        const v = env[t.env];
        if (v !== undefined && (v !== '' || t.fallback === null)) {
          if (v !== '') result.secrets.add(v);
          out += v;
        } else if (t.fallback !== null) out += t.fallback;
        else unset(t.env);
      } else {
        const abs = isAbsolute(t.file) ? t.file : resolvePath(dir, t.file);
        const read = contents.get(abs)!;
        if (!read.ok) {
          result.issues.push({
            code: 'SECRET_REF',
            message: `cannot read \${file:${t.file}} (${abs}): ${read.why}`,
            path: site.path,
          });
          // One placeholder per file: two unreadable files (two certificates' PEMs, say) must not
          // become equal values, whose derived ids then clash in a second, misleading error.
          out += placeholder(`file-${createHash('sha256').update(abs).digest('hex').slice(0, 12)}`);
          ok = false;
          continue;
        }
        const c = read.text;
        if (!result.files.has(abs)) result.files.set(abs, c);
        // One trailing newline is what `echo secret > file` leaves; it is never part of the value.
        const value = c.endsWith('\r\n') ? c.slice(0, -2) : c.endsWith('\n') ? c.slice(0, -1) : c;
        if (value !== '') result.secrets.add(value);
        out += value;
      }
    }
    (site.container as Record<string | number, unknown>)[site.key] = out;
    if (!ok) result.unknown.push(site.path);
  }
  return result;
}
