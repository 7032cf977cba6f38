/**
 * The `rate-limiting` plugin: Kong 3's rate-limiting with the DB-less policies. `local` counts
 * exactly within one gateway process; `redis` counts across every gateway sharing the Redis, with
 * the check and the increment in one Lua script (no read-then-write race between gateways).
 * See docs/plugins/rate-limiting.md.
 */
import { hash } from 'node:crypto';
import schema from '../../../schemas/plugins/rate-limiting.schema.json' with { type: 'json' };

import type {
  GatewayRequest,
  GatewayResponse,
  HeaderValue,
  PluginConfigIssue,
  PluginHandlers,
  PluginLogger,
  RedisConfig,
} from '../../index.ts';
import {
  type CounterStore,
  definePlugin,
  EXPIRATION,
  firstHeader,
  foldRedisShorthands,
  PERIODS,
  type Period,
  PluginConfigError,
  sharedCounterStore,
  windowEnd,
  windowStart,
} from '../../index.ts';
import { HTTP_PROTOCOLS, NO_CONSUMER_GROUPS, pathProblem, redisConfigIssues } from '../../lib/kong-config.ts';
import { RepeatedWarning } from '../../lib/log/index.ts';

/** The rate-limiting plugin's config, defaults applied. */
export interface RateLimitingConfig {
  second?: number | null;
  minute?: number | null;
  hour?: number | null;
  day?: number | null;
  month?: number | null;
  year?: number | null;
  limit_by: 'consumer' | 'credential' | 'ip' | 'service' | 'header' | 'path';
  header_name?: string | null;
  path?: string | null;
  policy: 'local' | 'redis';
  fault_tolerant: boolean;
  redis: RedisConfig;
  hide_client_headers: boolean;
  error_code: number;
  error_message: string;
  sync_rate: number;
  redis_host?: string;
  redis_port?: number;
  redis_password?: string;
  redis_username?: string;
  redis_ssl?: boolean;
  redis_ssl_verify?: boolean;
  redis_server_name?: string;
  redis_timeout?: number;
  redis_database?: number;
}

/** Kong's priority for rate-limiting. */
export const RATE_LIMITING_PRIORITY = 910;

/**
 * Counters an operator can export as metrics: requests let through because the counter store
 * (Redis) failed while `fault_tolerant` is true, and requests answered 500 because it failed while
 * `fault_tolerant` is false. Totals over every rate-limiting instance of this process.
 */
export const rateLimitingStats = { storeFailuresPassed: 0, storeFailuresRejected: 0 };

const EMPTY_UUID = '00000000-0000-0000-0000-000000000000';
const CTX = 'rate-limiting.headers';

// Kong's spelling (rate-limiting's handler.lua): nginx writes a name as set_header was given it,
// and clients and scripts match these case-sensitively. HTTP/2 lower-cases them (RFC 9113 8.2.1).
const LIMIT_HEADER: Record<Period, string> = {
  second: 'X-RateLimit-Limit-Second',
  minute: 'X-RateLimit-Limit-Minute',
  hour: 'X-RateLimit-Limit-Hour',
  day: 'X-RateLimit-Limit-Day',
  month: 'X-RateLimit-Limit-Month',
  year: 'X-RateLimit-Limit-Year',
};
const REMAINING_HEADER: Record<Period, string> = {
  second: 'X-RateLimit-Remaining-Second',
  minute: 'X-RateLimit-Remaining-Minute',
  hour: 'X-RateLimit-Remaining-Hour',
  day: 'X-RateLimit-Remaining-Day',
  month: 'X-RateLimit-Remaining-Month',
  year: 'X-RateLimit-Remaining-Year',
};

