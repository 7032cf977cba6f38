// The log queue's bounds while its receiver hangs: a delivery that never ends (a receiver that
// accepts and never answers) must not let entries pile up past max_entries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { approxBytes, DEFAULT_MAX_BYTES, LogQueue, QUEUE_DEFAULTS } from './queue.ts';

function hungQueue(concurrency_limit: number) {
  let deliveries = 0;
  const queue = new LogQueue<string>(
    'test',
    { ...QUEUE_DEFAULTS, max_entries: 100, concurrency_limit },
    () => {
      deliveries++;
      return new Promise<void>(() => {});
    },
    () => {},
  );
  return { queue, deliveries: () => deliveries };
}

test('while one delivery hangs, the queue keeps at most max_entries and forgets the ones it dropped', async () => {
  const { queue, deliveries } = hungQueue(1);
  for (let i = 0; i < 50_000; i++) queue.add(`entry ${i}`);
  // A full batch is taken at the end of the turn (as Kong's timer takes it): then one hangs.
  await Promise.resolve();
  assert.equal(deliveries(), 1);
  assert.equal(queue.stats.depth, 99, 'the entry in flight counts against max_entries');
  assert.equal(queue.stats.dropped, 50_000 - 100);
  const held = (queue as unknown as { items: unknown[] }).items.length;
  assert.ok(held < 2_200, `dropped entries are released, not kept behind the head (${held} held)`);
});

test('with concurrency_limit -1, entries in flight count against max_entries: no more than that many deliveries at once', async () => {
  const { queue, deliveries } = hungQueue(-1);
  for (let i = 0; i < 50_000; i++) queue.add(`entry ${i}`);
  await Promise.resolve();
  for (let i = 0; i < 50_000; i++) queue.add(`more ${i}`);
  assert.equal(deliveries(), 100);
  assert.equal(queue.stats.depth, 0);
  assert.equal(queue.stats.dropped, 100_000 - 100);
});

test('without max_bytes a queue is still bounded in bytes (DEFAULT_MAX_BYTES), entries in flight included', () => {
  for (const concurrency_limit of [1, -1]) {
    const queue = new LogQueue<{ request: { uri: string } }>(
      'test',
      { ...QUEUE_DEFAULTS, concurrency_limit },
      () => new Promise<void>(() => {}),
      () => {},
    );
    const uri = `/${'p'.repeat(30_000)}`;
    for (let i = 0; i < 10_000; i++) queue.add({ request: { uri } });
    const held = (queue.stats.depth + (concurrency_limit === 1 ? 1 : 0)) * uri.length;
    assert.ok(
      queue.stats.depth * uri.length <= DEFAULT_MAX_BYTES,
      `${queue.stats.depth} entries of 30 KB wait (${held} bytes); the bound is ${DEFAULT_MAX_BYTES}`,
    );
    assert.ok(queue.stats.dropped > 9_000, `entries past the byte bound are dropped (${queue.stats.dropped})`);
  }
  assert.ok(approxBytes({ a: 'xyz', b: [1, 'ab'] }) >= 5, 'the estimate counts the strings');
});

test("drops are logged in Kong's words, each cause on its own line, with the count dropped so far", async () => {
  const lines: string[] = [];
  const queue = new LogQueue<string>(
    'http-log',
    { ...QUEUE_DEFAULTS, max_entries: 1_000 },
    () => new Promise<void>(() => {}),
    (m) => lines.push(m),
  );
  // 30 KB entries: the default byte bound is reached first (at 559 of them), then the entry
  // bound with small ones.
  const large = 'h'.repeat(30_000);
  for (let i = 0; i < 600; i++) queue.add(large);
  const droppedForBytes = queue.stats.dropped;
  assert.equal(droppedForBytes, 600 - Math.floor(DEFAULT_MAX_BYTES / (large.length + 16)));
  await Promise.resolve();
  for (let i = 0; i < 2_000; i++) queue.add('small');
  assert.equal(queue.stats.depth, 999, 'the entry in flight counts against max_entries');
  assert.deepEqual(lines.slice(0, 2), [
    'queue http-log: byte capacity exceeded, 1 queue entries were dropped; 1 dropped so far',
    'queue http-log: queue at 80% capacity',
  ]);
  assert.match(
    lines[2] ?? '',
    /^queue http-log: queue full, dropping old entries until processing is successful again; \d+ dropped so far$/,
  );
  assert.equal(lines.length, 3, 'each cause is logged once a minute');
});

