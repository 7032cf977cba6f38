// How consistent hashing spreads keys over targets, whatever the upstream's `slots`: Kong's
// balancer (kong/runloop/balancer/consistent_hashing.lua) gives each target 160 points of its
// continuum at equal weights (in proportion to its weight otherwise), however small `slots` is,
// so each target's share of the keys stays near its share of the weight. Kong's own balancer
// specs run with `slots: 10`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { closeBalancers, make, req, upstream } from '../support/balancer.ts';

after(closeBalancers);

/** Each target's share of 2,000 keys, for an upstream of these targets and `slots`. */
function shares(targets: [string, number][], slots: number): Map<string, number> {
  const b = make(
    upstream(targets, { slots, algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'x-key' }),
  );
  const counts = new Map<string, number>();
  const keys = 2000;
  for (let i = 0; i < keys; i++) {
    const name = b.pick(req({ 'x-key': `user-${i}` }))!.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return new Map([...counts].map(([k, v]) => [k, v / keys]));
}

test("slots: 10 (Kong's spec setting): two targets of equal weight each get about half the keys", () => {
  for (let i = 0; i < 20; i++) {
    const s = shares(
      [
        [`10.0.0.${i}:8000`, 100],
        [`10.0.1.${i}:8000`, 100],
      ],
      10,
    );
    for (const [name, share] of s) assert.ok(share > 0.3 && share < 0.7, `${name}: ${share} of the keys`);
  }
});

test('slots: 10, weights 3:1: the heavier target gets about three quarters of the keys', () => {
  for (let i = 0; i < 20; i++) {
    const s = shares(
      [
        [`10.0.0.${i}:8000`, 300],
        [`10.0.1.${i}:8000`, 100],
      ],
      10,
    );
    const heavy = s.get(`10.0.0.${i}:8000`) ?? 0;
    assert.ok(heavy > 0.6 && heavy < 0.9, `the heavier target got ${heavy} of the keys`);
  }
});

test('the default slots spread the same way', () => {
  const s = shares(
    [
      ['10.0.0.1:8000', 100],
      ['10.0.0.2:8000', 100],
      ['10.0.0.3:8000', 100],
    ],
    10000,
  );
  for (const [name, share] of s) assert.ok(share > 0.2 && share < 0.47, `${name}: ${share} of the keys`);
});
