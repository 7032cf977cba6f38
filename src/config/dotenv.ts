/**
 * The dotenv format (`--env-file FILE`), as docker compose and the dotenv package read it:
 * `NAME=value` lines, optional `export ` prefix, `#` comments, blank lines; a value may be
 * unquoted (trimmed, a ` #` starts a comment), 'single-quoted' (literal) or "double-quoted"
 * (\n, \r, \t, \\ and \" escapes; may span lines). Linear in the text's length.
 */

export class DotenvError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(message);
    this.line = line;
  }
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function parseDotenv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const lineNo = n + 1;
    let line = lines[n]!.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    if (eq === -1) throw new DotenvError(lineNo, "expected NAME=value (a line without '=')");
    const name = line.slice(0, eq).trim();
    if (!NAME.test(name)) throw new DotenvError(lineNo, `'${name.slice(0, 40)}' is not a variable name`);
    let rest = line.slice(eq + 1).trimStart();
    const q = rest[0];
    if (q === "'" || q === '"') {
      // A quoted value may continue on the following lines until its closing quote.
      // Each line is scanned once, on its own: rescanning (or indexing) the value joined so far
      // for every further line was quadratic in a quote left open over the rest of a large file.
      const parts = [rest.slice(1)];
      let end = closing(parts[0]!, q);
      while (end === -1 && n + 1 < lines.length) {
        parts.push(lines[++n]!);
        end = closing(parts[parts.length - 1]!, q);
      }
      if (end === -1) throw new DotenvError(lineNo, `unterminated ${q === '"' ? 'double' : 'single'}-quoted value`);
      const last = parts.pop()!;
      const after = last.slice(end + 1).trim();
      if (after !== '' && !after.startsWith('#'))
        throw new DotenvError(lineNo, 'unexpected text after the closing quote');
      parts.push(last.slice(0, end));
      const body = parts.join('\n');
      out.set(name, q === '"' ? unescape(body) : body);
      continue;
    }
    const hash = rest.search(/\s#/);
    if (hash !== -1) rest = rest.slice(0, hash);
    out.set(name, rest.trim());
  }
  return out;
}

/**
 * The index of the closing quote in one line of a value, or -1. A backslash at the end of a line
 * escapes the line break (the next line is scanned from its start either way).
 */
function closing(s: string, q: string): number {
  for (let i = 0; i < s.length; i++) {
    if (q === '"' && s[i] === '\\') i++;
    else if (s[i] === q) return i;
  }
  return -1;
}

function unescape(s: string): string {
  return s.replace(/\\([nrt"\\$])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c));
}
