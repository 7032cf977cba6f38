// Kong's `PUT /upstreams/{u}/targets/{t}/healthy` and `/unhealthy` through a real gateway: the
// cases of Kong's spec/02-integration/04-admin_api/08-targets_routes_spec.lua ("checks every
// combination of valid and invalid upstream and target", the flips read back from
// /upstreams/{u}/health) and the "manual recovery" and "manual shutdown" cases of
// spec/02-integration/05-proxy/10-balancer/01-healthchecks_spec.lua (Kong commit 22246ef2), what
// the traffic does after each PUT, and a reload keeping a target's health as Kong's reconfigure
// keeps its healthchecker. Each target is a loopback server that counts what it answered and can
// be made to answer 500.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

interface Target extends Listening {
  hits: number;
  failing: boolean;
}

async function target(): Promise<Target> {
  const t = {} as Target;
  const l = await listen((_req, res) => {
    t.hits++;
    res.writeHead(t.failing ? 500 : 200).end(String(l.port));
  });
  return Object.assign(t, l, { hits: 0, failing: false });
}

/** Sends `n` requests one after another: how many were answered 200. */
async function requests(gw: TestGateway, n: number): Promise<number> {
  let oks = 0;
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${gw.url}/`);
    await r.arrayBuffer();
    if (r.status === 200) oks++;
  }
  return oks;
}

function put(gw: TestGateway, path: string, method = 'PUT'): Promise<Response> {
  return fetch(`${gw.adminUrl}${path}`, { method });
}

async function health(gw: TestGateway, upstream = 'u'): Promise<Record<string, string>> {
  const body = (await (await fetch(`${gw.adminUrl}/upstreams/${upstream}/health`)).json()) as {
    data: { target: string; health: string }[];
  };
  return Object.fromEntries(body.data.map((t) => [t.target, t.health]));
}

function config(targets: Target[], weights: number[] = [], extra: Record<string, unknown> = {}) {
  return {
    _format_version: '3.0',
    upstreams: [
      {
        name: 'u',
        id: 'a0d4d8ad-3f4c-4bf2-9d65-9f6d9a6e1c01',
        targets: targets.map((t, i) => ({
          id: `b1e3c9f0-5d2a-4c1e-8f7b-00000000000${i}`,
          target: `127.0.0.1:${t.port}`,
          weight: weights[i] ?? 100,
        })),
        healthchecks: { passive: { healthy: { successes: 1 }, unhealthy: { http_failures: 1 } } },
      },
      // No service names it: no balancer here (Kong builds one for every upstream).
      { name: 'idle', targets: [{ target: '127.0.0.1:8192' }] },
    ],
    services: [{ name: 'svc', host: 'u', retries: 0, routes: [{ name: 'r', paths: ['/'] }] }],
    ...extra,
  };
}

describe("Kong's target health PUTs", () => {
  let a: Target;
  let b: Target;
  let gw: TestGateway;
  before(async () => {
    [a, b] = [await target(), await target()];
    gw = await startGateway({ config: config([a, b]) });
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });

  test('every combination of valid and invalid upstream and target: 204 for a target of the upstream, 404 else', async () => {
    const ta = `127.0.0.1:${a.port}`;
    const upstreams = [randomUUID(), 'invalid', 'u', 'a0d4d8ad-3f4c-4bf2-9d65-9f6d9a6e1c01'];
    // A target of another upstream (Kong's `wrong_target`) is not found under this one.
    const listed = (await (await fetch(`${gw.adminUrl}/upstreams/idle/targets`)).json()) as { data: { id: string }[] };
    const idleTarget = listed.data[0]!.id;
    const targets = [randomUUID(), 'invalid:1234', idleTarget, ta, 'b1e3c9f0-5d2a-4c1e-8f7b-000000000000'];
    for (const [i, u] of upstreams.entries()) {
      for (const [j, t] of targets.entries()) {
        for (const e of ['healthy', 'unhealthy']) {
          const path = `/upstreams/${u}/targets/${t}/${e}`;
          const res = await put(gw, path);
          assert.equal(res.status, i >= 2 && j >= 3 ? 204 : 404, path);
          if (res.status === 404) assert.deepEqual(await res.json(), { message: 'Not found' });
        }
      }
    }
    assert.equal((await put(gw, `/upstreams/u/targets/${ta}/healthy`)).status, 204);
  });

  test('a flip to UNHEALTHY and back reads in /upstreams/{u}/health and moves the traffic', async () => {
    const ta = `127.0.0.1:${a.port}`;
    assert.equal((await put(gw, `/upstreams/u/targets/${ta}/unhealthy`)).status, 204);
    assert.equal((await health(gw))[ta], 'UNHEALTHY');
    const [ha, hb] = [a.hits, b.hits];
    assert.equal(await requests(gw, 10), 10);
    assert.deepEqual([a.hits - ha, b.hits - hb], [0, 10], 'the target set unhealthy takes no request');
    assert.equal((await put(gw, `/upstreams/u/targets/${ta}/healthy`)).status, 204);
    assert.equal((await health(gw))[ta], 'HEALTHY');
    assert.equal(await requests(gw, 10), 10);
    assert.ok(a.hits - ha >= 4, `back in the rotation: ${a.hits - ha} of 10`);
    assert.ok(
      gw.logs.some((l) => l.msg === 'target unhealthy' && l.reason === 'set unhealthy through the admin API'),
      'the change is logged with its cause',
    );
  });

  test("the per-address form for the target's own address, and a refusal naming the way out for another", async () => {
    const tb = `127.0.0.1:${b.port}`;
    assert.equal((await put(gw, `/upstreams/u/targets/${tb}/${tb}/unhealthy`)).status, 204);
    assert.equal((await health(gw))[tb], 'UNHEALTHY');
    const other = await put(gw, `/upstreams/u/targets/${tb}/127.0.0.2:${b.port}/healthy`);
    assert.equal(other.status, 400);
    assert.match(
      ((await other.json()) as { message: string }).message,
      new RegExp(`use PUT /upstreams/u/targets/${tb}/healthy`),
    );
    assert.equal((await health(gw))[tb], 'UNHEALTHY', 'nothing changed');
    assert.equal((await put(gw, `/upstreams/u/targets/${tb}/${tb}/healthy`)).status, 204);
    assert.equal((await health(gw))[tb], 'HEALTHY');
  });

  test("an upstream no service names: 400 with Kong's message for an upstream without a balancer", async () => {
    const res = await put(gw, '/upstreams/idle/targets/127.0.0.1:8192/unhealthy');
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { message: 'Upstream idle has no balancer' });
  });

  test('other methods: 405 with the methods allowed; OPTIONS lists them', async () => {
    const path = `/upstreams/u/targets/127.0.0.1:${a.port}/healthy`;
    for (const method of ['GET', 'POST', 'DELETE']) {
      const res = await put(gw, path, method);
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'OPTIONS, PUT');
    }
    const opts = await put(gw, path, 'OPTIONS');
    assert.equal(opts.status, 204);
    assert.equal(opts.headers.get('allow'), 'OPTIONS, PUT');
  });
});

test('passive checks take a failing heavy target out, a PUT brings it back once it answers again (Kong\'s "manual recovery")', async () => {
  const [a, b] = [await target(), await target()];
  const gw = await startGateway({ config: config([a, b], [100, 1]) });
  try {
    await requests(gw, 20);
    assert.ok(a.hits >= 19, `the heavy target took ${a.hits} of 20`);
    a.failing = true;
    const before = b.hits;
    assert.equal(await requests(gw, 20), 19, 'one 500, then the target is out');
    assert.equal(b.hits - before, 19);
    a.failing = false;
    // Passive checks alone never send it a request again: the operator puts it back.
    assert.equal((await put(gw, `/upstreams/u/targets/127.0.0.1:${a.port}/healthy`)).status, 204);
    const [ha, hb] = [a.hits, b.hits];
    assert.equal(await requests(gw, 20), 20);
    assert.ok(a.hits - ha >= 19 && b.hits - hb <= 1, `${a.hits - ha} and ${b.hits - hb}`);
  } finally {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('a target set unhealthy stays out through a reload that keeps it and its upstream as they were, and not through one that changes either', async () => {
  const [a, b] = [await target(), await target()];
  const gw = await startGateway({ config: config([a, b]) });
  const ta = `127.0.0.1:${a.port}`;
  try {
    assert.equal((await put(gw, `/upstreams/u/targets/${ta}/unhealthy`)).status, 204);
    // A config change elsewhere: Kong keeps the upstream's healthchecker through the reconfigure.
    const changed = config([a, b], [], { consumers: [{ username: 'someone' }] });
    assert.equal((await gw.reload(changed)).ok, true);
    assert.equal((await health(gw))[ta], 'UNHEALTHY');
    const ha = a.hits;
    assert.equal(await requests(gw, 6), 6);
    assert.equal(a.hits - ha, 0, 'still out after the reload');
    // Dropped and written back: a new target, healthy.
    assert.equal((await gw.reload(config([b]))).ok, true);
    assert.equal((await gw.reload(config([a, b]))).ok, true);
    assert.equal((await health(gw))[ta], 'HEALTHY');
    // The upstream's own settings changed: it starts over, as Kong recreates its balancer.
    assert.equal((await put(gw, `/upstreams/u/targets/${ta}/unhealthy`)).status, 204);
    const withSlots = config([a, b]);
    (withSlots.upstreams[0] as Record<string, unknown>).slots = 100;
    assert.equal((await gw.reload(withSlots)).ok, true);
    assert.equal((await health(gw))[ta], 'HEALTHY');
  } finally {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  }
});

test('admin_post_config: off refuses the PUTs with 403 naming the setting, and nothing changes', async () => {
  const [a] = [await target()];
  const gw = await startGateway({ config: config([a], [], { _tollgate: { admin_post_config: 'off' } }) });
  try {
    const ta = `127.0.0.1:${a.port}`;
    const res = await put(gw, `/upstreams/u/targets/${ta}/unhealthy`);
    assert.equal(res.status, 403);
    assert.match(((await res.json()) as { message: string }).message, /admin_post_config: off/);
    assert.equal((await health(gw))[ta], 'HEALTHY');
  } finally {
    await gw.close();
    await a.close();
  }
});
