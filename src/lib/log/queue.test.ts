// The log queue's bounds while its receiver hangs: a delivery that never ends (a receiver that
// accepts and never answers) must not let entries pile up past max_entries.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogQueue, QUEUE_DEFAULTS } from './queue.ts';

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

test('while one delivery hangs, the queue keeps at most max_entries and forgets the ones it dropped', () => {
  const { queue, deliveries } = hungQueue(1);
  for (let i = 0; i < 50_000; i++) queue.add(`entry ${i}`);
  assert.equal(deliveries(), 1);
  assert.equal(queue.stats.depth, 99, 'the entry in flight counts against max_entries');
  assert.equal(queue.stats.dropped, 50_000 - 100);
  const held = (queue as unknown as { items: unknown[] }).items.length;
  assert.ok(held < 2_200, `dropped entries are released, not kept behind the head (${held} held)`);
});

test('with concurrency_limit -1, entries in flight count against max_entries: no more than that many deliveries at once', () => {
  const { queue, deliveries } = hungQueue(-1);
  for (let i = 0; i < 50_000; i++) queue.add(`entry ${i}`);
  assert.equal(deliveries(), 100);
  assert.equal(queue.stats.depth, 0);
  assert.equal(queue.stats.dropped, 50_000 - 100);
});
