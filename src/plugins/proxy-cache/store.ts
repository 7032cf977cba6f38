// The memory strategy's store: one LRU per dictionary name, bounded in entries and bytes.
import { LRUCache } from 'lru-cache';

/** A cached response. */
export interface CachedResponse {
  readonly status: number;
  /** The head, each name as it went out on HTTP/1.1 (the upstream's spelling), replayed so on a hit. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
  /** When it was stored (ms since epoch). */
  readonly storedAt: number;
  /** Request header values the response varies on (its `Vary`), to serve only matching requests. */
  readonly vary: readonly (readonly [name: string, value: string])[];
  /** The RFC 9111 policy (http-cache-semantics' `toObject()`) when cache_control is on. */
  readonly policy: Record<string, unknown> | null;
  /** Bytes charged against the dictionary. */
  readonly size: number;
}

/** What one entry costs besides its body and headers (key, object overhead). */
const ENTRY_OVERHEAD = 256;

export function entrySize(
  headers: Readonly<Record<string, string | readonly string[]>>,
  body: Buffer,
  policyJson: number,
  vary: readonly (readonly [string, string])[],
): number {
  let n = ENTRY_OVERHEAD + body.length + policyJson;
  // The request header values a response's Vary names are the client's (up to 32 KB of headers
  // each): uncounted, entries with tiny bodies and `Vary: Cookie` held far more than max_bytes.
  for (const [name, value] of vary) n += name.length + value.length;
  for (const k in headers) {
    const v = headers[k]!;
    n += k.length + (typeof v === 'string' ? v.length : v.reduce((a, s) => a + s.length + 2, 0));
  }
  return n;
}

export class MemoryStore {
  private readonly lru: LRUCache<string, CachedResponse>;
  constructor(maxEntries: number, maxBytes: number) {
    this.lru = new LRUCache<string, CachedResponse>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (v) => v.size,
      ttlAutopurge: false,
    });
  }
  get(key: string): CachedResponse | undefined {
    return this.lru.get(key);
  }
  /**
   * Stores for `ttlSeconds`, 0 meaning until evicted (a Kong shared dict's exptime 0, which
   * storage_ttl: 0 gives; lru-cache reads ttl 0 so); an entry larger than the dictionary is not stored.
   */
  set(key: string, value: CachedResponse, ttlSeconds: number): void {
    if (value.size > this.lru.maxSize) return;
    this.lru.set(key, value, { ttl: ttlSeconds * 1000 });
  }
  delete(key: string): void {
    this.lru.delete(key);
  }
  get size(): number {
    return this.lru.size;
  }
  get bytes(): number {
    return this.lru.calculatedSize;
  }
  clear(): void {
    this.lru.clear();
  }
}