test("a batch whose retries ran out is logged as Kong's max_retry_time message, with the receiver's error", async () => {
  const lines: string[] = [];
  const queue = new LogQueue<string>(
    'zipkin',
    { ...QUEUE_DEFAULTS, max_batch_size: 3, max_coalescing_delay: 0, max_retry_time: 0 },
    () => Promise.reject(new Error('the log receiver answered 503')),
    (m) => lines.push(m),
  );
  for (const e of ['a', 'b', 'c']) queue.add(e);
  for (let i = 0; i < 50 && queue.stats.dropped < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(lines, [
    'queue zipkin: handler could not process entries: the log receiver answered 503',
    'queue zipkin: could not send entries due to max_retry_time exceeded. 3 queue entries were lost (last error: the log receiver answered 503); 3 dropped so far',
  ]);
});

test("an entry larger than max_bytes is refused alone, in Kong's words: the queue is not emptied for it", () => {
  const lines: string[] = [];
  const delivered: string[][] = [];
  const queue = new LogQueue<string>(
    'http-log',
    { ...QUEUE_DEFAULTS, max_bytes: 1_000, max_batch_size: 10, max_coalescing_delay: 60 },
    async (batch) => {
      delivered.push(batch);
    },
    (m) => lines.push(m),
    (s) => s.length,
  );
  queue.add('a'.repeat(400));
  queue.add('b'.repeat(1_001));
  queue.add('c'.repeat(400));
  assert.equal(queue.stats.depth, 2, 'the entries around it stay');
  assert.equal(queue.stats.dropped, 1);
  assert.deepEqual(lines, [
    "queue http-log: string to be queued is longer (1001 bytes) than the queue's max_bytes (1000 bytes); 1 dropped so far",
  ]);
  void queue.close();
  assert.deepEqual(delivered, [['a'.repeat(400), 'c'.repeat(400)]]);
});

/** A full collection, so that heapUsed counts what is held. */
function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

test('entries dropped or sent are released at once: the heap a queue holds stays near its byte bound', async () => {
  const maxBytes = 4 * 1024 * 1024;
  for (const deliver of [() => new Promise<void>(() => {}), () => Promise.resolve()]) {
    const queue = new LogQueue<string>(
      'test',
      { ...QUEUE_DEFAULTS, max_bytes: maxBytes, max_batch_size: 10, max_coalescing_delay: 60 },
      deliver,
      () => {},
      (s) => s.length,
    );
    gc();
    const before = process.memoryUsage().heapUsed;
    // 30 KB entries, each its own flat string on the heap, as a request's JSON is ('x'.repeat()
    // would be a small tree of shared halves).
    for (let i = 0; i < 1_000; i++) queue.add(Buffer.alloc(30_000, i % 256).toString('latin1'));
    await new Promise((r) => setImmediate(r));
    gc();
    const held = process.memoryUsage().heapUsed - before;
    assert.ok(queue.stats.dropped + queue.stats.sent > 800, 'most entries left the queue');
    assert.ok(held < maxBytes * 1.25, `${held} bytes held for a bound of ${maxBytes}`);
  }
});

test('the byte estimate of an entry is not below the heap it holds, for ordinary and hostile entries', () => {
  // A Kong-shaped log entry, and one a hostile client makes: a hundred new header names and query
  // arguments per request. Each is parsed from JSON so that every string is its own heap object.
  const ordinary = (i: number) => ({
    request: {
      uri: `/api/items/${i}`,
      method: 'GET',
      headers: { host: 'example.test', 'user-agent': 'curl/8.5.0', accept: '*/*', 'x-request-id': `id-${i}` },
      querystring: { page: String(i) },
      size: 120,
    },
    response: { status: 200, size: 345, headers: { 'content-type': 'application/json', 'content-length': '42' } },
    latencies: { kong: 1, proxy: 3, request: 4, receive: 0 },
    route: { id: `r${i}`, name: 'r', paths: ['/api'] },
    client_ip: `10.0.${i & 255}.${(i >> 8) & 255}`,
    started_at: 1_700_000_000_000 + i,
  });
  const hostile = (i: number) => ({
    request: {
      headers: Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`h${i}x${j}`, 'v'])),
      querystring: Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`q${i}_${j}`, true])),
    },
  });
  // A request whose query has one character past Latin-1 (a decoded %E4%B8%AD): its strings, and
  // the JSON of an entry holding them (http-log's, tcp-log's), take two bytes a character.
  const wide = (i: number) => ({ request: { uri: `/q${i}`, querystring: { q: `中${'w'.repeat(3_000)}${i}` } } });
  const wideJson = (i: number) => JSON.stringify({ request: { querystring: { q: `${'w'.repeat(3_000)}${i}中` } } });
  // Over-estimating the hostile entry costs nothing but its own early drop.
  for (const [name, make, n, over] of [
    ['ordinary', ordinary, 3_000, 2],
    ['hostile', hostile, 500, 3],
    ['hostile', hostile, 2_000, 3],
    ['wide', wide, 2_000, 2],
    ['wide JSON', wideJson, 2_000, 2],
  ] as const) {
    const kept: unknown[] = [];
    let estimate = 0;
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < n; i++) {
      const entry: unknown = JSON.parse(JSON.stringify(make(i)));
      estimate += approxBytes(entry);
      kept.push(entry);
    }
    gc();
    const held = process.memoryUsage().heapUsed - before;
    assert.equal(kept.length, n);
    assert.ok(estimate >= held * 0.9, `${name}: estimated ${estimate} bytes for ${held} held`);
    assert.ok(estimate <= held * over, `${name}: estimate ${estimate} not far above ${held}`);
  }
});
