/**
 * The `bot-detection` plugin: Kong 3's bot-detection. A User-Agent matching an `allow` pattern
 * passes; otherwise one matching a `deny` pattern or Kong's built-in bot list gets 403
 * `{"message":"Forbidden"}`. A request without User-Agent passes; one with two gets 400, as in
 * Kong. Verdicts are remembered per User-Agent in a bounded LRU (Kong keeps 10^4 per config).
 * See docs/plugins/bot-detection.md.
 */
import schema from '../../../schemas/plugins/bot-detection.schema.json' with { type: 'json' };
import type { GatewayRequest, PluginConfigIssue, PluginHandlers } from '../../index.ts';
import {
  assertLinearRegex,
  BoundedCache,
  definePlugin,
  PluginConfigError,
  translatePcre,
  trimAsciiSpace,
} from '../../index.ts';
import { HTTP_PROTOCOLS, KONG3_RENAMED_FIELDS, renamedFieldIssues } from '../../lib/kong-config.ts';
import { BOT_NEAR, BOT_RULES, BOT_SEQUENCES } from './rules.ts';

/** The bot-detection plugin's config, defaults applied. */
export interface BotDetectionConfig {
  allow: string[] | null;
  deny: string[] | null;
}

/** Kong's priority for bot-detection: before authentication. */
export const BOT_DETECTION_PRIORITY = 2500;

/**
 * Verdicts cached per instance (Kong: 10^4), and the bytes they may hold in all (2 MiB of agent
 * text, two bytes a character, with BoundedCache's overhead per entry). The cache is made at the
 * first verdict: 1,000 routes with bot-detection do not allocate 1,000 caches at load.
 */
export const UA_CACHE_ENTRIES = 10_000;
export const UA_CACHE_BYTES = 4 * 1024 * 1024 + UA_CACHE_ENTRIES * 64;
/** Longer User-Agents are examined every time, never cached. */
const MAX_CACHED_UA = 1024;

const ALLOW = 1;
const DENY = 2;
const BOT = 3;
const NONE = 0;

const FORBIDDEN = { message: 'Forbidden' };
const TWO_AGENTS = { message: 'Only one User-Agent header allowed' };

const BUILTIN: readonly RegExp[] = BOT_RULES.map((r) => new RegExp(r));

/** PCRE's option setting at the start of a pattern: `(?i)`, `(?m)`, `(?s)`, or several. */
const LEADING_OPTIONS = /^\(\?([ims]+)\)/;

/**
 * Kong matches the patterns with ngx.re (PCRE). Its spellings are translated as a route's header
 * regex is (src/router/pcre.ts: `\A`, `\z`, `\h`, `[[:digit:]]`, `\Q...\E` would otherwise be
 * read as other characters by JavaScript, and a deny list would silently miss what Kong's
 * refuses), and compiled with `u` so that an escape JavaScript does not know is an error. A
 * leading `(?i)` becomes the same flag (JavaScript has no such group). dotAll: a User-Agent value
 * never holds a line break (RFC 9110 5.5), so it changes no match, and the load-time complexity
 * check then knows that `.` matches every character of the value (`^.*evil.*$` is linear on it;
 * see src/safe-regex.ts).
 */
function compile(patterns: readonly string[] | null, field: string): RegExp[] {
  return (patterns ?? []).map((p, i) => {
    const options = LEADING_OPTIONS.exec(p);
    const flags = new Set(options?.[1] ?? '');
    flags.add('s').add('u');
    const t = translatePcre(options === null ? p : p.slice(options[0].length), 'header');
    if ('error' in t)
      throw new PluginConfigError(`${field}[${i}]`, `PCRE syntax that cannot be translated: ${t.error}`);
    try {
      return new RegExp(t.source, [...flags].join(''));
    } catch (err) {
      // Kong's schema words (is_regex: `not a valid regex: <pattern>`), then the engine's reason
      // (V8 says `Invalid regular expression: /<pattern>/<flags>: <reason>`).
      const reason = (err as Error).message;
      throw new PluginConfigError(
        `${field}[${i}]`,
        `not a valid regex: ${p} (${reason.slice(reason.lastIndexOf(': ') + 2)})`,
      );
    }
  });
}

function isBot(ua: string): boolean {
  for (let i = 0; i < BUILTIN.length; i++) if (BUILTIN[i]!.test(ua)) return true;
  for (let i = 0; i < BOT_SEQUENCES.length; i++) {
    const [first, then] = BOT_SEQUENCES[i]!;
    const m = first.exec(ua);
    if (m !== null && ua.indexOf(then, m.index + m[0].length) >= 0) return true;
  }
  for (let i = 0; i < BOT_NEAR.length; i++) {
    const [first, then, within] = BOT_NEAR[i]!;
    // Each `then`, and `first` ending at most `within` characters before it.
    for (let at = ua.indexOf(then); at >= 0; at = ua.indexOf(then, at + 1)) {
      if (ua.slice(Math.max(0, at - within - first.length), at).includes(first)) return true;
    }
  }
  return false;
}

/**
 * How many User-Agent fields the client sent. Read from the raw header list: an HTTP/2 request has
 * no `headersDistinct` and its `headers` keeps only the first value, so two agents there would
 * otherwise pass as one (an allowed first agent carrying a bot second).
 */
function userAgentFields(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'user-agent') n++;
  }
  return n;
}

class BotDetection implements PluginHandlers {
  private readonly cache = new BoundedCache<number>({
    maxEntries: UA_CACHE_ENTRIES,
    maxBytes: UA_CACHE_BYTES,
    sizeOf: () => 0,
  });
  constructor(
    private readonly allow: readonly RegExp[],
    private readonly deny: readonly RegExp[],
  ) {}

  access(req: GatewayRequest): void {
    if (userAgentFields(req.raw.rawHeaders) > 1)
      return req.exitError(400, TWO_AGENTS.message, null, 'DUPLICATE_USER_AGENT');
    const header = req.headers['user-agent'];
    if (header === undefined) return;
    // Kong strips the agent (Lua's `%s`) before matching; trim() would also cut a byte 0xA0, so
    // that an anchored pattern matched an agent Kong's does not.
    const ua = trimAsciiSpace(header);
    let verdict = this.cache.get(ua);
    if (verdict === undefined) {
      verdict = this.examine(ua);
      if (ua.length <= MAX_CACHED_UA) this.cache.set(ua, verdict);
    }
    if (verdict > ALLOW) req.exitError(403, FORBIDDEN.message, null, 'BOT_DENIED');
  }

  private examine(ua: string): number {
    for (const r of this.allow) if (r.test(ua)) return ALLOW;
    for (const r of this.deny) if (r.test(ua)) return DENY;
    return isBot(ua) ? BOT : NONE;
  }
}

/** The fields Kong 3.0 renamed (`whitelist`, `blacklist`), refused with the new name. */
const configIssues = (config: Readonly<Record<string, unknown>>): PluginConfigIssue[] =>
  renamedFieldIssues(config, KONG3_RENAMED_FIELDS);

export default definePlugin<BotDetectionConfig>({
  name: 'bot-detection',
  version: '1.0.0',
  priority: BOT_DETECTION_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  consumerScoped: false,
  async create(config, context) {
    const allow = compile(config.allow, 'allow');
    const deny = compile(config.deny, 'deny');
    // The patterns run on the User-Agent: text any client chooses.
    for (const [list, field] of [
      [allow, 'allow'],
      [deny, 'deny'],
    ] as const) {
      for (let i = 0; i < list.length; i++) await assertLinearRegex(list[i]!, `${field}[${i}]`, context.log);
    }
    return new BotDetection(allow, deny);
  },
});
