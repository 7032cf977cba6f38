// Kong's own queue spec, as Tollgate's log queue runs it: spec/01-unit/27-queue_spec.lua of
// Kong/kong at commit 22246ef2: batching, max_entries, retries, max_bytes and the lines Kong logs,
// on the LogQueue every log and trace plugin delivers through (each plugin instance has its own).
// Left out, as Lua internals: the handler's configuration and log_tag (Kong's queues are shared by
// name between plugin instances and take a handler config; here each instance owns its queue),
// ngx.now() moved back and forth (the coalescing delay is a timer here, not a reading of the
// clock), Queue.exists, Queue.is_full and Queue.can_enqueue (no such API), and the non-string
// entry warning (a set max_bytes counts every entry here: docs/kong-differences.md). The legacy
// queue fields of http-log and statsd are in their kong-spec files; opentelemetry's are below.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateEntities } from '../../../test/support/validate.ts';
import { until } from '../../../test/support/wait.ts';
import { LogQueue, QUEUE_DEFAULTS, type QueueConfig, withLegacyQueueFields } from './queue.ts';

const byteLength = (s: string) => Buffer.byteLength(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A queue named `name` with Kong's defaults and `conf`, its batches and its log lines. */
function queue<T = string>(
  name: string,
  conf: Partial<QueueConfig>,
  handler: (batch: T[]) => Promise<void> | void = () => {},
) {
  const batches: T[][] = [];
  const lines: string[] = [];
  const q = new LogQueue<T>(
    name,
    { ...QUEUE_DEFAULTS, ...conf },
    async (batch) => {
      await handler(batch);
      batches.push(batch);
    },
    (msg) => lines.push(msg),
    byteLength as (v: T) => number,
  );
  const done = (what: string) => until(what, () => q.stats.depth === 0 && inflight(q) === 0, 10_000);
  return { q, batches, lines, done };
}

function inflight(q: object): number {
  return (q as unknown as { inflight: number }).inflight;
}

test('does not batch messages when `max_batch_size` is 1', async () => {
  const { q, batches, done } = queue('no-batch', { max_batch_size: 1 });
  q.add('One');
  q.add('Two');
  await done('both sent');
  assert.deepEqual(batches, [['One'], ['Two']]);
});

test('batches messages when `max_batch_size` is 2', async () => {
  const { q, batches, done } = queue('batch', { max_batch_size: 2, max_coalescing_delay: 0.1 });
  for (const e of ['One', 'Two', 'Three', 'Four', 'Five']) q.add(e);
  await until('five sent', () => batches.flat().length === 5, 10_000);
  await done('done');
  assert.equal(batches.length, 3);
  assert.equal(batches[0]![0], 'One');
  assert.equal(batches.at(-1)!.at(-1), 'Five');
});

test('batches messages during shutdown', async () => {
  const { q, batches } = queue('batch', { max_batch_size: 2, max_coalescing_delay: 0.1 });
  for (const e of ['One', 'Two', 'Three', 'Four', 'Five']) q.add(e);
  await q.close();
  await until('five sent', () => batches.flat().length === 5, 10_000);
  assert.equal(batches.length, 3);
  assert.equal(batches[0]![0], 'One');
  assert.equal(batches.at(-1)!.at(-1), 'Five');
});

test('observes the `max_coalescing_delay` parameter', async () => {
  const { q, batches, done } = queue('batch', { max_batch_size: 2, max_coalescing_delay: 3 });
  q.add('One');
  await sleep(300);
  q.add('Two');
  await done('sent');
  assert.deepEqual(batches, [['One', 'Two']]);
});

test('retries sending messages', async () => {
  let calls = 0;
  const { q, batches, done } = queue('retry', { max_batch_size: 1, max_coalescing_delay: 0.1 }, () => {
    calls++;
    if (calls !== 2) throw new Error('not yet');
  });
  q.add('Hello');
  await until('delivered', () => batches.length === 1, 10_000);
  await done('done');
  assert.equal(calls, 2);
  assert.deepEqual(batches, [['Hello']]);
});

test('gives up sending after retrying', async () => {
  const { q, lines } = queue(
    'retry-give-up',
    { max_batch_size: 1, max_retry_time: 1, max_coalescing_delay: 0.1 },
    () => {
      throw new Error('FAIL FAIL FAIL');
    },
  );
  q.add('Hello');
  q.add('another value');
  await until('the first lost', () => lines.some((l) => /1 queue entries were lost/.test(l)), 10_000);
  assert.ok(lines.some((l) => /queue retry-give-up: handler could not process entries: FAIL FAIL FAIL/.test(l)));
  assert.ok(
    lines.some((l) => /could not send entries due to max_retry_time exceeded\. 1 queue entries were lost/.test(l)),
  );
  await q.close(0);
});

test('warns when queue reaches its capacity limit, once', async () => {
  const capacity = 100;
  const { q, lines } = queue(
    'capacity-warning',
    { max_batch_size: 1, max_entries: capacity, max_coalescing_delay: 0.1 },
    () => {
      throw new Error('down');
    },
  );
  // Kong's CAPACITY_WARNING_THRESHOLD is 0.8.
  for (let i = 1; i < capacity * 0.8; i++) q.add('something');
  assert.ok(!lines.some((l) => /queue at \d*% capacity/.test(l)), lines.join('\n'));
  q.add('something');
  q.add('something');
  assert.ok(
    lines.some((l) => /queue capacity-warning: queue at \d*% capacity/.test(l)),
    lines.join('\n'),
  );
  lines.length = 0;
  q.add('something');
  assert.ok(!lines.some((l) => /queue at \d*% capacity/.test(l)), 'the capacity warning is not logged more than once');
  await q.close(0);
});

test('drops entries when queue reaches its capacity: the newest are kept', async () => {
  const { q, batches, lines, done } = queue('capacity-exceeded', {
    max_batch_size: 2,
    max_entries: 2,
    max_coalescing_delay: 0.1,
  });
  for (const e of ['One', 'Two', 'Three', 'Four', 'Five']) q.add(e);
  await done('done');
  assert.deepEqual(batches, [['Four', 'Five']]);
  assert.equal(q.stats.dropped, 3);
  assert.ok(
    lines.some((l) => /queue capacity-exceeded: queue full/.test(l)),
    lines.join('\n'),
  );
  q.add('Six');
  await until('Six sent', () => batches.length === 2, 10_000);
  assert.deepEqual(batches[1], ['Six']);
});

test('queue does not fail for max batch size = max entries', async () => {
  let fail = true;
  const { q, batches, done } = queue(
    'capacity-exceeded',
    { max_batch_size: 2, max_entries: 2, max_coalescing_delay: 0.1 },
    async () => {
      await sleep(100);
      if (fail) throw new Error('FAIL FAIL FAIL');
    },
  );
  for (let i = 1; i <= 2; i++) q.add(`initial batch: ${i}`);
  await sleep(20);
  for (let i = 1; i <= 2; i++) q.add(`fill up: ${i}`);
  fail = false;
  await done('done');
  assert.deepEqual(batches[0], ['initial batch: 1', 'initial batch: 2']);
});

test('drops entries when it reaches its max_bytes', async () => {
  const { q, batches, lines, done } = queue('string-capacity-exceeded', {
    max_batch_size: 1,
    max_bytes: 6,
    max_retry_time: 1,
  });
  for (const e of ['1', '22', '333', '4444']) q.add(e);
  await done('done');
  assert.deepEqual(batches.at(-1), ['4444']);
  assert.ok(
    lines.some((l) => /queue string-capacity-exceeded: byte capacity exceeded, 3 queue entries were dropped/.test(l)),
    lines.join('\n'),
  );
  q.add('55555');
  await done('done');
  assert.deepEqual(batches.at(-1), ['55555']);
  q.add('666666');
  await done('done');
  assert.deepEqual(batches.at(-1), ['666666']);
});

test('warns about improper max_bytes setting', () => {
  const { q, lines } = queue('string-capacity-warnings', { max_batch_size: 1, max_bytes: 1 });
  q.add('23');
  assert.ok(
    lines.some((l) => l.includes("string to be queued is longer (2 bytes) than the queue's max_bytes (1 bytes)")),
    lines.join('\n'),
  );
  assert.equal(q.stats.dropped, 1);
});

test('the queue sends again once it was emptied (Kong deletes and remakes it)', async () => {
  const { q, batches, done } = queue('no-garbage', {});
  q.add('Hello World');
  await done('done');
  q.add('and some more');
  await until('both sent', () => batches.length === 2, 10_000);
});

test('sends data quickly: 1,000 entries in batches of 10, every one delivered, in order', async () => {
  const { q, batches } = queue<number>('speedy-sending', { max_batch_size: 10, max_coalescing_delay: 0.1 });
  for (let i = 1; i <= 1000; i++) q.add(i);
  await until('the last sent', () => batches.at(-1)?.at(-1) === 1000, 10_000);
  assert.deepEqual(
    batches.flat(),
    Array.from({ length: 1000 }, (_, i) => i + 1),
  );
  assert.ok(batches.every((b) => b.length <= 10));
});

test('continue processing after hard error in handler', async () => {
  const { q, batches, lines, done } = queue(
    'continue-processing',
    { max_batch_size: 1, max_entries: 5, max_coalescing_delay: 0.1, max_retry_time: 0.3 },
    (batch) => {
      if (batch[0] === 'Two') throw new Error('hard error');
    },
  );
  for (const e of ['One', 'Two', 'Three']) q.add(e);
  await until('Three sent', () => batches.length === 2, 10_000);
  await done('done');
  assert.deepEqual(batches, [['One'], ['Three']]);
  assert.ok(lines.some((l) => /^queue continue-processing: handler could not process entries: .*hard error/.test(l)));
  assert.ok(
    lines.some((l) =>
      /^queue continue-processing: could not send entries due to max_retry_time exceeded\. \d queue entries were lost/.test(
        l,
      ),
    ),
  );
});

test('defaulted legacy parameters are ignored when converting', () => {
  const q = withLegacyQueueFields(
    { ...QUEUE_DEFAULTS, max_batch_size: 123, max_coalescing_delay: 234 },
    { queue_size: 1, flush_timeout: 2 },
    () => assert.fail('no warning for a legacy field at its default'),
  );
  assert.equal(q.max_batch_size, 123);
  assert.equal(q.max_coalescing_delay, 234);
});

test("converts opentelemetry plugin legacy queue parameters, with Kong's warnings", async () => {
  const v = await validateEntities(
    'plugins:\n  - name: opentelemetry\n    config: { traces_endpoint: "http://127.0.0.1:4318/v1/traces", batch_span_count: 234, batch_flush_delay: 345 }\n',
  );
  assert.equal(v.code, 0, v.out);
  assert.match(
    v.out,
    /the batch_span_count parameter is deprecated, please update your configuration to use queue\.max_batch_size instead/,
  );
  assert.match(
    v.out,
    /the batch_flush_delay parameter is deprecated, please update your configuration to use queue\.max_coalescing_delay instead/,
  );
});