function validate(config: RateLimitingConfig): Period[] {
  const periods = PERIODS.filter((p) => config[p] != null);
  if (periods.length === 0) {
    throw new PluginConfigError(
      '',
      "at least one of these fields must be non-empty: 'config.second', 'config.minute', 'config.hour', 'config.day', 'config.month', 'config.year'",
    );
  }
  for (let i = 0; i < periods.length; i++) {
    for (let j = i + 1; j < periods.length; j++) {
      const lo = periods[i]!;
      const hi = periods[j]!;
      if (config[hi]! < config[lo]!) {
        throw new PluginConfigError(
          hi,
          `The limit for ${hi}(${config[hi]!.toFixed(1)}) cannot be lower than the limit for ${lo}(${config[lo]!.toFixed(1)})`,
        );
      }
    }
  }
  if (config.limit_by === 'header' && (config.header_name == null || config.header_name === '')) {
    throw new PluginConfigError('header_name', 'required field missing (limit_by is header)');
  }
  if (config.limit_by === 'path' && (config.path == null || config.path === '')) {
    throw new PluginConfigError('path', 'required field missing (limit_by is path)');
  }
  // Kong's typedefs.path: RFC 3986 characters, escapes well formed, no empty segment. A request
  // path never holds anything else, so such a path would count every request by its client ip.
  const badPath = config.path == null ? null : pathProblem(config.path, false);
  if (badPath !== null) throw new PluginConfigError('path', badPath);
  if (config.policy === 'redis' && (config.redis.host == null || config.redis.host === '')) {
    throw new PluginConfigError('redis.host', 'required field missing (policy is redis)');
  }
  // Kong's schema (validate_periods_order) refuses a batching interval the policy cannot use, and
  // one under 20 ms; Tollgate ignores any sync_rate, but a file Kong refuses is refused here too.
  if (config.sync_rate !== -1) {
    if (config.policy !== 'redis')
      throw new PluginConfigError('sync_rate', 'sync_rate can only be used with the redis policy');
    if (config.sync_rate < 0.02)
      throw new PluginConfigError('sync_rate', 'sync_rate must be greater than 0.02, or -1 to disable');
  }
  return periods;
}

/** Identifiers up to this many characters are keys as they are (Kong's shape); longer ones are hashed. */
const MAX_PLAIN_IDENTIFIER = 256;
const HASHED = 'sha256:';

/**
 * A header value chosen by the client can be many kilobytes; as part of a Redis key it would cost
 * that much Redis memory for each distinct value and window, until the window ends (a day, a
 * year). A long one (or one that looks like a digest) is counted under its SHA-256 instead.
 */
function boundedIdentifier(id: string): string {
  if (id.length <= MAX_PLAIN_IDENTIFIER && !id.startsWith(HASHED)) return id;
  return HASHED + hash('sha256', id, 'hex');
}

class RateLimiting {
  private readonly periods: readonly Period[];
  private readonly limits: readonly number[];
  private readonly limitHeaders: readonly string[];
  private readonly limitByHeader: string;
  /** `header_name` with `_` written `-`, or null when it has no `_`. */
  private readonly limitByDashed: string | null;
  private readonly limitBy: RateLimitingConfig['limit_by'];
  private readonly limitPath: string;
  /** `ratelimit:<route id>:<service id>:`, Kong's key prefix for the plugin's scope. */
  private readonly prefix: string;
  private readonly store: CounterStore;
  private readonly faultTolerant: boolean;
  private readonly hideHeaders: boolean;
  private readonly errorCode: number;
  private readonly errorBody: { message: string };
  private readonly storeDown: RepeatedWarning;
  /** The 500s of `fault_tolerant: false`: one error line a second, not one per request with a stack. */
  private readonly storeFailed: RepeatedWarning;
  /** Failures of the store this instance let through (fault_tolerant) or answered 500 for. */
  storeFailures = 0;
  /** Window starts and ends of the current second: they change at most once a second. */
  private cachedSecond = -1;
  private readonly starts: number[];
  private readonly ends: number[];
  private readonly suffixes: string[];

