/**
 * Kong runs regex route paths with PCRE; Tollgate with JavaScript's engine (`u` and `s` flags). Most
 * patterns mean the same in both, but Kong files use PCRE spellings that JavaScript refuses or,
 * worse, reads differently (`[[:digit:]]`, a literal `{name}`). This translates, in one linear
 * pass, every construct that has one meaning in both engines for a request path, and names the
 * construct when a pattern cannot be translated. It also applies Kong's normalization of regex
 * paths (percent-escapes of unreserved characters decoded, the others upper-cased), class-aware so
 * that a decoded `-` or `.` stays literal.
 *
 * Request paths are latin1 strings without control characters (a raw CR, LF or NUL never reaches
 * the router), which is what makes `\Z` the same as `$` here.
 */
import { disjoint, singleCharItem } from '../safe-regex.ts';

/** The translated source, or why it cannot be translated (the construct named). */
export type PcreTranslation = { readonly source: string } | { readonly error: string };

/** Characters JavaScript's `u` mode lets be escaped outside a class (identity escapes). */
const SYNTAX = new Set('^$\\.*+?()[]{}|/');
/** ... and inside a class, where `-` may be escaped too. */
const CLASS_SYNTAX = new Set('^$\\.*+?()[]{}|/-');

const HSPACE = '\\t \\xA0';
const VSPACE = '\\n\\v\\f\\r\\x85';

/** PCRE's POSIX classes (ASCII, PCRE's default without UCP) as JavaScript class contents. */
const POSIX: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: ' \\t',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '\\w',
  xdigit: '0-9A-Fa-f',
};

const UNRESERVED = /[A-Za-z0-9_~]/;

class Untranslatable extends Error {}

function fail(what: string): never {
  throw new Untranslatable(what);
}

/** A literal character as JavaScript source, escaped as its place (in a class or not) needs. */
function literal(ch: string, inClass: boolean): string {
  if ((inClass ? CLASS_SYNTAX : SYNTAX).has(ch)) return `\\${ch}`;
  return ch;
}

/**
 * Characters a normalized request path never holds raw (src/router/normalize.ts percent-encodes
 * them), besides non-ASCII. Kong tests regexes against the path with these escapes decoded, so its
 * `~/café` or `~/a b` matches `/caf%C3%A9` or `/a%20b`: here such a literal is matched by the
 * escapes the path carries (upper-case, UTF-8 for non-ASCII). A backslash is one: Kong decodes
 * `%5C` (kong/tools/uri.lua: not a reserved character), so its `~/\\` matches `/%5C`, which
 * reaches the router as `%5C` when encoded slashes are allowed (a raw `\` too).
 */
const PATH_ENCODED = new Set(' "#<>^`{|}\\');

/** The escapes a normalized path spells `ch` (one code point) with, or null when it holds it raw. */
function pathEscapes(ch: string): string | null {
  if (ch.charCodeAt(0) < 0x80 && !PATH_ENCODED.has(ch)) return null;
  let out = '';
  for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * Translates the text after a route path's `~` (or a header value's `~*`, with `subject` 'header')
 * into JavaScript regex source for the `u` flag. Never throws; linear in the length of `body`.
 */
export function translatePcre(body: string, subject: 'path' | 'header' = 'path'): PcreTranslation {
  try {
    return { source: new Translator(body, subject === 'path').run() };
  } catch (err) {
    if (err instanceof Untranslatable) return { error: err.message };
    throw err;
  }
}

class Translator {
  private i = 0;
  private out = '';
  /** Whether the last thing emitted can take a quantifier (for a literal `{` after nothing). */
  private atom = false;
  /** Where in `out` the last atom starts. */
  private atomAt = 0;
  /** Inside a class: the path escapes of its members a path holds encoded (alternatives to the class). */
  private classEscapes: string[] | null = null;
  /** Possessive quantifiers dropped, to be proven harmless once the pattern is complete. */
  private readonly possessive: { atomAt: number; nextAt: number }[] = [];

  /**
   * @param path the subject is a normalized request path (escapes as Kong normalizes them); else a
   *   header value, where `%` is a character like any other.
   */
  constructor(
    private readonly s: string,
    private readonly path: boolean,
  ) {}

  run(): string {
    this.translate();
    for (const p of this.possessive) this.checkPossessive(p.atomAt, p.nextAt);
    return this.out;
  }

