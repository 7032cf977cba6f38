import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Breaker } from './breaker.ts';

test('a breaker opens after its count of failures in a row, lets one trial through per cool-down, and closes on a success', async () => {
  const b = new Breaker('store', 3, 50);
  assert.deepEqual(b.admit(), { trial: false });
  assert.equal(b.failed('timed out', false), false);
  assert.equal(b.failed('timed out', false), false);
  b.succeeded();
  assert.equal(b.failed('timed out', false), false, 'a success starts the count again');
  assert.equal(b.failed('timed out', false), false);
  assert.equal(b.failed('timed out', false), true, 'the third in a row opens it');
  assert.equal(b.isOpen, true);
  const refused = b.admit();
  assert.ok(refused instanceof Error);
  assert.match(refused.message, /^store unresponsive: 3 calls in a row failed \(last: timed out\); next try in 50 ms$/);

  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(b.admit(), { trial: true }, 'after the cool-down, one call tries');
  assert.ok(b.admit() instanceof Error, 'and only one while it is out');
  assert.equal(b.failed('late', false), false, 'a call sent before it opened says nothing new');
  assert.ok(b.admit() instanceof Error, 'still waiting for the trial');
  assert.equal(b.failed('timed out', true), false, 'a failed trial opens it again (it was open)');
  assert.ok(b.admit() instanceof Error, 'for another cool-down');

  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(b.admit(), { trial: true });
  assert.equal(b.succeeded(), true, 'a successful trial closes it');
  assert.deepEqual(b.admit(), { trial: false });
  assert.equal(b.isOpen, false);
});