  constructor(
    config: RateLimitingConfig,
    periods: Period[],
    store: CounterStore,
    scope: { route: string | null; service: string | null },
    log: PluginLogger,
  ) {
    this.periods = periods;
    this.limits = periods.map((p) => config[p]!);
    this.limitHeaders = periods.map((p) => String(config[p]!));
    this.limitBy = config.limit_by;
    this.limitByHeader = (config.header_name ?? '').toLowerCase();
    // Kong reads the header with kong.request.get_header, whose lookup takes `_` for `-`: a
    // header_name of x_tenant counts by X-Tenant (and a header spelled with `_` is dropped at the
    // edge by default, so without this such a name would count every client by its address).
    const dashed = this.limitByHeader.replaceAll('_', '-');
    this.limitByDashed = dashed === this.limitByHeader ? null : dashed;
    this.limitPath = config.path ?? '';
    this.prefix = `ratelimit:${scope.route ?? EMPTY_UUID}:${scope.service ?? EMPTY_UUID}:`;
    this.store = store;
    this.faultTolerant = config.fault_tolerant;
    this.hideHeaders = config.hide_client_headers;
    this.errorCode = config.error_code;
    this.errorBody = { message: config.error_message };
    this.storeDown = new RepeatedWarning(log, 'failed to get usage; request let through (fault_tolerant)');
    this.storeFailed = new RepeatedWarning(log, 'failed to get usage', 1000, 'error');
    this.starts = periods.map(() => 0);
    this.ends = periods.map(() => 0);
    this.suffixes = periods.map(() => '');
  }

  private refreshWindows(now: number): void {
    const second = now - (now % 1000);
    if (second === this.cachedSecond) return;
    this.cachedSecond = second;
    for (let i = 0; i < this.periods.length; i++) {
      const p = this.periods[i]!;
      const start = windowStart(p, now);
      this.starts[i] = start;
      this.ends[i] = windowEnd(p, start);
      this.suffixes[i] = `:${start}:${p}`;
    }
  }

  private identifier(req: GatewayRequest): string {
    switch (this.limitBy) {
      case 'service':
        return req.service?.id ?? req.clientIp;
      case 'consumer':
        return req.consumer?.id ?? req.credential?.id ?? req.clientIp;
      case 'credential':
        return req.credential?.id ?? req.clientIp;
      case 'header': {
        // Kong's kong.request.get_header returns a repeated header's first line; Node joins the
        // lines with ", ", which would make `X-Tenant: a` sent twice a counter apart from `a`.
        let s = firstHeader(req, this.limitByHeader);
        if (s === undefined && this.limitByDashed !== null) s = firstHeader(req, this.limitByDashed);
        return s === undefined || s === '' ? req.clientIp : s;
      }
      case 'path':
        return req.path === this.limitPath ? req.path : req.clientIp;
      default:
        return req.clientIp;
    }
  }

  readonly access = (req: GatewayRequest): void | Promise<void> => {
    const now = Date.now();
    const id = boundedIdentifier(this.identifier(req));
    const n = this.periods.length;
    this.refreshWindows(now);
    const keys = new Array<string>(n);
    const base = `${this.prefix}${id}`;
    for (let i = 0; i < n; i++) keys[i] = base + this.suffixes[i]!;
    let result: number[] | Promise<number[]>;
    try {
      result = this.store.hit(keys, this.limits, this.ends);
    } catch (err) {
      return this.failed(req, err);
    }
    if (Array.isArray(result)) return this.decide(req, result, now, this.starts, this.ends);
    // Copies: by the time Redis answers, later requests may have moved the cached windows on.
    const starts = this.starts.slice();
    const expireAt = this.ends.slice();
    return result.then(
      (r) => this.decide(req, r, now, starts, expireAt),
      (err: unknown) => this.failed(req, err),
    );
  };

  private failed(req: GatewayRequest, err: unknown): void {
    this.storeFailures++;
    const message = err instanceof Error ? err.message : String(err);
    if (!this.faultTolerant) {
      rateLimitingStats.storeFailuresRejected++;
      // Kong raises the error: the client gets 500 "An unexpected error occurred". Answered here
      // rather than thrown: a thrown error is logged with its stack for every request, which under
      // load while Redis is down buries every other line.
      this.storeFailed.report({ error: message });
      return req.exitError(500, 'An unexpected error occurred', null, 'COUNTER_STORE_FAILED');
    }
    rateLimitingStats.storeFailuresPassed++;
    this.storeDown.report({ error: message });
  }

