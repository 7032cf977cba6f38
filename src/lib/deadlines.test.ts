import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Deadlines } from './deadlines.ts';

test('calls still pending at their deadline are failed in start order, settled ones are not, and one timer serves them all', {
  timeout: 10_000,
}, async () => {
  const error = new Error('too slow');
  const deadlines = new Deadlines(40, error);
  /** Calls whose deadline came, settled or not (failing a settled one changes nothing). */
  const failedAt: number[] = [];
  const outcomes: Promise<string>[] = [];
  // Answered calls settle at once: a timer shorter than the deadline can still fire after it on a
  // loaded machine, and the test would then count an answer as late.
  const call = (i: number, answers: boolean): void => {
    outcomes.push(
      new Promise<string>((resolve, reject) => {
        deadlines.add((err) => {
          failedAt.push(i);
          reject(err);
        });
        if (answers) resolve('answered');
      }).catch((err: Error) => err.message),
    );
  };
  // A first wave large enough for the queue to drop its spent head, then a later wave.
  for (let i = 0; i < 2000; i++) call(i, i % 2 === 0);
  await delay(20);
  for (let i = 2000; i < 2010; i++) call(i, false);
  // The queue's timer does not hold the process open (a gateway exits with calls pending); this does.
  const alive = setInterval(() => {}, 1000);
  const results = await Promise.all(outcomes).finally(() => clearInterval(alive));
  assert.equal(results.filter((r) => r === 'answered').length, 1000, 'those answered in time keep their answer');
  assert.equal(results.filter((r) => r === 'too slow').length, 1010);
  const expected = [
    ...Array.from({ length: 1000 }, (_, k) => 2 * k + 1),
    ...Array.from({ length: 10 }, (_, k) => 2000 + k),
  ];
  assert.deepEqual(
    failedAt.filter((i) => i % 2 === 1 || i >= 2000),
    expected,
    'failed in the order they started',
  );
});
