import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';
import { refusedPort } from '../support/refused-port.ts';

test('/status and /metrics show each upstream target health as the balancer sees it', async () => {
  const live = createHttpServer((_q, s) => s.end('live'));
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const livePort = (live.address() as AddressInfo).port;
  const deadPort = await refusedPort();
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'pool',
          healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } },
          targets: [{ target: `127.0.0.1:${livePort}` }, { target: `127.0.0.1:${deadPort}` }],
        },
      ],
      services: [{ name: 'svc', host: 'pool', retries: 1, routes: [{ name: 'r', paths: ['/r'] }] }],
    },
  });
  try {
    for (let i = 0; i < 4; i++) assert.equal(await (await fetch(`${gw.url}/r`)).text(), 'live');
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
      upstreams: { name: string; targets: { target: string; healthy: boolean }[] }[];
    };
    const pool = status.upstreams.find((u) => u.name === 'pool');
    assert.ok(pool, JSON.stringify(status.upstreams));
    assert.equal(pool.targets.find((t) => t.target === `127.0.0.1:${deadPort}`)?.healthy, false);
    assert.equal(pool.targets.find((t) => t.target === `127.0.0.1:${livePort}`)?.healthy, true);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(
        `tollgate_upstream_target_health\\{upstream="pool",target="127\\.0\\.0\\.1:${deadPort}",address="[^"]+",state="unhealthy"\\} 1`,
      ),
    );
    assert.match(
      metrics,
      new RegExp(
        `tollgate_upstream_target_health\\{upstream="pool",target="127\\.0\\.0\\.1:${livePort}",address="[^"]+",state="healthy"\\} 1`,
      ),
    );
  } finally {
    await gw.close();
    live.close();
  }
});

test('a Host set by a plugin reaches a balanced upstream target (the target host is only the default)', async () => {
  const seen: string[] = [];
  const backend = createHttpServer((q, s) => {
    seen.push(String(q.headers.host));
    s.end('ok');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [{ name: 'pool', targets: [{ target: `127.0.0.1:${port}` }] }],
      services: [
        {
          name: 'svc',
          host: 'pool',
          routes: [
            { name: 'plain', paths: ['/plain'] },
            {
              name: 'rewritten',
              paths: ['/rewritten'],
              plugins: [{ name: 'request-transformer', config: { replace: { headers: ['host:api.internal'] } } }],
            },
          ],
        },
      ],
    },
  });
  try {
    assert.equal(await (await fetch(`${gw.url}/plain`)).text(), 'ok');
    assert.equal(await (await fetch(`${gw.url}/rewritten`)).text(), 'ok');
    assert.deepEqual(seen, [`127.0.0.1:${port}`, 'api.internal']);
  } finally {
    await gw.close();
    backend.close();
  }
});

test("services naming the same upstream share its targets' health, as Kong's one healthchecker per upstream does", async () => {
  // `good` answers 200; `bad` answers 500 to requests and counts the active probes it gets.
  let probes = 0;
  const good = createHttpServer((_q, s) => s.end('good'));
  const bad = createHttpServer((q, s) => {
    if (q.url === '/health') probes++;
    s.statusCode = 500;
    s.end('bad');
  });
  for (const s of [good, bad]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const badTarget = `127.0.0.1:${(bad.address() as AddressInfo).port}`;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'pool',
          healthchecks: {
            passive: { unhealthy: { http_failures: 1 } },
            // Probes every second, which mark nothing down (http_failures 0): counted only.
            active: { http_path: '/health', healthy: { interval: 1 }, unhealthy: { interval: 1 } },
          },
          targets: [{ target: `127.0.0.1:${(good.address() as AddressInfo).port}` }, { target: badTarget }],
        },
      ],
      services: [
        { name: 'one', host: 'pool', routes: [{ name: 'one', paths: ['/one'] }] },
        { name: 'two', host: 'pool', routes: [{ name: 'two', paths: ['/two'] }] },
      ],
    },
  });
  try {
    // Service one meets the bad target once: it is out of the upstream.
    const first = [];
    for (let i = 0; i < 2; i++) first.push((await fetch(`${gw.url}/one`)).status);
    assert.deepEqual(first.sort(), [200, 500]);
    // Service two never sends to it.
    for (let i = 0; i < 4; i++) assert.equal(await (await fetch(`${gw.url}/two`)).text(), 'good', `request ${i}`);
    const status = (await (await fetch(`${gw.adminUrl}/status`)).json()) as {
      upstreams: { name: string; targets: { target: string; healthy: boolean }[] }[];
    };
    assert.equal(status.upstreams.filter((u) => u.name === 'pool').length, 1, 'listed once');
    assert.equal(status.upstreams[0]!.targets.find((t) => t.target === badTarget)?.healthy, false);
    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    const series = metrics.split('\n').filter((l) => l.startsWith(`tollgate_upstream_target_health{upstream="pool"`));
    assert.equal(series.length, 8, `one series per target and state:\n${series.join('\n')}`);
    // One round of probes per interval, not one per service.
    const deadline = Date.now() + 3000;
    while (probes === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(probes, 1);
  } finally {
    await gw.close();
    good.close();
    bad.close();
  }
});

test("an upstream's own 504 counts as a timeout for passive checks, as Kong reports a 504 (report_timeout)", async () => {
  const gatewayTimeout = createHttpServer((_q, s) => {
    s.writeHead(504, { 'content-type': 'text/plain' });
    s.end('upstream of the upstream timed out');
  });
  await new Promise<void>((r) => gatewayTimeout.listen(0, '127.0.0.1', r));
  const port = (gatewayTimeout.address() as AddressInfo).port;
  const gw = await startGateway({
    config: {
      _format_version: '3.0',
      upstreams: [
        {
          name: 'pool',
          targets: [{ target: `127.0.0.1:${port}` }],
          healthchecks: { passive: { unhealthy: { timeouts: 2 } } },
        },
      ],
      services: [{ name: 's', host: 'pool', routes: [{ name: 'r', paths: ['/'] }] }],
    },
  });
  try {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(gw.url);
      assert.equal(res.status, 504, 'the upstream answer is relayed');
      assert.equal(await res.text(), 'upstream of the upstream timed out');
    }
    const res = await fetch(gw.url);
    assert.equal(res.status, 503, 'two timeouts: the target is down');
    assert.equal(((await res.json()) as { message: string }).message, 'failure to get a peer from the ring-balancer');
  } finally {
    await gw.close();
    gatewayTimeout.close();
  }
});