  private decide(req: GatewayRequest, counts: number[], now: number, starts: number[], ends: number[]): void {
    const n = this.periods.length;
    const refused = counts[n] === 1;
    if (this.hideHeaders) {
      if (refused) req.exitError(this.errorCode, this.errorBody.message, null, 'RATE_LIMITED');
      return;
    }
    const headers: Record<string, HeaderValue> = {};
    let limit = 0;
    let remaining = -1;
    let window = 0;
    let reset = 0;
    for (let i = 0; i < n; i++) {
      const p = this.periods[i]!;
      const lim = this.limits[i]!;
      const used = counts[i]!;
      // Kong: the count includes this request unless another window refused it.
      let left = lim - used;
      if (!refused || used >= lim) left -= 1;
      left = Math.max(0, left);
      const w = EXPIRATION[p];
      if (remaining < 0 || left < remaining || (left === remaining && w > window)) {
        limit = lim;
        remaining = left;
        window = w;
        // Seconds until this window resets (the calendar end for month and year).
        reset = Math.max(1, Math.ceil((ends[i]! - Math.max(now, starts[i]!)) / 1000));
      }
      headers[LIMIT_HEADER[p]] = this.limitHeaders[i]!;
      headers[REMAINING_HEADER[p]] = String(left);
    }
    headers['RateLimit-Limit'] = String(limit);
    headers['RateLimit-Remaining'] = String(remaining);
    headers['RateLimit-Reset'] = String(reset);
    if (refused) {
      headers['Retry-After'] = String(reset);
      return req.exitError(this.errorCode, this.errorBody.message, headers, 'RATE_LIMITED');
    }
    req.ctx[CTX] = headers;
  }

  readonly response = (req: GatewayRequest, res: GatewayResponse): void => {
    const headers = req.ctx[CTX] as Record<string, string> | undefined;
    if (headers === undefined) return;
    for (const name in headers) res.setHeader(name, headers[name]!);
  };
}

/**
 * Kong Enterprise's limit_by: consumer-group, which counts per consumer group, is refused; else
 * a flat redis_* field that says otherwise than its redis field (Kong's shorthand check).
 */
function configIssues(config: Readonly<Record<string, unknown>>): PluginConfigIssue[] {
  if (config.limit_by !== 'consumer-group') return redisConfigIssues(config);
  return [
    {
      at: ['limit_by'],
      message: `limit_by: consumer-group (Kong Enterprise) is not implemented: it counts per consumer group, and ${NO_CONSUMER_GROUPS}: set limit_by: consumer (a counter per consumer), or scope a rate-limiting plugin to each consumer`,
      severity: 'error',
    },
  ];
}

export default definePlugin<RateLimitingConfig>({
  name: 'rate-limiting',
  version: '1.0.0',
  priority: RATE_LIMITING_PRIORITY,
  schema,
  protocols: HTTP_PROTOCOLS,
  configIssues,
  create(config, context): PluginHandlers {
    const log = context.log;
    foldRedisShorthands(
      'rate-limiting',
      config as unknown as { redis: object } & Record<string, unknown>,
      context.warn,
    );
    const periods = validate(config);
    if (config.sync_rate !== -1)
      context.warn('sync_rate is ignored: Tollgate counts every request synchronously', 'sync_rate');
    // Kong's schema takes any positive number, and its kong.response.error raises for a code
    // outside 400-599, so each refusal is a 500; so it is here (exitError), but a file can say so
    // before it serves.
    const code = config.error_code;
    if (!Number.isInteger(code) || code < 400 || code > 599)
      context.warn(
        `error_code ${code} is not an HTTP error status (400 to 599): every refused request will be answered 500 instead, as in Kong`,
        'error_code',
      );
    const { store, hooks } = sharedCounterStore(config.policy, config.redis, context, 'rate-limiting:local');
    const rl = new RateLimiting(
      config,
      periods,
      store,
      { route: context.scope.route?.id ?? null, service: context.scope.service?.id ?? null },
      log,
    );
    const handlers: PluginHandlers & { readonly limiter: RateLimiting } = config.hide_client_headers
      ? { access: rl.access, limiter: rl, ...hooks }
      : { access: rl.access, response: rl.response, limiter: rl, ...hooks };
    return handlers;
  },
});
