// Counter stores for rate limits (rate-limiting, response-ratelimiting, custom plugins): exact
// in-process counters, and Redis through Lua scripts so every operation is atomic across gateways.
import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';

/**
 * One check-and-count, atomic across every window of a request: when every window is below its
 * limit, all are incremented; when any is at its limit, none is (a refused request does not use
 * quota, as in Kong). Resolves to the counts before this request, then 1 if refused else 0.
 */
export interface CounterStore {
  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): number[] | Promise<number[]>;
  /** The current counts (0 for a missing or expired counter). */
  usage(keys: readonly string[]): number[] | Promise<number[]>;
  /** Adds `by` to every counter; a counter created by this call expires at its `expireAt` (ms). */
  increment(keys: readonly string[], by: number, expireAt: readonly number[]): void | Promise<void>;
}

interface Slot {
  count: number;
  expireAt: number;
}

/** Counters of this process. Shared across reloads (see `services.shared`), so a reload never resets a window. */
export class LocalCounters implements CounterStore {
  private readonly slots = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(sweepMs = 10_000) {
    this.sweeper = setInterval(() => this.sweep(Date.now()), sweepMs);
    this.sweeper.unref();
  }

  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): number[] {
    const now = Date.now();
    const out = new Array<number>(keys.length + 1);
    let refused = 0;
    for (let i = 0; i < keys.length; i++) {
      const s = this.slots.get(keys[i]!);
      const count = s === undefined || s.expireAt <= now ? 0 : s.count;
      out[i] = count;
      if (count >= limits[i]!) refused = 1;
    }
    out[keys.length] = refused;
    if (refused === 0) {
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const s = this.slots.get(key);
        if (s === undefined || s.expireAt <= now) this.slots.set(key, { count: 1, expireAt: expireAt[i]! });
        else s.count++;
      }
    }
    return out;
  }

  usage(keys: readonly string[]): number[] {
    const now = Date.now();
    return keys.map((k) => {
      const s = this.slots.get(k);
      return s === undefined || s.expireAt <= now ? 0 : s.count;
    });
  }

  increment(keys: readonly string[], by: number, expireAt: readonly number[]): void {
    const now = Date.now();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const s = this.slots.get(key);
      if (s === undefined || s.expireAt <= now) this.slots.set(key, { count: by, expireAt: expireAt[i]! });
      else s.count += by;
    }
  }

  /** Number of live counters (tests, diagnostics). */
  get size(): number {
    return this.slots.size;
  }

  private sweep(now: number): void {
    for (const [k, s] of this.slots) if (s.expireAt <= now) this.slots.delete(k);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.slots.clear();
  }
}

// KEYS: one per window. ARGV: the limits, then the expiry instants (ms). Reads and increments run
// inside one script, so no other gateway can slip a request between the check and the count.
const SCRIPT = `
local n = #KEYS
local out = {}
local refused = 0
for i = 1, n do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[i] = v
  if v >= tonumber(ARGV[i]) then refused = 1 end
end
if refused == 0 then
  for i = 1, n do
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIREAT', KEYS[i], ARGV[n + i]) end
  end
end
out[n + 1] = refused
return out
`;

// KEYS: the counters. ARGV: the amount, then the expiry instants (ms) of counters it creates.
const INCREMENT = `
local by = tonumber(ARGV[1])
for i = 1, #KEYS do
  if redis.call('INCRBY', KEYS[i], by) == by then redis.call('PEXPIREAT', KEYS[i], ARGV[i + 1]) end
end
return 0
`;

type ScriptedRedis = Redis & {
  tollgateRateLimit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  tollgateIncrement(numKeys: number, ...args: (string | number)[]): Promise<number>;
};

/** Connection settings of the redis policy (Kong's `config.redis`). */
export interface RedisSettings {
  host: string;
  port: number;
  timeout: number;
  username: string | null;
  password: string | null;
  database: number;
  ssl: boolean;
  ssl_verify: boolean;
  server_name: string | null;
}

