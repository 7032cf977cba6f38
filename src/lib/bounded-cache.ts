/**
 * A cache for anything keyed by request data (tokens, cookies, header values, client addresses):
 * a hard cap in entries and in bytes, least-recently-used eviction past either, optional expiry.
 *
 * Keys longer than 256 characters are replaced by their SHA-256 before use. Attackers choose
 * these keys, and V8 hashes a string longer than about 16 KiB by its length alone, so many
 * distinct long keys of one length would land in one hash bucket and make every lookup linear.
 * A digest is short, uniformly spread, and its cost is paid once per lookup.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';

/** Keys up to this many characters are used as they are; longer ones are hashed. */
export const MAX_PLAIN_KEY_LENGTH = 256;

/** Marks a hashed key; a plain key starting with it is hashed too, so the two kinds never meet. */
const HASHED = '\u0000';

/**
 * The key a bounded structure stores for `key`: itself when short, else a SHA-256 digest. Two
 * distinct keys give distinct results (up to SHA-256 collisions).
 */
export function cacheKey(key: string): string {
  if (key.length <= MAX_PLAIN_KEY_LENGTH && key.charCodeAt(0) !== 0) return key;
  // One-shot hash: no Hash object per lookup (this runs on the request path).
  return HASHED + hash('sha256', key, 'base64');
}

/** How stale lru-cache's cached clock may be: entries expire up to this many ms late. */
const TTL_RESOLUTION_MS = 10;

/** Bytes counted per entry besides its key and value (the cache's own bookkeeping). */
const ENTRY_OVERHEAD = 64;

export interface BoundedCacheOptions<V> {
  /** Most entries held. */
  readonly maxEntries: number;
  /** Most bytes held: keys (2 bytes a character), values as `sizeOf` counts them, and a fixed overhead per entry. */
  readonly maxBytes: number;
  /** Approximate size of a value in bytes. Default 64. */
  readonly sizeOf?: (value: V) => number;
  /** Default time to live of an entry, ms; 0 or absent: until evicted. */
  readonly ttlMs?: number;
}

/**
 * A bounded LRU cache; see the module comment. The underlying LRU is created on the first `set`:
 * lru-cache allocates its index arrays for `max` entries up front (a 200,000-entry cap is several
 * MB), and a config of hundreds of plugin instances would pay that for caches never used.
 */
export class BoundedCache<V extends {}> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly #options: BoundedCacheOptions<V>;
  #lru: LRUCache<string, V> | null = null;

  constructor(options: BoundedCacheOptions<V>) {
    if (!(options.maxEntries >= 1) || !(options.maxBytes >= 1)) throw new RangeError('caps must be at least 1');
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes;
    this.#options = options;
  }

  #create(): LRUCache<string, V> {
    const options = this.#options;
    const sizeOf = options.sizeOf;
    this.#lru = new LRUCache<string, V>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (value, key) =>
        Math.max(1, Math.ceil(key.length * 2 + ENTRY_OVERHEAD + (sizeOf === undefined ? 64 : sizeOf(value)))),
      ...(options.ttlMs !== undefined && options.ttlMs > 0 ? { ttl: options.ttlMs } : {}),
      ttlAutopurge: false,
      // lru-cache reads the clock once per resolution and arms a timer to forget it: at the default
      // 1 ms that is a timer per millisecond under load. It stamps entries with the exact time and
      // checks them against the cached one, so an entry may outlive its ttl by the resolution,
      // never expire early (a rate-limiting window does not end early).
      ttlResolution: TTL_RESOLUTION_MS,
    });
    return this.#lru;
  }

  get(key: string): V | undefined {
    return this.#lru === null ? undefined : this.#lru.get(cacheKey(key));
  }

  has(key: string): boolean {
    return this.#lru?.has(cacheKey(key)) === true;
  }

  /** Stores `value`; `ttlMs` overrides the default time to live. A value larger than `maxBytes` is not stored. */
  set(key: string, value: V, ttlMs?: number): void {
    const k = cacheKey(key);
    const lru = this.#lru ?? this.#create();
    if (ttlMs !== undefined) lru.set(k, value, { ttl: Math.max(1, Math.floor(ttlMs)) });
    else lru.set(k, value);
  }

  delete(key: string): void {
    this.#lru?.delete(cacheKey(key));
  }

  clear(): void {
    this.#lru?.clear();
  }

  /** Entries held (expired ones count until evicted or read). */
  get size(): number {
    return this.#lru === null ? 0 : this.#lru.size;
  }

  /** Bytes held, as counted against `maxBytes`. */
  get bytes(): number {
    return this.#lru === null ? 0 : this.#lru.calculatedSize;
  }
}

/**
 * Characters at the end of a value that key a `TailKeyedCache`. A JWS ends with its signature (at
 * least 43 base64url characters, 342 for RS256), a compact JWE with its 22-character
 * authentication tag: 64 characters are as unique as the whole value and as hard to choose.
 */
export const TAIL_KEY_LENGTH = 64;

interface HeldValue<V> {
  readonly text: string;
  readonly value: V;
}

/**
 * A `BoundedCache` for values that end with a tag only a key holder can make (a signed token, a
 * sealed cookie): keyed by their last `TAIL_KEY_LENGTH` characters instead of a SHA-256 of the
 * whole value, which was a third of a jwt route's cost over a plain one. A hit counts only when
 * the whole value is the one stored, so a forged value that copies a stored value's tail is a
 * miss. Each entry counts the whole value (two bytes a character) besides what `sizeOf` says.
 */
export class TailKeyedCache<V extends {}> {
  readonly #cache: BoundedCache<HeldValue<V>>;

  /** Entries live until evicted or until the `ttlMs` given to `set`. */
  constructor(options: Omit<BoundedCacheOptions<V>, 'ttlMs'>) {
    const sizeOf = options.sizeOf;
    this.#cache = new BoundedCache<HeldValue<V>>({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      sizeOf: (held) => held.text.length * 2 + (sizeOf === undefined ? 64 : sizeOf(held.value)),
    });
  }

  get(text: string): V | undefined {
    const held = this.#cache.get(tailKey(text));
    return held !== undefined && held.text === text ? held.value : undefined;
  }

  /** Stores `value` for `text`, replacing whatever held the same tail; `ttlMs` as `BoundedCache.set`. */
  set(text: string, value: V, ttlMs?: number): void {
    this.#cache.set(tailKey(text), { text, value }, ttlMs);
  }

  clear(): void {
    this.#cache.clear();
  }

  get size(): number {
    return this.#cache.size;
  }

  get bytes(): number {
    return this.#cache.bytes;
  }
}

function tailKey(text: string): string {
  return text.length <= TAIL_KEY_LENGTH ? text : text.slice(-TAIL_KEY_LENGTH);
}
