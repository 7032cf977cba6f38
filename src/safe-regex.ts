/**
 * Regexes written in a config (route regex paths and header values, cors origins, jwt-claims
 * patterns, a custom plugin's patterns) run against request data. A regex whose backtracking time
 * grows faster than the input (nested or overlapping quantifiers, e.g. `(a+)+$` or `\s*x\s+y`)
 * would let one request stall the whole process, so every config regex is checked at load with
 * recheck and refused when its matching time is super-linear.
 *
 * recheck decides with automata theory where it can and fuzzes where it cannot; a check that does
 * not finish within CHECK_TIMEOUT_MS is "unknown": accepted, with a warning. Checks run one at a
 * time in recheck's agent (a separate process or worker, so the event loop keeps serving while a
 * reload is checked) and their verdicts are cached by pattern for the life of the process, so a
 * reload only checks the regexes it adds.
 *
 * A regex matched only against text that cannot hold a line break (a header value: RFC 9110 5.5
 * and RFC 9113 8.2.1 refuse CR and LF in one, and so do Node's parsers; a normalized request path,
 * where CR and LF stay percent-encoded) is compiled with the `s` (dotAll) flag. That changes no
 * match on such text, and it tells the check what the text can be: without it `.` stops at a line
 * break, so `^http://.*example.*$` looks quadratic on input made of line breaks that never comes.
 */
import { PluginConfigError } from './errors.ts';
import { attackRunsLong } from './safe-regex-attack.ts';

/** What a check found. */
export interface RegexComplexity {
  /** `linear`: safe. `super-linear`: refused at load. `unknown`: the checker could not decide (accepted, with a warning). */
  readonly verdict: 'linear' | 'super-linear' | 'unknown';
  /** `exponential`, `2nd degree polynomial`, ... for super-linear; the reason for unknown; '' for linear. */
  readonly detail: string;
}

/** Longest time one pattern may take to check; past it the verdict is `unknown`. */
export const CHECK_TIMEOUT_MS = 5000;
/** Verdicts kept (distinct patterns, a 10,000-route file's included); the oldest go first. */
const CACHE_MAX = 16_384;

const LINEAR: RegexComplexity = Object.freeze({ verdict: 'linear', detail: '' });
const LINEAR_VERDICT: Promise<RegexComplexity> = Promise.resolve(LINEAR);
const cache = new Map<string, Promise<RegexComplexity>>();
let tail: Promise<unknown> = Promise.resolve();
let recheck: Promise<typeof import('recheck')> | null = null;

/**
 * A pattern with no quantifier at all matches strings of bounded length, so each start position
 * costs a bounded time: linear without asking the checker (and without starting it).
 */
