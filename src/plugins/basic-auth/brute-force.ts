/**
 * Kong Gateway 3.13's `brute_force_protection` for basic-auth, strategy `memory`. Failed logins
 * are counted per username (known or not: Kong's how-to fails with a username no consumer has).
 * Each failure sets the counter to live 2^failures seconds, at most an hour; a counter is never
 * reset but by expiring, a successful login included. From the third failure on, until the counter
 * expires, every request naming that username is answered 429 with `Retry-After`, its password
 * still checked so that a wrong one doubles the wait again and a right one does not tell the
 * client so. The counters live in this gateway process, as Kong's `memory` strategy keeps them in
 * one node's shared memory: with `--workers N`, each worker counts alone.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** Failures after which a username is blocked until its counter expires (Kong: 429 from the fourth attempt). */
export const BLOCK_AFTER = 3;
/** Kong's longest wait. */
export const MAX_WAIT_SECONDS = 3600;
/**
 * Usernames tracked at once. Unknown usernames count too, so a client can name as many as it
 * likes: past this, the least recently failed are forgotten (their block lifted early) rather than
 * memory growing with the client's imagination.
 */
export const MAX_TRACKED = 10_000;
/** Longer usernames are tracked by their SHA-256, so a key is at most this many characters. */
const MAX_KEY = 128;

interface Counter {
  failures: number;
  /** When the counter expires (ms since the epoch). */
  until: number;
}

export class FailedLogins {
  readonly #counters = new LRUCache<string, Counter>({ max: MAX_TRACKED });

  /** Seconds the username must still wait (0 when it is not blocked). */
  wait(username: string, now: number): number {
    const c = this.#live(key(username), now);
    return c !== undefined && c.failures >= BLOCK_AFTER ? Math.ceil((c.until - now) / 1000) : 0;
  }

  /** Counts a failed login: the counter's life becomes 2^failures seconds from now. */
  fail(username: string, now: number): void {
    const k = key(username);
    const c = this.#live(k, now) ?? { failures: 0, until: 0 };
    c.failures++;
    c.until = now + Math.min(2 ** c.failures, MAX_WAIT_SECONDS) * 1000;
    this.#counters.set(k, c);
  }

  #live(k: string, now: number): Counter | undefined {
    const c = this.#counters.get(k);
    if (c === undefined || c.until > now) return c;
    this.#counters.delete(k);
    return undefined;
  }
}

function key(username: string): string {
  return username.length <= MAX_KEY ? username : createHash('sha256').update(username).digest('base64');
}
