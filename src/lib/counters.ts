// Counter stores for rate limits (rate-limiting, response-ratelimiting, custom plugins): exact
// in-process counters, and Redis through Lua scripts so every operation is atomic across gateways.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis, RedisOptions } from 'ioredis';
import type { DependencyHealth } from '../pipeline/plugin.ts';
import { BoundedCache } from './bounded-cache.ts';
import { Breaker } from './breaker.ts';
import { Deadlines } from './deadlines.ts';
import { resolvingConnector } from './redis-connector.ts';

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

/**
 * Caps of the local counters (docs/plugins/rate-limiting.md). Their keys come from request data
 * (client address, a header, a path, ...), so they are bounded like Kong's: its `local` policy
 * keeps counters in a fixed-size shared dict that evicts the least recently used one when full.
 * An evicted counter starts again at zero, so past the cap limits are approximate, never memory.
 */
export const LOCAL_COUNTER_LIMITS = { maxEntries: 200_000, maxBytes: 64 * 1024 * 1024 };

/** Counters of this process. Shared across reloads (see `services.shared`), so a reload never resets a window. */
export class LocalCounters implements CounterStore {
  private readonly slots: BoundedCache<Slot>;

  constructor(limits: { maxEntries: number; maxBytes: number } = LOCAL_COUNTER_LIMITS) {
    // Each counter expires with its window; no timer sweeps them (expired ones go first when full).
    this.slots = new BoundedCache<Slot>({ ...limits, sizeOf: () => 48 });
  }

  private live(key: string, now: number): Slot | undefined {
    const s = this.slots.get(key);
    return s === undefined || s.expireAt <= now ? undefined : s;
  }

  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): number[] {
    const now = Date.now();
    const n = keys.length;
    const out = new Array<number>(n + 1);
    const found = new Array<Slot | undefined>(n);
    let refused = 0;
    for (let i = 0; i < n; i++) {
      const s = this.live(keys[i]!, now);
      found[i] = s;
      const count = s === undefined ? 0 : s.count;
      out[i] = count;
      if (count >= limits[i]!) refused = 1;
    }
    out[n] = refused;
    if (refused === 0) {
      for (let i = 0; i < n; i++) {
        const s = found[i];
        if (s === undefined) this.slots.set(keys[i]!, { count: 1, expireAt: expireAt[i]! }, expireAt[i]! - now);
        else s.count++;
      }
    }
    return out;
  }

  usage(keys: readonly string[]): number[] {
    const now = Date.now();
    return keys.map((k) => this.live(k, now)?.count ?? 0);
  }

  increment(keys: readonly string[], by: number, expireAt: readonly number[]): void {
    const now = Date.now();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const s = this.live(key, now);
      if (s === undefined) this.slots.set(key, { count: by, expireAt: expireAt[i]! }, expireAt[i]! - now);
      else s.count += by;
    }
  }

  /** Number of counters held and their bytes, as counted against the caps (tests, diagnostics). */
  get size(): number {
    return this.slots.size;
  }

  get bytes(): number {
    return this.slots.bytes;
  }

  close(): void {
    this.slots.clear();
  }
}

// KEYS: one per window. ARGV: the limits, the expiry instants (ms), then how many requests ask.
// Reads and increments run inside one script, so no other gateway can slip a request between the
// check and the count. Admitting the first `admit` of m requests and counting them with one
// INCRBY is what m scripts of one request each would do: each refuses once any window is full.
const SCRIPT = `
local n = #KEYS
local admit = tonumber(ARGV[2 * n + 1])
local out = {}
for i = 1, n do
  local v = tonumber(redis.call('GET', KEYS[i]) or '0')
  out[i] = v
  local room = tonumber(ARGV[i]) - v
  if room < admit then admit = room end
end
if admit < 0 then admit = 0 end
if admit > 0 then
  for i = 1, n do
    if redis.call('INCRBY', KEYS[i], admit) == admit then redis.call('PEXPIREAT', KEYS[i], ARGV[n + i]) end
  end
end
out[n + 1] = admit
return out
`;