function quantifierFree(source: string): boolean {
  const s = source.replace(/\(\?(?:[:=!]|<[=!]|<[A-Za-z_$][\w$]*>)/g, '(');
  return !/[*+?{]/.test(s);
}

/** A set of characters: the ASCII ones as bits, the rest as "may contain some". */
export interface CharSet {
  readonly ascii: Uint8Array;
  readonly other: boolean;
}

interface Item {
  readonly set: CharSet;
  readonly min: number;
  readonly max: number;
}

function charSet(codes: Iterable<number>, other = false): CharSet {
  const ascii = new Uint8Array(128);
  for (const c of codes) ascii[c] = 1;
  return { ascii, other };
}

function range(from: string, to: string): number[] {
  const out: number[] = [];
  for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) out.push(c);
  return out;
}

const DIGIT = range('0', '9');
const WORD = [...DIGIT, ...range('A', 'Z'), ...range('a', 'z'), 0x5f];
const SPACE = [0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20];

/** Sets are never changed once built: the common ones are built once. */
const LITERAL_SETS: readonly CharSet[] = Array.from({ length: 128 }, (_, c) => charSet([c]));
const NON_ASCII: CharSet = charSet([], true);

function complement(set: CharSet): CharSet {
  const ascii = new Uint8Array(128);
  for (let c = 0; c < 128; c++) ascii[c] = set.ascii[c] === 1 ? 0 : 1;
  return { ascii, other: true };
}

/** Whether no character is in both sets. */
export function disjoint(a: CharSet, b: CharSet): boolean {
  if (a.other && b.other) return false;
  for (let c = 0; c < 128; c++) if (a.ascii[c] === 1 && b.ascii[c] === 1) return false;
  return true;
}

/** `\d`, `\w`, `\s` and their negations, or null. */
function classEscape(ch: string): CharSet | null {
  return CLASS_ESCAPES.get(ch) ?? null;
}

const CLASS_ESCAPES: ReadonlyMap<string, CharSet> = new Map([
  ['d', charSet(DIGIT)],
  ['D', complement(charSet(DIGIT))],
  ['w', charSet(WORD)],
  ['W', complement(charSet(WORD))],
  ['s', charSet(SPACE, true)],
  ['S', complement(charSet(SPACE, true))],
]);
const DOT: CharSet = complement(charSet([0x0a, 0x0d]));
/** `.` under the `s` (dotAll) flag: every character. */
const DOT_ALL: CharSet = complement(charSet([]));

const CONTROL_ESCAPES: Record<string, number> = { n: 0x0a, r: 0x0d, t: 0x09, f: 0x0c, v: 0x0b };

/** A literal character as a set (non-ASCII characters as "some other"). */
function literal(ch: string): CharSet {
  const c = ch.charCodeAt(0);
  return c < 128 ? LITERAL_SETS[c]! : NON_ASCII;
}

/** Parses `[...]` at `i` (just past `[`); returns the set and the index past `]`, or null. */
function parseClass(s: string, i: number): [CharSet, number] | null {
  let negate = false;
  if (s[i] === '^') {
    negate = true;
    i++;
  }
  const codes: number[] = [];
  let other = false;
  let first = true;
  const one = (): number | CharSet | null => {
    const ch = s[i];
    if (ch === undefined) return null;
    i++;
    if (ch !== '\\') return ch.charCodeAt(0);
    const e = s[i++];
    if (e === undefined) return null;
    const cls = classEscape(e);
    if (cls !== null) return cls;
    if (e in CONTROL_ESCAPES) return CONTROL_ESCAPES[e]!;
    if (/[A-Za-z0-9]/.test(e)) return null;
    return e.charCodeAt(0);
  };
  for (;;) {
    if (s[i] === ']' && !first) break;
    if (s[i] === ']' || s[i] === undefined || s[i] === '[') return null;
    first = false;
    const a = one();
    if (a === null) return null;
    if (typeof a !== 'number') {
      for (let c = 0; c < 128; c++) if (a.ascii[c] === 1) codes.push(c);
      other ||= a.other;
      continue;
    }
    if (s[i] === '-' && s[i + 1] !== ']' && s[i + 1] !== undefined) {
      i++;
      const b = one();
      if (b === null || typeof b !== 'number' || b < a) return null;
      for (let c = a; c <= b; c++) if (c < 128) codes.push(c);
      if (b >= 128) other = true;
    } else if (a < 128) codes.push(a);
    else other = true;
  }
  const set = charSet(codes, other);
  return [negate ? complement(set) : set, i + 1];
}

/**
 * The characters matched by the single-character item at `i` of `source` (a literal, an escape
 * such as `\d` or `\/`, a class, `.`, every character when `dotAll`) and the index past it; null
 * for anything else (a group, an anchor, an escape whose meaning is not plain).
 */
export function singleCharItem(source: string, i: number, dotAll = false): [CharSet, number] | null {
  const ch = source[i];
  if (ch === undefined || '()|^$*+?{}]'.includes(ch)) return null;
  if (ch === '[') return parseClass(source, i + 1);
  if (ch === '.') return [dotAll ? DOT_ALL : DOT, i + 1];
  if (ch !== '\\') return [literal(ch), i + 1];
  const e = source[i + 1];
  if (e === undefined) return null;
  const cls = classEscape(e);
  if (cls !== null) return [cls, i + 2];
  if (e in CONTROL_ESCAPES) return [LITERAL_SETS[CONTROL_ESCAPES[e]!]!, i + 2];
  if (/[A-Za-z0-9]/.test(e)) return null;
  return [literal(e), i + 2];
}

/**
 * A start-anchored pattern that is a plain sequence of single-character items (literals, classes,
 * `.`, `\d`...; groups only as transparent brackets: no alternation, no quantified group), each
 * optionally quantified, ending with `$` or not. When every variable quantifier's characters are
 * disjoint from the next item's, each item's extent is forced and backtracking is linear
 * (`^/api/v\d+/items/(?<id>[^/]+)$`). Anything else goes to the checker.
 */
export function provablyLinear(source: string, flags: string): boolean {
  if (!/^s?u?$/.test(flags) || !source.startsWith('^')) return false;
  const dotAll = flags.includes('s');
  const items: Item[] = [];
  let ended = false;
  let depth = 0;
  let i = 1;
  while (i < source.length) {
    const ch = source[i]!;
    if (ended && ch !== ')') return false;
    let set: CharSet;
    if (ch === '(') {
      const named = /^\((?:\?:|\?<[A-Za-z_$][\w$]*>)?/.exec(source.slice(i, i + 64))![0];
      if (source[i + named.length - 1] === '?' || (named === '(' && source[i + 1] === '?')) return false;
      depth++;
      i += named.length;
      continue;
    }
    if (ch === ')') {
      if (depth === 0 || /[*+?{]/.test(source[i + 1] ?? '')) return false;
      depth--;
      i++;
      continue;
    }
    if (ch === '$') {
      ended = true;
      i++;
      continue;
    }
    if (ch === '|' || ch === '^' || ch === '*' || ch === '+' || ch === '?' || ch === '{' || ch === '}' || ch === ']')
      return false;
    const item = singleCharItem(source, i, dotAll);
    if (item === null) return false;
    [set, i] = item;
    let min = 1;
    let max = 1;
    const q = source[i];
    if (q === '*' || q === '+' || q === '?') {
      min = q === '+' ? 1 : 0;
      max = q === '?' ? 1 : Number.POSITIVE_INFINITY;
      i++;
    } else if (q === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i, i + 32));
      if (m === null) return false;
      min = Number(m[1]);
      max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      if (max < min) return false;
      i += m[0].length;
    }
    if (source[i] === '?' && min !== max) return false; // lazy: another search order
    items.push({ set, min, max });
  }
  if (depth !== 0) return false;
  for (let k = 0; k < items.length; k++) {
    const it = items[k]!;
    if (it.min === it.max) continue;
    const next = items[k + 1];
    if (next === undefined) continue;
    if (next.min === 0 || !disjoint(it.set, next.set)) return false;
  }
  return true;
}

/** Checks how the matching time of `source` with `flags` grows with the input. Never rejects. */
export function checkRegexComplexity(source: string, flags = ''): Promise<RegexComplexity> {
  const f = flags.replace(/[gyd]/g, '');
  const key = `${f}/${source}`;
  let p = cache.get(key);
  if (p === undefined) {
    if (quantifierFree(source) || provablyLinear(source, f)) p = LINEAR_VERDICT;
    else {
      // One at a time: recheck's agent slows down sharply when given several checks at once.
      p = tail.then(() => runCheck(source, f));
      tail = p;
    }
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, p);
  }
  return p;
}

