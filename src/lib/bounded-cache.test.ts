// Structures keyed by request data stay within their caps, in entries and in bytes, whatever keys
// an attacker chooses; long keys are stored as digests.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { BoundedCache, cacheKey, MAX_PLAIN_KEY_LENGTH, TAIL_KEY_LENGTH, TailKeyedCache } from './bounded-cache.ts';
import { LocalCounters } from './counters.ts';
import { VerifiedTokenCache } from './jwt.ts';

/** A distinct key of `length` characters (shared prefix, distinct tail: the worst case for string hashing). */
function longKey(i: number, length: number): string {
  const tail = `:${i}`;
  return 'k'.repeat(length - tail.length) + tail;
}

describe('BoundedCache', () => {
  test('many distinct long keys: entries and bytes stay within the caps', () => {
    const cache = new BoundedCache<{ n: number }>({ maxEntries: 1000, maxBytes: 128 * 1024, sizeOf: () => 32 });
    for (let i = 0; i < 20_000; i++) {
      cache.set(longKey(i, 4096 + (i % 7) * 1024), { n: i });
      assert.ok(cache.size <= 1000, `entries ${cache.size}`);
      assert.ok(cache.bytes <= 128 * 1024, `bytes ${cache.bytes}`);
    }
    // Keys are digests: 4 KiB keys cost what short ones do, so the byte cap holds many of them.
    assert.ok(cache.size > 500, `entries held ${cache.size}`);
    // The most recent entries are still there, the oldest were evicted.
    assert.deepEqual(cache.get(longKey(19_999, 4096 + (19_999 % 7) * 1024)), { n: 19_999 });
    assert.equal(cache.get(longKey(0, 4096)), undefined);
  });

  test('the byte cap binds when values are large', () => {
    const cache = new BoundedCache<Buffer>({ maxEntries: 100_000, maxBytes: 64 * 1024, sizeOf: (b) => b.length });
    for (let i = 0; i < 1000; i++) cache.set(`key-${i}`, randomBytes(1024));
    assert.ok(cache.bytes <= 64 * 1024);
    assert.ok(cache.size < 64);
  });

  test('keys longer than 256 characters are hashed; short ones are kept; the two never collide', () => {
    assert.equal(cacheKey('short'), 'short');
    const long = 'x'.repeat(MAX_PLAIN_KEY_LENGTH + 1);
    const h = cacheKey(long);
    assert.ok(h.length < 64 && h !== long);
    assert.equal(cacheKey(long), h, 'stable');
    assert.notEqual(cacheKey(h), h, 'a short key spelled like a digest is hashed too, so it cannot alias one');
    const cache = new BoundedCache<string>({ maxEntries: 10, maxBytes: 10_000 });
    cache.set(long, 'victim');
    assert.equal(cache.get(h), undefined);
  });

  test('entries expire, never before their time to live (a rate-limiting window must not end early)', async () => {
    const cache = new BoundedCache<string>({ maxEntries: 10, maxBytes: 10_000 });
    const ttl = 40;
    const start = performance.now();
    cache.set('a', 'v', ttl);
    cache.set('b', 'v', 1);
    for (;;) {
      const at = performance.now() - start;
      const v = cache.get('a');
      if (at >= ttl) break;
      assert.equal(v, 'v', `present ${at.toFixed(1)} ms after set`);
      await new Promise((r) => setTimeout(r, 2));
    }
    // Past the time to live and the cached clock's resolution (10 ms): gone.
    await new Promise((r) => setTimeout(r, 25));
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.get('b'), undefined);
  });
});

