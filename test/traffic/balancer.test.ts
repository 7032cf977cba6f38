// Balancer: algorithms, passive and active health checks against real loopback servers, and
// end to end through the gateway (a target killed under load, then back).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { request } from 'undici';
import { startGateway } from '../../src/testing/index.ts';
import { backend, closeBalancers, make, req, upstream } from '../support/balancer.ts';
import { until } from '../support/wait.ts';

after(closeBalancers);

describe('algorithms', () => {
  test('round-robin honours weights and spreads evenly', () => {
    const b = make(
      upstream([
        ['a:1', 100],
        ['b:2', 300],
        ['c:3', 0],
      ]),
    );
    const picks = Array.from({ length: 40 }, () => b.pick(req())!.name);
    assert.equal(picks.filter((p) => p === 'a:1').length, 10);
    assert.equal(picks.filter((p) => p === 'b:2').length, 30);
    assert.equal(picks.includes('c:3'), false, 'a weight-0 target gets nothing');
    // smooth: never more than 3 b's in a row with a 1:3 ratio
    assert.equal(/b:2,b:2,b:2,b:2/.test(picks.join(',')), false);
  });

  test('least-connections prefers the target with fewest requests in flight per weight', () => {
    const b = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
        ],
        { algorithm: 'least-connections' },
      ),
    );
    const [ta, tb] = b.targets;
    ta!.inflight = 3;
    tb!.inflight = 1;
    assert.equal(b.pick(req())!.name, 'b:2');
    tb!.inflight = 5;
    assert.equal(b.pick(req())!.name, 'a:1');
  });

  test('consistent hashing on a header: a key always lands on the same target; a target going down moves only its keys', () => {
    const b = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
          ['c:3', 100],
        ],
        { algorithm: 'consistent-hashing', hash_on: 'header', hash_on_header: 'X-User' },
      ),
    );
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i}`);
    const before = new Map(keys.map((k) => [k, b.pick(req({ 'x-user': k }))!.name]));
    for (const k of keys.slice(0, 20)) assert.equal(b.pick(req({ 'x-user': k }))!.name, before.get(k));
    const counts = new Map<string, number>();
    for (const v of before.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
    for (const n of counts.values()) assert.ok(n > 50, `spread ${[...counts.entries()]}`);
    b.targets[1]!.healthy = false;
    for (const k of keys) {
      const now = b.pick(req({ 'x-user': k }))!.name;
      if (before.get(k) !== 'b:2') assert.equal(now, before.get(k));
      else assert.notEqual(now, 'b:2');
    }
  });

  test("consistent hashing on cookie (made when absent, as Kong's) and on ip", () => {
    const c = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
        ],
        { algorithm: 'consistent-hashing', hash_on: 'cookie', hash_on_cookie: 'sid' },
      ),
    );
    const first = c.pick(req({ cookie: 'x=1; sid=abc' }))!.name;
    for (let i = 0; i < 5; i++) assert.equal(c.pick(req({ cookie: `sid=abc; y=${i}` }))!.name, first);
    // Without the cookie the balancer makes one: the request carries it for its answer, a retry of
    // the same request lands on the same target, and so does a later request that sends it back.
    const fresh = req();
    const target = c.pick(fresh)!.name;
    const made = fresh.hashCookie!;
    assert.match(made.setCookie, /^sid=[0-9a-f-]{36}; Path=\/; SameSite=Lax; HttpOnly$/);
    assert.equal(made.setCookie, `sid=${made.value}; Path=/; SameSite=Lax; HttpOnly`);
    assert.equal(c.pick(fresh)!.name, target);
    assert.equal(fresh.hashCookie, made, 'the retry keeps the cookie');
    assert.equal(c.pick(req({ cookie: `sid=${made.value}` }))!.name, target);
    const ip = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
        ],
        { algorithm: 'consistent-hashing', hash_on: 'ip' },
      ),
    );
    const t = ip.pick(req({}, '10.0.0.7'))!.name;
    for (let i = 0; i < 5; i++) assert.equal(ip.pick(req({}, '10.0.0.7'))!.name, t);
  });

  test("consistent hashing on a query argument (Kong's normalization) and on a URI capture, each with its fallback", () => {
    const targets: [string, number][] = [
      ['a:1', 100],
      ['b:2', 100],
      ['c:3', 100],
    ];
    const q = make(
      upstream(targets, {
        algorithm: 'consistent-hashing',
        hash_on: 'query_arg',
        hash_on_query_arg: 'tenant',
        hash_fallback: 'query_arg',
        hash_fallback_query_arg: 'region',
      }),
    );
    const pick = (rawQuery: string): string => q.pick(req({}, '127.0.0.1', { rawQuery }))!.name;
    const spread = new Set(Array.from({ length: 30 }, (_, i) => pick(`tenant=t${i}`)));
    assert.equal(spread.size, 3, 'keys spread over every target');
    for (let i = 0; i < 30; i++) {
      // Several values hash as one sorted, comma-joined key; `+` and escapes are decoded; `?x` is `x=true`.
      assert.equal(pick(`tenant=t${i}&tenant=z`), pick(`tenant=z&x=1&tenant=t${i}`));
      assert.equal(pick(`tenant=t${i}%20x`), pick(`tenant=t${i}+x`));
      assert.equal(
        pick(`other=1&region=r${i}`),
        pick(`tenant=r${i}`),
        'the fallback argument when the first is absent',
      );
    }
    assert.equal(pick('tenant'), pick('tenant=true'));
    const c = make(
      upstream(targets, {
        algorithm: 'consistent-hashing',
        hash_on: 'uri_capture',
        hash_on_uri_capture: 'user',
        hash_fallback: 'uri_capture',
        hash_fallback_uri_capture: '1',
      }),
    );
    for (let i = 0; i < 30; i++) {
      const byName = c.pick(req({}, '127.0.0.1', { captures: { user: `u${i}` } }))!.name;
      assert.equal(c.pick(req({}, '127.0.0.1', { captures: { user: `u${i}`, 1: 'other' } }))!.name, byName);
      assert.equal(c.pick(req({}, '127.0.0.1', { captures: { 1: `u${i}` } }))!.name, byName, 'the fallback capture');
    }
    // hash_on consumer falls back to the credential's id when there is no consumer (Kong's).
    const k = make(upstream(targets, { algorithm: 'consistent-hashing', hash_on: 'consumer' }));
    for (let i = 0; i < 30; i++) {
      const byConsumer = k.pick(req({}, '127.0.0.1', { consumer: { id: `id${i}` } }))!.name;
      assert.equal(k.pick(req({}, '127.0.0.1', { credential: { id: `id${i}` } }))!.name, byConsumer);
    }
  });

  test('no healthy target: pick answers null', () => {
    const b = make(upstream([['a:1', 100]]));
    b.targets[0]!.healthy = false;
    assert.equal(b.pick(req()), null);
    assert.equal(b.health().healthy, false);
  });
});

describe('health checks', () => {
  test('passive: consecutive tcp failures, timeouts or bad statuses mark a target down; a success resets the count', () => {
    const b = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
        ],
        {
          healthchecks: {
            passive: {
              healthy: { successes: 0 },
              unhealthy: { tcp_failures: 2, timeouts: 2, http_failures: 3, http_statuses: [500, 503] },
            },
          },
        },
      ),
    );
    const [ta, tb] = b.targets;
    b.report(ta!, { failure: 'tcp' });
    b.report(ta!, { status: 200 });
    b.report(ta!, { failure: 'tcp' });
    assert.equal(ta!.healthy, true, 'a success in between resets the failure count');
    b.report(ta!, { failure: 'tcp' });
    assert.equal(ta!.healthy, false);
    for (let i = 0; i < 3; i++) b.report(tb!, { status: 503 });
    assert.equal(tb!.healthy, false);
    assert.equal(b.pick(req()), null);
  });

  test("healthchecks.threshold: below that healthy share of the weight no target is picked (Kong's)", () => {
    const b = make(
      upstream(
        [
          ['a:1', 100],
          ['b:2', 100],
          ['c:3', 100],
          ['d:4', 100],
        ],
        {
          healthchecks: {
            threshold: 60,
            passive: { healthy: { successes: 1 }, unhealthy: { tcp_failures: 1 } },
          },
        },
      ),
    );
    const [ta, tb] = b.targets;
    b.report(ta!, { failure: 'tcp' });
    assert.ok(b.pick(req()), '75 % healthy: still picks');
    b.report(tb!, { failure: 'tcp' });
    assert.equal(b.pick(req()), null, '50 % < 60 %: the upstream is down');
    assert.equal(b.health().healthy, false);
    b.report(tb!, { status: 200 });
    assert.ok(b.pick(req()), 'back to 75 %');
    assert.equal(b.health().healthy, true);
  });

  test('active probes of one round run at most `concurrency` at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const servers = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const s = createServer((_rq, rs) => {
          most = Math.max(most, ++inFlight);
          setTimeout(() => {
            inFlight--;
            rs.end('ok');
          }, 150);
        });
        await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
        return s;
      }),
    );
    try {
      const targets = servers.map((s): [string, number] => [`127.0.0.1:${(s.address() as AddressInfo).port}`, 100]);
      for (const concurrency of [2, 5]) {
        most = 0;
        const b = make(upstream(targets, { healthchecks: { active: { concurrency, timeout: 2 } } }));
        await b.probeAll(true);
        assert.equal(most, concurrency);
      }
    } finally {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  });

  test("active probes go by the answer's head: a target that trickles its body forever neither stalls the round nor keeps a connection", {
    timeout: 20_000,
  }, async () => {
    const open = new Set<Socket>();
    const trickle = createServer((_rq, rs) => {
      rs.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => rs.write('.'), 100);
      rs.on('close', () => clearInterval(t));
    });
    trickle.on('connection', (c) => {
      open.add(c);
      c.on('close', () => open.delete(c));
    });
    await new Promise<void>((r) => trickle.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (trickle.address() as AddressInfo).port;
      const b = make(
        upstream([[`127.0.0.1:${port}`, 100]], {
          healthchecks: { active: { timeout: 1, unhealthy: { interval: 0, http_failures: 1, timeouts: 1 } } },
        }),
      );
      for (let round = 0; round < 3; round++) await b.probeAll(true);
      assert.equal(b.targets[0]!.healthy, true, 'a 200 head is a success');
      await until('the probe connections closed', () => open.size === 0);
    } finally {
      trickle.closeAllConnections();
      await new Promise((r) => trickle.close(r));
    }
  });

  test('active probes mark a failing target down and bring it back when it answers healthy again', async () => {
    const good = await backend('good');
    const flaky = await backend('flaky');
    try {
      const b = make(
        upstream(
          [
            [`127.0.0.1:${good.port}`, 100],
            [`127.0.0.1:${flaky.port}`, 100],
          ],
          {
            healthchecks: {
              active: {
                http_path: '/health',
                timeout: 1,
                healthy: { interval: 0, successes: 2 },
                unhealthy: { interval: 0, http_failures: 2, tcp_failures: 1 },
              },
            },
          },
        ),
      );
      flaky.status = 500;
      await b.probeAll(true);
      assert.equal(b.targets[1]!.healthy, true);
      await b.probeAll(true);
      assert.equal(b.targets[1]!.healthy, false);
      assert.deepEqual(
        b.health().targets.map((t) => t.healthy),
        [true, false],
      );
      flaky.status = 200;
      await b.probeAll(false);
      assert.equal(b.targets[1]!.healthy, false, 'two successes are needed');
      await b.probeAll(false);
      assert.equal(b.targets[1]!.healthy, true);
      await flaky.close();
      await b.probeAll(true);
      assert.equal(b.targets[1]!.healthy, false, 'a refused connection is a tcp failure');
    } finally {
      await good.close();
      await flaky.close();
    }
  });
});

describe('through the gateway', () => {
  test('a target killed under load: the passive check trips, no further request fails, it rejoins once active probes see it healthy', async () => {
    const a = await backend('a');
    let bSrv = await backend('b');
    const bPort = bSrv.port;
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        upstreams: [
          {
            name: 'app.upstream',
            targets: [
              { target: `127.0.0.1:${a.port}`, weight: 100 },
              { target: `127.0.0.1:${bPort}`, weight: 100 },
            ],
            healthchecks: {
              passive: { unhealthy: { tcp_failures: 1, timeouts: 1, http_failures: 3 } },
              active: {
                http_path: '/health',
                timeout: 1,
                healthy: { interval: 0.2, successes: 1 },
                unhealthy: { interval: 0.1, tcp_failures: 1 },
              },
            },
          },
        ],
        services: [
          { name: 'app', host: 'app.upstream', port: 80, protocol: 'http', retries: 5, routes: [{ paths: ['/app'] }] },
        ],
      },
    });
    try {
      const round = async (n: number): Promise<{ statuses: number[]; bodies: string[] }> => {
        const rs = await Promise.all(
          Array.from({ length: n }, () =>
            fetch(`${gw.url}/app`).then(async (r) => [r.status, await r.text()] as const),
          ),
        );
        return { statuses: rs.map((r) => r[0]), bodies: rs.map((r) => r[1]) };
      };
      const warm = await round(20);
      assert.ok(warm.statuses.every((s) => s === 200));
      assert.ok(warm.bodies.includes('a') && warm.bodies.includes('b'), 'both targets serve');

      // Kill b while load keeps coming: with retries, refused connections are retried on a.
      await bSrv.close();
      const during = await round(40);
      assert.deepEqual(
        during.statuses.filter((s) => s !== 200),
        [],
        'connect failures are retried on the other target',
      );
      const hitsBefore = a.hits;
      const afterTrip = await round(30);
      assert.ok(afterTrip.statuses.every((s) => s === 200));
      assert.ok(
        afterTrip.bodies.every((b) => b === 'a'),
        'no request goes to the dead target',
      );
      assert.ok(a.hits >= hitsBefore + 30);
      assert.ok(gw.logs.some((l) => l.msg === 'target unhealthy' && l.target === `127.0.0.1:${bPort}`));

      // b comes back on the same port; the unhealthy-interval probe brings it back in.
      bSrv = await new Promise((resolve) => {
        const s = createServer((_rq, rs) => {
          rs.writeHead(200);
          rs.end('b');
        });
        s.listen(bPort, '127.0.0.1', () =>
          resolve({
            server: s,
            port: bPort,
            status: 200,
            hits: 0,
            close: () =>
              new Promise<void>((r) => {
                s.close(() => r());
                s.closeAllConnections();
              }),
          }),
        );
      });
      for (let i = 0; i < 100 && !gw.logs.some((l) => l.msg === 'target healthy'); i++)
        await new Promise((r) => setTimeout(r, 50));
      const back = await round(20);
      assert.ok(back.statuses.every((s) => s === 200));
      assert.ok(back.bodies.includes('b'), 'the target rejoined');
    } finally {
      await gw.close();
      await a.close();
      await bSrv.close();
    }
  });

  test('503 with Kong message when no target is healthy', async () => {
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        upstreams: [
          {
            name: 'dead.upstream',
            targets: [{ target: '127.0.0.1:1', weight: 100 }],
            healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
          },
        ],
        services: [{ name: 'dead', host: 'dead.upstream', retries: 0, routes: [{ paths: ['/dead'] }] }],
      },
    });
    try {
      const first = await fetch(`${gw.url}/dead`);
      assert.equal(first.status, 502);
      const r = await fetch(`${gw.url}/dead`);
      assert.equal(r.status, 503);
      assert.equal(((await r.json()) as { message: string }).message, 'failure to get a peer from the ring-balancer');
    } finally {
      await gw.close();
    }
  });

  test("host_header is the Host the targets get (with their port), preserve_host still wins; hashing on a route's capture", async () => {
    const seen: string[] = [];
    const servers = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const s = createServer((rq, rs) => {
          seen.push(String(rq.headers.host));
          rs.end(name);
        });
        await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
        return s;
      }),
    );
    const ports = servers.map((s) => (s.address() as AddressInfo).port);
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        upstreams: [
          {
            name: 'users.upstream',
            host_header: 'api.internal',
            algorithm: 'consistent-hashing',
            hash_on: 'uri_capture',
            hash_on_uri_capture: 'user',
            targets: ports.map((p) => ({ target: `127.0.0.1:${p}` })),
          },
        ],
        services: [
          {
            name: 'users',
            host: 'users.upstream',
            routes: [
              { name: 'users', paths: ['~/users/(?<user>[^/]+)$'] },
              { name: 'kept', paths: ['/kept'], preserve_host: true },
            ],
          },
        ],
      },
    });
    try {
      const owner = new Map<string, string>();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < 20; i++) {
          const body = await (await fetch(`${gw.url}/users/u${i}`)).text();
          if (round === 0) owner.set(`u${i}`, body);
          else assert.equal(body, owner.get(`u${i}`), `u${i} stays on its target`);
        }
      }
      assert.deepEqual(new Set(owner.values()), new Set(['a', 'b']), 'users spread over both targets');
      assert.ok(
        seen.every((h) => h === `api.internal:${ports[0]}` || h === `api.internal:${ports[1]}`),
        [...new Set(seen)].join(' '),
      );
      seen.length = 0;
      // undici's request: fetch does not let a caller set Host.
      await (await request(`${gw.url}/kept`, { headers: { host: 'client.example' } })).body.dump();
      assert.deepEqual(seen, ['client.example']);
    } finally {
      await gw.close();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    }
  });

  test("an invalid target is a located config error, in Kong's words", async () => {
    await assert.rejects(
      startGateway({
        config: { _format_version: '3.0', upstreams: [{ name: 'u', targets: [{ target: 'host:99999' }] }] },
      }),
      (err: Error & { issues?: { path: string; message: string }[] }) =>
        err.issues?.some(
          (i) =>
            i.path === 'upstreams[0].targets[0].target' &&
            i.message === "Invalid target ('host:99999'); not a valid hostname or ip address",
        ) === true || assert.fail(JSON.stringify(err.issues ?? err.message)),
    );
  });

  test("Kong's hashing rules: the argument or capture named, distinct names for hash_on and hash_fallback, a valid host_header", async () => {
    const issues = async (upstream: Record<string, unknown>): Promise<string[]> => {
      try {
        await (
          await startGateway({ config: { _format_version: '3.0', upstreams: [{ name: 'u', ...upstream }] } })
        ).close();
      } catch (err) {
        return ((err as { issues?: { path: string; message: string }[] }).issues ?? []).map(
          (i) => `${i.path}: ${i.message}`,
        );
      }
      return [];
    };
    assert.deepEqual(await issues({ hash_on: 'query_arg' }), [
      "upstreams[0].hash_on_query_arg: required field missing: 'hash_on' is 'query_arg'",
    ]);
    assert.deepEqual(await issues({ hash_on: 'ip', hash_fallback: 'uri_capture' }), [
      "upstreams[0].hash_fallback_uri_capture: required field missing: 'hash_fallback' is 'uri_capture'",
    ]);
    assert.deepEqual(
      await issues({
        hash_on: 'query_arg',
        hash_on_query_arg: 'a',
        hash_fallback: 'query_arg',
        hash_fallback_query_arg: 'a',
      }),
      [
        "upstreams[0].hash_fallback_query_arg: values of these fields must be distinct: 'hash_on_query_arg', 'hash_fallback_query_arg'",
      ],
    );
    assert.deepEqual(await issues({ hash_on: 'cookie', hash_on_cookie: 'lb', hash_fallback: 'ip' }), [
      "upstreams[0].hash_fallback: expected one of: none (when 'hash_on' is 'cookie': a request without the cookie is given one)",
    ]);
    assert.equal((await issues({ host_header: 'not a host' })).length, 1);
    assert.deepEqual(
      await issues({ host_header: 'api.internal:8443', hash_on: 'uri_capture', hash_on_uri_capture: 'id' }),
      [],
    );
  });

  test("hash_on without algorithm balances by consistent hashing, as Kong's shorthand makes it", async () => {
    const [a, bk] = await Promise.all([backend('a'), backend('b')]);
    const gw = await startGateway({
      config: {
        _format_version: '3.0',
        upstreams: [
          {
            name: 'hashed',
            hash_on: 'header',
            hash_on_header: 'x-user',
            targets: [{ target: `127.0.0.1:${a.port}` }, { target: `127.0.0.1:${bk.port}` }],
          },
        ],
        services: [{ name: 'hashed', host: 'hashed', routes: [{ paths: ['/hashed'] }] }],
      },
    });
    try {
      // Round-robin would alternate between the two targets.
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++)
        seen.add(await (await fetch(`${gw.url}/hashed`, { headers: { 'x-user': 'alice' } })).text());
      assert.equal(seen.size, 1, [...seen].join(' '));
    } finally {
      await gw.close();
      await Promise.all([a.close(), bk.close()]);
    }
  });
});
