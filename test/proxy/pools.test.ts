// Upstream connection pools: the keep-alive pool size bounds idle connections, never requests in
// flight (Kong's upstream_keepalive_pool_size), so a slow endpoint cannot take its service down; the
// optional per-target concurrency limit queues with a deadline and answers a full queue at once.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../../src/testing/index.ts';
import { type Listening, listen } from '../support/upstream.ts';

/** An upstream with a `/slow` endpoint that answers only when told, a `/fast` one, and connection counts. */
interface SlowFast extends Listening {
  held: ServerResponse[];
  /** Resolves once `n` requests to /slow are held. */
  holding(n: number): Promise<void>;
  /** Answers every held /slow request. */
  releaseAll(): void;
  open: number;
  opened: number;
  /** Resolves once at most `n` connections are open. */
  openAtMost(n: number): Promise<void>;
  fastHits: number;
}

async function slowFastUpstream(): Promise<SlowFast> {
  let waiters: { n: number; resolve: () => void }[] = [];
  let closers: { n: number; resolve: () => void }[] = [];
  const u = {} as SlowFast;
  const l = await listen((req, res) => {
    if (req.url?.startsWith('/slow')) {
      u.held.push(res);
      waiters = waiters.filter((w) => (u.held.length >= w.n ? (w.resolve(), false) : true));
      return;
    }
    u.fastHits++;
    res.end('fast');
  });
  Object.assign(u, l, {
    held: [],
    open: 0,
    opened: 0,
    fastHits: 0,
    holding: (n: number) =>
      u.held.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    releaseAll: () => {
      for (const r of u.held.splice(0)) r.end('slow');
    },
    openAtMost: (n: number) =>
      u.open <= n ? Promise.resolve() : new Promise<void>((resolve) => closers.push({ n, resolve })),
  });
  l.server.on('connection', (s) => {
    u.open++;
    u.opened++;
    s.on('close', () => {
      u.open--;
      closers = closers.filter((c) => (u.open <= c.n ? (c.resolve(), false) : true));
    });
  });
  return u;
}

/** A GET through the gateway that gives up after 10 s (the runner's timeout is longer). */
function get(url: string, signal?: AbortSignal): Promise<Response> {
  return fetch(url, { signal: signal ?? AbortSignal.timeout(10_000) });
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref()),
  ]);
}

let up: SlowFast;
let limited: SlowFast;
let gw: TestGateway;
let gwLimited: TestGateway;

before(async () => {
  up = await slowFastUpstream();
  limited = await slowFastUpstream();
  gw = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { upstream_keepalive_pool_size: 4 },
      services: [
        { name: 'direct', url: up.url, retries: 0, routes: [{ name: 'direct', paths: ['/direct'] }] },
        { name: 'balanced', host: 'slowfast.upstream', retries: 0, routes: [{ name: 'b', paths: ['/balanced'] }] },
      ],
      upstreams: [{ name: 'slowfast.upstream', targets: [{ target: `127.0.0.1:${up.port}` }] }],
    },
  });
  gwLimited = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { upstream_max_connections: 2, upstream_queue_size: 1 },
      services: [
        {
          name: 'limited',
          url: limited.url,
          retries: 0,
          connect_timeout: 1500,
          routes: [{ name: 'limited', paths: ['/'] }],
        },
      ],
    },
  });
});

after(async () => {
  up.releaseAll();
  limited.releaseAll();
  await gw.close();
  await gwLimited.close();
  await up.close();
  await limited.close();
});

for (const prefix of ['/direct', '/balanced']) {
  test(`${prefix}: requests to a fast endpoint are answered while 40 requests to a slow endpoint of the same service hang`, async () => {
    const aborts = new AbortController();
    const slow = Array.from({ length: 40 }, () => get(`${gw.url}${prefix}/slow`, aborts.signal).catch(() => null));
    // All 40 reached the upstream at once: the pool size (4) did not hold them back.
    await within(up.holding(40), 10_000, '40 slow requests held by the upstream');
    const fast = await Promise.all(Array.from({ length: 10 }, () => get(`${gw.url}${prefix}/fast`)));
    for (const r of fast) {
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'fast');
    }
    up.releaseAll();
    for (const r of await Promise.all(slow)) assert.equal(r?.status, 200);
    aborts.abort();
  });
}