  /**
   * `X*+` matches like `X*` when giving characters back can never help the rest match: X is one
   * character item and what follows is the end of the pattern (or `$` there), or a mandatory
   * character item disjoint from X. Anything else has no JavaScript form.
   */
  private checkPossessive(atomAt: number, nextAt: number): void {
    const out = this.out;
    const atom = singleCharItem(out, atomAt);
    const rest = out.slice(nextAt);
    if (atom !== null && (rest === '' || rest === '$')) return;
    const next = atom === null ? null : singleCharItem(out, nextAt);
    const after = next === null ? '' : out.slice(next[1], next[1] + 2);
    const optional = after.startsWith('?') || after.startsWith('*') || /^\{0/.test(after);
    if (atom !== null && next !== null && !optional && disjoint(atom[0], next[0])) return;
    fail(
      "a possessive quantifier ('*+', '++', '?+', '{n,m}+') has no JavaScript equivalent here; it is translated only on a single character item followed by the end or by a character it cannot match (e.g. [^/]++/); write it without the last '+' if giving characters back cannot change the match",
    );
  }

  private translate(): void {
    const s = this.s;
    while (this.i < s.length) {
      const ch = s[this.i]!;
      if (ch === '\\') this.escape(false);
      else if (ch === '[') this.charClass();
      else if (ch === '(') this.group();
      else if (ch === '{') this.brace();
      else if (ch === '}') this.literalChar('}', false, 1);
      else if (ch === '%' && this.path) this.percent(false);
      else if (ch === '*' || ch === '+' || ch === '?') {
        this.out += ch;
        this.i++;
        this.afterQuantifier();
      } else if (ch === '|' || ch === '^' || ch === '$') this.emit(ch, false, 1);
      else {
        // A character that is syntax here (`.`, `)`) is emitted as written.
        const cp = String.fromCodePoint(s.codePointAt(this.i)!);
        this.literalChar(cp, false, cp.length, cp);
      }
    }
  }

  private emit(text: string, atom: boolean, advance: number): void {
    if (atom) this.atomAt = this.out.length;
    this.out += text;
    this.atom = atom;
    this.i += advance;
  }

  /**
   * A literal character: as is, or, when a path carries it percent-encoded, as those escapes (a
   * group outside a class, so that a quantifier takes the whole character; an alternative to the
   * class inside a non-negated one, unless it bounds a range).
   */
  private literalChar(ch: string, inClass: boolean, advance: number, text = literal(ch, inClass)): void {
    const escapes = this.path ? pathEscapes(ch) : null;
    if (escapes === null) return this.emit(text, true, advance);
    if (!inClass) return this.emit(`(?:${escapes})`, true, advance);
    const s = this.s;
    const inRange = s[this.i - 1] === '-' || (s[this.i + advance] === '-' && s[this.i + advance + 1] !== ']');
    if (this.classEscapes !== null && !inRange) {
      this.classEscapes.push(escapes);
      this.i += advance;
      return;
    }
    this.emit(text, true, advance);
  }

  /** After a quantifier: a lazy `?` is the same in both; a possessive `+` has no JavaScript form. */
  private afterQuantifier(): void {
    this.atom = false;
    const next = this.s[this.i];
    if (next === '+') {
      this.i++;
      this.possessive.push({ atomAt: this.atomAt, nextAt: this.out.length });
    } else if (next === '?') {
      this.out += '?';
      this.i++;
    }
  }

  /** `%HH`: Kong decodes unreserved characters and upper-cases the other escapes. */
  private percent(inClass: boolean): void {
    const hex = this.s.slice(this.i + 1, this.i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
      this.emit('%', true, 1);
      return;
    }
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    const text = UNRESERVED.test(ch) ? ch : ch === '.' || ch === '-' ? literal(ch, inClass) : `%${hex.toUpperCase()}`;
    this.emit(text, true, 3);
  }

  /** `{`: a quantifier when it reads as one in both engines, else a literal (PCRE's rule). */
  private brace(): void {
    const rest = this.s.slice(this.i, this.i + 24);
    const q = /^\{(\d+)(,(\d*))?\}/.exec(rest);
    if (q !== null && this.atom) {
      this.out += q[0];
      this.i += q[0].length;
      this.afterQuantifier();
      return;
    }
    if (/^\{,\d+\}/.test(rest))
      fail("'{,n}' is a literal in older PCRE and a quantifier in newer: write '{0,n}' or escape the brace '\\{'");
    this.literalChar('{', false, 1);
  }

  private escape(inClass: boolean): void {
    const s = this.s;
    const e = s[this.i + 1];
    if (e === undefined) fail("the pattern ends with a lone '\\'");
    const two = (text: string, atom = true): void => this.emit(text, atom, 2);
    switch (e) {
      case 'Q':
        return this.quoted(inClass);
      case 'E':
        return two(''); // a stray \E is ignored by PCRE
      case 'h':
        return two(inClass ? HSPACE : `[${HSPACE}]`);
      case 'v':
        return two(inClass ? VSPACE : `[${VSPACE}]`);
      case 'H':
      case 'V':
        if (inClass) fail(`'\\${e}' inside a character class has no JavaScript equivalent; use a negated class`);
        return two(`[^${e === 'H' ? HSPACE : VSPACE}]`);
      case 'e':
        return two('\\x1B');
      case 'a':
        return two('\\x07');
    }
    if (!inClass) {
      switch (e) {
        case 'A':
          return two('^', false);
        case 'z':
        case 'Z':
          return two('$', false);
        case 'G':
          if (this.i === 0) return two('^', false);
          fail("'\\G' (the end of the previous match) has no JavaScript equivalent");
          break;
        case 'K':
          fail("'\\K' (reset the match start) has no JavaScript equivalent; use a lookbehind (?<=...)");
          break;
        case 'R':
          return two(`(?:\\r\\n|[${VSPACE}])`);
        case 'X':
          fail("'\\X' (an extended grapheme cluster) has no JavaScript equivalent");
          break;
        case 'g':
        case 'k':
          return this.backReference(e);
      }
    }
    if (e === 'x' && s[this.i + 2] === '{') {
      const m = /^\\x\{([0-9A-Fa-f]{1,6})\}/.exec(s.slice(this.i, this.i + 12));
      if (m === null) fail("'\\x{...}' needs hexadecimal digits");
      this.emit(`\\u{${m[1]}}`, true, m[0].length);
      return;
    }
    if ((e === 'p' || e === 'P') && s[this.i + 2] === '{') {
      // \p{L}, \P{Script=Greek}: the same property syntax in both.
      const m = /^\\[pP]\{[A-Za-z0-9_=]+\}/.exec(s.slice(this.i, this.i + 48));
      if (m === null) fail(`'\\${e}{' needs a Unicode property name and a closing '}'`);
      this.emit(m[0], true, m[0].length);
      return;
    }
    if ((e === 'p' || e === 'P') && s[this.i + 2] !== '{' && s[this.i + 2] !== undefined) {
      // PCRE's one-letter form \pL is \p{L}.
      this.emit(`\\${e}{${s[this.i + 2]}}`, true, 3);
      return;
    }
    if (/[A-Za-z0-9]/.test(e)) {
      // \d \w \s \b \n \t \1 \p{..}: the same in both (anything else fails to compile, with a hint).
      two(`\\${e}`, e !== 'b' && e !== 'B');
      return;
    }
    // PCRE: a backslash before any other character makes it literal.
    this.i++;
    this.literalChar(e, inClass, 1);
  }

  /** `\Q...\E`: everything in between is literal. */
  private quoted(inClass: boolean): void {
    const s = this.s;
    const end = s.indexOf('\\E', this.i + 2);
    const text = s.slice(this.i + 2, end === -1 ? s.length : end);
    // One atom per character: a quantifier after \E applies to the last one only.
    for (const ch of text) this.literalChar(ch, inClass, 0);
    this.i = end === -1 ? s.length : end + 2;
  }

  /** `\g1`, `\g{1}`, `\g{name}`, `\k{name}`, `\k'name'`, `\k<name>` (relative `\g{-1}` is not translated). */
  private backReference(kind: 'g' | 'k'): void {
    const rest = this.s.slice(this.i, this.i + 40);
    const m =
      /^\\[gk]\{([A-Za-z_][A-Za-z0-9_]*|\d+)\}/.exec(rest) ??
      /^\\k'([A-Za-z_][A-Za-z0-9_]*)'/.exec(rest) ??
      /^\\k<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest) ??
      (kind === 'g' ? /^\\g(\d+)/.exec(rest) : null);
    if (m === null) fail(`'\\${kind}' in this form (a relative or subroutine reference) has no JavaScript equivalent`);
    const ref = m[1]!;
    this.emit(/^\d+$/.test(ref) ? `\\${ref}` : `\\k<${ref}>`, true, m[0].length);
  }