/** A Redis counter store: one ioredis client, commands bounded by `timeout`, failing fast while Redis is down. */
export class RedisCounters implements CounterStore {
  readonly client: ScriptedRedis;
  /** Set once the client lost its connection, cleared when it is ready again (for log de-duplication). */
  private down = false;

  constructor(settings: RedisSettings, onDown: (message: string) => void, onUp: () => void) {
    const options: RedisOptions = {
      host: settings.host,
      port: settings.port,
      db: settings.database,
      connectTimeout: settings.timeout,
      commandTimeout: settings.timeout,
      // Queued commands fail at the first failed reconnect instead of waiting for 20 of them.
      maxRetriesPerRequest: 0,
      retryStrategy: (times) => Math.min(times * 100, 1000),
      lazyConnect: false,
      ...(settings.username != null && settings.username !== '' ? { username: settings.username } : {}),
      ...(settings.password != null && settings.password !== '' ? { password: settings.password } : {}),
      ...(settings.ssl
        ? {
            tls: {
              rejectUnauthorized: settings.ssl_verify,
              ...(settings.server_name != null ? { servername: settings.server_name } : {}),
            },
          }
        : {}),
    };
    const client = new Redis(options) as ScriptedRedis;
    client.defineCommand('tollgateRateLimit', { lua: SCRIPT });
    client.defineCommand('tollgateIncrement', { lua: INCREMENT });
    client.on('error', (err: Error) => {
      if (this.down) return;
      this.down = true;
      onDown(err.message);
    });
    client.on('ready', () => {
      if (!this.down) return;
      this.down = false;
      onUp();
    });
    this.client = client;
  }

  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): Promise<number[]> {
    const down = this.downError();
    if (down !== null) return Promise.reject(down);
    return this.client.tollgateRateLimit(keys.length, ...keys, ...limits, ...expireAt);
  }

  async usage(keys: readonly string[]): Promise<number[]> {
    const down = this.downError();
    if (down !== null) throw down;
    const values = await this.client.mget(...keys);
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async increment(keys: readonly string[], by: number, expireAt: readonly number[]): Promise<void> {
    const down = this.downError();
    if (down !== null) throw down;
    await this.client.tollgateIncrement(keys.length, ...keys, by, ...expireAt);
  }

  /** While ioredis is reconnecting, Redis is known to be down: fail now rather than after `timeout`. */
  private downError(): Error | null {
    const status = this.client.status;
    if (status === 'reconnecting' || status === 'end' || status === 'close')
      return new Error(`redis connection is ${status}`);
    return null;
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}

/** Identifies a distinct Redis connection for `services.shared`; the password only as a digest. */
export function redisCountersKey(r: RedisSettings): string {
  const secret = r.password == null ? '' : createHash('sha256').update(r.password).digest('hex').slice(0, 16);
  return `counters:redis:${r.host}:${r.port}/${r.database}:${r.username ?? ''}:${secret}:${r.ssl}:${r.ssl_verify}:${r.server_name ?? ''}:${r.timeout}`;
}

/** Kong's deprecated flat `redis_*` fields and the `redis` record field each stands for. */
const REDIS_SHORTHANDS: readonly (readonly [string, keyof RedisSettings])[] = [
  ['redis_host', 'host'],
  ['redis_port', 'port'],
  ['redis_password', 'password'],
  ['redis_username', 'username'],
  ['redis_ssl', 'ssl'],
  ['redis_ssl_verify', 'ssl_verify'],
  ['redis_server_name', 'server_name'],
  ['redis_timeout', 'timeout'],
  ['redis_database', 'database'],
];

/**
 * Folds Kong's deprecated flat `redis_*` fields into `config.redis`, as Kong 3 does, warning for
 * each one set. A null (decK dumps write every field) means unset.
 */
export function foldRedisShorthands(
  config: { redis: object } & Record<string, unknown>,
  warn: (message: string) => void,
): void {
  for (const [old, field] of REDIS_SHORTHANDS) {
    const v = config[old];
    if (v === undefined || v === null) continue;
    warn(`config.${old} is deprecated, please use config.redis.${field} instead`);
    (config.redis as Record<string, unknown>)[field] = v;
  }
}