describe('TailKeyedCache', () => {
  const sealed = (body: string, tag: string) => `${body}.${tag.repeat(TAIL_KEY_LENGTH)}`;

  test("a value that shares a stored value's tail but differs before it is a miss", () => {
    const cache = new TailKeyedCache<{ n: number }>({ maxEntries: 10, maxBytes: 64 * 1024 });
    const genuine = sealed('header.genuine-payload', 'T');
    cache.set(genuine, { n: 1 });
    assert.deepEqual(cache.get(genuine), { n: 1 });
    assert.equal(cache.get(sealed('header.forged-payload', 'T')), undefined, 'same tail, other body: a miss');
    assert.equal(cache.get(sealed('header.genuine-payload', 'U')), undefined, 'same body, other tail: a miss');
    // The genuine entry survives the forged lookups.
    assert.deepEqual(cache.get(genuine), { n: 1 });
  });

  test('values shorter than the tail are keys as they are', () => {
    const cache = new TailKeyedCache<{ n: number }>({ maxEntries: 10, maxBytes: 64 * 1024 });
    cache.set('short', { n: 2 });
    assert.deepEqual(cache.get('short'), { n: 2 });
    assert.equal(cache.get('shorter'), undefined);
  });

  test('a value is counted whole, two bytes a character, with what sizeOf says of its entry', () => {
    const cache = new TailKeyedCache<{ n: number }>({ maxEntries: 10, maxBytes: 1024 * 1024, sizeOf: (v) => v.n });
    const added = (text: string, n: number) => {
      const before = cache.bytes;
      cache.set(text, { n });
      return cache.bytes - before;
    };
    const small = added(sealed('a'.repeat(1000), 'A'), 10);
    assert.equal(added(sealed('b'.repeat(1000), 'B'), 1000) - small, 990, "sizeOf's bytes are added");
    assert.equal(added(sealed('c'.repeat(2000), 'C'), 10) - small, 2000, 'each character counts two bytes');
  });

  test("a value that shares a held value's tail replaces it: the key is the tail, not the whole value", () => {
    const cache = new TailKeyedCache<{ n: number }>({ maxEntries: 10, maxBytes: 64 * 1024 });
    const first = sealed(`${'h'.repeat(100)}1${'p'.repeat(1000)}`, 'T');
    const second = sealed(`${'h'.repeat(100)}2${'p'.repeat(1000)}`, 'T');
    cache.set(first, { n: 1 });
    cache.set(second, { n: 2 });
    assert.equal(cache.size, 1, 'one entry per tail');
    assert.equal(cache.get(first), undefined);
    assert.deepEqual(cache.get(second), { n: 2 });
    cache.clear();
    assert.equal(cache.size, 0, 'clear empties it');
    assert.equal(cache.get(second), undefined);
  });

  test('many values with distinct tails stay within the caps', () => {
    const cache = new TailKeyedCache<{ n: number }>({ maxEntries: 100, maxBytes: 256 * 1024 });
    for (let i = 0; i < 5000; i++) {
      cache.set(`${'p'.repeat(2000)}.${longKey(i, TAIL_KEY_LENGTH)}`, { n: i });
      assert.ok(cache.size <= 100 && cache.bytes <= 256 * 1024, `entries ${cache.size}, bytes ${cache.bytes}`);
    }
  });
});

describe('caches keyed by request data use it', () => {
  test('local rate-limit counters: distinct long identifiers never grow past the caps', () => {
    const counters = new LocalCounters({ maxEntries: 500, maxBytes: 64 * 1024 });
    const end = Date.now() + 60_000;
    for (let i = 0; i < 10_000; i++) {
      counters.hit([`ratelimit:r:s:${longKey(i, 2048)}:0:minute`], [10], [end]);
      assert.ok(counters.size <= 500 && counters.bytes <= 64 * 1024);
    }
    // A key still held counts exactly.
    const key = ['ratelimit:r:s:1.2.3.4:0:minute'];
    for (let i = 0; i < 10; i++) assert.equal(counters.hit(key, [10], [end])[1], 0);
    assert.equal(counters.hit(key, [10], [end])[1], 1, 'the 11th request is refused');
  });

  test('verified-token cache: many distinct tokens stay within its entry and byte caps', () => {
    const cache = new VerifiedTokenCache<{ claims: Record<string, unknown> }>(10_000, 3600, 256 * 1024);
    const exp = Date.now() / 1000 + 600;
    for (let i = 0; i < 5_000; i++) {
      cache.set(`${longKey(i, 1200)}.sig`, { claims: { sub: `user-${i}`, blob: 'x'.repeat(200) } }, exp);
      assert.ok(cache.bytes <= 256 * 1024);
    }
    assert.ok(cache.size < 5_000);
  });
});
