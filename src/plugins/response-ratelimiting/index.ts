/**
 * The `response-ratelimiting` plugin: Kong 3's response-ratelimiting. The upstream says what a
 * response cost in a header (`X-Kong-Limit: videos=1, images=2`); the plugin counts that against
 * named limits per consumer, credential or IP, tells the upstream what is left
 * (`X-RateLimit-Remaining-<name>` on the request), tells the client (`X-RateLimit-Limit-<name>-<period>`,
 * `X-RateLimit-Remaining-<name>-<period>`), and answers 429 once a limit is used up. Counters live
 * in the shared counter stores (`local` or `redis`) that rate-limiting uses.
 * See docs/plugins/response-ratelimiting.md.
 */

import schema from '../../../schemas/plugins/response-ratelimiting.schema.json' with { type: 'json' };
import type {
  CounterStore,
  GatewayRequest,
  GatewayResponse,
  LogEntry,
  PluginHandlers,
  PluginLogger,
  RedisConfig,
} from '../../index.ts';
import {
  definePlugin,
  foldRedisShorthands,
  luaNumber,
  PERIODS,
  type Period,
  PluginConfigError,
  sharedCounterStore,
  trimAsciiSpace,
  windowEnd,
  windowStart,
} from '../../index.ts';
import { HTTP_PROTOCOLS, redisConfigIssues } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';

type Limits = Partial<Record<Period, number | null>>;

/** The response-ratelimiting plugin's config, defaults applied. */
export interface ResponseRateLimitingConfig {
  limits: Record<string, Limits>;
  header_name: string;
  limit_by: 'consumer' | 'credential' | 'ip';
  policy: 'local' | 'redis';
  fault_tolerant: boolean;
  redis: RedisConfig;
  block_on_first_violation: boolean;
  hide_client_headers: boolean;
  [shorthand: `redis_${string}`]: unknown;
}

/** Kong's priority for response-ratelimiting. */
export const RESPONSE_RATELIMITING_PRIORITY = 900;

const CTX = 'response-ratelimiting';
const EMPTY_UUID = '00000000-0000-0000-0000-000000000000';
const INTERNAL = { message: 'An unexpected error occurred' };

/** One (limit name, period) pair, flattened at create time. */
interface Counter {
  readonly name: string;
  readonly period: Period;
  readonly limit: number;
  readonly limitHeader: string;
  readonly remainingHeader: string;
}

interface State {
  readonly identifier: string;
  /** Per counter: what remained before this request. */
  readonly remaining: number[];
  readonly ends: number[];
  readonly keys: string[];
  /** Per limit name: what the upstream reported; set in the response phase. */
  increments: Map<string, number> | null;
  stopped: boolean;
}

/** Kong's header format: `name=amount` pairs separated by commas; unknown names are ignored. */
function parseIncrements(value: string, names: ReadonlySet<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of value.split(',')) {
    // Kong takes a pair with exactly one `=`, and its amount through tonumber: a later pair of a
    // name whose amount is no number (`video=`, `video=abc`) leaves that name uncounted.
    const eq = part.indexOf('=');
    if (eq < 0 || part.indexOf('=', eq + 1) !== -1) continue;
    const name = trimAsciiSpace(part.slice(0, eq));
    if (!names.has(name)) continue;
    const n = luaNumber(part.slice(eq + 1));
    if (n === undefined) out.delete(name);
    else out.set(name, n);
  }
  return out;
}

class ResponseRateLimiting implements PluginHandlers {
  private readonly counters: readonly Counter[];
  private readonly names: readonly string[];
  private readonly nameSet: ReadonlySet<string>;
  private readonly remainingRequestHeaders: readonly string[];
  private readonly header: string;
  /** `header_name` with `_` written `-`, or null when it has none. */
  private readonly dashedHeader: string | null;
  private readonly prefix: string;
  private readonly usageFailed: RepeatedWarning;
  /** The 500s of `fault_tolerant: false`, logged as Kong does ("failed to get usage"), once a second. */
  private readonly usageRefused: RepeatedWarning;
  private readonly incrementFailed: RepeatedWarning;
  readonly #incrementFailure = (err: unknown): void => this.incrementFailed.report({ error: String(err) });