/**
 * Requests of one event-loop turn that count the same windows: sent as one script call. Under a
 * flood from one client (the case a limiter exists for) this is one Redis command per turn
 * instead of one per request.
 */
interface HitBatch {
  readonly keys: readonly string[];
  readonly limits: readonly number[];
  readonly expireAt: readonly number[];
  size: number;
  readonly answer: Promise<number[]>;
  settle: (counts: Promise<number[]>) => void;
}

/**
 * Request `index`'s share of a batch's answer, as a script of its own would have answered: the
 * counts it saw (those before it, up to the admitted ones) and 1 if it is refused.
 */
function shareOf(answer: readonly number[], index: number): number[] {
  const n = answer.length - 1;
  const admitted = answer[n]!;
  const before = Math.min(index, admitted);
  const out = new Array<number>(n + 1);
  for (let i = 0; i < n; i++) out[i] = answer[i]! + before;
  out[n] = index < admitted ? 0 : 1;
  return out;
}

/** Whether two key lists are the same (the batch id joins them, and a key could hold the separator). */
function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstShare(answer: readonly number[]): number[] {
  return shareOf(answer, 0);
}

function sendBatch(client: ScriptedRedis, batch: HitBatch): Promise<number[]> {
  const keys = batch.keys;
  return client.tollgateRateLimit(keys.length, ...keys, ...batch.limits, ...batch.expireAt, batch.size);
}

function sendIncrement(
  client: ScriptedRedis,
  a: { keys: readonly string[]; by: number; expireAt: readonly number[] },
): Promise<number> {
  return client.tollgateIncrement(a.keys.length, ...a.keys, a.by, ...a.expireAt);
}

function sendBackoff(
  client: ScriptedRedis,
  a: { key: string; failed: boolean; maxLifeMs: number },
): Promise<[number, number]> {
  return client.tollgateBackoff(1, a.key, a.failed ? 1 : 0, a.maxLifeMs);
}

function getCounts(client: ScriptedRedis, keys: readonly string[]): Promise<(string | null)[]> {
  return client.mget(...keys);
}

function newBatch(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): HitBatch {
  let settle!: (counts: Promise<number[]>) => void;
  const answer = new Promise<number[]>((resolve) => {
    settle = resolve;
  });
  // The caller's expiry instants move on with its windows; the batch is sent later.
  return { keys, limits, expireAt: expireAt.slice(), size: 0, answer, settle };
}

// KEYS: the counters. ARGV: the amount, then the expiry instants (ms) of counters it creates.
const INCREMENT = `
local by = tonumber(ARGV[1])
for i = 1, #KEYS do
  if redis.call('INCRBY', KEYS[i], by) == by then redis.call('PEXPIREAT', KEYS[i], ARGV[i + 1]) end
end
return 0
`;

// KEYS: one counter. ARGV: 1 when this attempt failed, and the longest life (ms). A failure counter
// whose life restarts at each failure, 2^failures seconds capped: Kong Gateway's brute-force
// protection. Answers the failures before this attempt and the life left after it (ms, <= 0 for none).
const BACKOFF = `
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] == '1' then
  local n = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], math.floor(math.min(2 ^ math.min(n, 40) * 1000, tonumber(ARGV[2]))))
end
return {before, redis.call('PTTL', KEYS[1])}
`;

