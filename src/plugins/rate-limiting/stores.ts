// Counter stores of the rate-limiting plugin: exact in-process counters, and Redis through one Lua script.
import { Redis, type RedisOptions } from 'ioredis';

/**
 * One check-and-count, atomic across every window of a request: when every window is below its
 * limit, all are incremented; when any is at its limit, none is (a refused request does not use
 * quota, as in Kong). Resolves to the counts before this request, then 1 if refused else 0.
 */
export interface CounterStore {
  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): number[] | Promise<number[]>;
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

type ScriptedRedis = Redis & {
  tollgateRateLimit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
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
    const status = this.client.status;
    // While ioredis is reconnecting, Redis is known to be down: fail now rather than after `timeout`.
    if (status === 'reconnecting' || status === 'end' || status === 'close') {
      return Promise.reject(new Error(`redis connection is ${status}`));
    }
    return this.client.tollgateRateLimit(keys.length, ...keys, ...limits, ...expireAt);
  }

  async close(): Promise<void> {
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }
}
