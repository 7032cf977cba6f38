// `algorithm: latency` (Kong 3's moving average of response times) through a real gateway, over
// loopback targets that answer after a delay the test sets: the faster target gets most requests,
// a slow one that became fast gets its traffic back as the 10 s decay lets it, an unhealthy target
// is skipped, and a retry goes to a target the request has not failed on.
// The margins are wide on purpose (tens of ms between targets, majorities over 40 requests): a
// loaded machine adds a few ms to every answer, not tens.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { startDns } from '../support/dns.ts';
import { refusedPort } from '../support/refused-port.ts';
import { until } from '../support/wait.ts';

interface Timed {
  server: Server;
  port: number;
  /** ms before each answer. */
  delay: number;
  /** Status of the answers to `/app` (the active probe's `/health` gets 200 unless `down`). */
  status: number;
  down: boolean;
  close(): Promise<void>;
}

/** A loopback server that answers its name after `delay` ms. */
async function timed(name: string, delay: number): Promise<Timed> {
  const t: Timed = {
    server: createServer((rq, rs) => {
      const status = rq.url === '/health' ? (t.down ? 500 : 200) : t.status;
      const answer = (): void => {
        rs.writeHead(status, { 'content-type': 'text/plain' });
        rs.end(name);
      };
      if (t.delay > 0 && rq.url !== '/health') setTimeout(answer, t.delay);
      else answer();
    }),
    port: 0,
    delay,
    status: 200,
    down: false,
    close: () =>
      new Promise<void>((r) => {
        t.server.close(() => r());
        t.server.closeAllConnections();
      }),
  };
  await new Promise<void>((r) => t.server.listen(0, '127.0.0.1', () => r()));
  t.port = (t.server.address() as AddressInfo).port;
  return t;
}

function latencyGateway(targets: number[], extra: Record<string, unknown> = {}, retries = 0): Promise<TestGateway> {
  return startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'app.upstream',
          algorithm: 'latency',
          targets: targets.map((port) => ({ target: `127.0.0.1:${port}`, weight: 100 })),
          ...extra,
        },
      ],
      services: [{ name: 'app', host: 'app.upstream', retries, routes: [{ paths: ['/app'] }] }],
    },
  });
}

