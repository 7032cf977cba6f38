import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { test } from 'node:test';
import { startGateway } from '../../src/testing/index.ts';

test('/status and /metrics show each upstream target health as the balancer sees it', async () => {
  const live = createHttpServer((_q, s) => s.end('live'));
  await new Promise<void>((r) => live.listen(0, '127.0.0.1', r));
  const livePort = (live.address() as AddressInfo).port;
  const tmp = createServer();
  const deadPort = await new Promise<number>((r) =>
    tmp.listen(0, '127.0.0.1', () => r((tmp.address() as AddressInfo).port)),
  );
  await new Promise<void>((r) => tmp.close(() => r()));
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
