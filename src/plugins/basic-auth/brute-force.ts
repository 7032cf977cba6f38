/**
 * Kong Gateway 3.13's `brute_force_protection` for basic-auth. Failed logins are counted per
 * username (known or not: Kong's how-to fails with a username no consumer has). Each failure sets
 * the counter to live 2^failures seconds, at most an hour; a counter is never reset but by
 * expiring, a successful login included. From the third failure on, until the counter expires,
 * every request naming that username is answered 429 with `Retry-After`, its password still
 * checked so that a wrong one doubles the wait again and a right one does not tell the client so.
 *
 * Strategy `memory` keeps the counters in this gateway process, as Kong's keeps them in one node's
 * shared memory: with `--workers N`, each worker counts alone. Strategy `redis` counts in Redis,
 * so every gateway sharing it sees the same counters; while Redis cannot answer (down, slow past
 * its `timeout`), the attempt is judged by this process's own counters, which count every attempt
 * either way, as Kong Gateway 3.14 falls back to memory when Redis fails.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { PluginHandlers, RedisCounters } from '../../index.ts';

/** Failures after which a username is blocked until its counter expires (Kong: 429 from the fourth attempt). */
export const BLOCK_AFTER = 3;
/** Kong's longest wait. */
export const MAX_WAIT_SECONDS = 3600;
/**
 * Usernames tracked at once in memory. Unknown usernames count too, so a client can name as many
 * as it likes: past this, the least recently failed are forgotten (their block lifted early)
 * rather than memory growing with the client's imagination.
 */
export const MAX_TRACKED = 10_000;
/** Longer usernames are tracked by their SHA-256, so a key is at most this many characters. */
const MAX_KEY = 128;

/** What an attempt came to: the failures counted before it, and how long the counter lives on after it (ms). */
export type Counted = readonly [before: number, lifeMs: number];

/** Counts login attempts against their username; synchronous in memory, a promise through Redis. */
export interface LoginCounter {
  attempt(username: string, failed: boolean, now: number): Counted | Promise<Counted>;
}

interface Counter {
  failures: number;
  /** When the counter expires (ms since the epoch). */
  until: number;
}

/** The counters of this process (strategy memory, and Redis's fallback). */
export class FailedLogins implements LoginCounter {
  /** Made at the first failure: lru-cache allocates its index for MAX_TRACKED entries up front. */
  #counters: LRUCache<string, Counter> | null = null;

  attempt(username: string, failed: boolean, now: number): Counted {
    const k = trackedKey(username);
    const c = this.#live(k, now);
    const before = c?.failures ?? 0;
    if (!failed) return [before, c === undefined ? 0 : c.until - now];
    const counter = c ?? { failures: 0, until: 0 };
    counter.failures++;
    counter.until = now + Math.min(2 ** counter.failures, MAX_WAIT_SECONDS) * 1000;
    (this.#counters ??= new LRUCache<string, Counter>({ max: MAX_TRACKED })).set(k, counter);
    return [before, counter.until - now];
  }

  #live(k: string, now: number): Counter | undefined {
    const c = this.#counters?.get(k);
    if (c === undefined || c.until > now) return c;
    this.#counters?.delete(k);
    return undefined;
  }
}

/** Strategy redis: the counters every gateway on that Redis shares, this process's as the fallback. */
export class SharedFailedLogins implements LoginCounter {
  constructor(
    private readonly redis: RedisCounters,
    /** Names the plugin's scope, so two routes' counters stay apart as they do in memory. */
    private readonly prefix: string,
    private readonly local: FailedLogins,
    /** The Redis client's open and health hooks, for the plugin to carry. */
    readonly hooks: Pick<PluginHandlers, 'open' | 'health'>,
  ) {}

  attempt(username: string, failed: boolean, now: number): Promise<Counted> {
    const counted = this.local.attempt(username, failed, now);
    return this.redis.backoff(this.prefix + trackedKey(username), failed, MAX_WAIT_SECONDS * 1000).catch(() => counted);
  }
}

function trackedKey(username: string): string {
  return username.length <= MAX_KEY ? username : createHash('sha256').update(username).digest('base64');
}