  private group(): void {
    const s = this.s;
    const rest = s.slice(this.i, this.i + 48);
    if (s[this.i + 1] === '*') fail("backtracking control verbs '(*VERB)' have no JavaScript equivalent");
    if (s[this.i + 1] !== '?') return this.emit('(', false, 1);
    const after = s[this.i + 2];
    let m: RegExpExecArray | null;
    if (
      (m = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest)) !== null ||
      (m = /^\(\?'([A-Za-z_][A-Za-z0-9_]*)'/.exec(rest)) !== null
    )
      return this.emit(`(?<${m[1]}>`, false, m[0].length);
    if ((m = /^\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/.exec(rest)) !== null)
      return this.emit(`\\k<${m[1]}>`, true, m[0].length);
    if (after === ':' || after === '=' || after === '!') return this.emit(s.slice(this.i, this.i + 3), false, 3);
    if (after === '<' && (s[this.i + 3] === '=' || s[this.i + 3] === '!'))
      return this.emit(s.slice(this.i, this.i + 4), false, 4);
    if (after === '#') {
      // A comment: dropped.
      const end = s.indexOf(')', this.i);
      if (end === -1) fail("the comment '(?#' is not closed");
      this.i = end + 1;
      return;
    }
    if (after === '>')
      fail(
        "an atomic group '(?>...)' has no JavaScript equivalent; write '(?:...)' if backtracking into it cannot change the match",
      );
    if (after === '|') fail("a branch reset group '(?|...)' has no JavaScript equivalent");
    if (after === 'R' || after === '&' || /\d|[+-]/.test(after ?? '') || rest.startsWith('(?P>'))
      fail("recursion and subroutine calls ('(?R)', '(?1)', '(?&name)', '(?P>name)') have no JavaScript equivalent");
    if (after === '(') fail("conditional groups '(?(...)...)' have no JavaScript equivalent");
    if (/^\(\?[a-zA-Z^-]+[:)]/.test(rest))
      fail(
        "inline flags such as '(?i)' have no JavaScript equivalent here; for case-insensitive letters write a class like [Aa]",
      );
    fail(`the group '${rest.slice(0, 4)}' is not understood`);
  }