  constructor(
    private readonly config: ResponseRateLimitingConfig,
    private readonly store: CounterStore,
    scope: { route: string | null; service: string | null },
    logger: PluginLogger,
  ) {
    this.usageFailed = new RepeatedWarning(logger, 'failed to get usage; request let through (fault_tolerant)');
    this.usageRefused = new RepeatedWarning(logger, 'failed to get usage', 1000, 'error');
    this.incrementFailed = new RepeatedWarning(logger, 'failed to increment usage');
    const counters: Counter[] = [];
    for (const name of Object.keys(config.limits)) {
      for (const period of PERIODS) {
        const limit = config.limits[name]![period];
        if (limit == null) continue;
        counters.push({
          name,
          period,
          limit,
          limitHeader: `X-RateLimit-Limit-${name}-${period}`,
          remainingHeader: `X-RateLimit-Remaining-${name}-${period}`,
        });
      }
    }
    this.counters = counters;
    this.names = Object.keys(config.limits);
    this.nameSet = new Set(this.names);
    this.remainingRequestHeaders = this.names.map((n) => `X-RateLimit-Remaining-${n}`);
    this.header = config.header_name.toLowerCase();
    // Kong reads kong.service.response.get_header(header_name), whose lookup takes `_` for `-`,
    // and clears it through ngx.header, which writes `_` as `-`: x_kong_limit is X-Kong-Limit.
    const dashed = this.header.replaceAll('_', '-');
    this.dashedHeader = dashed === this.header ? null : dashed;
    this.prefix = `response-ratelimit:${scope.route ?? EMPTY_UUID}:${scope.service ?? EMPTY_UUID}:`;
  }

  private identifier(req: GatewayRequest): string {
    if (this.config.limit_by === 'consumer') return req.consumer?.id ?? req.credential?.id ?? req.clientIp;
    if (this.config.limit_by === 'credential') return req.credential?.id ?? req.clientIp;
    return req.clientIp;
  }

  access(req: GatewayRequest): void | Promise<void> {
    const identifier = this.identifier(req);
    const now = Date.now();
    const n = this.counters.length;
    const keys = new Array<string>(n);
    const ends = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const c = this.counters[i]!;
      const start = windowStart(c.period, now);
      ends[i] = windowEnd(c.period, start);
      // Kong's key (policies/init.lua get_local_key): the limit name before the period.
      keys[i] = `${this.prefix}${identifier}:${start}:${c.name}:${c.period}`;
    }
    let usage: number[] | Promise<number[]>;
    try {
      usage = this.store.usage(keys);
    } catch (err) {
      return this.failed(req, err);
    }
    if (Array.isArray(usage)) return this.decide(req, identifier, keys, ends, usage);
    return usage.then(
      (u) => this.decide(req, identifier, keys, ends, u),
      (err: unknown) => this.failed(req, err),
    );
  }

  private failed(req: GatewayRequest, err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    if (!this.config.fault_tolerant) {
      this.usageRefused.report({ error: message });
      return req.exitError(500, INTERNAL.message, null, 'COUNTER_STORE_FAILED');
    }
    this.usageFailed.report({ error: message });
  }

  private decide(req: GatewayRequest, identifier: string, keys: string[], ends: number[], usage: number[]): void {
    const remaining = this.counters.map((c, i) => c.limit - usage[i]!);
    for (let k = 0; k < this.names.length; k++) {
      const name = this.names[k]!;
      let least = Number.POSITIVE_INFINITY;
      for (let i = 0; i < this.counters.length; i++) {
        if (this.counters[i]!.name !== name) continue;
        if (this.config.block_on_first_violation && remaining[i]! <= 0) {
          return req.exitError(429, `API rate limit exceeded for '${name}'`, null, 'RATE_LIMITED');
        }
        least = Math.min(least, remaining[i]!);
      }
      req.setUpstreamHeader(this.remainingRequestHeaders[k]!, String(Math.max(0, least)));
    }
    req.ctx[CTX] = { identifier, remaining, ends, keys, increments: null, stopped: false } satisfies State;
  }

  response(req: GatewayRequest, res: GatewayResponse): void {
    const st = req.ctx[CTX] as State | undefined;
    let reported = res.headers[this.header];
    res.removeHeader(this.header);
    if (this.dashedHeader !== null) {
      reported ??= res.headers[this.dashedHeader];
      res.removeHeader(this.dashedHeader);
    }
    if (st === undefined) return;
    // Kong's header filter runs for every answer, the gateway's own (another plugin's exit, a 502)
    // too: it reads the usage from the upstream's headers only (none then, so it costs nothing)
    // and still sends the limits and what remains.
    const increments = parseIncrements(
      res.fromGateway || reported === undefined ? '' : typeof reported === 'string' ? reported : reported.join(','),
      this.nameSet,
    );
    st.increments = increments;
    let exceeded: string | null = null;
    for (let i = 0; i < this.counters.length; i++) {
      const c = this.counters[i]!;
      const inc = increments.get(c.name) ?? 0;
      const left = st.remaining[i]!;
      if (!this.config.hide_client_headers) {
        res.setHeader(c.limitHeader, String(c.limit));
        res.setHeader(c.remainingHeader, String(Math.max(0, left - inc)));
      }
      if (inc > 0 && left <= 0 && exceeded === null) exceeded = c.name;
    }
    if (exceeded === null) return;
    // Kong ends the request with 429 in its header filter: the upstream's body is replaced, and
    // the usage of a refused response is not counted.
    st.stopped = true;
    const body = JSON.stringify({ message: `API rate limit exceeded for '${exceeded}'` });
    res.status = 429;
    for (const h of ['content-encoding', 'content-range', 'etag', 'last-modified', 'content-disposition'])
      res.removeHeader(h);
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.transformBody(() => body);
  }

  log(req: GatewayRequest, _entry: LogEntry): void {
    const st = req.ctx[CTX] as State | undefined;
    if (st === undefined || st.stopped || st.increments === null || st.increments.size === 0) return;
    for (const [name, by] of st.increments) {
      if (by === 0) continue;
      const keys: string[] = [];
      const ends: number[] = [];
      for (let i = 0; i < this.counters.length; i++) {
        if (this.counters[i]!.name !== name) continue;
        keys.push(st.keys[i]!);
        ends.push(st.ends[i]!);
      }
      try {
        const r = this.store.increment(keys, by, ends);
        if (r !== undefined) r.catch(this.#incrementFailure);
      } catch (err) {
        this.#incrementFailure(err);
      }
    }
  }
}