test('upstream_keepalive_pool_size bounds the idle connections kept: the rest close, the kept ones are reused', async () => {
  // After the bursts above (dozens of connections), at most 4 stay open per target.
  await within(up.openAtMost(8), 10_000, 'idle connections beyond the pool size closed');
  up.releaseAll();
  const aborts = new AbortController();
  const slow = Array.from({ length: 12 }, () => get(`${gw.url}/direct/slow`, aborts.signal));
  await within(up.holding(12), 10_000, '12 slow requests held');
  up.releaseAll();
  for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
  // The direct service's target keeps 4 idle; the balanced service's target (same upstream) keeps at most 4 more.
  await within(up.openAtMost(8), 10_000, 'back to the idle bound');
  const opened = up.opened;
  const r = await get(`${gw.url}/direct/fast`);
  assert.equal(r.status, 200);
  assert.equal(up.opened, opened, 'an idle connection was reused, none opened');
});

test('upstream_max_connections: past the limit requests queue; a full queue gets 503 at once, a queued request waits at most connect_timeout', async () => {
  const aborts = new AbortController();
  const busy = [get(`${gwLimited.url}/slow`, aborts.signal), get(`${gwLimited.url}/slow`, aborts.signal)];
  await within(limited.holding(2), 10_000, 'two requests in flight');
  const queued = get(`${gwLimited.url}/fast`);
  // The queue holds one: the next request is refused without waiting for anything.
  const full = await get(`${gwLimited.url}/fast`);
  assert.equal(full.status, 503);
  assert.equal(((await full.json()) as { message: string }).message, 'The upstream server is at its connection limit');
  // The queued request gets the first connection that frees up.
  limited.releaseAll();
  const q = await queued;
  assert.equal(q.status, 200);
  assert.equal(await q.text(), 'fast');
  for (const r of await Promise.all(busy)) assert.equal(r.status, 200);

  // Now nothing frees up: a queued request gives up after connect_timeout (1.5 s) with 504.
  const busy2 = [get(`${gwLimited.url}/slow`, aborts.signal), get(`${gwLimited.url}/slow`, aborts.signal)];
  await within(limited.holding(2), 10_000, 'two requests in flight again');
  const hits = limited.fastHits;
  const late = await get(`${gwLimited.url}/fast`);
  assert.equal(late.status, 504);
  assert.equal(limited.fastHits, hits, 'the timed-out request never reached the upstream');
  const line = gwLimited.logs.findLast((l) => l.type === 'access' && l.status === 503);
  assert.equal(line?.error, 'UPSTREAM_QUEUE_FULL');
  limited.releaseAll();
  for (const r of await Promise.all(busy2)) assert.equal(r.status, 200);
  aborts.abort();
});

test("a full or timed-out connection queue is the gateway's limit, not a failure of the target: passive checks leave it healthy", async () => {
  const target = await slowFastUpstream();
  const g = await startGateway({
    config: {
      _format_version: '3.0',
      _tollgate: { upstream_max_connections: 1, upstream_queue_size: 1 },
      upstreams: [
        {
          name: 'limited.upstream',
          targets: [{ target: `127.0.0.1:${target.port}` }],
          // The first tcp failure or timeout marks the target down, and no active check brings it back.
          healthchecks: { passive: { unhealthy: { tcp_failures: 1, timeouts: 1 } } },
        },
      ],
      services: [
        {
          name: 'limited',
          host: 'limited.upstream',
          retries: 0,
          connect_timeout: 1000,
          routes: [{ name: 'limited', paths: ['/'] }],
        },
      ],
    },
  });
  const aborts = new AbortController();
  try {
    const busy = get(`${g.url}/slow`, aborts.signal);
    await within(target.holding(1), 10_000, 'one request in flight');
    // One waits in the queue until connect_timeout (504); one finds the queue full (503).
    const [queued, full] = await Promise.all([get(`${g.url}/fast`), get(`${g.url}/fast`)]);
    assert.deepEqual([queued.status, full.status].sort(), [503, 504]);
    target.releaseAll();
    assert.equal((await busy).status, 200);
    const r = await get(`${g.url}/fast`);
    assert.equal(r.status, 200, 'the target is still picked');
    assert.equal(
      g.logs.some((l) => l.msg === 'target unhealthy'),
      false,
    );
  } finally {
    aborts.abort();
    target.releaseAll();
    await g.close();
    await target.close();
  }
});