  /** `[...]`: PCRE's `]` first is literal, POSIX classes expand, escapes as outside. */
  private charClass(): void {
    const s = this.s;
    const start = this.out.length;
    this.out += '[';
    this.i++;
    this.classEscapes = [];
    if (s[this.i] === '^') {
      // A negated class cannot exclude a character spelled by three: its members stay as written.
      this.classEscapes = null;
      this.out += '^';
      this.i++;
    }
    if (s[this.i] === ']') {
      this.out += '\\]';
      this.i++;
    }
    for (;;) {
      const ch = s[this.i];
      if (ch === undefined) fail("a character class '[' is not closed");
      if (ch === ']') break;
      if (ch === '\\') this.escape(true);
      else if (ch === '%' && this.path) this.percent(true);
      else if (ch === '[' && s[this.i + 1] === ':') {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(s.slice(this.i, this.i + 12));
        if (m === null) this.emit('\\[', true, 1);
        else if (m[1] === '^' || POSIX[m[2]!] === undefined)
          fail(`the POSIX class '${m[0]}' has no JavaScript equivalent inside a class; use an explicit range`);
        else this.emit(POSIX[m[2]!]!, true, m[0].length);
      } else if (ch === '[') this.emit('\\[', true, 1);
      else {
        const cp = String.fromCodePoint(s.codePointAt(this.i)!);
        this.literalChar(cp, true, cp.length, cp);
      }
    }
    this.emit(']', true, 1);
    const escapes = this.classEscapes;
    this.classEscapes = null;
    if (escapes !== null && escapes.length > 0)
      this.out = `${this.out.slice(0, start)}(?:${this.out.slice(start)}|${escapes.join('|')})`;
    this.atomAt = start;
  }
}
