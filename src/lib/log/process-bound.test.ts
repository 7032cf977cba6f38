// The bound of all the log queues of a process together (PROCESS_MAX_BYTES): each queue's own bound
// is per plugin instance, so many instances whose receiver is down must not add up past it, and
// the queue holding the most gives way first, so a dead receiver's backlog does not cost a working
// receiver its entries. Entries are sized by the queue's `sizeOf` (an explicit max_bytes), so a
// mebibyte is counted without holding one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../../../test/support/wait.ts';
import { LogQueue, PROCESS_MAX_BYTES, processQueueBytes, QUEUE_DEFAULTS } from './queue.ts';

const MIB = 1024 * 1024;

/** A queue whose every entry counts as a mebibyte; `deliver` fails (a receiver that is down) or succeeds. */
function queue(name: string, receiverUp: boolean) {
  const lines: string[] = [];
  const delivered: string[] = [];
  const q = new LogQueue<string>(
    name,
    { ...QUEUE_DEFAULTS, max_bytes: 512 * MIB, max_entries: 1_000_000, max_retry_time: 60 },
    async (batch) => {
      if (!receiverUp) throw new Error('connect ECONNREFUSED');
      delivered.push(...batch);
    },
    (line) => lines.push(line),
    () => MIB,
  );
  return { q, lines, delivered };
}

test('queues whose receivers are down hold no more than the process bound together', async () => {
  const queues = [queue('down-1', false), queue('down-2', false), queue('down-3', false)];
  const each = PROCESS_MAX_BYTES / MIB; // each alone could take the whole bound, and its own is larger
  for (let i = 0; i < each; i++) for (const { q } of queues) q.add(`entry ${i}`);
  await sleep(20);
  assert.ok(processQueueBytes() <= PROCESS_MAX_BYTES, `${processQueueBytes() / MIB} MiB held`);
  assert.ok(processQueueBytes() > PROCESS_MAX_BYTES - 4 * MIB, 'the bound is used, not emptied');
  const dropped = queues.reduce((n, { q }) => n + q.stats.dropped, 0);
  const held = queues.reduce((n, { q }) => n + q.stats.depth, 0);
  assert.equal(dropped + held + queues.length, 3 * each, 'every entry is held, in flight or counted as dropped');
  assert.ok(
    queues.some(({ lines }) =>
      lines.some((l) =>
        /^queue down-\d: the log queues of this process hold their bound \(256 MiB\), \d+ queue entries were dropped/.test(
          l,
        ),
      ),
    ),
  );
  await Promise.all(queues.map(({ q }) => q.close(10)));
  // Once the deliveries in flight (a retry's backoff) have ended.
  await until('closed queues hold nothing', () => processQueueBytes() === 0, 10_000);
});

test("a working receiver's entries are delivered while a dead one's backlog fills the bound", async () => {
  const dead = queue('dead', false);
  for (let i = 0; i < PROCESS_MAX_BYTES / MIB + 10; i++) dead.q.add(`backlog ${i}`);
  await sleep(20);
  assert.ok(dead.q.stats.dropped >= 10);
  const live = queue('live', true);
  for (let i = 0; i < 100; i++) {
    live.q.add(`live ${i}`);
    dead.q.add(`more backlog ${i}`);
    if (i % 10 === 9) await sleep(1);
  }
  await sleep(50);
  assert.equal(live.q.stats.dropped, 0, live.lines.join('\n'));
  assert.equal(live.delivered.length, 100);
  assert.ok(processQueueBytes() <= PROCESS_MAX_BYTES);
  await Promise.all([dead.q.close(10), live.q.close(10)]);
  // Once the deliveries in flight (a retry's backoff) have ended.
  await until('closed queues hold nothing', () => processQueueBytes() === 0, 10_000);
});