type ScriptedRedis = Redis & {
  tollgateRateLimit(numKeys: number, ...args: (string | number)[]): Promise<number[]>;
  tollgateIncrement(numKeys: number, ...args: (string | number)[]): Promise<number>;
  tollgateBackoff(numKeys: number, ...args: (string | number)[]): Promise<[number, number]>;
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

/** Failed commands in a row after which the Redis store stops waiting on Redis for a while. */
const TRIP_AFTER = 3;
/** How long a tripped Redis store fails fast before one command tries Redis again; and closing waits for QUIT. */
const COOL_DOWN_MS = 1000;
const CLOSE_WAIT_MS = 1000;

/**
 * A Redis counter store: one ioredis client, commands bounded by `timeout`, failing fast while
 * Redis is down. A Redis that hangs with its connection open (stopped, swapping, blocked by a slow
 * script) is down too: after a few commands in a row fail, the store fails fast for a second, then
 * lets one command try again. Nothing connects (and ioredis is not even loaded) until the
 * gateway's open step or the first request that counts.
 */
export class RedisCounters implements CounterStore {
  #client: ScriptedRedis | null = null;
  #connecting: Promise<ScriptedRedis> | null = null;
  /** The SELECT of `database` on the current connection (before the first, the wait for it): pending, failed, or null. */
  #selecting: Promise<unknown> | Error | null = null;
  #closed = false;
  readonly #settings: RedisSettings;
  readonly #onDown: (message: string) => void;
  readonly #onUp: () => void;
  /** Set once the client lost its connection, cleared when it is ready again (for log de-duplication). */
  private down = false;
  #lastSuccessAt = 0;
  #lastError: string | null = null;
  #lastErrorAt: Date | null = null;
  #failures = 0;
  /** This turn's batches, by their windows' keys. */
  readonly #batches = new Map<string, HitBatch>();
  readonly #breaker = new Breaker('redis', TRIP_AFTER, COOL_DOWN_MS);
  /**
   * `timeout` for each command from the moment it is asked, not only once it is written: ioredis
   * writes one auto-pipeline at a time, so behind one that hangs, the next waits its full
   * commandTimeout before its own begins.
   */
  readonly #deadlines: Deadlines;

  constructor(settings: RedisSettings, onDown: (message: string) => void, onUp: () => void) {
    this.#settings = settings;
    this.#onDown = onDown;
    this.#onUp = onUp;
    this.#deadlines = new Deadlines(settings.timeout, new Error(`Command timed out (${settings.timeout} ms)`));
  }

  /** The client, once created. */
  get client(): ScriptedRedis | null {
    return this.#client;
  }

  /** Connects now (the gateway's open step) rather than at the first request. */
  open(): Promise<void> {
    return this.#connect().then(() => undefined);
  }

  #connect(): Promise<ScriptedRedis> {
    if (this.#client !== null) return Promise.resolve(this.#client);
    this.#connecting ??= Promise.all([import('ioredis'), resolvingConnector()]).then(([{ Redis }, Connector]) => {
      if (this.#closed) throw new Error('redis store closed');
      this.#client = this.#create(Redis, Connector);
      return this.#client;
    });
    return this.#connecting;
  }

  #create(RedisClass: typeof Redis, Connector: RedisOptions['Connector']): ScriptedRedis {
    const settings = this.#settings;
    const options: RedisOptions = {
      // The server's name resolves through the gateway's resolver (dns_resolver), as Kong's does.
      Connector,
      host: settings.host,
      port: settings.port,
      db: settings.database,
      connectTimeout: settings.timeout,
      commandTimeout: settings.timeout,
      // Queued commands fail at the first failed reconnect instead of waiting for 20 of them.
      maxRetriesPerRequest: 0,
      // Commands issued in one event-loop turn (one per proxied request) leave in one write: under
      // load that is one system call for many requests instead of one each.
      enableAutoPipelining: true,
      retryStrategy: (times: number) => Math.min(times * 100, 1000),
      lazyConnect: false,
      // Kong sends AUTH only when a password is set, with the username if there is one: a
      // username alone sends none (ioredis would send AUTH <username> "", which fails).
      ...(settings.password != null && settings.password !== ''
        ? {
            password: settings.password,
            ...(settings.username != null && settings.username !== '' ? { username: settings.username } : {}),
          }
        : {}),
      ...(settings.ssl
        ? {
            tls: {
              rejectUnauthorized: settings.ssl_verify,
              ...(settings.server_name != null ? { servername: settings.server_name } : {}),
            },
          }
        : {}),
    };
    const client = new RedisClass(options) as ScriptedRedis;
    client.defineCommand('tollgateRateLimit', { lua: SCRIPT });
    client.defineCommand('tollgateIncrement', { lua: INCREMENT });
    client.defineCommand('tollgateBackoff', { lua: BACKOFF });
    client.on('error', (err: Error) => {
      this.#lastError = err.message;
      this.#lastErrorAt = new Date();
      this.#failures++;
      if (this.down) return;
      this.down = true;
      this.#onDown(err.message);
    });
    client.on('ready', () => {
      // A new connection: whatever hung the last one is gone with it.
      this.#breaker.reset();
      if (settings.database === 0) return this.#upAgain();
      // ioredis SELECTs `db` on connecting, but its failure (a database out of range, an ACL refusing
      // SELECT) is only an error event, and commands then run in database 0. So SELECT again and wait for
      // the answer: until it comes, commands wait; once it failed, they fail (Kong: "failed to change Redis database").
      const selecting = client.select(settings.database).then(
        () => {
          if (this.#selecting === selecting) this.#selecting = null;
          this.#upAgain();
        },
        (err: Error) => {
          if (this.#selecting === selecting) this.#selecting = err;
          this.#commandFailed(err, false);
        },
      );
      this.#selecting = selecting;
    });
    // ioredis sends what it queued while connecting before any SELECT of ours: until 'ready', commands wait here.
    if (settings.database !== 0)
      this.#selecting = once(client, 'ready', { signal: AbortSignal.timeout(settings.timeout) }).catch(
        (err: Error) => void (this.#selecting = err.cause instanceof Error ? err.cause : err),
      );
    return client;
  }

  #upAgain(): void {
    this.#lastSuccessAt = Date.now();
    this.#lastError = null;
    if (!this.down) return;
    this.down = false;
    this.#onUp();
  }

  /** A command answered in time: Redis is up, and the breaker closes. */
  #commandAnswered(): void {
    this.#upAgain();
    this.#breaker.succeeded();
  }

  /** A command failed or ran out of time: counted towards opening the breaker. */
  #commandFailed(err: unknown, trial: boolean): void {
    const message = err instanceof Error ? err.message : String(err);
    this.#lastError = message;
    this.#lastErrorAt = new Date();
    this.#failures++;
    if (!this.#breaker.failed(message, trial) || this.down) return;
    this.down = true;
    this.#onDown(message);
  }

  /**
   * Sends a command through the breaker: refused at once while it is open. Its outcome is the
   * first of its answer and its deadline, and that one is counted (a late answer is ignored).
   */
  #command<A, T>(send: (client: ScriptedRedis, arg: A) => Promise<T>, arg: A, client: ScriptedRedis): Promise<T> {
    const admitted = this.#breaker.admit();
    if (admitted instanceof Error) return Promise.reject(admitted);
    const trial = admitted.trial;
    let sent: Promise<T>;
    // Called from a setImmediate too: a synchronous throw would end the process, not one request.
    try {
      sent = send(client, arg);
    } catch (err) {
      sent = Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      let over = false;
      const fail = (err: unknown): void => {
        if (over) return;
        over = true;
        this.#commandFailed(err, trial);
        reject(err);
      };
      this.#deadlines.add(fail);
      sent.then((value) => {
        if (over) return;
        over = true;
        this.#commandAnswered();
        resolve(value);
      }, fail);
    });
  }

  /** The client ready for a command, or why not: connecting first, failing fast while Redis is down. */
  #ready(): ScriptedRedis | Promise<ScriptedRedis> | Error {
    const client = this.#client;
    if (client === null) return this.#connect();
    const status = client.status;
    // While ioredis is reconnecting, Redis is known to be down: fail now rather than after `timeout`.
    if (status === 'reconnecting' || status === 'end' || status === 'close')
      return new Error(`redis connection is ${status}`);
    const selecting = this.#selecting;
    if (selecting === null) return client;
    if (selecting instanceof Error) return selecting;
    return selecting.then(() => {
      const c = this.#ready();
      if (c instanceof Error) throw c;
      return c;
    });
  }

  hit(keys: readonly string[], limits: readonly number[], expireAt: readonly number[]): Promise<number[]> {
    const c = this.#ready();
    if (c instanceof Error) return Promise.reject(c);
    if (c instanceof Promise) return c.then(() => this.hit(keys, limits, expireAt));
    const id = keys.length === 1 ? keys[0]! : keys.join('\n');
    let batch = this.#batches.get(id);
    if (batch === undefined || batch.limits !== limits || !sameKeys(batch.keys, keys)) {
      if (batch !== undefined) this.#send(batch);
      batch = newBatch(keys, limits, expireAt);
      this.#batches.set(id, batch);
      if (this.#batches.size === 1) setImmediate(this.#flush);
    }
    const index = batch.size++;
    return index === 0 ? batch.answer.then(firstShare) : batch.answer.then((answer) => shareOf(answer, index));
  }

  /** Sends every batch of this turn. */
  readonly #flush = (): void => {
    const batches = this.#batches;
    for (const batch of batches.values()) this.#send(batch);
    batches.clear();
  };

  #send(batch: HitBatch): void {
    // The connection may have dropped since the batch's first request: fail fast as `hit` does.
    // (A batch exists only once the client does; a new connection may still be selecting.)
    const c = this.#ready();
    if (c instanceof Error) batch.settle(Promise.reject(c));
    else if (c instanceof Promise) batch.settle(c.then((client) => this.#command(sendBatch, batch, client)));
    else batch.settle(this.#command(sendBatch, batch, c));
  }

  async usage(keys: readonly string[]): Promise<number[]> {
    const c = this.#ready();
    if (c instanceof Error) throw c;
    if (c instanceof Promise) return c.then(() => this.usage(keys));
    const values = await this.#command(getCounts, keys, c);
    return values.map((v) => (v === null ? 0 : Number(v)));
  }

  async increment(keys: readonly string[], by: number, expireAt: readonly number[]): Promise<void> {
    const c = this.#ready();
    if (c instanceof Error) throw c;
    if (c instanceof Promise) return c.then(() => this.increment(keys, by, expireAt));
    await this.#command(sendIncrement, { keys, by, expireAt }, c);
  }

  /**
   * A backoff counter (Kong Gateway's brute-force protection): counts a failed attempt when `failed`,
   * which makes the counter live 2^failures seconds from now, at most `maxLifeMs`. Resolves to the
   * failures counted before this attempt and the milliseconds the counter lives on (0 when none).
   */
  async backoff(key: string, failed: boolean, maxLifeMs: number): Promise<[before: number, lifeMs: number]> {
    const c = this.#ready();
    if (c instanceof Error) throw c;
    if (c instanceof Promise) return c.then(() => this.backoff(key, failed, maxLifeMs));
    const [before, life] = await this.#command(sendBackoff, { key, failed, maxLifeMs }, c);
    return [Number(before), Math.max(0, Number(life))];
  }

  /** The Redis server's state, for `GET /status` and metrics. */
  health(): DependencyHealth {
    return {
      kind: 'redis',
      target: `${this.#settings.host}:${this.#settings.port}`,
      // An open breaker always has its failure here (only a success or a new connection clears both).
      healthy: this.#lastError === null,
      lastSuccess: this.#lastSuccessAt === 0 ? null : new Date(this.#lastSuccessAt),
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
      failures: this.#failures,
    };
  }

  /**
   * QUIT, then the connection dropped (pending commands fail at once): a hung Redis answers QUIT
   * only after the commands before it, each given `timeout` (60 s for 0), so shutdown waited that.
   */
  async close(): Promise<void> {
    this.#closed = true;
    const client = this.#client;
    if (client === null) return;
    await Promise.race([client.quit().catch(() => undefined), delay(CLOSE_WAIT_MS, undefined, { ref: false })]);
    client.disconnect();
  }
}

/** Identifies a distinct Redis connection for `services.shared`; the password only as a digest. */
export function redisCountersKey(r: RedisSettings): string {
  const secret = r.password == null ? '' : createHash('sha256').update(r.password).digest('hex').slice(0, 16);
  return `counters:redis:${r.host}:${r.port}/${r.database}:${r.username ?? ''}:${secret}:${r.ssl}:${r.ssl_verify}:${r.server_name ?? ''}:${r.timeout}`;
}