/** An HTTP token (RFC 9110 5.6.2): what a header name may hold. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function validate(config: ResponseRateLimitingConfig): void {
  // Kong's `limits` is a map with len_min = 1 (its LEN_MIN message), each value a record with an
  // at_least_one_of entity check over the periods (AT_LEAST_ONE_OF, the names quoted).
  if (Object.keys(config.limits).length === 0) throw new PluginConfigError('limits', 'length must be at least 1');
  for (const [name, limits] of Object.entries(config.limits)) {
    // The name becomes part of header names (X-RateLimit-Remaining-<name>, to the upstream and the
    // client): one with a space or a non-ASCII letter would make every request of the route fail.
    if (!TOKEN.test(name))
      throw new PluginConfigError(
        `limits.${name}`,
        "a limit name goes into header names (X-RateLimit-Remaining-<name>): letters, digits and !#$%&'*+-.^_`|~ only",
      );
    const set = PERIODS.filter((p) => limits[p] != null);
    if (set.length === 0)
      throw new PluginConfigError(
        `limits.${name}`,
        "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
      );
    for (let i = 0; i < set.length; i++) {
      for (let j = i + 1; j < set.length; j++) {
        const lo = set[i]!;
        const hi = set[j]!;
        if (limits[hi]! < limits[lo]!)
          throw new PluginConfigError(
            `limits.${name}.${hi}`,
            `the limit for ${hi}(${limits[hi]!.toFixed(1)}) cannot be lower than the limit for ${lo}(${limits[lo]!.toFixed(1)})`,
          );
      }
    }
  }
  if (config.policy === 'redis' && (config.redis.host == null || config.redis.host === ''))
    throw new PluginConfigError('redis.host', 'required field missing (policy is redis)');
}

export default definePlugin<ResponseRateLimitingConfig>({
  name: 'response-ratelimiting',
  version: '1.0.0',
  priority: RESPONSE_RATELIMITING_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues: redisConfigIssues,
  create(config, context) {
    const log = context.log;
    foldRedisShorthands(
      'response-ratelimiting',
      config as unknown as { redis: object } & Record<string, unknown>,
      context.warn,
    );
    validate(config);
    const { store, hooks } = sharedCounterStore(config.policy, config.redis, context, 'response-ratelimiting:local');
    const limiter = new ResponseRateLimiting(
      config,
      store,
      { route: context.scope.route?.id ?? null, service: context.scope.service?.id ?? null },
      log,
    );
    // Redis connects at the open step (or the first request), never in create().
    return Object.assign(limiter, hooks);
  },
});