async function runCheck(source: string, flags: string): Promise<RegexComplexity> {
  try {
    const { check } = await (recheck ??= import('recheck'));
    const d = await check(source, flags, { timeout: CHECK_TIMEOUT_MS });
    if (d.status === 'safe') return LINEAR;
    if (d.status === 'vulnerable') {
      // A fuzzed verdict may rest on the checker's own timing (safe-regex-attack.ts): confirmed
      // on V8 or undecided, never refused on a busy machine's say-so.
      if (d.checker === 'fuzz' && (await attackRunsLong(source, flags, d.attack.string)) !== true)
        return {
          verdict: 'unknown',
          detail: `fuzzing suspected ${d.complexity.summary}, which its attack did not show on V8`,
        };
      return { verdict: 'super-linear', detail: d.complexity.summary };
    }
    return { verdict: 'unknown', detail: d.error.kind === 'timeout' ? 'the check timed out' : d.error.kind };
  } catch (err) {
    return { verdict: 'unknown', detail: `the checker failed: ${(err as Error).message}` };
  }
}

/** The message a refused regex gets (the pattern itself is not repeated: it may come from a secret). */
export function superLinearMessage(c: RegexComplexity): string {
  return `regex can take ${c.detail} time on hostile input (nested or overlapping quantifiers); rewrite it so that each part of the input can match only one way, e.g. [^/]+ instead of .+ before a '/'`;
}

/** The warning an undecided regex gets. */
export function unknownComplexityMessage(c: RegexComplexity): string {
  return `could not prove this regex runs in linear time (${c.detail}); it is accepted, check it for nested or overlapping quantifiers`;
}

/**
 * For plugins (built-in and custom): checks a regex compiled from the plugin's config and throws a
 * `PluginConfigError` at `path` (a dotted path inside `config`) when it is super-linear. Await it
 * in `create()`; an undecided check is logged through `log` and accepted.
 *
 * @example
 * async create(config, context) {
 *   const re = new RegExp(config.pattern);
 *   await assertLinearRegex(re, 'pattern', context.log);
 *   return { access(req) { if (!re.test(req.path)) req.exit(403); } };
 * }
 */
export async function assertLinearRegex(
  regex: RegExp | string,
  path: string,
  log?: { warn(msg: string, fields?: Record<string, unknown>): void },
): Promise<void> {
  const source = typeof regex === 'string' ? regex : regex.source;
  const flags = typeof regex === 'string' ? '' : regex.flags;
  const c = await checkRegexComplexity(source, flags);
  if (c.verdict === 'super-linear') throw new PluginConfigError(path, superLinearMessage(c));
  if (c.verdict === 'unknown') log?.warn(unknownComplexityMessage(c), { path });
}
