// Two targets of one upstream at the same address, as Kong's declarative loader takes them: written
// alike without ids, Kong derives one id for both and refuses the second; otherwise it loads both
// and its balancer gives the address their summed weight. `id: null` is an id to Kong, not none.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { listen } from '../support/upstream.ts';
import { validateEntities as validate } from '../support/validate.ts';

const open: TestGateway[] = [];
after(async () => {
  await Promise.all(open.map((g) => g.close()));
});

test('a target written twice without ids is refused as Kong refuses it, with the way out', async () => {
  const v = await validate(
    'upstreams:\n  - name: up\n    targets:\n      - { target: "10.0.0.1:8080", weight: 50 }\n      - { target: "10.0.0.1:8080", weight: 30 }\n',
  );
  assert.equal(v.code, 1, v.out);
  assert.match(
    v.out,
    /:6:19 {2}upstreams\[0\]\.targets\[1\]\.target {2}uniqueness violation: 'targets' entity with target set to '10\.0\.0\.1:8080' already declared \(at upstreams\[0\]\.targets\[0\]\); Kong refuses it too .*: declare the address once, with the weight of both \(80\), or remove one/,
  );
});

test("one id written twice is one error, the primary key's, without a warning; a target naming its upstream by id meets the nested one", async () => {
  const same = await validate(
    'upstreams:\n  - name: up\n    targets:\n      - { id: 11111111-1111-4111-8111-111111111111, target: "10.0.0.1:8080", weight: 50 }\n      - { id: 11111111-1111-4111-8111-111111111111, target: "10.0.0.1:8080", weight: 30 }\n',
  );
  assert.equal(same.code, 1, same.out);
  assert.match(
    same.out,
    /:6:15 {2}upstreams\[0\]\.targets\[1\]\.id {2}uniqueness violation: 'targets' entity with primary key set to '11111111-1111-4111-8111-111111111111' already declared \(at upstreams\[0\]\.targets\[0\]\)\n/,
  );
  assert.doesNotMatch(same.out, /warning/, same.out);
  assert.match(same.out, /invalid \(1 error\)/);
  // Kong derives both ids from the upstream's id, whether the target is nested or names it.
  const byId = await validate(
    `upstreams:
  - name: up
    id: 33333333-3333-4333-8333-333333333333
    targets:
      - { target: "10.0.0.1:8080", weight: 50 }
targets:
  - { upstream: 33333333-3333-4333-8333-333333333333, target: "10.0.0.1:8080", weight: 30 }
`,
  );
  assert.equal(byId.code, 1, byId.out);
  assert.match(
    byId.out,
    /:8:63 {2}targets\[0\]\.target {2}uniqueness violation: 'targets' entity with target set to '10\.0\.0\.1:8080' already declared \(at upstreams\[0\]\.targets\[0\]\); Kong refuses it too/,
  );
});

test('the same address with ids of their own, or spelled two ways, loads as in Kong with a warning giving the summed weight', async () => {
  const v = await validate(
    `upstreams:
  - name: up
    targets:
      - { id: 11111111-1111-4111-8111-111111111111, target: "10.0.0.1:8080", weight: 50 }
      - { id: 22222222-2222-4222-8222-222222222222, target: "10.0.0.1:8080", weight: 30 }
      - { target: "10.0.0.2" }
      - { target: "10.0.0.2:8000", weight: 10 }
`,
  );
  assert.equal(v.code, 0, v.out);
  assert.match(
    v.out,
    /:6:61 {2}upstreams\[0\]\.targets\[1\]\.target {2}warning: target '10\.0\.0\.1:8080' is already declared in this upstream \(at upstreams\[0\]\.targets\[0\]\): Kong loads both .*one target \(the first\) of weight 80: declare the address once, with weight 80/,
  );
  assert.match(
    v.out,
    /:8:19 {2}upstreams\[0\]\.targets\[3\]\.target {2}warning: target '10\.0\.0\.2:8000' .* weight 110/,
  );
});

test('`id: null` is an id of its own, as in Kong: beside the same address without one it loads with the warning; two of them are the primary key twice', async () => {
  const beside = await validate(
    'upstreams:\n  - name: up\n    targets:\n      - { id: null, target: "10.0.0.1:8080", weight: 50 }\n      - { target: "10.0.0.1:8080", weight: 30 }\n',
  );
  assert.equal(beside.code, 0, beside.out);
  assert.match(
    beside.out,
    /:6:19 {2}upstreams\[0\]\.targets\[1\]\.target {2}warning: target '10\.0\.0\.1:8080' is already declared in this upstream .* weight 80/,
  );
  // Kong keys each target by its primary key's text: every `id: null` is the same one, whatever the address.
  const twice = await validate(
    'upstreams:\n  - name: up\n    targets:\n      - { id: null, target: "10.0.0.1:8080" }\n      - { id: null, target: "10.0.0.2:8080" }\n      - { id: null, target: "10.0.0.2:8080" }\n',
  );
  assert.equal(twice.code, 1, twice.out);
  assert.match(
    twice.out,
    /:6:15 {2}upstreams\[0\]\.targets\[1\]\.id {2}uniqueness violation: 'targets' entity with primary key set to null already declared \(at upstreams\[0\]\.targets\[0\]\); Kong refuses it too .*: remove `id: null`/,
  );
  assert.match(twice.out, /:7:15 {2}upstreams\[0\]\.targets\[2\]\.id {2}uniqueness violation/);
  assert.doesNotMatch(twice.out, /warning/, twice.out);
  assert.match(twice.out, /invalid \(2 errors\)/);
});

test("an address declared twice gets the share of both weights, as in Kong's balancer", async () => {
  const hits = { a: 0, b: 0 };
  const a = await listen((_req, res) => {
    hits.a++;
    res.end('a');
  });
  const b = await listen((_req, res) => {
    hits.b++;
    res.end('b');
  });
  after(() => Promise.all([a.close(), b.close()]));
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'up',
          targets: [
            { id: '11111111-1111-4111-8111-111111111111', target: new URL(a.url).host, weight: 100 },
            { id: '22222222-2222-4222-8222-222222222222', target: new URL(a.url).host, weight: 100 },
            { target: new URL(b.url).host, weight: 100 },
          ],
        },
      ],
      services: [{ name: 's', host: 'up', routes: [{ paths: ['/'] }] }],
    },
  });
  open.push(gw);
  for (let i = 0; i < 30; i++) {
    const r = await fetch(`${gw.url}/`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(r.status, 200);
    await r.text();
  }
  assert.deepEqual(hits, { a: 20, b: 10 });
});