/** `n` requests one after the other; the bodies (which target answered) and statuses. */
async function sequence(gw: TestGateway, n: number): Promise<{ bodies: string[]; statuses: number[] }> {
  const bodies: string[] = [];
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${gw.url}/app`);
    statuses.push(r.status);
    bodies.push(await r.text());
  }
  return { bodies, statuses };
}

const count = (list: string[], name: string): number => list.filter((b) => b === name).length;

test('latency: most requests go to the faster target; a slow one that became fast gets traffic back as the decay allows', async () => {
  // The fast target answers in 20 ms, not 0: an idle target's score fades as fast as any other's,
  // so the slow one comes back only once the other's average has grown past its faded one, which
  // takes a few seconds against 20 ms and tens of seconds against a target answering in 1 ms.
  const slow = await timed('slow', 120);
  const fast = await timed('fast', 20);
  const gw = await latencyGateway([slow.port, fast.port]);
  try {
    const warm = await sequence(gw, 10);
    assert.ok(warm.statuses.every((s) => s === 200));
    assert.ok(warm.bodies.includes('slow') && warm.bodies.includes('fast'), `both are tried: ${warm.bodies}`);
    const settled = await sequence(gw, 40);
    assert.ok(count(settled.bodies, 'fast') >= 30, `the faster target gets most: ${count(settled.bodies, 'fast')}/40`);

    // The slow target becomes the faster one. It is tried again once its faded score falls under
    // the other's; the two scores are then nearly equal, and they part (each towards its own
    // response time) over the next seconds, so the recovered target's share grows until it serves
    // most of any 40 requests in a row.
    slow.delay = 0;
    const deadline = Date.now() + 40_000;
    const last: string[] = [];
    while (count(last, 'slow') < 30) {
      assert.ok(Date.now() < deadline, `the recovered target never got most of 40 requests: ${count(last, 'slow')}/40`);
      last.push(...(await sequence(gw, 1)).bodies);
      if (last.length > 40) last.shift();
    }
  } finally {
    await gw.close();
    await slow.close();
    await fast.close();
  }
});

test('latency: an unhealthy target is not picked, however fast; back healthy, it gets traffic again', async () => {
  // The first target answers at once, with errors: passive checks take it down after one, and the
  // two slower healthy ones get everything; the active probe brings it back once it answers well.
  const broken = await timed('broken', 0);
  broken.status = 500;
  broken.down = true;
  const slow = await timed('slow', 60);
  const other = await timed('other', 60);
  const gw = await latencyGateway([broken.port, slow.port, other.port], {
    healthchecks: {
      passive: { unhealthy: { http_failures: 1 } },
      active: {
        http_path: '/health',
        healthy: { interval: 0, successes: 1 },
        unhealthy: { interval: 0.1, http_failures: 1 },
      },
    },
  });
  try {
    const first = await sequence(gw, 1);
    assert.deepEqual(first, { bodies: ['broken'], statuses: [500] }, 'an unmeasured target is tried first');
    await until('the broken target marked down', () => gw.logs.some((l) => l.msg === 'target unhealthy'));
    const during = await sequence(gw, 20);
    assert.equal(count(during.bodies, 'broken'), 0, 'the unhealthy target gets nothing');
    assert.deepEqual(during.statuses, Array(20).fill(200));

    broken.status = 200;
    broken.down = false;
    await until('the broken target back', () => gw.logs.some((l) => l.msg === 'target healthy'));
    const after = await sequence(gw, 40);
    assert.ok(count(after.bodies, 'broken') >= 30, `the faster target is back: ${count(after.bodies, 'broken')}/40`);
  } finally {
    await gw.close();
    await broken.close();
    await slow.close();
    await other.close();
  }
});

test("latency: a retry goes to a target the request has not failed on; failed on all of them, it ends (Kong's getPeer)", async () => {
  // A target that refuses connections answers "fastest" (a refusal takes no time), so without its
  // failure remembered every retry went back to it.
  const dead = await refusedPort();
  const live = await timed('live', 30);
  const gw = await latencyGateway([dead, live.port], {}, 3);
  try {
    const rs = await sequence(gw, 10);
    assert.deepEqual(rs.statuses, Array(10).fill(200));
    assert.deepEqual(rs.bodies, Array(10).fill('live'));
  } finally {
    await gw.close();
    await live.close();
  }

  // Two targets that drop every connection: with retries: 5, each is tried once, then no target
  // is left (Kong's "all endpoints have been retried") and the request ends with the no-peer 503.
  let attempts = 0;
  const droppers = [createTcpServer(), createTcpServer()];
  const ports: number[] = [];
  for (const s of droppers) {
    s.on('connection', (socket) => {
      socket.on('error', () => undefined);
      socket.once('data', () => {
        attempts++;
        socket.destroy();
      });
    });
    ports.push(await new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port))));
  }
  const gw2 = await latencyGateway(ports, {}, 5);
  try {
    const r = await fetch(`${gw2.url}/app`);
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { message: string }).message, 'failure to get a peer from the ring-balancer');
    assert.equal(attempts, 2, 'one attempt per target');
  } finally {
    await gw2.close();
    for (const s of droppers) s.close();
  }
});

test("latency: a target whose name resolves again starts from the others' mean, as one back healthy (Kong's slow start), not its old average", async () => {
  // The slow target is measured once (its first answer), then its name stops resolving and an
  // active probe leaves it out; when the name resolves again Kong's balancer gets its addresses
  // anew, whose average starts from the others' mean (counting its own as 0): below the fast
  // target's, so it is tried at once. Its old average, faded a few seconds, stays far above.
  const dns = await startDns();
  dns.records.set('back.test', { addresses: ['127.0.0.1'], ttl: 1 });
  const slow = await timed('slow', 300);
  const fast = await timed('fast', 20);
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { dns_resolver: [dns.server], dns_stale_ttl: 0, dns_error_ttl: 0, upstream_keepalive_pool_size: 0 },
      upstreams: [
        {
          name: 'app.upstream',
          algorithm: 'latency',
          targets: [{ target: `back.test:${slow.port}` }, { target: `127.0.0.1:${fast.port}` }],
          healthchecks: { active: { http_path: '/health', healthy: { interval: 0.1 } } },
        },
      ],
      services: [{ name: 'app', host: 'app.upstream', retries: 0, routes: [{ paths: ['/app'] }] }],
    },
  });
  const state = async (): Promise<string> => {
    const health = (await (await fetch(`${gw.adminUrl}/upstreams/app.upstream/health`)).json()) as {
      data: { target: string; health: string }[];
    };
    return health.data.find((t) => t.target.startsWith('back.test'))!.health;
  };
  try {
    const warm = await sequence(gw, 5);
    assert.deepEqual(warm.bodies, ['slow', 'fast', 'fast', 'fast', 'fast'], 'each tried, then the faster one');
    dns.mode = 'servfail';
    // The fast target keeps answering meanwhile, so that its average is a fresh one.
    await until('the name left out', async () => {
      assert.deepEqual((await sequence(gw, 1)).bodies, ['fast']);
      return (await state()) === 'DNS_ERROR';
    });
    dns.mode = 'answer';
    // Back in the picks (the requery may answer between a request and the look at its state), it
    // gets the next request.
    let tried = false;
    await until('the name back', async () => {
      tried = (await sequence(gw, 1)).bodies[0] === 'slow';
      return tried || (await state()) !== 'DNS_ERROR';
    });
    if (!tried) assert.deepEqual((await sequence(gw, 1)).bodies, ['slow'], 'the target back is tried at once');
  } finally {
    dns.mode = 'answer';
    await gw.close();
    await slow.close();
    await fast.close();
    await dns.close();
  }
});
