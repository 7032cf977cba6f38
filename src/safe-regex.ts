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
 */
import { PluginConfigError } from './errors.ts';

/** What a check found. */
export interface RegexComplexity {
  /** `linear`: safe. `super-linear`: refused at load. `unknown`: the checker could not decide (accepted, with a warning). */
  readonly verdict: 'linear' | 'super-linear' | 'unknown';
  /** `exponential`, `2nd degree polynomial`, ... for super-linear; the reason for unknown; '' for linear. */
  readonly detail: string;
}

/** Longest time one pattern may take to check; past it the verdict is `unknown`. */
export const CHECK_TIMEOUT_MS = 5000;
/** Verdicts kept (distinct patterns); the oldest go first. */
const CACHE_MAX = 4096;

const LINEAR: RegexComplexity = Object.freeze({ verdict: 'linear', detail: '' });
const cache = new Map<string, Promise<RegexComplexity>>();
let tail: Promise<unknown> = Promise.resolve();
let recheck: Promise<typeof import('recheck')> | null = null;

/**
 * A pattern with no quantifier at all matches strings of bounded length, so each start position
 * costs a bounded time: linear without asking the checker (and without starting it).
 */
function obviouslyLinear(source: string): boolean {
  const s = source.replace(/\(\?(?:[:=!]|<[=!]|<[A-Za-z_$][\w$]*>)/g, '(');
  return !/[*+?{]/.test(s);
}

/** Checks how the matching time of `source` with `flags` grows with the input. Never rejects. */
export function checkRegexComplexity(source: string, flags = ''): Promise<RegexComplexity> {
  const f = flags.replace(/[gyd]/g, '');
  if (obviouslyLinear(source)) return Promise.resolve(LINEAR);
  const key = `${f}/${source}`;
  let p = cache.get(key);
  if (p === undefined) {
    // One at a time: recheck's agent slows down sharply when given several checks at once.
    p = tail.then(() => runCheck(source, f));
    tail = p;
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
    if (d.status === 'vulnerable') return { verdict: 'super-linear', detail: d.complexity.summary };
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
